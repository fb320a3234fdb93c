/**
 * An in-memory Sys for unit tests that need no root: maps that store values, programs
 * and BTF that are recorded instead of verified, fds that are counted so a test can
 * prove nothing leaked, and scripted failures (`failNext`) to drive error paths such as
 * "retry the load with a log buffer" or "retry map creation without BTF".
 *
 * It mimics the kernel's answers where tsbpf depends on them (ENOENT at the end of a
 * walk, EEXIST for BPF_NOEXIST, EPERM after freeze, E2BIG when full) and throws a
 * SysError with errno ENOSYS and a "FakeSys does not implement" hint for the rest.
 */
import { TsbpfError } from '../errors.js';
import {
  BPF_ANY,
  BPF_EXIST,
  BPF_F_MMAPABLE,
  BPF_F_RDONLY,
  BPF_F_WRONLY,
  BPF_LD,
  BPF_DW,
  BPF_IMM,
  BPF_LINK_TYPE_PERF_EVENT,
  BPF_LINK_TYPE_RAW_TRACEPOINT,
  BPF_LINK_TYPE_TRACING,
  BPF_LINK_TYPE_UNSPEC,
  BPF_LSM_MAC,
  BPF_MAP_TYPE_ARRAY,
  BPF_MAP_TYPE_ARRAY_OF_MAPS,
  BPF_MAP_TYPE_HASH,
  BPF_MAP_TYPE_HASH_OF_MAPS,
  BPF_MAP_TYPE_LRU_HASH,
  BPF_MAP_TYPE_LRU_PERCPU_HASH,
  BPF_MAP_TYPE_PERCPU_ARRAY,
  BPF_MAP_TYPE_PERCPU_HASH,
  BPF_MAP_TYPE_PROG_ARRAY,
  BPF_MAP_TYPE_RINGBUF,
  BPF_MODIFY_RETURN,
  BPF_NOEXIST,
  BPF_OBJ_NAME_LEN,
  BPF_PERF_EVENT,
  BPF_PSEUDO_MAP_FD,
  BPF_PSEUDO_MAP_VALUE,
  BPF_TRACE_FENTRY,
  BPF_TRACE_FEXIT,
  BPF_TRACE_RAW_TP,
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLL_CTL_MOD,
  EPOLLERR,
  EPOLLHUP,
  EPOLLIN,
} from './constants.js';
import { E2BIG, EBADF, EBUSY, EEXIST, EINVAL, ENOENT, ENOSYS, EPERM, SysError } from './errors.js';
import type {
  BtfInfo,
  BtfLoadAttr,
  EpollEvent,
  FdWatch,
  LinkCreateAttr,
  LinkInfo,
  MapCreateAttr,
  MapInfo,
  Mapping,
  PerfEventAttr,
  ProgInfo,
  ProgLoadAttr,
  Sys,
  TestRunAttr,
  TestRunResult,
} from './types.js';

/** The Sys methods, for scripting failures and reading the call log. */
export type SysMethod = {
  [K in keyof Sys]: Sys[K] extends (...args: never[]) => unknown ? K : never;
}[keyof Sys];

export interface FakeCall {
  method: SysMethod;
  /** Copies of the arguments as they were at the call (byte arrays are copied too). */
  args: unknown[];
}

export interface FakeSysOptions {
  possibleCpus?: number;
  pageSize?: number;
  /** What kernelRelease() says (default "6.18.0-fake"). */
  kernelRelease?: string;
  /** First fd handed out; real processes start near 3, a distinct range catches fd mix-ups. */
  firstFd?: number;
}

interface Failure {
  errno: number;
  logText?: string;
}

