/**
 * A kernel map and its typed API. Keys and values are encoded and decoded from the
 * map's BTF types when it has them (see btf/codec.ts for the representation); raw
 * Uint8Array keys and values always work.
 */
import { decodeValue, encodeValue, type Btf } from '../btf/index.js';
import { NotSupportedError, TsbpfError } from '../errors.js';
import type { MapSpec } from '../object/index.js';
import * as C from '../sys/constants.js';
import { SysError } from '../sys/errors.js';
import type { MapInfo, Mapping, Sys } from '../sys/types.js';
import { PinState } from './pin.js';
import { haveMapType } from './probe.js';

const PER_CPU = new Set<number>([C.BPF_MAP_TYPE_PERCPU_ARRAY, C.BPF_MAP_TYPE_PERCPU_HASH, C.BPF_MAP_TYPE_LRU_PERCPU_HASH]);

/**
 * Map types the kernel creates without BTF key/value types (it answers ENOTSUPP or
 * EINVAL when given them): libbpf's list in bpf_object__create_map, plus the ring
 * buffers, which have no key or value at all. The spec keeps its type ids for
 * decoding in user space; only the kernel does not get them.
 */
export const NO_BTF_MAP_TYPES: ReadonlySet<number> = new Set<number>([
  C.BPF_MAP_TYPE_PERF_EVENT_ARRAY, C.BPF_MAP_TYPE_CGROUP_ARRAY, C.BPF_MAP_TYPE_STACK_TRACE,
  C.BPF_MAP_TYPE_ARRAY_OF_MAPS, C.BPF_MAP_TYPE_HASH_OF_MAPS, C.BPF_MAP_TYPE_DEVMAP,
  C.BPF_MAP_TYPE_DEVMAP_HASH, C.BPF_MAP_TYPE_CPUMAP, C.BPF_MAP_TYPE_XSKMAP, C.BPF_MAP_TYPE_SOCKMAP,
  C.BPF_MAP_TYPE_SOCKHASH, C.BPF_MAP_TYPE_QUEUE, C.BPF_MAP_TYPE_STACK, C.BPF_MAP_TYPE_ARENA,
  C.BPF_MAP_TYPE_RINGBUF, C.BPF_MAP_TYPE_USER_RINGBUF,
]);

/** Local storage maps: max_entries must be 0 (one value per socket, task...). */
const STORAGE = new Set<number>([
  C.BPF_MAP_TYPE_CGROUP_STORAGE, C.BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE, C.BPF_MAP_TYPE_SK_STORAGE,
  C.BPF_MAP_TYPE_INODE_STORAGE, C.BPF_MAP_TYPE_TASK_STORAGE, C.BPF_MAP_TYPE_CGRP_STORAGE,
]);
/** Types whose key is a u32 index (the kernel refuses any other key size). */
const INDEXED = new Set<number>([
  C.BPF_MAP_TYPE_ARRAY, C.BPF_MAP_TYPE_PERCPU_ARRAY, C.BPF_MAP_TYPE_PROG_ARRAY, C.BPF_MAP_TYPE_PERF_EVENT_ARRAY,
  C.BPF_MAP_TYPE_CGROUP_ARRAY, C.BPF_MAP_TYPE_ARRAY_OF_MAPS, C.BPF_MAP_TYPE_DEVMAP, C.BPF_MAP_TYPE_CPUMAP,
  C.BPF_MAP_TYPE_XSKMAP, C.BPF_MAP_TYPE_SOCKMAP, C.BPF_MAP_TYPE_STACK_TRACE, C.BPF_MAP_TYPE_REUSEPORT_SOCKARRAY,
]);
/** Types whose value is an fd (4 bytes). */
const FD_VALUE = new Set<number>([
  C.BPF_MAP_TYPE_PROG_ARRAY, C.BPF_MAP_TYPE_PERF_EVENT_ARRAY, C.BPF_MAP_TYPE_CGROUP_ARRAY,
  C.BPF_MAP_TYPE_ARRAY_OF_MAPS, C.BPF_MAP_TYPE_HASH_OF_MAPS,
]);
const NO_KEY = new Set<number>([C.BPF_MAP_TYPE_QUEUE, C.BPF_MAP_TYPE_STACK, C.BPF_MAP_TYPE_BLOOM_FILTER]);
const RING = new Set<number>([C.BPF_MAP_TYPE_RINGBUF, C.BPF_MAP_TYPE_USER_RINGBUF]);

