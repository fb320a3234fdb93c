/**
 * Program loading: link, patch map references, pass func/line info and CO-RE records,
 * and turn a rejection into a VerifierError carrying the log.
 */
import { CORE_RELO_SIZE, FUNC_INFO_SIZE, LINE_INFO_SIZE, kernelBtf, type Btf } from '../btf/index.js';
import { NotSupportedError, TsbpfError } from '../errors.js';
import { INSN_SIZE, linkProgram, type LinkedProgram, type ObjectSpec, type ProgramSpec } from '../object/index.js';
import * as C from '../sys/constants.js';
import { SysError } from '../sys/errors.js';
import type { ProgInfo, Sys, TestRunAttr, TestRunResult } from '../sys/types.js';
import { VerifierError } from './errors.js';
import { patchExterns, poisonedKfunc, type ResolvedExterns } from './externs.js';
import { kernelObjectName } from './map.js';
import { PinState } from './pin.js';
import { haveProgType } from './probe.js';
import { applyCore, explainPoisoned, type CoreLoadOptions } from './core.js';

export interface ProgramLoadOptions extends CoreLoadOptions {
  /** Verifier log level for the first attempt (0: log only on failure). */
  logLevel?: number;
  /** Initial log buffer size; it grows when the kernel says ENOSPC. */
  logSize?: number;
  kernelBtf?: () => Btf;
}

const MAX_LOG_SIZE = 1 << 28;
const BTF_ATTACH_TYPES = new Set<number>([C.BPF_PROG_TYPE_TRACING, C.BPF_PROG_TYPE_LSM, C.BPF_PROG_TYPE_EXT, C.BPF_PROG_TYPE_STRUCT_OPS]);

export class Program {
  private closed = false;
  private readonly pins = new PinState();

  constructor(
    private readonly sys: Sys,
    readonly fd: number,
    readonly spec: ProgramSpec,
    /** Instructions after linking (entry plus subprograms). */
    readonly insnCount: number,
    /** The verifier log when one was asked for on success (logLevel > 0). */
    readonly log = '',
  ) {}

  get name(): string {
    return this.spec.name;
  }
  get type(): number {
    return this.spec.progType;
  }
  /** The section the program came from, which says how to attach it. */
  get section(): string {
    return this.spec.section;
  }

  info(): ProgInfo {
    this.live();
    return this.sys.progGetInfo(this.fd);
  }

  /** BPF_PROG_TEST_RUN: runs the program once (or `repeat` times) in the kernel without attaching it. */
  testRun(attr: Omit<TestRunAttr, 'progFd'> = {}): TestRunResult {
    this.live();
    return this.sys.progTestRun({ ...attr, progFd: this.fd });
  }

  /** Where pin() pinned the program, if it did. */
  get pinnedPath(): string | undefined {
    return this.pins.path;
  }

  /** Pins the program at `path` on a bpffs (BPF_OBJ_PIN), so it outlives this process. */
  pin(path: string): void {
    this.live();
    this.pins.pin(this.sys, this.fd, path, `program ${this.name}`);
  }