/** syscall and bpf command of each method, so scripted errors read like real ones. */
const SYSCALL_OF: Record<SysMethod, [string, string?]> = {
  mapCreate: ['bpf', 'BPF_MAP_CREATE'],
  mapLookupElem: ['bpf', 'BPF_MAP_LOOKUP_ELEM'],
  mapUpdateElem: ['bpf', 'BPF_MAP_UPDATE_ELEM'],
  mapDeleteElem: ['bpf', 'BPF_MAP_DELETE_ELEM'],
  mapGetNextKey: ['bpf', 'BPF_MAP_GET_NEXT_KEY'],
  mapFreeze: ['bpf', 'BPF_MAP_FREEZE'],
  progLoad: ['bpf', 'BPF_PROG_LOAD'],
  btfLoad: ['bpf', 'BPF_BTF_LOAD'],
  progTestRun: ['bpf', 'BPF_PROG_TEST_RUN'],
  linkCreate: ['bpf', 'BPF_LINK_CREATE'],
  rawTracepointOpen: ['bpf', 'BPF_RAW_TRACEPOINT_OPEN'],
  iterCreate: ['bpf', 'BPF_ITER_CREATE'],
  read: ['read'],
  openPath: ['open'],
  netlinkOpen: ['socket'],
  netlinkRequest: ['sendmsg'],
  objPin: ['bpf', 'BPF_OBJ_PIN'],
  objGet: ['bpf', 'BPF_OBJ_GET'],
  progGetInfo: ['bpf', 'BPF_OBJ_GET_INFO_BY_FD'],
  progXlatedInsns: ['bpf', 'BPF_OBJ_GET_INFO_BY_FD'],
  mapGetInfo: ['bpf', 'BPF_OBJ_GET_INFO_BY_FD'],
  linkGetInfo: ['bpf', 'BPF_OBJ_GET_INFO_BY_FD'],
  btfGetInfo: ['bpf', 'BPF_OBJ_GET_INFO_BY_FD'],
  progGetNextId: ['bpf', 'BPF_PROG_GET_NEXT_ID'],
  mapGetNextId: ['bpf', 'BPF_MAP_GET_NEXT_ID'],
  linkGetNextId: ['bpf', 'BPF_LINK_GET_NEXT_ID'],
  btfGetNextId: ['bpf', 'BPF_BTF_GET_NEXT_ID'],
  progGetFdById: ['bpf', 'BPF_PROG_GET_FD_BY_ID'],
  mapGetFdById: ['bpf', 'BPF_MAP_GET_FD_BY_ID'],
  linkGetFdById: ['bpf', 'BPF_LINK_GET_FD_BY_ID'],
  btfGetFdById: ['bpf', 'BPF_BTF_GET_FD_BY_ID'],
  perfEventOpen: ['perf_event_open'],
  ioctl: ['ioctl'],
  mmap: ['mmap'],
  munmap: ['munmap'],
  close: ['close'],
  epollCreate: ['epoll_create1'],
  epollCtl: ['epoll_ctl'],
  epollWait: ['epoll_wait'],
  epollWaitAsync: ['epoll_wait'],
  watchReadable: ['poll'],
  mount: ['mount'],
  raiseMemlockLimit: ['setrlimit'],
  possibleCpus: ['possibleCpus'],
  pageSize: ['pageSize'],
  kernelRelease: ['uname'],
};

// ---------------------------------------------------------------------------------------
// kernel objects

type IdKind = 'map' | 'prog' | 'btf' | 'link';

interface Counted {
  /** fds referring to the object, plus one per pin. */
  refs: number;
}

interface MapObj extends Counted {
  kind: 'map';
  id: number;
  attr: MapCreateAttr;
  frozen: boolean;
  store: HashStore | ArrayStore | null;
}

interface ProgObj extends Counted {
  kind: 'prog';
  id: number;
  attr: ProgLoadAttr;
  mapIds: number[];
  btfId: number;
}

interface BtfObj extends Counted {
  kind: 'btf';
  id: number;
  blob: Uint8Array;
  /** Kernel BTFs (vmlinux, modules) have a name and kernel_btf set. */
  name?: string;
  kernel?: boolean;
}

interface LinkObj extends Counted {
  kind: 'link';
  id: number;
  type: number;
  progId: number;
}

interface PerfObj extends Counted {
  kind: 'perf';
  attr: PerfEventAttr;
}

interface EpollObj extends Counted {
  kind: 'epoll';
  /** fd -> requested events */
  interest: Map<number, number>;
}

type Obj = MapObj | ProgObj | BtfObj | LinkObj | PerfObj | EpollObj;

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const align8 = (n: number): number => (n + 7) & ~7;

/** Hash-like maps: insertion order is the iteration order. */
class HashStore {
  readonly entries = new Map<string, { key: Uint8Array; value: Uint8Array }>();
  constructor(
    readonly valueBytes: number,
    readonly lru: boolean,
  ) {}
}

/**
 * Array-like maps: one contiguous buffer with values every round_up(value_size, 8)
 * bytes, the layout the kernel exposes through mmap.
 */
class ArrayStore {
  readonly data: Uint8Array;
  constructor(
    readonly stride: number,
    readonly valueBytes: number,
    maxEntries: number,
    pageSize: number,
    mmapable: boolean,
  ) {
    const bytes = stride * maxEntries;
    this.data = new Uint8Array(mmapable ? Math.ceil(bytes / pageSize) * pageSize : bytes);
  }
}

/** A deep copy of an argument: byte arrays are copied, Buffers stay Buffers. */
function snapshot(v: unknown): unknown {
  if (Buffer.isBuffer(v)) return Buffer.from(v);
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(snapshot);
  if (v && typeof v === 'object' && !(v instanceof ArrayBuffer)) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, snapshot(x)]));
  }
  return v;
}

export class FakeSys implements Sys {
  /** Every call in order, with argument copies. */
  readonly calls: FakeCall[] = [];
  /** Written into logBuf on a successful program load with logLevel > 0. */
  verifierLog = 'processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0\n';
  /** Successful mount() calls, in order (the fake mounts nothing). */
  readonly mounts: { source: string; target: string; fstype: string; flags: number }[] = [];
  /** Answers BPF_PROG_TEST_RUN; without it the fake throws ENOSYS. */
  onTestRun: ((attr: TestRunAttr) => TestRunResult) | undefined;

