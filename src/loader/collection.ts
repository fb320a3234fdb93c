/**
 * ObjectSpec -> kernel objects: BTF, maps (with global data written and .rodata
 * frozen), then programs. Anything created before a failure is closed again.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { decodeValue, encodeBtf, encodeValue, type Btf } from '../btf/index.js';
import { TsbpfError } from '../errors.js';
import { bpffsPath } from './fs.js';
import { PIN_BY_NAME, type MapSpec, type ObjectSpec, type VariableSpec } from '../object/index.js';
import * as C from '../sys/constants.js';
import { defaultSys } from '../sys/index.js';
import { SysError } from '../sys/errors.js';
import type { Sys } from '../sys/types.js';
import { BtfLoadError } from './errors.js';
import { resolveExterns, type ExternOptions } from './externs.js';
import { BpfMap } from './map.js';
import { unpinPath } from './pin.js';
import { loadProgram, Program, type ProgramLoadOptions } from './program.js';
import { btfFeatures, checkKernelFloor, raiseMemlockIfNeeded } from './probe.js';
import { sanitizeBtf } from '../btf/sanitize.js';
import { userCoreTarget } from './core.js';

export interface LoadOptions extends ProgramLoadOptions, ExternOptions {
  sys?: Sys;
  /**
   * Load only these programs, whatever their autoload. Default: every program whose
   * `autoload` is not false (SEC("?...") programs are not loaded unless asked).
   */
  programs?: string[];
  /**
   * Directory of the maps the object pins by name (LIBBPF_PIN_BY_NAME), libbpf's
   * pin_root_path; created when missing. Default: the bpffs mount (/sys/fs/bpf, mounted
   * there when missing).
   */
  pinPath?: string;
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
    raiseMemlockIfNeeded(sys);
    // Who does CO-RE, and a target BTF that cannot be read, are settled once up front
    // rather than failing every program alike.
    if ([...(spec.btfExt?.coreRelos.values() ?? [])].some((l) => l.length > 0)) userCoreTarget(sys, opts, `object ${spec.name}`);
    // An object compiled without -g has no BTF to load; its maps and programs go without.
    const btfFd = spec.btf.count > 1 ? loadBtf(sys, spec.btf, opts.logSize) : undefined;
    const coll = new Collection(sys, spec, btfFd);
    let externs;
    try {
      externs = resolveExterns(sys, spec, opts);
      coll.createMaps(opts, externs.kconfig);
      const mapFds = new Map([...coll.maps].map(([name, m]) => [name, m.fd]));
      for (const prog of spec.programs) {
        if (opts.programs ? !opts.programs.includes(prog.name) : prog.autoload === false) continue;
        try {
          coll.programs.set(prog.name, loadProgram(sys, spec, prog, mapFds, btfFd, opts, externs));
        } catch (e) {
          if (!opts.collectFailures || !(e instanceof TsbpfError)) throw e;
          coll.failures.set(prog.name, e);
        }
      }
      if (opts.programs) {
        const missing = opts.programs.filter((p) => !spec.programs.some((q) => q.name === p));
        if (missing.length) throw new TsbpfError(`no program named ${missing.join(', ')}; programs: ${spec.programs.map((p) => p.name).join(', ')}`);
      }
      coll.fillProgArrays();
      for (const m of coll.maps.values()) {
        for (const v of m.spec.data?.variables ?? []) {
          if (!coll.variables.has(v.name)) coll.variables.set(v.name, new Variable(v, m, spec.btf));
        }
      }
    } catch (e) {
      coll.unpinCreated();
      coll.close();
      throw e;
    } finally {
      externs?.close();
    }
    return coll;
  }

  /** Pins this load made; a failed load removes them again (as libbpf does). */
  private readonly pinnedHere: BpfMap[] = [];

  /**
   * Every map of the spec: created, or reused from its pin (LIBBPF_PIN_BY_NAME); then the
   * map-in-map slots filled and the new maps pinned, filled first so a reuser sees them.
   */
  private createMaps(opts: LoadOptions, kconfig: Uint8Array | undefined): void {
    const { sys, spec } = this;
    let root: string | undefined;
    const pinPath = (m: MapSpec) => join((root ??= pinDirectory(sys, opts.pinPath)), m.name);
    const reused = new Set<string>();
    for (const m of spec.maps) {
      const pinned = m.pinning === PIN_BY_NAME ? reusePinned(sys, effectiveSpec(sys, m), spec.btf, pinPath(m)) : undefined;
      if (pinned) reused.add(m.name);
      // The .kconfig map's contents are the running kernel's values.
      const withValues = m.data?.section === '.kconfig' && kconfig ? { ...m, data: { ...m.data, bytes: kconfig } } : m;
      this.maps.set(m.name, pinned ?? createMap(sys, withValues, spec.btf, this.btfFd));
    }
    // A reused map keeps what it holds (libbpf skips its slots too).
    for (const m of spec.maps) {
      if (m.type === C.BPF_MAP_TYPE_PROG_ARRAY || reused.has(m.name)) continue;
      for (const slot of m.initSlots ?? []) this.fillSlot(m, slot.key, this.map(slot.target).fd, `map ${slot.target}`);
    }
    for (const m of spec.maps) {
      if (m.pinning !== PIN_BY_NAME || reused.has(m.name)) continue;
      const map = this.map(m.name);
      map.pin(pinPath(m));
      this.pinnedHere.push(map);
    }
  }

  /** PROG_ARRAY values: the programs' fds, now that they exist, so tail calls work. */
  private fillProgArrays(): void {
    for (const m of this.spec.maps) {
      if (m.type !== C.BPF_MAP_TYPE_PROG_ARRAY) continue;
      for (const slot of m.initSlots ?? []) {
        const prog = this.programs.get(slot.target);
        if (!prog) {
          if (this.failures.has(slot.target)) continue; // already reported
          throw new TsbpfError(`map ${m.name}: values[${slot.key}] is program ${slot.target}, which is not loaded: load it too (LoadOptions.programs, or its autoload)`);
        }
        this.fillSlot(m, slot.key, prog.fd, `program ${slot.target}`);
      }
    }
  }

  private unpinCreated(): void {
    for (const m of this.pinnedHere) {
      try {
        m.unpin();
      } catch {
        // the load's own error says more
      }
    }
  }

  /** Writes an fd into slot `key` of a map-in-map or PROG_ARRAY. */
  private fillSlot(m: MapSpec, key: number, fd: number, what: string): void {
    if (m.keySize !== 4) throw new TsbpfError(`map ${m.name}: initialised values need a 4-byte key, not ${m.keySize} bytes`);
    const k = new Uint8Array(4);
    const v = new Uint8Array(4);
    new DataView(k.buffer).setUint32(0, key, true);
    new DataView(v.buffer).setUint32(0, fd, true);
    try {
      this.map(m.name).update(k, v);
    } catch (e) {
      if (!(e instanceof SysError)) throw e;
      throw new TsbpfError(`map ${m.name}: cannot store ${what} in values[${key}]: ${e.message}`);
    }
  }

  /** The map `name`; `K` and `V` type its keys and values (the caller vouches for them, as generated bindings do). */
  map<K = unknown, V = unknown>(name: string): BpfMap<K, V> {
    const m = this.maps.get(name);
    if (!m) throw new TsbpfError(`no map named ${name}; maps: ${[...this.maps.keys()].join(', ') || 'none'}`);
    return m as BpfMap<K, V>;
  }

  program(name: string): Program {
    const p = this.programs.get(name);
    if (!p) throw new TsbpfError(`no program named ${name}; programs: ${[...this.programs.keys()].join(', ') || 'none'}`);
    return p;
  }

  /** The global variable `name`, its value typed `T` (as generated bindings give it). */
  variable<T = unknown>(name: string): Variable<T> {
    const v = this.variables.get(name);
    if (!v) throw new TsbpfError(`no global variable named ${name}; variables: ${[...this.variables.keys()].join(', ') || 'none'}`);
    return v as Variable<T>;
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

/** The pin root: the given directory (created when missing), else the bpffs mount. */
function pinDirectory(sys: Sys, given: string | undefined): string {
  if (given === undefined) return bpffsPath(sys);
  const dir = resolve(given);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new TsbpfError(`pin path ${dir}: cannot create it: ${(e as Error).message}`);
  }
  return dir;
}