const setHint = (option: 'max-entries' | 'value-size', map: string) =>
  `or set it before load (setMapSizes(spec, '${map}', ...), tsbpf run --${option} ${map}=N)`;

/**
 * What the object got wrong in a definition the kernel refused with EINVAL, by the
 * kernel's per-type rules; undefined when the definition looks valid (the kernel then
 * lacks something, and a probe says what).
 */
export function mapDefinitionFault(spec: MapSpec, pageSize: number): string | undefined {
  const t = spec.type;
  const what = `map ${spec.name} (${C.mapTypeName(t)})`;
  if (t === C.BPF_MAP_TYPE_STACK_TRACE && (spec.valueSize === 0 || spec.valueSize % 8)) {
    return `${what}: value_size ${spec.valueSize} is not a whole number of 8-byte frames: the object must set it (e.g. __uint(value_size, 127 * sizeof(__u64))), ${setHint('value-size', spec.name)}`;
  }
  if (RING.has(t)) {
    if (spec.keySize || spec.valueSize) return `${what}: a ring buffer takes no key or value (key_size ${spec.keySize}, value_size ${spec.valueSize})`;
    const n = spec.maxEntries;
    if (n === 0 || n % pageSize || (n & (n - 1))) {
      return `${what}: max_entries ${n} must be a power of 2 and a multiple of the page size (${pageSize}), ${setHint('max-entries', spec.name)}`;
    }
    return undefined;
  }
  if (STORAGE.has(t)) {
    if (spec.maxEntries) return `${what}: max_entries must be 0 for local storage maps, not ${spec.maxEntries}`;
  } else if (spec.maxEntries === 0 && t !== C.BPF_MAP_TYPE_ARENA) {
    return `${what}: max_entries is 0: the object must set it (__uint(max_entries, N)), ${setHint('max-entries', spec.name)}`;
  }
  if (INDEXED.has(t) && spec.keySize !== 4) return `${what}: key_size must be 4 (a u32 index), not ${spec.keySize}`;
  if (NO_KEY.has(t) && spec.keySize !== 0) return `${what}: takes no key, but key_size is ${spec.keySize}`;
  if (!NO_KEY.has(t) && !INDEXED.has(t) && t !== C.BPF_MAP_TYPE_ARENA && spec.keySize === 0) {
    return `${what}: key_size is 0: declare __type(key, ...) or __uint(key_size, N)`;
  }
  if (FD_VALUE.has(t) && spec.valueSize !== 4) return `${what}: value_size must be 4 (an fd), not ${spec.valueSize}`;
  if (spec.valueSize === 0 && t !== C.BPF_MAP_TYPE_ARENA) {
    return `${what}: value_size is 0: declare __type(value, ...) or __uint(value_size, N), ${setHint('value-size', spec.name)}`;
  }
  return undefined;
}

/** What the kernel accepts as a map or program name: 15 characters of [A-Za-z0-9_.]. */
export function kernelObjectName(name: string): string {
  return name.replace(/[^A-Za-z0-9_.]/g, '_').slice(0, C.BPF_OBJ_NAME_LEN - 1);
}

/**
 * How one key or value (one CPU's, for per-CPU maps) becomes bytes and back. By default the
 * BTF codec (btf/codec.ts); generated bindings hand in their straight-line code, which takes
 * and gives the same values.
 */