  private readonly fds = new Map<number, Obj>();
  private readonly byId = new Map<IdKind, Map<number, Obj>>([
    ['map', new Map()],
    ['prog', new Map()],
    ['btf', new Map()],
    ['link', new Map()],
  ]);
  private readonly pins = new Map<string, Obj>();
  private readonly failures = new Map<SysMethod, Failure[]>();
  private readonly ready = new Map<number, number>();
  private readonly waiters = new Set<() => void>();
  private readonly watches = new Set<{ fd: number; onReadable: () => void }>();
  private readonly liveMappings = new Set<Mapping>();
  private nextFd: number;
  private nextId = 1;
  private nextAddress = 0x7f0000000000n;
  private readonly cpus: number;
  private readonly page: number;
  private readonly uname: string;

  constructor(opts: FakeSysOptions = {}) {
    this.cpus = opts.possibleCpus ?? 2;
    this.page = opts.pageSize ?? 4096;
    this.uname = opts.kernelRelease ?? '6.18.0-fake';
    this.nextFd = opts.firstFd ?? 100;
  }

  // -------------------------------------------------------------------------------------
  // test controls

  /**
   * Makes the next call of `method` fail with `errno` (queue several for several calls).
   * With `logText`, a progLoad/btfLoad that passed a log buffer receives that text, as
   * the kernel writes the verifier log before failing.
   */
  failNext(method: SysMethod, errno: number, logText?: string): this {
    const q = this.failures.get(method) ?? [];
    q.push({ errno, logText });
    this.failures.set(method, q);
    return this;
  }

  /**
   * A kernel BTF object (vmlinux or a module's) as BPF_BTF_GET_NEXT_ID lists it: named,
   * kernel_btf set, alive with no fd open. Returns its id.
   */
  addKernelBtf(name: string, blob: Uint8Array): number {
    const id = this.nextId++;
    this.byId.get('btf')!.set(id, { kind: 'btf', id, blob: new Uint8Array(blob), refs: 1, name, kernel: true });
    return id;
  }

  /** The fds currently open. */
  get openFds(): ReadonlySet<number> {
    return new Set(this.fds.keys());
  }

  /** Mappings not yet unmapped. */
  get mappings(): ReadonlySet<Mapping> {
    return new Set(this.liveMappings);
  }

  /** Argument lists of every call to `method`. */
  callsOf<M extends SysMethod>(method: M): Parameters<Sys[M]>[] {
    return this.calls.filter((c) => c.method === method).map((c) => c.args as Parameters<Sys[M]>);
  }

  /** Marks `fd` readable (level-triggered: it stays ready until clearReady). */
  setReady(fd: number, events = EPOLLIN): void {
    this.ready.set(fd, events);
    for (const wake of [...this.waiters]) wake();
    for (const w of [...this.watches]) if (w.fd === fd) queueMicrotask(w.onReadable);
  }

  clearReady(fd: number): void {
    this.ready.delete(fd);
  }

  /** The recorded attributes behind a map or program fd, for assertions. */
  mapAttr(fd: number): MapCreateAttr {
    return this.obj(fd, 'map', 'mapAttr').attr;
  }
  progAttr(fd: number): ProgLoadAttr {
    return this.obj(fd, 'prog', 'progAttr').attr;
  }
  btfBlob(fd: number): Uint8Array {
    return this.obj(fd, 'btf', 'btfBlob').blob;
  }
  perfAttr(fd: number): PerfEventAttr {
    return this.obj(fd, 'perf', 'perfAttr').attr;
  }

  // -------------------------------------------------------------------------------------
  // plumbing

  private enter(method: SysMethod, args: unknown[], log?: Buffer): void {
    this.calls.push({ method, args: args.map(snapshot) });
    const failure = this.failures.get(method)?.shift();
    if (!failure) return;
    if (failure.logText !== undefined && log) writeLog(log, failure.logText);
    throw this.error(method, failure.errno);
  }

  private error(method: SysMethod, errno: number, hint?: string): SysError {
    const [syscall, command] = SYSCALL_OF[method];
    return new SysError(syscall, errno, command, hint);
  }

  private unsupported(method: SysMethod, what: string): SysError {
    return this.error(method, ENOSYS, `FakeSys does not implement ${what}`);
  }

  private newFd(obj: Obj): number {
    const fd = this.nextFd++;
    obj.refs++;
    this.fds.set(fd, obj);
    return fd;
  }

  private register<T extends MapObj | ProgObj | BtfObj | LinkObj>(obj: T): number {
    this.byId.get(obj.kind)!.set(obj.id, obj);
    return this.newFd(obj);
  }

  private release(obj: Obj): void {
    if (--obj.refs > 0) return;
    if (obj.kind === 'map' || obj.kind === 'prog' || obj.kind === 'btf' || obj.kind === 'link') {
      this.byId.get(obj.kind)!.delete(obj.id);
    }
  }