/** The kernel-side definition of a map: PERF_EVENT_ARRAY's max_entries filled in. */
function effectiveSpec(sys: Sys, m: MapSpec): MapSpec {
  if (m.type === C.BPF_MAP_TYPE_PERF_EVENT_ARRAY && m.maxEntries === 0) {
    // One slot per CPU unless the program says otherwise, as libbpf does.
    return { ...m, maxEntries: sys.possibleCpus() };
  }
  return m;
}

function createMap(sys: Sys, spec: MapSpec, btf: Btf, btfFd: number | undefined): BpfMap {
  const m = effectiveSpec(sys, spec);
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
 * The map pinned at `path` when it matches the definition (libbpf's checks: type, key
 * and value size, max_entries, flags, map_extra); undefined when nothing is pinned there.
 * A different map there is an error: sharing it would break one of the two users.
 */
function reusePinned(sys: Sys, m: MapSpec, btf: Btf, path: string): BpfMap | undefined {
  let fd: number;
  try {
    fd = sys.objGet(path);
  } catch (e) {
    if (e instanceof SysError && e.code === 'ENOENT') return undefined;
    if (e instanceof SysError) throw new TsbpfError(`map ${m.name}: cannot open the map pinned at ${path}: ${e.message}`);
    throw e;
  }
  try {
    const info = sys.mapGetInfo(fd);
    // The kernel reports DEVMAPs with BPF_F_RDONLY_PROG set, which a definition cannot ask for.
    const devmap = m.type === C.BPF_MAP_TYPE_DEVMAP || m.type === C.BPF_MAP_TYPE_DEVMAP_HASH;
    const flags = devmap ? m.flags | C.BPF_F_RDONLY_PROG : m.flags;
    const diffs: string[] = [];
    const cmp = <T extends number | bigint>(what: string, pinned: T, here: T, show: (v: T) => string = String) => {
      if (pinned !== here) diffs.push(`${what} ${show(pinned)} pinned, ${show(here)} here`);
    };
    cmp('type', info.type, m.type, (t: number) => C.mapTypeName(t));
    cmp('key_size', info.keySize, m.keySize);
    cmp('value_size', info.valueSize, m.valueSize);
    cmp('max_entries', info.maxEntries, m.maxEntries);
    cmp('map_flags', info.mapFlags, flags, (f: number) => `0x${f.toString(16)}`);
    if (info.mapExtra !== undefined) cmp('map_extra', info.mapExtra, m.mapExtra);
    if (diffs.length) {
      throw new TsbpfError(`map ${m.name}: the map pinned at ${path} is incompatible (${diffs.join('; ')}): remove the pin (rm ${path}) or make the definitions agree`);
    }
  } catch (e) {
    sys.close(fd);
    if (e instanceof SysError) throw new TsbpfError(`map ${m.name}: ${path} is not a pinned map: ${e.message}`);
    throw e;
  }
  const map = new BpfMap(sys, fd, m, btf);
  map.setPinned(path);
  return map;
}

/**
 * A global variable of the loaded object, read and written through the mmap'd data
 * map, so reads see what BPF programs wrote and writes reach them at once.
 */
export class Variable<T = unknown> {
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
    const m = this.map.memory(!this.readonly);
    return new Uint8Array(m.buffer, m.byteOffset + this.spec.offset, this.spec.size);
  }

  get(): T {
    const m = this.map.memory(!this.readonly);
    return decodeValue(this.btf, this.spec.typeId, new DataView(m.buffer, m.byteOffset + this.spec.offset, this.spec.size)) as T;
  }

  set(value: T): void {
    if (this.readonly) {
      throw new TsbpfError(`${this.name} is in ${this.spec.section}, which is frozen after load: set it on the spec before loading (setGlobal)`);
    }
    const m = this.map.memory(true);
    encodeValue(this.btf, this.spec.typeId, value, new DataView(m.buffer, m.byteOffset + this.spec.offset, this.spec.size), 0, this.name);
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
    if (value instanceof Uint8Array) {
      // Raw bytes, as for map keys and values: the rest of the variable is zeroed.
      if (value.length > v.size) throw new TsbpfError(`${name}: ${value.length} bytes do not fit its ${v.size}`);
      m.data!.bytes.fill(0, v.offset, v.offset + v.size);
      m.data!.bytes.set(value, v.offset);
      return;
    }
    encodeValue(spec.btf, v.typeId, value, new DataView(m.data!.bytes.buffer, m.data!.bytes.byteOffset + v.offset, v.size), 0, name);
    return;
  }
  const all = spec.maps.flatMap((m) => m.data?.variables.map((x) => x.name) ?? []);
  throw new TsbpfError(`no global variable named ${name}; variables: ${all.join(', ') || 'none'}`);
}