export interface ValueCodec<T = unknown> {
  decode(view: DataView, offset: number): T;
  /** Writes `value` at `offset`; errors name `path`. Members left out are left as they are. */
  encode(view: DataView, offset: number, value: T, path: string): void;
}

export interface MapCodec {
  key?: ValueCodec;
  value?: ValueCodec;
}

function btfCodec(btf: Btf | undefined, typeId: number): ValueCodec | undefined {
  if (!btf || !typeId) return undefined;
  return {
    decode: (view, offset) => decodeValue(btf, typeId, view, offset),
    encode: (view, offset, value, path) => encodeValue(btf, typeId, value, view, offset, path),
  };
}

/**
 * A loaded map. `K` and `V` are the JS types of its keys and values (generated bindings
 * give them; untyped use leaves them unknown); raw Uint8Array keys and values always work.
 */
export class BpfMap<K = unknown, V = unknown> {
  private closed = false;
  private readonly pins = new PinState();
  private mapping?: Mapping;
  private readonly cpus: number;
  /** Bytes of one key and of one (all-CPU) value buffer. */
  private readonly keyBuf: Uint8Array;
  private readonly valueBuf: Uint8Array;
  private keyCodec?: ValueCodec;
  private valueCodec?: ValueCodec;
  private readonly keyPath: string;
  private readonly valuePath: string;

  constructor(
    private readonly sys: Sys,
    readonly fd: number,
    readonly spec: MapSpec,
    /** The object's BTF, for typed keys and values. */
    readonly btf?: Btf,
  ) {
    this.cpus = PER_CPU.has(spec.type) ? sys.possibleCpus() : 1;
    this.keyBuf = new Uint8Array(spec.keySize);
    this.valueBuf = new Uint8Array(this.cpus > 1 ? roundUp(spec.valueSize, 8) * this.cpus : spec.valueSize);
    this.keyCodec = btfCodec(btf, spec.keyTypeId);
    this.valueCodec = btfCodec(btf, spec.valueTypeId);
    this.keyPath = `key of map ${spec.name}`;
    this.valuePath = `value of map ${spec.name}`;
  }

  /** Keys and values go through `codec` from now on (generated bindings' code); a part left out keeps its codec. */
  useCodec(codec: MapCodec): this {
    if (codec.key) this.keyCodec = codec.key;
    if (codec.value) this.valueCodec = codec.value;
    return this;
  }

  get name(): string {
    return this.spec.name;
  }
  get type(): number {
    return this.spec.type;
  }
  get keySize(): number {
    return this.spec.keySize;
  }
  get valueSize(): number {
    return this.spec.valueSize;
  }
  get maxEntries(): number {
    return this.spec.maxEntries;
  }

  /** Creates the map in the kernel, with BTF types when the kernel takes them. */
  static create(sys: Sys, spec: MapSpec, btf: Btf | undefined, btfFd: number | undefined, innerMapFd?: number): BpfMap {
    if (spec.type === C.BPF_MAP_TYPE_STRUCT_OPS) {
      // Needs the kernel struct's BTF id and the programs in its value: not done here.
      throw new TsbpfError(`map ${spec.name}: BPF_MAP_TYPE_STRUCT_OPS maps are not supported by tsbpf`);
    }
    const attr = {
      mapType: spec.type,
      keySize: spec.keySize,
      valueSize: spec.valueSize,
      maxEntries: spec.maxEntries,
      mapFlags: spec.flags,
      numaNode: spec.numaNode,
      mapName: kernelObjectName(spec.name),
      mapExtra: spec.mapExtra,
      innerMapFd,
    };
    // The kernel takes BTF only with a value type (a key type alone is EINVAL).
    const withBtf = btfFd !== undefined && spec.valueTypeId && !NO_BTF_MAP_TYPES.has(spec.type)
      ? { ...attr, btfFd, btfKeyTypeId: spec.keyTypeId, btfValueTypeId: spec.valueTypeId }
      : undefined;
    let fd: number;
    try {
      try {
        fd = sys.mapCreate(withBtf ?? attr);
      } catch (e) {
        // Types or kernels that refuse BTF for key/value (EINVAL, or ENOTSUPP from the
        // map type's check) create the map without it, as libbpf retries.
        if (!withBtf || !(e instanceof SysError) || (e.code !== 'EINVAL' && e.code !== 'ENOTSUPP')) throw e;
        fd = sys.mapCreate(attr);
      }
    } catch (e) {
      if (e instanceof SysError && (e.code === 'EINVAL' || e.code === 'ENOTSUPP')) {
        // The object's fault first: a probe with valid attributes would succeed and the
        // kernel would be blamed for nothing.
        const fault = mapDefinitionFault(spec, sys.pageSize());
        if (fault) throw new TsbpfError(fault);
        if (!haveMapType(sys, spec.type)) throw new NotSupportedError(`${C.mapTypeName(spec.type)} maps`, `map ${spec.name}`);
      }
      if (e instanceof SysError) {
        throw new TsbpfError(`creating map ${spec.name} (${C.mapTypeName(spec.type)}, key ${spec.keySize}, value ${spec.valueSize}, max_entries ${spec.maxEntries}): ${e.message}`);
      }
      throw e;
    }
    return new BpfMap(sys, fd, spec, btf);
  }