  private obj<K extends Obj['kind']>(fd: number, kind: K, method: SysMethod | string): Extract<Obj, { kind: K }> {
    const o = this.fds.get(fd);
    if (!o) {
      throw method in SYSCALL_OF ? this.error(method as SysMethod, EBADF) : new TsbpfError(`FakeSys.${method}: fd ${fd} is not open`);
    }
    if (o.kind !== kind) {
      throw method in SYSCALL_OF ? this.error(method as SysMethod, EINVAL) : new TsbpfError(`FakeSys.${method}: fd ${fd} is a ${o.kind}, not a ${kind}`);
    }
    return o as Extract<Obj, { kind: K }>;
  }

  private checkKey(method: SysMethod, m: MapObj, key: Uint8Array): void {
    if (key.length !== m.attr.keySize) {
      throw new TsbpfError(`FakeSys.${method}: key is ${key.length} bytes, the map's key_size is ${m.attr.keySize}`);
    }
  }

  // -------------------------------------------------------------------------------------
  // maps

  private valueBytes(a: MapCreateAttr): number {
    const perCpu =
      a.mapType === BPF_MAP_TYPE_PERCPU_ARRAY ||
      a.mapType === BPF_MAP_TYPE_PERCPU_HASH ||
      a.mapType === BPF_MAP_TYPE_LRU_PERCPU_HASH;
    return perCpu ? align8(a.valueSize) * this.cpus : a.valueSize;
  }

  mapCreate(attr: MapCreateAttr): number {
    this.enter('mapCreate', [attr]);
    const flags = attr.mapFlags ?? 0;
    // Fd-holding maps (PROG_ARRAY, map-in-map) store the fds' bytes, which is enough to check what was written.
    const isArray = ([BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PROG_ARRAY, BPF_MAP_TYPE_ARRAY_OF_MAPS] as number[]).includes(attr.mapType);
    const isHash = ([BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH, BPF_MAP_TYPE_HASH_OF_MAPS] as number[]).includes(attr.mapType);
    let store: HashStore | ArrayStore | null = null;
    if (attr.mapType === BPF_MAP_TYPE_RINGBUF) {
      const n = attr.maxEntries;
      if (attr.keySize !== 0 || attr.valueSize !== 0 || n === 0 || (n & (n - 1)) !== 0 || n % this.page !== 0) {
        throw this.error('mapCreate', EINVAL);
      }
    } else if (isArray || isHash) {
      if (attr.valueSize === 0 || attr.maxEntries === 0 || attr.keySize === 0) throw this.error('mapCreate', EINVAL);
      if (isArray && attr.keySize !== 4) throw this.error('mapCreate', EINVAL);
    }
    if (flags & BPF_F_MMAPABLE && attr.mapType !== BPF_MAP_TYPE_ARRAY) throw this.error('mapCreate', EINVAL);
    if (isArray) {
      const bytes = this.valueBytes(attr);
      store = new ArrayStore(align8(bytes), bytes, attr.maxEntries, this.page, (flags & BPF_F_MMAPABLE) !== 0);
    } else if (isHash) {
      store = new HashStore(this.valueBytes(attr), attr.mapType === BPF_MAP_TYPE_LRU_HASH || attr.mapType === BPF_MAP_TYPE_LRU_PERCPU_HASH);
    }
    const name = (attr.mapName ?? '').slice(0, BPF_OBJ_NAME_LEN - 1);
    return this.register<MapObj>({
      kind: 'map',
      id: this.nextId++,
      attr: { ...(snapshot(attr) as MapCreateAttr), mapName: name },
      frozen: false,
      store,
      refs: 0,
    });
  }

  mapLookupElem(mapFd: number, key: Uint8Array, value: Uint8Array, flags?: bigint): boolean {
    this.enter('mapLookupElem', [mapFd, key, value, flags]);
    const m = this.obj(mapFd, 'map', 'mapLookupElem');
    if ((m.attr.mapFlags ?? 0) & BPF_F_WRONLY) throw this.error('mapLookupElem', EPERM);
    const s = m.store;
    if (!s) throw this.unsupported('mapLookupElem', `lookups in map type ${m.attr.mapType}`);
    this.checkKey('mapLookupElem', m, key);
    if (s instanceof ArrayStore) {
      const i = new DataView(key.buffer, key.byteOffset, 4).getUint32(0, true);
      if (i >= m.attr.maxEntries) return false;
      value.set(s.data.subarray(i * s.stride, i * s.stride + Math.min(value.length, s.valueBytes)));
      return true;
    }
    const e = s.entries.get(hex(key));
    if (!e) return false;
    value.set(e.value.subarray(0, Math.min(value.length, e.value.length)));
    return true;
  }

