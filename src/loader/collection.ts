/**
 * ObjectSpec -> kernel objects: BTF, maps (with global data written and .rodata
 * frozen), then programs. Anything created before a failure is closed again.
 */
import { decodeValue, encodeBtf, encodeValue, type Btf } from '../btf/index.js';
import { TsbpfError } from '../errors.js';
import type { MapSpec, ObjectSpec, VariableSpec } from '../object/index.js';
import * as C from '../sys/constants.js';
import { defaultSys } from '../sys/index.js';
import { SysError } from '../sys/errors.js';
import type { Sys } from '../sys/types.js';
import { BtfLoadError } from './errors.js';
import { BpfMap } from './map.js';
import { loadProgram, Program, type ProgramLoadOptions } from './program.js';
import { btfFeatures, checkKernelFloor } from './probe.js';
import { sanitizeBtf } from '../btf/sanitize.js';
import { userCoreTarget } from './core.js';

export interface LoadOptions extends ProgramLoadOptions {
  sys?: Sys;
  /** Load only these programs (default: all). */
  programs?: string[];
  /**
   * Keep going when a program is rejected: its error lands in `failures` instead of
   * being thrown (tsbpf check uses this to report every program).
   */
  collectFailures?: boolean;
}

export class Collection {
  readonly maps = new Map<string, BpfMap>();
  readonly programs = new Map<string, Program>();
  readonly variables = new Map<string, Variable>();
  /** Programs the kernel rejected, with collectFailures. */
  readonly failures = new Map<string, Error>();
  private closed = false;

  private constructor(
    private readonly sys: Sys,
    readonly spec: ObjectSpec,
    /** fd of the object's BTF in the kernel. */
    readonly btfFd: number | undefined,
  ) {}

  static load(spec: ObjectSpec, opts: LoadOptions = {}): Collection {
    const sys = opts.sys ?? defaultSys();
    checkKernelFloor(sys);
    // Who does CO-RE, and a target BTF that cannot be read, are settled once up front
    // rather than failing every program alike.
    if ([...(spec.btfExt?.coreRelos.values() ?? [])].some((l) => l.length > 0)) userCoreTarget(sys, opts, `object ${spec.name}`);
    const btfFd = loadBtf(sys, spec.btf, opts.logSize);
    const coll = new Collection(sys, spec, btfFd);
    try {
      for (const m of spec.maps) coll.maps.set(m.name, createMap(sys, m, spec.btf, btfFd));
      const mapFds = new Map([...coll.maps].map(([name, m]) => [name, m.fd]));
      for (const prog of spec.programs) {
        if (opts.programs && !opts.programs.includes(prog.name)) continue;
        try {
          coll.programs.set(prog.name, loadProgram(sys, spec, prog, mapFds, btfFd, opts));
        } catch (e) {
          if (!opts.collectFailures || !(e instanceof TsbpfError)) throw e;
          coll.failures.set(prog.name, e);
        }
      }
      if (opts.programs) {
        const missing = opts.programs.filter((p) => !spec.programs.some((q) => q.name === p));
        if (missing.length) throw new TsbpfError(`no program named ${missing.join(', ')}; programs: ${spec.programs.map((p) => p.name).join(', ')}`);
      }
      for (const m of coll.maps.values()) {
        for (const v of m.spec.data?.variables ?? []) {
          if (!coll.variables.has(v.name)) coll.variables.set(v.name, new Variable(v, m, spec.btf));
        }
      }
    } catch (e) {
      coll.close();
      throw e;
    }
    return coll;
  }

  map(name: string): BpfMap {
    const m = this.maps.get(name);
    if (!m) throw new TsbpfError(`no map named ${name}; maps: ${[...this.maps.keys()].join(', ') || 'none'}`);
    return m;
  }

  program(name: string): Program {
    const p = this.programs.get(name);
    if (!p) throw new TsbpfError(`no program named ${name}; programs: ${[...this.programs.keys()].join(', ') || 'none'}`);
    return p;
  }