  /** Where the map is pinned (by pin(), or by the object's LIBBPF_PIN_BY_NAME), if anywhere. */
  get pinnedPath(): string | undefined {
    return this.pins.path;
  }

  /** Pins the map at `path` on a bpffs (BPF_OBJ_PIN), so it outlives this process. */
  pin(path: string): void {
    this.live();
    this.pins.pin(this.sys, this.fd, path, `map ${this.name}`);
  }

  /** Removes the pin made by pin() or by pinning; the map lives on while fds remain. */
  unpin(): void {
    this.pins.unpin(`map ${this.name}`);
  }

  /** @internal Records a pin the loader made or reused. */
  setPinned(path: string | undefined): void {
    this.pins.path = path;
  }

  info(): MapInfo {
    this.live();
    return this.sys.mapGetInfo(this.fd);
  }

  /** The value for `key`, or undefined when absent. Per-CPU maps give one value per CPU. */
  lookup(key: K | Uint8Array): V | undefined {
    const raw = this.lookupBytes(this.encodeKey(key));
    return raw === undefined ? undefined : (this.decodeValue(raw) as V);
  }

  /** Raw lookup: a copy of the value bytes (all CPUs for per-CPU maps). */
  lookupBytes(key: Uint8Array): Uint8Array | undefined {
    this.live();
    return this.sys.mapLookupElem(this.fd, key, this.valueBuf) ? this.valueBuf.slice() : undefined;
  }

  update(key: K | Uint8Array, value: V | Uint8Array, flags: bigint = BigInt(C.BPF_ANY)): void {
    this.live();
    this.sys.mapUpdateElem(this.fd, this.encodeKey(key), this.encodeValue(value), flags);
  }

  /** False when the key was absent. */
  delete(key: K | Uint8Array): boolean {
    this.live();
    return this.sys.mapDeleteElem(this.fd, this.encodeKey(key));
  }

  /** Keys in the kernel's iteration order (decoded when the key type is known). */
  *keys(): Generator<K> {
    for (const k of this.rawKeys()) yield this.decodeKey(k) as K;
  }

  *entries(): Generator<[K, V]> {
    for (const k of this.rawKeys()) {
      const v = this.lookupBytes(k);
      // A key deleted between next-key and lookup is simply skipped.
      if (v !== undefined) yield [this.decodeKey(k) as K, this.decodeValue(v) as V];
    }
  }