  mapUpdateElem(mapFd: number, key: Uint8Array, value: Uint8Array, flags = 0n): void {
    this.enter('mapUpdateElem', [mapFd, key, value, flags]);
    const m = this.obj(mapFd, 'map', 'mapUpdateElem');
    if (m.frozen || (m.attr.mapFlags ?? 0) & BPF_F_RDONLY) throw this.error('mapUpdateElem', EPERM);
    const s = m.store;
    if (!s) throw this.unsupported('mapUpdateElem', `updates of map type ${m.attr.mapType}`);
    this.checkKey('mapUpdateElem', m, key);
    const how = Number(flags & 3n);
    if (how !== BPF_ANY && how !== BPF_NOEXIST && how !== BPF_EXIST) throw this.error('mapUpdateElem', EINVAL);
    const bytes = value.subarray(0, s.valueBytes);
    if (s instanceof ArrayStore) {
      const i = new DataView(key.buffer, key.byteOffset, 4).getUint32(0, true);
      if (i >= m.attr.maxEntries) throw this.error('mapUpdateElem', E2BIG);
      // Every array element always exists.
      if (how === BPF_NOEXIST) throw this.error('mapUpdateElem', EEXIST);
      s.data.fill(0, i * s.stride, i * s.stride + s.valueBytes);
      s.data.set(bytes, i * s.stride);
      return;
    }
    const k = hex(key);
    const exists = s.entries.has(k);
    if (how === BPF_NOEXIST && exists) throw this.error('mapUpdateElem', EEXIST);
    if (how === BPF_EXIST && !exists) throw this.error('mapUpdateElem', ENOENT);
    if (!exists && s.entries.size >= m.attr.maxEntries) {
      if (!s.lru) throw this.error('mapUpdateElem', E2BIG);
      s.entries.delete(s.entries.keys().next().value as string);
    }
    const stored = new Uint8Array(s.valueBytes);
    stored.set(bytes);
    s.entries.set(k, { key: new Uint8Array(key), value: stored });
  }

  mapDeleteElem(mapFd: number, key: Uint8Array): boolean {
    this.enter('mapDeleteElem', [mapFd, key]);
    const m = this.obj(mapFd, 'map', 'mapDeleteElem');
    if (m.frozen || (m.attr.mapFlags ?? 0) & BPF_F_RDONLY) throw this.error('mapDeleteElem', EPERM);
    const s = m.store;
    if (!s) throw this.unsupported('mapDeleteElem', `deletes in map type ${m.attr.mapType}`);
    this.checkKey('mapDeleteElem', m, key);
    if (s instanceof ArrayStore) throw this.error('mapDeleteElem', EINVAL);
    return s.entries.delete(hex(key));
  }

  mapGetNextKey(mapFd: number, key: Uint8Array | null, nextKey: Uint8Array): boolean {
    this.enter('mapGetNextKey', [mapFd, key, nextKey]);
    const m = this.obj(mapFd, 'map', 'mapGetNextKey');
    const s = m.store;
    if (!s) throw this.unsupported('mapGetNextKey', `iteration of map type ${m.attr.mapType}`);
    if (key) this.checkKey('mapGetNextKey', m, key);
    if (s instanceof ArrayStore) {
      // As the kernel: a missing or out-of-range key restarts at index 0.
      const i = key ? new DataView(key.buffer, key.byteOffset, 4).getUint32(0, true) : m.attr.maxEntries;
      const next = i >= m.attr.maxEntries ? 0 : i + 1;
      if (next >= m.attr.maxEntries) return false;
      new DataView(nextKey.buffer, nextKey.byteOffset, 4).setUint32(0, next, true);
      return true;
    }
    const keys = [...s.entries.values()].map((e) => e.key);
    // A key that is not in the map restarts the walk, as in the kernel's hash maps.
    const at = key ? keys.findIndex((k) => hex(k) === hex(key)) : -1;
    const next = keys[at + 1];
    if (!next) return false;
    nextKey.set(next.subarray(0, nextKey.length));
    return true;
  }

  mapFreeze(mapFd: number): void {
    this.enter('mapFreeze', [mapFd]);
    const m = this.obj(mapFd, 'map', 'mapFreeze');
    // The kernel answers a second freeze with EBUSY.
    if (m.frozen) throw this.error('mapFreeze', EBUSY);
    m.frozen = true;
  }

  // -------------------------------------------------------------------------------------
  // programs and BTF

  progLoad(attr: ProgLoadAttr): number {
    this.enter('progLoad', [attr], (attr.logLevel ?? 0) > 0 ? attr.logBuf : undefined);
    if (attr.insns.length === 0 || attr.insns.length % 8 !== 0) throw this.error('progLoad', EINVAL);
    const mapIds = new Set<number>();
    // ld_imm64 with a map fd, as the verifier resolves it, gives the program's map ids.
    const dv = new DataView(attr.insns.buffer, attr.insns.byteOffset, attr.insns.length);
    for (let off = 0; off + 16 <= attr.insns.length; off += 8) {
      const src = dv.getUint8(off + 1) >> 4;
      if (dv.getUint8(off) === (BPF_LD | BPF_DW | BPF_IMM) && (src === BPF_PSEUDO_MAP_FD || src === BPF_PSEUDO_MAP_VALUE)) {
        const o = this.fds.get(dv.getInt32(off + 4, true));
        if (!o || o.kind !== 'map') throw this.error('progLoad', EBADF);
        mapIds.add(o.id);
        off += 8;
      }
    }
    let btfId = 0;
    if (attr.progBtfFd) btfId = this.obj(attr.progBtfFd, 'btf', 'progLoad').id;
    if ((attr.logLevel ?? 0) > 0 && attr.logBuf) writeLog(attr.logBuf, this.verifierLog);
    return this.register<ProgObj>({
      kind: 'prog',
      id: this.nextId++,
      attr: snapshot(attr) as ProgLoadAttr,
      mapIds: [...mapIds],
      btfId,
      refs: 0,
    });
  }