/**
 * Sets sizes user space is meant to choose before load (libbpf's
 * bpf_map__set_max_entries / bpf_map__set_value_size): a STACK_TRACE map's value size
 * (8 bytes per frame), any map's max_entries. A value size that no longer matches the
 * map's BTF value type drops the type: values are then raw bytes.
 */
export function setMapSizes(spec: ObjectSpec, name: string, sizes: { maxEntries?: number; valueSize?: number }): void {
  const all = spec.maps.flatMap((m) => (m.innerMap ? [m, m.innerMap] : [m]));
  const m = all.find((x) => x.name === name);
  if (!m) throw new TsbpfError(`no map named ${name}; maps: ${all.map((x) => x.name).join(', ') || 'none'}`);
  const check = (what: string, n: number | undefined) => {
    if (n !== undefined && (!Number.isInteger(n) || n < 0 || n > 0xffffffff)) throw new TsbpfError(`map ${name}: ${what} ${n} is not a u32`);
  };
  check('max_entries', sizes.maxEntries);
  check('value_size', sizes.valueSize);
  if (sizes.valueSize !== undefined && sizes.valueSize !== m.valueSize) {
    if (m.data) throw new TsbpfError(`map ${name} holds section ${m.data.section}: its value size is the section's (${m.valueSize})`);
    if (m.innerMap || m.type === C.BPF_MAP_TYPE_PROG_ARRAY) throw new TsbpfError(`map ${name}: values of ${C.mapTypeName(m.type)} are 4-byte fds`);
    m.valueSize = sizes.valueSize;
    if (m.valueTypeId && spec.btf.size(m.valueTypeId) !== m.valueSize) m.valueTypeId = 0;
  }
  if (sizes.maxEntries !== undefined && sizes.maxEntries !== m.maxEntries) {
    if (m.data) throw new TsbpfError(`map ${name} holds section ${m.data.section}: it has one entry`);
    m.maxEntries = sizes.maxEntries;
  }
}