  variable(name: string): Variable {
    const v = this.variables.get(name);
    if (!v) throw new TsbpfError(`no global variable named ${name}; variables: ${[...this.variables.keys()].join(', ') || 'none'}`);
    return v;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.programs.values()) p.close();
    for (const m of this.maps.values()) m.close();
    if (this.btfFd !== undefined) this.sys.close(this.btfFd);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function loadBtf(sys: Sys, btf: Btf, logSize = 1 << 20): number {
  // Kinds newer than the kernel (float, decl_tag, type_tag, enum64) rewritten, as libbpf does.
  const bytes = encodeBtf(sanitizeBtf(btf, btfFeatures(sys)));
  try {
    return sys.btfLoad({ btf: bytes });
  } catch (e) {
    if (!(e instanceof SysError) || e.code === 'EPERM') throw e;
    const logBuf = Buffer.alloc(logSize);
    try {
      return sys.btfLoad({ btf: bytes, logLevel: 1, logBuf });
    } catch (e2) {
      if (!(e2 instanceof SysError)) throw e2;
      const end = logBuf.indexOf(0);
      throw new BtfLoadError(e2.code, logBuf.toString('utf8', 0, end < 0 ? logBuf.length : end));
    }
  }
}

function createMap(sys: Sys, spec: MapSpec, btf: Btf, btfFd: number): BpfMap {
  let m = spec;
  if (m.type === C.BPF_MAP_TYPE_PERF_EVENT_ARRAY && m.maxEntries === 0) {
    // One slot per CPU unless the program says otherwise, as libbpf does.
    m = { ...m, maxEntries: sys.possibleCpus() };
  }
  let inner: BpfMap | undefined;
  try {
    if (m.innerMap) inner = BpfMap.create(sys, m.innerMap, btf, btfFd);
    const map = BpfMap.create(sys, m, btf, btfFd, inner?.fd);
    if (m.data) {
      try {
        const zero = m.data.bytes.every((b) => b === 0);
        if (!zero) map.update(new Uint8Array(4), m.data.bytes);
        if (m.data.readonly) map.freeze();
      } catch (e) {
        map.close();
        throw e;
      }
    }
    return map;
  } finally {
    inner?.close();
  }
}

/**
 * A global variable of the loaded object, read and written through the mmap'd data
 * map, so reads see what BPF programs wrote and writes reach them at once.
 */
export class Variable {
  constructor(
    readonly spec: VariableSpec,
    readonly map: BpfMap,
    private readonly btf: Btf,
  ) {}

  get name(): string {
    return this.spec.name;
  }
  get readonly(): boolean {
    return !!this.map.spec.data?.readonly;
  }

  /** Zero-copy view of the variable's bytes in the shared mapping. */
  bytes(): Uint8Array {
    return new Uint8Array(this.map.memory(!this.readonly), this.spec.offset, this.spec.size);
  }

  get(): unknown {
    return decodeValue(this.btf, this.spec.typeId, new DataView(this.map.memory(!this.readonly), this.spec.offset, this.spec.size));
  }

  set(value: unknown): void {
    if (this.readonly) {
      throw new TsbpfError(`${this.name} is in ${this.spec.section}, which is frozen after load: set it on the spec before loading (setGlobal)`);
    }
    encodeValue(this.btf, this.spec.typeId, value, new DataView(this.map.memory(true), this.spec.offset, this.spec.size), 0, this.name);
  }
}

/**
 * Sets a global's initial value in the spec, before load: how `const volatile`
 * configuration reaches the verifier as a constant.
 */
export function setGlobal(spec: ObjectSpec, name: string, value: unknown): void {
  for (const m of spec.maps) {
    const v = m.data?.variables.find((x) => x.name === name);
    if (!v) continue;
    encodeValue(spec.btf, v.typeId, value, new DataView(m.data!.bytes.buffer, m.data!.bytes.byteOffset + v.offset, v.size), 0, name);
    return;
  }
  const all = spec.maps.flatMap((m) => m.data?.variables.map((x) => x.name) ?? []);
  throw new TsbpfError(`no global variable named ${name}; variables: ${all.join(', ') || 'none'}`);
}