  btfLoad(attr: BtfLoadAttr): number {
    this.enter('btfLoad', [attr], (attr.logLevel ?? 0) > 0 ? attr.logBuf : undefined);
    if (attr.btf.length === 0) throw this.error('btfLoad', EINVAL);
    return this.register<BtfObj>({ kind: 'btf', id: this.nextId++, blob: new Uint8Array(attr.btf), refs: 0 });
  }

  progTestRun(attr: TestRunAttr): TestRunResult {
    this.enter('progTestRun', [attr]);
    this.obj(attr.progFd, 'prog', 'progTestRun');
    if (!this.onTestRun) throw this.unsupported('progTestRun', 'running programs (set onTestRun)');
    return this.onTestRun(attr);
  }

  linkCreate(attr: LinkCreateAttr): number {
    this.enter('linkCreate', [attr]);
    const prog = this.obj(attr.progFd, 'prog', 'linkCreate');
    if (!this.fds.has(attr.targetFd) && attr.targetFd !== 0) throw this.error('linkCreate', EBADF);
    const tracing: number[] = [BPF_TRACE_FENTRY, BPF_TRACE_FEXIT, BPF_MODIFY_RETURN, BPF_LSM_MAC, BPF_TRACE_RAW_TP];
    const type =
      attr.attachType === BPF_PERF_EVENT
        ? BPF_LINK_TYPE_PERF_EVENT
        : tracing.includes(attr.attachType)
          ? BPF_LINK_TYPE_TRACING
          : BPF_LINK_TYPE_UNSPEC;
    return this.register<LinkObj>({ kind: 'link', id: this.nextId++, type, progId: prog.id, refs: 0 });
  }

  iterCreate(linkFd: number): number {
    this.enter('iterCreate', [linkFd]);
    this.obj(linkFd, 'link', 'iterCreate');
    throw this.unsupported('iterCreate', 'BPF iterators');
  }

  netlinkOpen(protocol: number): number {
    this.enter('netlinkOpen', [protocol]);
    throw this.unsupported('netlinkOpen', 'netlink sockets');
  }

  netlinkRequest(fd: number, message: Uint8Array): Uint8Array[] {
    this.enter('netlinkRequest', [fd, message]);
    throw this.unsupported('netlinkRequest', 'netlink sockets');
  }

  openPath(path: string): number {
    this.enter('openPath', [path]);
    throw this.unsupported('openPath', 'open(2)');
  }

  read(fd: number, buf: Uint8Array): number {
    this.enter('read', [fd, buf.length]);
    throw this.unsupported('read', 'read(2)');
  }

  rawTracepointOpen(name: string | null, progFd: number): number {
    this.enter('rawTracepointOpen', [name, progFd]);
    const prog = this.obj(progFd, 'prog', 'rawTracepointOpen');
    return this.register<LinkObj>({ kind: 'link', id: this.nextId++, type: BPF_LINK_TYPE_RAW_TRACEPOINT, progId: prog.id, refs: 0 });
  }

  objPin(fd: number, path: string): void {
    this.enter('objPin', [fd, path]);
    const o = this.fds.get(fd);
    if (!o) throw this.error('objPin', EBADF);
    if (this.pins.has(path)) throw this.error('objPin', EEXIST);
    o.refs++;
    this.pins.set(path, o);
  }

  objGet(path: string): number {
    this.enter('objGet', [path]);
    const o = this.pins.get(path);
    if (!o) throw this.error('objGet', ENOENT);
    return this.newFd(o);
  }

  /** Removes a pin, as unlink(2) on bpffs would. */
  unpin(path: string): void {
    const o = this.pins.get(path);
    if (!o) throw new TsbpfError(`FakeSys.unpin: nothing pinned at ${path}`);
    this.pins.delete(path);
    this.release(o);
  }

  // -------------------------------------------------------------------------------------
  // introspection

  /** The fake verifier changes nothing: the instructions as loaded. */
  progXlatedInsns(fd: number): Uint8Array {
    this.enter('progXlatedInsns', [fd]);
    return this.obj(fd, 'prog', 'progXlatedInsns').attr.insns.slice();
  }