  /** Removes the pin made by pin(). */
  unpin(): void {
    this.pins.unpin(`program ${this.name}`);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sys.close(this.fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private live(): void {
    if (this.closed) throw new TsbpfError(`program ${this.name} is closed`);
  }
}

/** Loads one program of `spec`; `mapFds` gives the fd of every map by name. */
export function loadProgram(
  sys: Sys,
  spec: ObjectSpec,
  prog: ProgramSpec,
  mapFds: ReadonlyMap<string, number>,
  btfFd: number | undefined,
  opts: ProgramLoadOptions = {},
  externs?: ResolvedExterns,
): Program {
  const linked = linkProgram(spec, prog);
  if (linked.externRefs.length) {
    if (!externs) throw new TsbpfError(`program ${prog.name} uses externs: load it with Collection.load, which resolves them`);
    patchExterns(linked, externs, prog.name);
  }
  patchMapRefs(linked, mapFds, prog.name);
  // User-space CO-RE (when chosen) patches the instructions and drops the records.
  const core = applyCore(sys, spec.btf, linked, prog.name, opts);
  const hasExt = btfFd !== undefined && linked.funcInfo.length > 0;
  const attr = {
    progType: prog.progType,
    insns: linked.insns,
    license: spec.license,
    kernVersion: spec.kernVersion,
    progFlags: prog.flags,
    progName: kernelObjectName(prog.name),
    expectedAttachType: prog.expectedAttachType,
    ...(externs?.fdArray.length ? { fdArray: externs.fdArray } : {}),
    attachBtfId: BTF_ATTACH_TYPES.has(prog.progType) ? attachBtfId(prog, opts.kernelBtf ?? (() => kernelBtf())) : 0,
    // The kernel applies core_relos only when func_info comes along (kernel-notes.md).
    ...(hasExt
      ? {
          progBtfFd: btfFd,
          funcInfo: encodeRecords(linked.funcInfo, FUNC_INFO_SIZE, (v, o, r) => {
            v.setUint32(o, r.insnOff, true);
            v.setUint32(o + 4, r.typeId, true);
          }),
          funcInfoRecSize: FUNC_INFO_SIZE,
          funcInfoCnt: linked.funcInfo.length,
          lineInfo: encodeRecords(linked.lineInfo, LINE_INFO_SIZE, (v, o, r) => {
            v.setUint32(o, r.insnOff, true);
            v.setUint32(o + 4, r.fileNameOff, true);
            v.setUint32(o + 8, r.lineOff, true);
            v.setUint32(o + 12, r.lineCol, true);
          }),
          lineInfoRecSize: LINE_INFO_SIZE,
          lineInfoCnt: linked.lineInfo.length,
          ...(linked.coreRelos.length
            ? {
                coreRelos: encodeRecords(linked.coreRelos, CORE_RELO_SIZE, (v, o, r) => {
                  v.setUint32(o, r.insnOff * INSN_SIZE, true); // the kernel wants bytes here
                  v.setUint32(o + 4, r.typeId, true);
                  v.setUint32(o + 8, r.accessStrOff, true);
                  v.setUint32(o + 12, r.kind, true);
                }),
                coreReloRecSize: CORE_RELO_SIZE,
                coreReloCnt: linked.coreRelos.length,
              }
            : {}),
        }
      : {}),
  };
  if (!hasExt && linked.coreRelos.length) {
    throw new TsbpfError(`program ${prog.name}: has CO-RE relocations but no func_info; compile with clang -g`);
  }

  const insnCount = linked.insns.byteLength / INSN_SIZE;
  const wantLog = opts.logLevel ?? 0;
  let logSize = opts.logSize ?? 1 << 20;
  let level = wantLog;
  for (;;) {
    const logBuf = level > 0 ? Buffer.alloc(logSize) : undefined;
    try {
      const fd = sys.progLoad({ ...attr, logLevel: level, logBuf });
      return new Program(sys, fd, prog, insnCount, logBuf ? cString(logBuf) : '');
    } catch (e) {
      if (!(e instanceof SysError)) throw e;
      // Without privileges a log says nothing new; SysError already says to run as root.
      if ((e.code === 'EPERM' || e.code === 'EACCES') && process.getuid?.() !== 0 && level === 0) throw e;
      if (level === 0) {
        // Retry to get the verifier's account of what went wrong.
        level = 1;
        continue;
      }
      if (e.code === 'ENOSPC' && logSize < MAX_LOG_SIZE) {
        logSize *= 4;
        continue;
      }
      const missing = externs && logBuf ? poisonedKfunc(cString(logBuf), externs) : undefined;
      if (missing) {
        throw new TsbpfError(`program ${prog.name}: calls kfunc ${missing}, which this kernel lacks (declared __weak); guard the call with bpf_ksym_exists(${missing})`);
      }
      if (e.code === 'EINVAL' && !BTF_ATTACH_TYPES.has(prog.progType) && !haveProgType(sys, prog.progType)) {
        throw new NotSupportedError(`${C.progTypeName(prog.progType)} programs`, `program ${prog.name} in ${prog.section}`);
      }
      const log = logBuf ? cString(logBuf) : '';
      throw explainPoisoned(new VerifierError(prog.name, e.code, log, e.code === 'ENOSPC'), core?.outcomes, core?.target);
    }
  }
}

function patchMapRefs(linked: LinkedProgram, mapFds: ReadonlyMap<string, number>, prog: string): void {
  const v = new DataView(linked.insns.buffer, linked.insns.byteOffset, linked.insns.byteLength);
  for (const ref of linked.mapRefs) {
    const fd = mapFds.get(ref.map);
    if (fd === undefined) throw new TsbpfError(`program ${prog} refers to map ${ref.map}, which was not created`);
    const o = ref.insn * INSN_SIZE;
    const regs = v.getUint8(o + 1);
    const src = ref.kind === 'map' ? C.BPF_PSEUDO_MAP_FD : C.BPF_PSEUDO_MAP_VALUE;
    v.setUint8(o + 1, (regs & 0x0f) | (src << 4));
    v.setInt32(o + 4, fd, true);
    v.setInt32(o + INSN_SIZE + 4, ref.kind === 'map_value' ? ref.offset : 0, true);
  }
}

function encodeRecords<T>(records: T[], size: number, write: (v: DataView, off: number, r: T) => void): Uint8Array {
  const out = new Uint8Array(records.length * size);
  const v = new DataView(out.buffer);
  records.forEach((r, i) => write(v, i * size, r));
  return out;
}

/** The kernel BTF id that tp_btf/fentry/fexit/lsm/iter programs attach to. */
function attachBtfId(prog: ProgramSpec, kernel: () => Btf): number {
  const target = prog.attachTarget;
  let name: string;
  let kind: 'typedef' | 'func' = 'func';
  switch (prog.sectionPrefix) {
    case 'tp_btf': name = `btf_trace_${target}`; kind = 'typedef'; break;
    case 'lsm': case 'lsm.s': case 'lsm_cgroup': name = `bpf_lsm_${target}`; break;
    case 'iter': case 'iter.s': name = `bpf_iter_${target}`; break;
    case 'struct_ops': case 'struct_ops.s': return 0;
    default: name = target;
  }
  if (!target) throw new TsbpfError(`program ${prog.name}: section ${prog.section} names no attach target`);
  if (prog.progType === C.BPF_PROG_TYPE_EXT) {
    throw new TsbpfError(`program ${prog.name}: freplace programs need a target program, which tsbpf does not support yet`);
  }
  const id = kernel().idByName(name, kind);
  if (id === undefined) {
    throw new TsbpfError(`program ${prog.name}: ${prog.sectionPrefix} target "${target}" is not in the kernel's BTF (looked for ${kind} ${name}); this kernel lacks the hook`);
  }
  return id;
}

function cString(buf: Buffer): string {
  const end = buf.indexOf(0);
  return buf.toString('utf8', 0, end < 0 ? buf.length : end);
}
