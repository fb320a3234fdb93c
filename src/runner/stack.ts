/**
 * eunomia's stack_trace interpreter: a record that is a stack sample (pid, cpu, comm, and
 * kernel and user stacks as arrays of addresses with their sizes), its frames resolved to
 * function names when asked.
 */
import type { Btf } from '../btf/index.js';
import type { Decoded } from '../decode/index.js';
import { TsbpfError } from '../errors.js';
import { STACK_TRACE_FIELDS, type StackTraceInterpreter } from '../package/index.js';
import type { Symbolizer } from './symbols.js';

export interface StackFrame {
  addr: bigint;
  /** The function holding addr, and addr's offset in it, when symbols were asked for and found. */
  symbol?: string;
  offset?: number;
}

export interface StackSample {
  pid: number;
  cpu: number;
  comm: string;
  /** The frames, innermost first; undefined when the sample has no stack of that kind. */
  kernel?: StackFrame[];
  user?: StackFrame[];
}

/** Throws unless struct `typeId` has every field the interpreter reads (an array for the stacks). */
export function checkStackFields(btf: Btf, typeId: number, st: StackTraceInterpreter, map: string): void {
  const t = btf.type(btf.resolve(typeId));
  if (t.kind !== 'struct') throw new TsbpfError(`map ${map}: the stack_trace interpreter needs a struct, not ${btf.typeName(typeId)}`);
  for (const f of STACK_TRACE_FIELDS) {
    const name = st.fieldMap[f];
    const m = t.members.find((x) => x.name === name);
    const mapped = name === f ? '' : ` (field_map.${f})`;
    if (!m) throw new TsbpfError(`map ${map}: the stack_trace interpreter reads field ${name}${mapped}, which struct ${t.name} does not have (it has ${t.members.map((x) => x.name).join(', ')})`);
    const kind = btf.type(btf.resolve(m.type)).kind;
    if ((f === 'kstack' || f === 'ustack') && kind !== 'array') throw new TsbpfError(`map ${map}: stack_trace field ${name}${mapped} is ${btf.typeName(m.type)}, not an array of addresses`);
  }
}

/**
 * The sample a decoded record holds, or undefined when it holds no stack at all (both
 * sizes <= 0: ecli skips those). A size counts frames; bpf_get_stack() returns bytes,
 * so a size past the array's length is taken as bytes, and the frames end at the first
 * zero address either way (no frame is at 0).
 */
export function stackSample(value: Decoded, st: StackTraceInterpreter, symbols?: Symbolizer): StackSample | undefined {
  const f = st.fieldMap;
  const ksz = Number(value[f.kstack_sz]);
  const usz = Number(value[f.ustack_sz]);
  if (!(ksz > 0) && !(usz > 0)) return undefined;
  const pid = Number(value[f.pid]);
  const frames = (arr: unknown, size: number, resolve: (a: bigint) => { name: string; offset: number } | undefined) => {
    const addrs = (arr as (number | bigint)[]).map((a) => BigInt(a));
    const n = size > addrs.length ? Math.floor(size / 8) : size;
    const out: StackFrame[] = [];
    for (const addr of addrs.slice(0, Math.min(n, addrs.length))) {
      if (addr === 0n) break;
      const hit = symbols ? resolve(addr) : undefined;
      out.push(hit ? { addr, symbol: hit.name, offset: hit.offset } : { addr });
    }
    return out;
  };
  return {
    pid,
    cpu: Number(value[f.cpu_id]),
    comm: String(value[f.comm]),
    kernel: ksz > 0 ? frames(value[f.kstack], ksz, (a) => symbols?.kernelSymbol(a)) : undefined,
    user: usz > 0 ? frames(value[f.ustack], usz, (a) => symbols?.userSymbol(pid, a)) : undefined,
  };
}