  progGetInfo(fd: number): ProgInfo {
    this.enter('progGetInfo', [fd]);
    const p = this.obj(fd, 'prog', 'progGetInfo');
    const insnCnt = p.attr.insns.length / 8;
    return {
      type: p.attr.progType,
      id: p.id,
      tag: new Uint8Array(8),
      jitedProgLen: 0,
      xlatedProgLen: p.attr.insns.length,
      loadTime: 0n,
      createdByUid: process.getuid?.() ?? 0,
      nrMapIds: p.mapIds.length,
      name: (p.attr.progName ?? '').slice(0, BPF_OBJ_NAME_LEN - 1),
      btfId: p.btfId,
      verifiedInsns: insnCnt,
      mapIds: [...p.mapIds],
    };
  }

  mapGetInfo(fd: number): MapInfo {
    this.enter('mapGetInfo', [fd]);
    const m = this.obj(fd, 'map', 'mapGetInfo');
    const a = m.attr;
    let btfId = 0;
    if (a.btfFd) {
      const b = this.fds.get(a.btfFd);
      btfId = b?.kind === 'btf' ? b.id : 0;
    }
    return {
      type: a.mapType,
      id: m.id,
      keySize: a.keySize,
      valueSize: a.valueSize,
      maxEntries: a.maxEntries,
      mapFlags: a.mapFlags ?? 0,
      name: a.mapName ?? '',
      btfId,
      btfKeyTypeId: a.btfKeyTypeId ?? 0,
      btfValueTypeId: a.btfValueTypeId ?? 0,
    };
  }

  linkGetInfo(fd: number): LinkInfo {
    this.enter('linkGetInfo', [fd]);
    const l = this.obj(fd, 'link', 'linkGetInfo');
    return { type: l.type, id: l.id, progId: l.progId };
  }

  btfGetInfo(fd: number): BtfInfo {
    this.enter('btfGetInfo', [fd]);
    const b = this.obj(fd, 'btf', 'btfGetInfo');
    return { id: b.id, btfSize: b.blob.length, name: b.name ?? '', kernelBtf: b.kernel ?? false };
  }

  private walk(kind: IdKind, id: number): number | null {
    const ids = [...this.byId.get(kind)!.keys()].filter((x) => x > id).sort((a, b) => a - b);
    return ids[0] ?? null;
  }

  private fdById(kind: IdKind, method: SysMethod, id: number): number {
    const o = this.byId.get(kind)!.get(id);
    if (!o) throw this.error(method, ENOENT);
    return this.newFd(o);
  }

  progGetNextId(id: number): number | null {
    this.enter('progGetNextId', [id]);
    return this.walk('prog', id);
  }
  mapGetNextId(id: number): number | null {
    this.enter('mapGetNextId', [id]);
    return this.walk('map', id);
  }
  linkGetNextId(id: number): number | null {
    this.enter('linkGetNextId', [id]);
    return this.walk('link', id);
  }
  btfGetNextId(id: number): number | null {
    this.enter('btfGetNextId', [id]);
    return this.walk('btf', id);
  }
  progGetFdById(id: number): number {
    this.enter('progGetFdById', [id]);
    return this.fdById('prog', 'progGetFdById', id);
  }
  mapGetFdById(id: number): number {
    this.enter('mapGetFdById', [id]);
    return this.fdById('map', 'mapGetFdById', id);
  }
  linkGetFdById(id: number): number {
    this.enter('linkGetFdById', [id]);
    return this.fdById('link', 'linkGetFdById', id);
  }
  btfGetFdById(id: number): number {
    this.enter('btfGetFdById', [id]);
    return this.fdById('btf', 'btfGetFdById', id);
  }

  // -------------------------------------------------------------------------------------
  // perf, ioctl, mmap, close

  perfEventOpen(attr: PerfEventAttr, pid: number, cpu: number, groupFd: number, flags: number): number {
    this.enter('perfEventOpen', [attr, pid, cpu, groupFd, flags]);
    return this.newFd({ kind: 'perf', attr: snapshot(attr) as PerfEventAttr, refs: 0 });
  }

  ioctl(fd: number, request: number, arg: number): number {
    this.enter('ioctl', [fd, request, arg]);
    if (!this.fds.has(fd)) throw this.error('ioctl', EBADF);
    return 0;
  }

  mmap(length: number, prot: number, flags: number, fd: number, offset: number): Mapping {
    this.enter('mmap', [length, prot, flags, fd, offset]);
    if (length <= 0 || offset % this.page !== 0) throw this.error('mmap', EINVAL);
    const o = fd >= 0 ? this.fds.get(fd) : undefined;
    if (fd >= 0 && !o) throw this.error('mmap', EBADF);
    let buffer: ArrayBuffer;
    let at = 0;
    if (o?.kind === 'map' && o.attr.mapType === BPF_MAP_TYPE_ARRAY) {
      // An mmapable array shares its values with lookups, as in the kernel.
      if (!((o.attr.mapFlags ?? 0) & BPF_F_MMAPABLE)) throw this.error('mmap', EINVAL);
      const data = (o.store as ArrayStore).data;
      if (offset + length > data.length) throw this.error('mmap', EINVAL);
      buffer = data.buffer as ArrayBuffer;
      at = data.byteOffset + offset;
    } else {
      buffer = new ArrayBuffer(length);
    }
    const address = this.nextAddress;
    this.nextAddress += BigInt(Math.ceil(length / this.page) * this.page);
    const mapping: Mapping = { buffer, offset: at, length, address };
    this.liveMappings.add(mapping);
    return mapping;
  }

