/**
 * Static linking of one program: its entry function followed by every function it
 * reaches through bpf-to-bpf calls or function addresses (bpf_loop callbacks), with
 * call offsets and func/line/CO-RE records rebased. Pure; map references are left
 * for the loader, which knows the fds.
 */
import type { CoreRelo, FuncInfo, LineInfo } from '../btf/index.js';
import { TsbpfError } from '../errors.js';
import * as C from '../sys/constants.js';
import { KCONFIG_SEC } from './externs.js';
import { INSN_SIZE, type FunctionSpec, type ObjectSpec, type ProgramSpec } from './spec.js';

const LD_IMM64 = C.BPF_LD | C.BPF_IMM | C.BPF_DW;

export interface LinkedProgram {
  /** A private copy of the instructions, safe to patch. */
  insns: Uint8Array;
  /** Map references at absolute instruction indices. */
  mapRefs: ({ insn: number; map: string } & ({ kind: 'map' } | { kind: 'map_value'; offset: number }))[];
  /**
   * Extern references at absolute instruction indices, .kconfig ones included (they are
   * also in mapRefs, as values of the .kconfig map): the loader checks that each is
   * resolved and patches the .ksyms ones.
   */
  externRefs: { insn: number; symbol: string }[];
  /** Records at absolute instruction indices. */
  funcInfo: FuncInfo[];
  lineInfo: LineInfo[];
  coreRelos: CoreRelo[];
  /** Functions in layout order with their first instruction. */
  layout: { name: string; start: number }[];
}

export function linkProgram(spec: ObjectSpec, prog: ProgramSpec): LinkedProgram {
  const order: FunctionSpec[] = [prog];
  const index = new Map<string, number>([[prog.name, 0]]);
  for (let i = 0; i < order.length; i++) {
    for (const ref of order[i]!.references) {
      if (ref.kind !== 'call' && ref.kind !== 'func_addr') continue;
      if (index.has(ref.func)) continue;
      const fn = spec.functions.get(ref.func);
      if (!fn) throw new TsbpfError(`program ${prog.name}: calls unknown function ${ref.func}`);
      index.set(ref.func, order.length);
      order.push(fn);
    }
  }

  const starts: number[] = [];
  let total = 0;
  for (const fn of order) {
    starts.push(total);
    total += fn.insns.byteLength / INSN_SIZE;
  }
  const insns = new Uint8Array(total * INSN_SIZE);
  const view = new DataView(insns.buffer);
  const out: LinkedProgram = { insns, mapRefs: [], externRefs: [], funcInfo: [], lineInfo: [], coreRelos: [], layout: [] };

  order.forEach((fn, i) => {
    const base = starts[i]!;
    insns.set(fn.insns, base * INSN_SIZE);
    out.layout.push({ name: fn.name, start: base });
    for (const ref of fn.references) {
      const at = base + ref.insn;
      switch (ref.kind) {
        case 'map':
          out.mapRefs.push({ insn: at, kind: 'map', map: ref.map });
          break;
        case 'map_value':
          out.mapRefs.push({ insn: at, kind: 'map_value', map: ref.map, offset: ref.offset });
          break;
        case 'call':
        case 'func_addr': {
          const target = starts[index.get(ref.func)!]!;
          view.setInt32(at * INSN_SIZE + 4, target - at - 1, true);
          if (ref.kind === 'func_addr') {
            const regs = view.getUint8(at * INSN_SIZE + 1);
            view.setUint8(at * INSN_SIZE + 1, (regs & 0x0f) | (C.BPF_PSEUDO_FUNC << 4));
          }
          break;
        }
        case 'extern': {
          const ext = spec.externs.find((e) => e.name === ref.symbol);
          if (!ext) throw new TsbpfError(`program ${prog.name}: ${fn.name} uses extern ${ref.symbol}, which the object does not declare`);
          out.externRefs.push({ insn: at, symbol: ref.symbol });
          if (ext.kind === 'kconfig') {
            if (view.getUint8(at * INSN_SIZE) !== LD_IMM64) throw new TsbpfError(`program ${prog.name}: ${fn.name} calls .kconfig extern ${ext.name}, which is a variable`);
            const map = spec.maps.find((m) => m.data?.section === KCONFIG_SEC);
            if (!map) throw new TsbpfError(`program ${prog.name}: no .kconfig map for extern ${ext.name}`);
            out.mapRefs.push({ insn: at, kind: 'map_value', map: map.name, offset: ext.offset });
          }
          break;
        }
      }
    }
    for (const r of fn.funcInfo) out.funcInfo.push({ ...r, insnOff: r.insnOff + base });
    for (const r of fn.lineInfo) out.lineInfo.push({ ...r, insnOff: r.insnOff + base });
    for (const r of fn.coreRelos) out.coreRelos.push({ ...r, insnOff: r.insnOff + base });
  });
  return out;
}