  private *rawKeys(): Generator<Uint8Array> {
    this.live();
    let prev: Uint8Array | null = null;
    const next = new Uint8Array(this.spec.keySize);
    for (let n = 0; ; n++) {
      if (!this.sys.mapGetNextKey(this.fd, prev, next)) return;
      const k = next.slice();
      yield k;
      prev = k;
      // Hash maps restart from the beginning when `prev` was deleted meanwhile; bound the walk.
      if (n > 16 * Math.max(this.spec.maxEntries, 1)) return;
    }
  }

  /** Freezes the map: no more writes from user space (the verifier then trusts .rodata). */
  freeze(): void {
    this.live();
    this.sys.mapFreeze(this.fd);
  }

  /**
   * The map's memory, shared with BPF programs (BPF_F_MMAPABLE array maps only).
   * Read-only for frozen maps. Detached (empty) once the map is closed.
   */
  memory(writable = true): Uint8Array {
    this.live();
    if (!this.mapping) {
      if (!(this.spec.flags & C.BPF_F_MMAPABLE)) throw new TsbpfError(`map ${this.name} is not mmapable (BPF_F_MMAPABLE)`);
      const size = roundUp(roundUp(this.spec.valueSize, 8) * this.spec.maxEntries, this.sys.pageSize());
      this.mapping = this.sys.mmap(size, writable ? C.PROT_READ | C.PROT_WRITE : C.PROT_READ, C.MAP_SHARED, this.fd, 0);
    }
    const m = this.mapping;
    return new Uint8Array(m.buffer, m.offset, m.length);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.mapping) this.sys.munmap(this.mapping);
    this.mapping = undefined;
    this.sys.close(this.fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private live(): void {
    if (this.closed) throw new TsbpfError(`map ${this.name} is closed`);
  }

  private encodeKey(key: unknown): Uint8Array {
    if (key instanceof Uint8Array) return checkLength(key, this.spec.keySize, this.keyPath);
    const buf = this.keyBuf;
    buf.fill(0);
    const view = new DataView(buf.buffer);
    if (this.keyCodec) this.keyCodec.encode(view, 0, key, this.keyPath);
    else if (this.spec.keySize === 4 && typeof key === 'number') view.setUint32(0, key, true);
    else throw new TsbpfError(`map ${this.name} has no BTF key type: pass the key as a Uint8Array of ${this.spec.keySize} bytes`);
    return buf;
  }

  private decodeKey(raw: Uint8Array): unknown {
    return this.keyCodec ? this.keyCodec.decode(view(raw), 0) : raw;
  }

  private encodeValue(value: unknown): Uint8Array {
    if (value instanceof Uint8Array) return checkLength(value, this.valueBuf.byteLength, this.valuePath);
    const codec = this.valueCodec;
    if (!codec) {
      throw new TsbpfError(`map ${this.name} has no BTF value type: pass the value as a Uint8Array of ${this.valueBuf.byteLength} bytes`);
    }
    const buf = new Uint8Array(this.valueBuf.byteLength);
    const dv = new DataView(buf.buffer);
    if (this.cpus > 1) {
      const values = Array.isArray(value) ? value : new Array(this.cpus).fill(value);
      const stride = roundUp(this.spec.valueSize, 8);
      values.forEach((v, cpu) => codec.encode(dv, cpu * stride, v, `${this.valuePath} on CPU ${cpu}`));
    } else {
      codec.encode(dv, 0, value, this.valuePath);
    }
    return buf;
  }

  private decodeValue(raw: Uint8Array): unknown {
    const codec = this.valueCodec;
    if (!codec) return raw;
    const dv = view(raw);
    if (this.cpus === 1) return codec.decode(dv, 0);
    const stride = roundUp(this.spec.valueSize, 8);
    return Array.from({ length: this.cpus }, (_, cpu) => codec.decode(dv, cpu * stride));
  }
}

/** BPF_OBJ_PIN with a one-line error naming the object and the path. */
export function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function checkLength(b: Uint8Array, size: number, what: string): Uint8Array {
  if (b.byteLength !== size) throw new TsbpfError(`${what}: ${b.byteLength} bytes given, ${size} expected`);
  return b;
}