  munmap(mapping: Mapping): void {
    this.enter('munmap', [mapping.address, mapping.length]);
    if (!this.liveMappings.delete(mapping)) throw this.error('munmap', EINVAL);
  }

  close(fd: number): void {
    this.enter('close', [fd]);
    const o = this.fds.get(fd);
    if (!o) throw this.error('close', EBADF);
    this.fds.delete(fd);
    this.ready.delete(fd);
    // The kernel drops a closed file from every epoll set.
    for (const e of this.fds.values()) if (e.kind === 'epoll') e.interest.delete(fd);
    this.release(o);
  }

  // -------------------------------------------------------------------------------------
  // epoll

  epollCreate(): number {
    this.enter('epollCreate', []);
    return this.newFd({ kind: 'epoll', interest: new Map(), refs: 0 });
  }

  epollCtl(epfd: number, op: number, fd: number, events: number): void {
    this.enter('epollCtl', [epfd, op, fd, events]);
    const ep = this.obj(epfd, 'epoll', 'epollCtl');
    if (!this.fds.has(fd)) throw this.error('epollCtl', EBADF);
    const has = ep.interest.has(fd);
    if (op === EPOLL_CTL_ADD) {
      if (has) throw this.error('epollCtl', EEXIST);
      ep.interest.set(fd, events);
    } else if (op === EPOLL_CTL_MOD || op === EPOLL_CTL_DEL) {
      if (!has) throw this.error('epollCtl', ENOENT);
      if (op === EPOLL_CTL_MOD) ep.interest.set(fd, events);
      else ep.interest.delete(fd);
    } else {
      throw this.error('epollCtl', EINVAL);
    }
  }

  private readyEvents(ep: EpollObj, maxEvents: number): EpollEvent[] {
    const out: EpollEvent[] = [];
    for (const [fd, wanted] of ep.interest) {
      const ev = (this.ready.get(fd) ?? 0) & (wanted | EPOLLERR | EPOLLHUP);
      if (ev) out.push({ events: ev, data: fd });
      if (out.length >= maxEvents) break;
    }
    return out;
  }

  /** Never blocks: a fake cannot become ready while the only thread waits. */
  epollWait(epfd: number, maxEvents: number, timeoutMs: number): EpollEvent[] {
    this.enter('epollWait', [epfd, maxEvents, timeoutMs]);
    if (maxEvents <= 0) throw this.error('epollWait', EINVAL);
    return this.readyEvents(this.obj(epfd, 'epoll', 'epollWait'), maxEvents);
  }

  epollWaitAsync(epfd: number, maxEvents: number, timeoutMs: number): Promise<EpollEvent[]> {
    try {
      this.enter('epollWaitAsync', [epfd, maxEvents, timeoutMs]);
      if (maxEvents <= 0) throw this.error('epollWaitAsync', EINVAL);
      const ep = this.obj(epfd, 'epoll', 'epollWaitAsync');
      const now = this.readyEvents(ep, maxEvents);
      if (now.length > 0 || timeoutMs === 0) return Promise.resolve(now);
      return new Promise((resolve) => {
        let timer: NodeJS.Timeout | undefined;
        const finish = (events: EpollEvent[]) => {
          this.waiters.delete(wake);
          if (timer) clearTimeout(timer);
          resolve(events);
        };
        const wake = () => {
          const ev = this.readyEvents(ep, maxEvents);
          if (ev.length > 0) finish(ev);
        };
        this.waiters.add(wake);
        if (timeoutMs > 0) timer = setTimeout(() => finish([]), timeoutMs);
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  // -------------------------------------------------------------------------------------

  watchReadable(fd: number, onReadable: () => void): FdWatch {
    this.enter('watchReadable', [fd]);
    const w = { fd, onReadable };
    this.watches.add(w);
    return { close: () => void this.watches.delete(w), unref: () => {}, ref: () => {} };
  }

  mount(source: string, target: string, fstype: string, flags = 0): void {
    this.enter('mount', [source, target, fstype, flags]);
    this.mounts.push({ source, target, fstype, flags });
  }

  raiseMemlockLimit(): void {
    this.enter('raiseMemlockLimit', []);
  }

  possibleCpus(): number {
    return this.cpus;
  }

  pageSize(): number {
    return this.page;
  }

  kernelRelease(): string {
    return this.uname;
  }
}

/** Writes NUL-terminated text into a log buffer, truncated to fit. */
function writeLog(buf: Buffer, text: string): void {
  buf.fill(0);
  if (buf.length === 0) return;
  buf.write(text, 0, buf.length - 1, 'utf8');
}
