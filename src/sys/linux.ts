/**
 * The real kernel: bpf(2), perf_event_open(2), ioctl, mmap and epoll through koffi on
 * glibc. This file is the only place that holds native pointers.
 *
 * Memory rule: the kernel reads and writes through the pointers placed in an attr after
 * the call has begun, so every such pointer must address memory the GC cannot move.
 * V8 may keep small typed arrays (<= 64 bytes) inside the JS heap and move them; the
 * backing store of an ArrayBuffer made with `new ArrayBuffer(n)` is allocated outside
 * the heap and never moves. So inputs are copied into such blocks, outputs are copied
 * back into the caller's arrays, and blocks are held in `this.pinned` until the syscall
 * has returned.
 */
import { constants as fsConstants, openSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { createRequire } from 'node:module';
import { NotSupportedError, TsbpfError } from '../errors.js';
import {
  MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE,
  BPF_BTF_GET_FD_BY_ID,
  BPF_BTF_GET_NEXT_ID,
  BPF_BTF_LOAD,
  BPF_ITER_CREATE,
  BPF_LINK_CREATE,
  BPF_LINK_GET_FD_BY_ID,
  BPF_LINK_GET_NEXT_ID,
  BPF_MAP_CREATE,
  BPF_MAP_DELETE_ELEM,
  BPF_MAP_FREEZE,
  BPF_MAP_GET_FD_BY_ID,
  BPF_MAP_GET_NEXT_ID,
  BPF_MAP_GET_NEXT_KEY,
  BPF_MAP_LOOKUP_ELEM,
  BPF_MAP_TYPE_LRU_PERCPU_HASH,
  BPF_MAP_TYPE_PERCPU_ARRAY,
  BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE,
  BPF_MAP_TYPE_PERCPU_HASH,
  BPF_MAP_UPDATE_ELEM,
  BPF_OBJ_GET,
  BPF_OBJ_GET_INFO_BY_FD,
  BPF_OBJ_NAME_LEN,
  BPF_OBJ_PIN,
  BPF_PERF_EVENT,
  BPF_PROG_GET_FD_BY_ID,
  BPF_PROG_GET_NEXT_ID,
  BPF_PROG_LOAD,
  BPF_PROG_TEST_RUN,
  BPF_RAW_TRACEPOINT_OPEN,
  EPOLL_CLOEXEC,
  RLIMIT_MEMLOCK,
  PERF_ATTR_SIZE_VER8,
  bpfCmdName,
} from './constants.js';
import { E2BIG, EAGAIN, EINTR, EINVAL, ENOENT, SysError } from './errors.js';
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
import { quoted } from '../text.js';

type Koffi = typeof import('koffi');

// ---------------------------------------------------------------------------------------
// Native functions, declared once at first use so that importing sys never loads koffi.

interface SyscallNumbers {
  bpf: number;
  perf_event_open: number;
  ioctl: number;
}

const SYSCALL_NUMBERS: Partial<Record<NodeJS.Architecture, SyscallNumbers>> = {
  x64: { bpf: 321, perf_event_open: 298, ioctl: 16 },
  arm64: { bpf: 280, perf_event_open: 241, ioctl: 29 },
};

interface Native {
  koffi: Koffi;
  nr: SyscallNumbers;
  /** syscall(2) with six long arguments; pointers are passed as integer addresses. */
  syscall: (nr: number, a: number | bigint, b: number | bigint, c: number | bigint, d: number | bigint, e: number | bigint, f: number | bigint) => number;
  mmap: (addr: null | bigint, length: number, prot: number, flags: number, fd: number, offset: number) => bigint;
  munmap: (addr: bigint, length: number) => number;
  close: (fd: number) => number;
  socket: (domain: number, type: number, protocol: number) => number;
  bind: (fd: number, addr: Uint8Array, len: number) => number;
  send: (fd: number, buf: Uint8Array, len: number, flags: number) => number;
  recv: (fd: number, buf: Uint8Array, len: number, flags: number) => number;
  read: (fd: number, buf: Uint8Array, count: number) => number;
  epoll_create1: (flags: number) => number;
  epoll_ctl: (epfd: number, op: number, fd: number, event: number) => number;
  epoll_wait: ((epfd: number, events: number, maxEvents: number, timeout: number) => number) & {
    async: (epfd: number, events: number, maxEvents: number, timeout: number, cb: (err: unknown, res: number) => void) => void;
  };
  sysconf: (name: number) => number;
  mount: (source: string, target: string, fstype: string, flags: number, data: null) => number;
  setrlimit: (resource: number, rlim: Buffer) => number;
}

let nativeCache: Native | undefined;

function native(): Native {
  if (nativeCache) return nativeCache;
  if (process.platform !== 'linux') {
    throw new NotSupportedError('bpf(2)', `tsbpf needs Linux; this is ${process.platform}`);
  }
  const nr = SYSCALL_NUMBERS[process.arch];
  if (!nr) throw new NotSupportedError('bpf(2)', `syscall numbers for ${process.arch} are not known to tsbpf`);
  const koffi = createRequire(import.meta.url)('koffi') as Koffi;
  const libc = koffi.load('libc.so.6');
  // glibc's syscall() is an assembly stub that shifts registers, so a fixed six-argument
  // prototype is as good as the variadic one and cheaper for koffi to call.
  const L = 'long';
  nativeCache = {
    koffi,
    nr,
    syscall: libc.func('syscall', L, [L, L, L, L, L, L, L]),
    mmap: libc.func('mmap', 'void *', ['void *', 'size_t', 'int', 'int', 'int', 'int64_t']),
    munmap: libc.func('munmap', 'int', ['void *', 'size_t']),
    close: libc.func('close', 'int', ['int']),
    socket: libc.func('socket', 'int', ['int', 'int', 'int']),
    bind: libc.func('bind', 'int', ['int', 'const uint8_t *', 'uint32_t']) as Native['bind'],
    send: libc.func('send', 'long', ['int', 'const uint8_t *', 'size_t', 'int']) as Native['send'],
    recv: libc.func('recv', 'long', ['int', '_Out_ uint8_t *', 'size_t', 'int']) as Native['recv'],
    read: libc.func('read', 'long', ['int', '_Out_ uint8_t *', 'size_t']) as Native['read'],
    epoll_create1: libc.func('epoll_create1', 'int', ['int']),
    epoll_ctl: libc.func('epoll_ctl', 'int', ['int', 'int', 'int', 'uintptr_t']),
    epoll_wait: libc.func('epoll_wait', 'int', ['int', 'uintptr_t', 'int', 'int']) as Native['epoll_wait'],
    sysconf: libc.func('sysconf', L, ['int']),
    mount: libc.func('mount', 'int', ['const char *', 'const char *', 'const char *', 'unsigned long', 'void *']),
    setrlimit: libc.func('setrlimit', 'int', ['int', 'void *']) as Native['setrlimit'],
  };
  return nativeCache;
}

// ---------------------------------------------------------------------------------------
// Stable memory

/** A zeroed off-heap block with a fixed address. */
class Block {
  readonly u8: Uint8Array;
  readonly dv: DataView;
  /**
   * The address as a number: user-space addresses are below 2^48 on x86_64 and aarch64,
   * so exact, and number arithmetic keeps BigInt off the hot paths.
   */
  readonly addr: number;
  constructor(
    readonly size: number,
    koffi: Koffi,
  ) {
    // Never zero bytes: a zero-length ArrayBuffer may have no backing store at all.
    const buf = new ArrayBuffer(Math.max(8, size));
    this.u8 = new Uint8Array(buf);
    this.dv = new DataView(buf);
    this.addr = Number(koffi.address(buf));
  }
}

const TWO32 = 2 ** 32;

/** dst <- src[off, off + dst.length); a loop beats subarray+set for the usual small values. */
function copyOut(src: Uint8Array, off: number, dst: Uint8Array): void {
  const n = dst.length;
  if (n > 64) {
    dst.set(src.subarray(off, off + n));
    return;
  }
  for (let i = 0; i < n; i++) dst[i] = src[off + i]!;
}

/** Stores a pointer (or any exact integer below 2^53) as a little-endian u64. */
function setPtr(dv: DataView, off: number, addr: number): void {
  dv.setUint32(off, addr % TWO32, true);
  dv.setUint32(off + 4, Math.floor(addr / TWO32), true);
}

const align8 = (n: number): number => (n + 7) & ~7;
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

/** A C string field (map_name, prog_name...): at most len-1 bytes, NUL-padded (buffer is zeroed). */
function putName(dv: DataView, off: number, name: string | undefined, len = BPF_OBJ_NAME_LEN): void {
  if (!name) return;
  const bytes = textEncoder.encode(name).subarray(0, len - 1);
  new Uint8Array(dv.buffer, dv.byteOffset + off, bytes.length).set(bytes);
}

function getName(u8: Uint8Array, off: number, len: number): string {
  const field = u8.subarray(off, off + len);
  const end = field.indexOf(0);
  return textDecoder.decode(end < 0 ? field : field.subarray(0, end));
}

/**
 * The kernel rejects a log buffer without a log level (EINVAL), so a buffer is passed
 * only with logLevel > 0.
 */
function wantsLog(a: { logLevel?: number; logBuf?: Buffer }): a is { logLevel: number; logBuf: Buffer } {
  return (a.logLevel ?? 0) > 0 && a.logBuf !== undefined && a.logBuf.length > 0;
}

/** Parses a kernel CPU list ("0-3", "0,2-3", "0") into ids. */
export function parseCpuList(text: string): number[] {
  const ids: number[] = [];
  for (const part of text.trim().split(',')) {
    if (!part) continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new TsbpfError(`cannot parse CPU list ${quoted(text)}`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let i = lo; i <= hi; i++) ids.push(i);
  }
  return ids;
}

// ---------------------------------------------------------------------------------------
// union bpf_attr sizes per command: offsetofend() of the last field written, as libbpf
// does. A kernel accepts a larger size only if the bytes it does not know are zero.

const ATTR_MAP_CREATE = 72; // ... map_extra
const ATTR_MAP_ELEM = 32; // map_fd, key, value/next_key, flags
const ATTR_MAP_FREEZE = 4; // map_fd
const ATTR_PROG_LOAD = 144; // ... core_relo_rec_size, log_true_size (6.4+, zero before)
const ATTR_OBJ = 16; // pathname, bpf_fd, file_flags
const ATTR_TEST_RUN = 72; // test.prog_fd ... test.cpu
const ATTR_GET_ID = 12; // start_id / *_id, next_id, open_flags
const ATTR_INFO = 16; // info.bpf_fd, info.info_len, info.info
const ATTR_RAW_TP = 16; // raw_tracepoint.name, raw_tracepoint.prog_fd (+ padding)
const ATTR_BTF_LOAD = 32; // btf, btf_log_buf, btf_size, btf_log_size, btf_log_level, btf_log_true_size
const ATTR_LINK_CREATE = 48; // link_create ... kprobe_multi.cookies (the largest member of the union)
const ATTR_ITER_CREATE = 8; // iter_create.link_fd, flags
const ATTR_MAX = 256;

// sizeof(struct bpf_*_info) in 6.18; older kernels accept it because our tail is zero.
const PROG_INFO_SIZE = 232;
const MAP_INFO_SIZE = 104;
const BTF_INFO_SIZE = 32;
/** btf, btf_size, id: bpf_btf_info before 5.11 added name, name_len, kernel_btf. */
const BTF_INFO_SIZE_5_10 = 16;
const LINK_INFO_SIZE = 64;
const BTF_NAME_LEN = 64; // module names are at most 56 bytes

const SC_PAGESIZE = 30; // glibc's _SC_PAGESIZE on Linux
/** struct epoll_event is packed on x86_64 only. */
const EPOLL_EVENT_SIZE = process.arch === 'x64' ? 12 : 16;
const EPOLL_DATA_OFFSET = process.arch === 'x64' ? 4 : 8;

const MAP_FAILED = 0xffffffffffffffffn;
const PROG_LOAD_EAGAIN_RETRIES = 5;

interface MapShape {
  keySize: number;
  /** Bytes the kernel writes for one lookup (value_size, or per CPU x round_up(8)). */
  valueBytes: number;
}

export class LinuxSys implements Sys {
  private readonly n: Native;
  private readonly attr: Block;
  private scratch: Block;
  /** Blocks whose addresses are in flight; a field, so the GC must keep them. */
  private pinned: unknown[] = [];
  /**
   * Map shapes by fd, to size lookup outputs so a short caller array cannot overflow.
   * Entries are dropped in close(); an fd closed behind sys's back and reused for a map
   * with larger values would be sized from stale data, so close sys fds through sys.
   */
  private readonly shapes = new Map<number, MapShape>();
  /** Live mappings: their buffers must not be collected (freed) while the kernel's pages sit in them. */
  private readonly mapped = new Set<Mapping>();
  private cpus: number | undefined;
  private netlinkSeq = 0;
  private page: number | undefined;

  constructor() {
    this.n = native();
    this.attr = this.block(ATTR_MAX);
    this.scratch = this.block(256);
  }

  private block(size: number): Block {
    return new Block(size, this.n.koffi);
  }

  private copyIn(bytes: Uint8Array): Block {
    const b = this.block(bytes.length);
    b.u8.set(bytes);
    return b;
  }

  private cString(s: string): Block {
    const bytes = textEncoder.encode(s);
    const b = this.block(bytes.length + 1);
    b.u8.set(bytes);
    return b;
  }

  /** The shared scratch block, at least `size` bytes, zeroed over that range. */
  private scratchOf(size: number): Block {
    if (this.scratch.size < size) this.scratch = this.block(Math.max(size, this.scratch.size * 2));
    this.scratch.u8.fill(0, 0, size);
    return this.scratch;
  }

  /** The attr block, zeroed over `size` bytes. */
  private attrOf(size: number): DataView {
    this.attr.u8.fill(0, 0, size);
    return this.attr.dv;
  }

  private errno(): number {
    return this.n.koffi.errno();
  }

  /**
   * bpf(cmd, attr, size): the result, or -errno. `keep` holds the blocks the attr points
   * to; the attr and scratch blocks are fields and need no pinning.
   */
  private bpfRaw(cmd: number, size: number, keep?: unknown[]): number {
    if (keep) this.pinned = keep;
    const r = this.n.syscall(this.n.nr.bpf, cmd, this.attr.addr, size, 0, 0, 0);
    const result = r < 0 ? -this.errno() : r;
    if (keep) this.pinned = [];
    return result;
  }

  private bpf(cmd: number, size: number, keep?: unknown[]): number {
    const r = this.bpfRaw(cmd, size, keep);
    if (r < 0) throw new SysError('bpf', -r, bpfCmdName(cmd));
    return r;
  }

  // -------------------------------------------------------------------------------------
  // maps

  mapCreate(a: MapCreateAttr): number {
    const dv = this.attrOf(ATTR_MAP_CREATE);
    dv.setUint32(0, a.mapType, true);
    dv.setUint32(4, a.keySize, true);
    dv.setUint32(8, a.valueSize, true);
    dv.setUint32(12, a.maxEntries, true);
    dv.setUint32(16, a.mapFlags ?? 0, true);
    dv.setUint32(20, a.innerMapFd ?? 0, true);
    dv.setUint32(24, a.numaNode ?? 0, true);
    putName(dv, 28, a.mapName);
    dv.setUint32(44, a.mapIfindex ?? 0, true);
    dv.setUint32(48, a.btfFd ?? 0, true);
    dv.setUint32(52, a.btfKeyTypeId ?? 0, true);
    dv.setUint32(56, a.btfValueTypeId ?? 0, true);
    dv.setUint32(60, a.btfVmlinuxValueTypeId ?? 0, true);
    dv.setBigUint64(64, a.mapExtra ?? 0n, true);
    const fd = this.bpf(BPF_MAP_CREATE, ATTR_MAP_CREATE);
    this.shapes.set(fd, { keySize: a.keySize, valueBytes: this.valueBytes(a.mapType, a.valueSize) });
    return fd;
  }

  private valueBytes(mapType: number, valueSize: number): number {
    switch (mapType) {
      case BPF_MAP_TYPE_PERCPU_HASH:
      case BPF_MAP_TYPE_PERCPU_ARRAY:
      case BPF_MAP_TYPE_LRU_PERCPU_HASH:
      case BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE:
        return align8(valueSize) * this.possibleCpus();
      default:
        return valueSize;
    }
  }

  /** What the kernel will read/write for this fd; zeros when it is not a map we can ask about. */
  private shape(fd: number): MapShape {
    let s = this.shapes.get(fd);
    if (!s) {
      try {
        const info = this.mapGetInfo(fd);
        s = { keySize: info.keySize, valueBytes: this.valueBytes(info.type, info.valueSize) };
      } catch {
        s = { keySize: 0, valueBytes: 0 };
      }
      this.shapes.set(fd, s);
    }
    return s;
  }

  /**
   * Lays out key and value in the scratch block, each region large enough for what the
   * kernel transfers even when the caller's array is shorter.
   */
  private elemLayout(fd: number, keyLen: number, valueLen: number): { blk: Block; valueOff: number } {
    const s = this.shape(fd);
    const valueOff = align8(Math.max(keyLen, s.keySize));
    const blk = this.scratchOf(valueOff + align8(Math.max(valueLen, s.valueBytes)));
    return { blk, valueOff };
  }

  private elemAttr(fd: number, keyAddr: number, valueAddr: number, flags: bigint): void {
    const dv = this.attrOf(ATTR_MAP_ELEM);
    dv.setUint32(0, fd, true);
    setPtr(dv, 8, keyAddr);
    setPtr(dv, 16, valueAddr);
    if (flags !== 0n) dv.setBigUint64(24, flags, true);
  }

  mapLookupElem(mapFd: number, key: Uint8Array, value: Uint8Array, flags = 0n): boolean {
    const { blk, valueOff } = this.elemLayout(mapFd, key.length, value.length);
    blk.u8.set(key, 0);
    this.elemAttr(mapFd, blk.addr, blk.addr + valueOff, flags);
    const r = this.bpfRaw(BPF_MAP_LOOKUP_ELEM, ATTR_MAP_ELEM);
    if (r === -ENOENT) return false;
    if (r < 0) throw new SysError('bpf', -r, 'BPF_MAP_LOOKUP_ELEM');
    copyOut(blk.u8, valueOff, value);
    return true;
  }

  mapUpdateElem(mapFd: number, key: Uint8Array, value: Uint8Array, flags = 0n): void {
    const { blk, valueOff } = this.elemLayout(mapFd, key.length, value.length);
    blk.u8.set(key, 0);
    blk.u8.set(value, valueOff);
    this.elemAttr(mapFd, blk.addr, blk.addr + valueOff, flags);
    this.bpf(BPF_MAP_UPDATE_ELEM, ATTR_MAP_ELEM);
  }

  mapDeleteElem(mapFd: number, key: Uint8Array): boolean {
    const { blk } = this.elemLayout(mapFd, key.length, 0);
    blk.u8.set(key, 0);
    this.elemAttr(mapFd, blk.addr, 0, 0n);
    const r = this.bpfRaw(BPF_MAP_DELETE_ELEM, ATTR_MAP_ELEM);
    if (r === -ENOENT) return false;
    if (r < 0) throw new SysError('bpf', -r, 'BPF_MAP_DELETE_ELEM');
    return true;
  }

  mapGetNextKey(mapFd: number, key: Uint8Array | null, nextKey: Uint8Array): boolean {
    // The next key goes where a value would: that region is sized for the key too.
    const s = this.shape(mapFd);
    const keyRegion = align8(Math.max(key?.length ?? 0, s.keySize));
    const blk = this.scratchOf(keyRegion + align8(Math.max(nextKey.length, s.keySize)));
    if (key) blk.u8.set(key, 0);
    this.elemAttr(mapFd, key ? blk.addr : 0, blk.addr + keyRegion, 0n);
    const r = this.bpfRaw(BPF_MAP_GET_NEXT_KEY, ATTR_MAP_ELEM);
    if (r === -ENOENT) return false;
    if (r < 0) throw new SysError('bpf', -r, 'BPF_MAP_GET_NEXT_KEY');
    copyOut(blk.u8, keyRegion, nextKey);
    return true;
  }

  mapFreeze(mapFd: number): void {
    this.attrOf(ATTR_MAP_FREEZE).setUint32(0, mapFd, true);
    this.bpf(BPF_MAP_FREEZE, ATTR_MAP_FREEZE);
  }

  // -------------------------------------------------------------------------------------
  // programs and BTF

  progLoad(a: ProgLoadAttr): number {
    if (a.insns.length % 8 !== 0) {
      throw new TsbpfError(`BPF_PROG_LOAD: instructions are ${a.insns.length} bytes, not a multiple of 8`);
    }
    const insns = this.copyIn(a.insns);
    const license = this.cString(a.license);
    const log = wantsLog(a) ? this.block(a.logBuf.length) : undefined;
    const funcInfo = a.funcInfo ? this.copyIn(a.funcInfo) : undefined;
    const lineInfo = a.lineInfo ? this.copyIn(a.lineInfo) : undefined;
    const coreRelos = a.coreRelos ? this.copyIn(a.coreRelos) : undefined;
    const fdArray = a.fdArray?.length ? this.copyIn(new Uint8Array(Int32Array.from(a.fdArray).buffer)) : undefined;
    const count = (bytes: Uint8Array | undefined, recSize: number | undefined, cnt: number | undefined) =>
      cnt ?? (bytes && recSize ? Math.floor(bytes.length / recSize) : 0);

    const write = (dv: DataView) => {
      dv.setUint32(0, a.progType, true);
      dv.setUint32(4, a.insns.length / 8, true);
      setPtr(dv, 8, insns.addr);
      setPtr(dv, 16, license.addr);
      dv.setUint32(24, a.logLevel ?? 0, true);
      dv.setUint32(28, log ? log.size : 0, true);
      setPtr(dv, 32, log ? log.addr : 0);
      dv.setUint32(40, a.kernVersion ?? 0, true);
      dv.setUint32(44, a.progFlags ?? 0, true);
      putName(dv, 48, a.progName);
      dv.setUint32(64, a.progIfindex ?? 0, true);
      dv.setUint32(68, a.expectedAttachType ?? 0, true);
      dv.setUint32(72, a.progBtfFd ?? 0, true);
      dv.setUint32(76, a.funcInfoRecSize ?? 0, true);
      setPtr(dv, 80, funcInfo ? funcInfo.addr : 0);
      dv.setUint32(88, count(a.funcInfo, a.funcInfoRecSize, a.funcInfoCnt), true);
      dv.setUint32(92, a.lineInfoRecSize ?? 0, true);
      setPtr(dv, 96, lineInfo ? lineInfo.addr : 0);
      dv.setUint32(104, count(a.lineInfo, a.lineInfoRecSize, a.lineInfoCnt), true);
      dv.setUint32(108, a.attachBtfId ?? 0, true);
      // attach_prog_fd and attach_btf_obj_fd share one u32 (a union).
      dv.setUint32(112, a.attachProgFd ?? a.attachBtfObjFd ?? 0, true);
      dv.setUint32(116, count(a.coreRelos, a.coreReloRecSize, a.coreReloCnt), true);
      setPtr(dv, 120, fdArray ? fdArray.addr : 0);
      setPtr(dv, 128, coreRelos ? coreRelos.addr : 0);
      dv.setUint32(136, a.coreReloRecSize ?? 0, true);
    };

    // The verifier answers EAGAIN when a signal interrupted it; libbpf retries too.
    let r = 0;
    for (let attempt = 0; attempt <= PROG_LOAD_EAGAIN_RETRIES; attempt++) {
      write(this.attrOf(ATTR_PROG_LOAD));
      r = this.bpfRaw(BPF_PROG_LOAD, ATTR_PROG_LOAD, [insns, license, log, funcInfo, lineInfo, coreRelos, fdArray]);
      if (r !== -EAGAIN) break;
    }
    // The log is wanted most when the load failed, so copy it back either way.
    if (log && a.logBuf) a.logBuf.set(log.u8.subarray(0, a.logBuf.length));
    if (r < 0) throw new SysError('bpf', -r, 'BPF_PROG_LOAD');
    return r;
  }

  btfLoad(a: BtfLoadAttr): number {
    const btf = this.copyIn(a.btf);
    const log = wantsLog(a) ? this.block(a.logBuf.length) : undefined;
    const dv = this.attrOf(ATTR_BTF_LOAD);
    setPtr(dv, 0, btf.addr);
    setPtr(dv, 8, log ? log.addr : 0);
    dv.setUint32(16, a.btf.length, true);
    dv.setUint32(20, log ? log.size : 0, true);
    dv.setUint32(24, a.logLevel ?? 0, true);
    const r = this.bpfRaw(BPF_BTF_LOAD, ATTR_BTF_LOAD, [btf, log]);
    if (log && a.logBuf) a.logBuf.set(log.u8.subarray(0, a.logBuf.length));
    if (r < 0) throw new SysError('bpf', -r, 'BPF_BTF_LOAD');
    return r;
  }

  progTestRun(a: TestRunAttr): TestRunResult {
    // An empty input is passed as NULL: the kernel rejects a pointer with size 0.
    const dataIn = a.dataIn?.length ? this.copyIn(a.dataIn) : undefined;
    const dataOut = a.dataSizeOut ? this.block(a.dataSizeOut) : undefined;
    const ctxIn = a.ctxIn?.length ? this.copyIn(a.ctxIn) : undefined;
    const ctxOut = a.ctxSizeOut ? this.block(a.ctxSizeOut) : undefined;
    const dv = this.attrOf(ATTR_TEST_RUN);
    dv.setUint32(0, a.progFd, true);
    dv.setUint32(8, dataIn ? a.dataIn!.length : 0, true);
    dv.setUint32(12, dataOut ? dataOut.size : 0, true);
    setPtr(dv, 16, dataIn ? dataIn.addr : 0);
    setPtr(dv, 24, dataOut ? dataOut.addr : 0);
    dv.setUint32(32, a.repeat ?? 0, true);
    dv.setUint32(40, ctxIn ? a.ctxIn!.length : 0, true);
    dv.setUint32(44, ctxOut ? ctxOut.size : 0, true);
    setPtr(dv, 48, ctxIn ? ctxIn.addr : 0);
    setPtr(dv, 56, ctxOut ? ctxOut.addr : 0);
    dv.setUint32(64, a.flags ?? 0, true);
    dv.setUint32(68, a.cpu ?? 0, true);
    this.bpf(BPF_PROG_TEST_RUN, ATTR_TEST_RUN, [dataIn, dataOut, ctxIn, ctxOut]);
    const result: TestRunResult = { retval: dv.getUint32(4, true), duration: dv.getUint32(36, true) };
    if (dataOut) result.dataOut = dataOut.u8.slice(0, Math.min(dv.getUint32(12, true), dataOut.size));
    if (ctxOut) result.ctxOut = ctxOut.u8.slice(0, Math.min(dv.getUint32(44, true), ctxOut.size));
    return result;
  }

  linkCreate(a: LinkCreateAttr): number {
    const dv = this.attrOf(ATTR_LINK_CREATE);
    dv.setUint32(0, a.progFd, true);
    dv.setUint32(4, a.targetFd, true);
    dv.setUint32(8, a.attachType, true);
    dv.setUint32(12, a.flags ?? 0, true);
    // The tail (from 16) is a union whose member the attach type picks.
    const keep: unknown[] = [];
    if (a.attachType === BPF_PERF_EVENT) {
      dv.setBigUint64(16, a.bpfCookie ?? 0n, true);
    } else if (a.iterInfo) {
      const info = this.copyIn(a.iterInfo);
      keep.push(info);
      setPtr(dv, 16, info.addr);
      dv.setUint32(24, a.iterInfo.length, true);
    } else if (a.kprobeMulti) {
      const k = a.kprobeMulti;
      const cnt = k.syms?.length ?? k.addrs?.length ?? 0;
      dv.setUint32(16, k.flags ?? 0, true);
      dv.setUint32(20, cnt, true);
      if (k.syms) {
        // An array of char * to NUL-terminated names.
        const ptrs = this.block(8 * cnt);
        k.syms.forEach((name, i) => {
          const str = this.cString(name);
          keep.push(str);
          setPtr(ptrs.dv, 8 * i, str.addr);
        });
        keep.push(ptrs);
        setPtr(dv, 24, ptrs.addr);
      }
      const u64s = (values: bigint[] | undefined, off: number) => {
        if (!values) return;
        const b = this.block(8 * values.length);
        values.forEach((v, i) => b.dv.setBigUint64(8 * i, v, true));
        keep.push(b);
        setPtr(dv, off, b.addr);
      };
      u64s(k.addrs, 32);
      u64s(k.cookies, 40);
    } else if (a.tcx) {
      dv.setUint32(16, a.tcx.relativeFdOrId ?? 0, true);
      dv.setBigUint64(24, a.tcx.expectedRevision ?? 0n, true);
    } else {
      dv.setUint32(16, a.targetBtfId ?? 0, true);
      dv.setBigUint64(24, a.bpfCookie ?? 0n, true);
    }
    return this.bpf(BPF_LINK_CREATE, ATTR_LINK_CREATE, keep);
  }

  iterCreate(linkFd: number): number {
    const dv = this.attrOf(ATTR_ITER_CREATE);
    dv.setUint32(0, linkFd, true);
    return this.bpf(BPF_ITER_CREATE, ATTR_ITER_CREATE);
  }

  netlinkOpen(protocol: number): number {
    const AF_NETLINK = 16;
    const SOCK_RAW = 3;
    const SOCK_CLOEXEC = 0o2000000;
    const fd = this.n.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    if (fd < 0) throw new SysError('socket', this.errno(), 'AF_NETLINK');
    // struct sockaddr_nl { family, pad, pid 0 (the kernel picks), groups 0 }
    const addr = new Uint8Array(12);
    new DataView(addr.buffer).setUint16(0, AF_NETLINK, true);
    if (this.n.bind(fd, addr, addr.length) < 0) {
      const e = this.errno();
      this.n.close(fd);
      throw new SysError('bind', e, 'AF_NETLINK');
    }
    return fd;
  }

  netlinkRequest(fd: number, message: Uint8Array): Uint8Array[] {
    const NLMSG_ERROR = 2;
    const NLMSG_DONE = 3;
    const seq = ++this.netlinkSeq;
    const msg = message.slice();
    new DataView(msg.buffer).setUint32(8, seq, true);
    if (this.n.send(fd, msg, msg.length, 0) < 0) throw new SysError('send', this.errno(), 'netlink');
    const replies: Uint8Array[] = [];
    const buf = new Uint8Array(64 << 10);
    for (;;) {
      const n = this.n.recv(fd, buf, buf.length, 0);
      if (n < 0) {
        const e = this.errno();
        if (e === EINTR) continue;
        throw new SysError('recv', e, 'netlink');
      }
      const dv = new DataView(buf.buffer, 0, n);
      for (let off = 0; off + 16 <= n; ) {
        const len = dv.getUint32(off, true);
        const type = dv.getUint16(off + 4, true);
        if (len < 16 || off + len > n) throw new SysError('recv', EINVAL, 'netlink (truncated message)');
        if (dv.getUint32(off + 8, true) === seq) {
          if (type === NLMSG_ERROR) {
            const err = -dv.getInt32(off + 16, true);
            if (err) throw new SysError('netlink', err, 'rtnetlink');
            return replies; // the ACK
          }
          if (type === NLMSG_DONE) return replies;
          replies.push(buf.slice(off, off + len));
        }
        off += (len + 3) & ~3;
      }
    }
  }

  openPath(path: string): number {
    try {
      // libuv opens with O_CLOEXEC.
      return openSync(path, fsConstants.O_RDONLY);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new SysError('open', -(err.errno ?? -1), path);
    }
  }

  read(fd: number, buf: Uint8Array): number {
    // An iterator's read runs its BPF program; EAGAIN does not happen on a blocking fd.
    for (;;) {
      const r = this.n.read(fd, buf, buf.length);
      if (r >= 0) return r;
      const errno = this.errno();
      if (errno !== EINTR) throw new SysError('read', errno);
    }
  }

  rawTracepointOpen(name: string | null, progFd: number): number {
    const str = name === null ? undefined : this.cString(name);
    const dv = this.attrOf(ATTR_RAW_TP);
    setPtr(dv, 0, str ? str.addr : 0);
    dv.setUint32(8, progFd, true);
    return this.bpf(BPF_RAW_TRACEPOINT_OPEN, ATTR_RAW_TP, [str]);
  }

  objPin(fd: number, path: string): void {
    const str = this.cString(path);
    const dv = this.attrOf(ATTR_OBJ);
    setPtr(dv, 0, str.addr);
    dv.setUint32(8, fd, true);
    this.bpf(BPF_OBJ_PIN, ATTR_OBJ, [str]);
  }

  objGet(path: string): number {
    const str = this.cString(path);
    const dv = this.attrOf(ATTR_OBJ);
    setPtr(dv, 0, str.addr);
    return this.bpf(BPF_OBJ_GET, ATTR_OBJ, [str]);
  }

  // -------------------------------------------------------------------------------------
  // introspection

  /** BPF_OBJ_GET_INFO_BY_FD into `info` (already holding any input pointers). */
  private objInfo(fd: number, info: Block, ...keep: unknown[]): void {
    const dv = this.attrOf(ATTR_INFO);
    dv.setUint32(0, fd, true);
    dv.setUint32(4, info.size, true);
    setPtr(dv, 8, info.addr);
    this.bpf(BPF_OBJ_GET_INFO_BY_FD, ATTR_INFO, [info, ...keep]);
  }

  progGetInfo(fd: number): ProgInfo {
    let info = this.block(PROG_INFO_SIZE);
    this.objInfo(fd, info);
    const nrMapIds = info.dv.getUint32(52, true);
    const mapIds: number[] = [];
    if (nrMapIds > 0) {
      // Second call with room for the ids; the kernel fills at most nr_map_ids of them.
      const ids = this.block(nrMapIds * 4);
      info = this.block(PROG_INFO_SIZE);
      info.dv.setUint32(52, nrMapIds, true);
      setPtr(info.dv, 56, ids.addr);
      this.objInfo(fd, info, ids);
      const n = Math.min(nrMapIds, info.dv.getUint32(52, true));
      for (let i = 0; i < n; i++) mapIds.push(ids.dv.getUint32(i * 4, true));
    }
    const dv = info.dv;
    return {
      type: dv.getUint32(0, true),
      id: dv.getUint32(4, true),
      tag: info.u8.slice(8, 16),
      jitedProgLen: dv.getUint32(16, true),
      xlatedProgLen: dv.getUint32(20, true),
      loadTime: dv.getBigUint64(40, true),
      createdByUid: dv.getUint32(48, true),
      nrMapIds: dv.getUint32(52, true),
      name: getName(info.u8, 64, BPF_OBJ_NAME_LEN),
      btfId: dv.getUint32(128, true),
      verifiedInsns: dv.getUint32(216, true),
      mapIds,
    };
  }

  progXlatedInsns(fd: number): Uint8Array {
    const first = this.block(PROG_INFO_SIZE);
    this.objInfo(fd, first);
    const len = first.dv.getUint32(20, true);
    if (len === 0) return new Uint8Array(0);
    // Second call with room: xlated_prog_len (20) and the xlated_prog_insns pointer (32).
    const buf = this.block(len);
    const info = this.block(PROG_INFO_SIZE);
    info.dv.setUint32(20, len, true);
    setPtr(info.dv, 32, buf.addr);
    this.objInfo(fd, info, buf);
    return buf.u8.slice(0, Math.min(len, info.dv.getUint32(20, true)));
  }

  mapGetInfo(fd: number): MapInfo {
    const info = this.block(MAP_INFO_SIZE);
    this.objInfo(fd, info);
    const dv = info.dv;
    return {
      type: dv.getUint32(0, true),
      id: dv.getUint32(4, true),
      keySize: dv.getUint32(8, true),
      valueSize: dv.getUint32(12, true),
      maxEntries: dv.getUint32(16, true),
      mapFlags: dv.getUint32(20, true),
      name: getName(info.u8, 24, BPF_OBJ_NAME_LEN),
      btfId: dv.getUint32(64, true),
      btfKeyTypeId: dv.getUint32(68, true),
      btfValueTypeId: dv.getUint32(72, true),
      mapExtra: dv.getBigUint64(80, true),
    };
  }

  linkGetInfo(fd: number): LinkInfo {
    const info = this.block(LINK_INFO_SIZE);
    this.objInfo(fd, info);
    return { type: info.dv.getUint32(0, true), id: info.dv.getUint32(4, true), progId: info.dv.getUint32(8, true) };
  }

  btfGetInfo(fd: number): BtfInfo {
    const info = this.block(BTF_INFO_SIZE);
    const name = this.block(BTF_NAME_LEN);
    setPtr(info.dv, 16, name.addr);
    info.dv.setUint32(24, BTF_NAME_LEN, true);
    try {
      this.objInfo(fd, info, name);
    } catch (e) {
      // Before 5.11 bpf_btf_info ends after id: the name fields are "too big". Such kernels
      // have no module BTFs, so a BTF without a name is not a kernel one.
      if (!(e instanceof SysError && e.errno === E2BIG)) throw e;
      const old = this.block(BTF_INFO_SIZE_5_10);
      this.objInfo(fd, old);
      return { id: old.dv.getUint32(12, true), btfSize: old.dv.getUint32(8, true), name: '', kernelBtf: false };
    }
    return {
      id: info.dv.getUint32(12, true),
      btfSize: info.dv.getUint32(8, true),
      name: getName(name.u8, 0, BTF_NAME_LEN),
      kernelBtf: info.dv.getUint32(28, true) !== 0,
    };
  }

  private nextId(cmd: number, id: number): number | null {
    const dv = this.attrOf(ATTR_GET_ID);
    dv.setUint32(0, id, true);
    const r = this.bpfRaw(cmd, ATTR_GET_ID);
    if (r === -ENOENT) return null;
    if (r < 0) throw new SysError('bpf', -r, bpfCmdName(cmd));
    return dv.getUint32(4, true);
  }

  private fdById(cmd: number, id: number): number {
    this.attrOf(ATTR_GET_ID).setUint32(0, id, true);
    return this.bpf(cmd, ATTR_GET_ID);
  }

  progGetNextId(id: number): number | null {
    return this.nextId(BPF_PROG_GET_NEXT_ID, id);
  }
  mapGetNextId(id: number): number | null {
    return this.nextId(BPF_MAP_GET_NEXT_ID, id);
  }
  linkGetNextId(id: number): number | null {
    return this.nextId(BPF_LINK_GET_NEXT_ID, id);
  }
  btfGetNextId(id: number): number | null {
    return this.nextId(BPF_BTF_GET_NEXT_ID, id);
  }
  progGetFdById(id: number): number {
    return this.fdById(BPF_PROG_GET_FD_BY_ID, id);
  }
  mapGetFdById(id: number): number {
    return this.fdById(BPF_MAP_GET_FD_BY_ID, id);
  }
  linkGetFdById(id: number): number {
    return this.fdById(BPF_LINK_GET_FD_BY_ID, id);
  }
  btfGetFdById(id: number): number {
    return this.fdById(BPF_BTF_GET_FD_BY_ID, id);
  }

  // -------------------------------------------------------------------------------------
  // perf, ioctl, mmap, close

  perfEventOpen(a: PerfEventAttr, pid: number, cpu: number, groupFd: number, flags: number): number {
    const attr = this.block(PERF_ATTR_SIZE_VER8);
    const path = a.path === undefined ? undefined : this.cString(a.path);
    const dv = attr.dv;
    dv.setUint32(0, a.type, true);
    dv.setUint32(4, PERF_ATTR_SIZE_VER8, true);
    dv.setBigUint64(8, a.config, true);
    dv.setBigUint64(16, a.samplePeriod ?? 0n, true);
    dv.setBigUint64(24, a.sampleType ?? 0n, true);
    dv.setBigUint64(40, a.flags ?? 0n, true);
    dv.setUint32(48, a.wakeupEvents ?? 0, true);
    dv.setUint32(52, a.bpType ?? 0, true);
    // PMU probes (uprobe, kprobe) take a pointer to the path or symbol in config1.
    if (path) setPtr(dv, 56, path.addr);
    else dv.setBigUint64(56, a.config1 ?? 0n, true);
    dv.setBigUint64(64, a.config2 ?? 0n, true);
    this.pinned = [attr, path];
    try {
      const r = this.n.syscall(this.n.nr.perf_event_open, attr.addr, pid, cpu, groupFd, flags, 0);
      if (r < 0) throw new SysError('perf_event_open', this.errno());
      return r;
    } finally {
      this.pinned = [];
    }
  }

  ioctl(fd: number, request: number, arg: number): number {
    const r = this.n.syscall(this.n.nr.ioctl, fd, request, arg, 0, 0, 0);
    if (r < 0) throw new SysError('ioctl', this.errno(), `0x${request.toString(16)}`);
    return r;
  }

  /**
   * The kernel object is mapped over the pages of an ArrayBuffer of our own (MAP_FIXED),
   * not at an address of the kernel's choosing: such a buffer can be detached, so that
   * views of it kept past munmap() throw (DataView) or read as empty (typed arrays)
   * instead of reading freed memory. koffi's views of foreign memory cannot be detached.
   */
  mmap(length: number, prot: number, flags: number, fd: number, offset: number): Mapping {
    const page = this.pageSize();
    const buffer = new ArrayBuffer(length + page);
    const base = Number(this.n.koffi.address(buffer));
    const start = Math.ceil(base / page) * page;
    const address = BigInt(start);
    const ptr = this.n.mmap(address, length, prot, flags | MAP_FIXED, fd, offset);
    if (ptr === MAP_FAILED) {
      const errno = this.errno();
      // A failed MAP_FIXED may already have unmapped the range: give the allocator its pages back.
      this.restorePages(address, length);
      throw new SysError('mmap', errno);
    }
    const mapping = { buffer, offset: start - base, length, address };
    this.mapped.add(mapping);
    return mapping;
  }

  /**
   * Detaches the mapping's buffer and puts zero-filled private pages back under it, so the
   * allocator that owns those pages gets ordinary memory back when the buffer is collected.
   */
  munmap(mapping: Mapping): void {
    if (!this.mapped.delete(mapping)) throw new SysError('munmap', EINVAL, 'not a live mapping');
    structuredClone(mapping.buffer, { transfer: [mapping.buffer] });
    this.restorePages(mapping.address, mapping.length);
  }

  private restorePages(address: bigint, length: number): void {
    // One MAP_FIXED step: no moment where the range is unmapped and could be taken by another mmap.
    const ptr = this.n.mmap(address, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    if (ptr === MAP_FAILED) throw new SysError('mmap', this.errno(), 'MAP_FIXED over a released mapping');
  }

  close(fd: number): void {
    this.shapes.delete(fd);
    if (this.n.close(fd) < 0) {
      const e = this.errno();
      // Linux releases the fd even when close() reports EINTR; retrying could close another.
      if (e !== EINTR) throw new SysError('close', e);
    }
  }

  // -------------------------------------------------------------------------------------
  // epoll

  epollCreate(): number {
    const fd = this.n.epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0) throw new SysError('epoll_create1', this.errno());
    return fd;
  }

  epollCtl(epfd: number, op: number, fd: number, events: number): void {
    const ev = this.scratchOf(16);
    ev.dv.setUint32(0, events >>> 0, true);
    ev.dv.setUint32(EPOLL_DATA_OFFSET, fd, true); // epoll_data_t.u64 = fd (high half zero)
    if (this.n.epoll_ctl(epfd, op, fd, ev.addr) < 0) throw new SysError('epoll_ctl', this.errno());
  }

  epollWait(epfd: number, maxEvents: number, timeoutMs: number): EpollEvent[] {
    const buf = this.scratchOf(maxEvents * EPOLL_EVENT_SIZE);
    const r = this.n.epoll_wait(epfd, buf.addr, maxEvents, timeoutMs);
    if (r < 0) {
      const e = this.errno();
      // A signal cut the wait short: report "nothing yet", the caller waits again.
      if (e === EINTR) return [];
      throw new SysError('epoll_wait', e);
    }
    return decodeEpollEvents(buf, r);
  }

  /**
   * Runs epoll_wait on a thread of libuv's pool. The pool is small (4 threads by default)
   * and shared with fs and dns, so prefer bounded timeouts to -1.
   */
  epollWaitAsync(epfd: number, maxEvents: number, timeoutMs: number): Promise<EpollEvent[]> {
    // A block of its own: the shared scratch may be reused before the wait ends.
    const buf = this.block(maxEvents * EPOLL_EVENT_SIZE);
    return new Promise((resolve, reject) => {
      this.n.epoll_wait.async(epfd, buf.addr, maxEvents, timeoutMs, (err, r) => {
        // `buf` is referenced here, so it stays alive while the worker writes into it.
        if (err) return reject(err instanceof Error ? err : new TsbpfError(String(err)));
        if (r < 0) {
          // koffi restores the worker's errno around this callback.
          const e = this.errno();
          return e === EINTR ? resolve([]) : reject(new SysError('epoll_wait', e));
        }
        resolve(decodeEpollEvents(buf, r));
      });
    });
  }

  watchReadable(fd: number, onReadable: () => void): FdWatch {
    // koffi 3 hands the callback a status rather than the typed events object, so
    // any call means "look now"; readers re-check the fd's state themselves.
    // What onReadable throws must not reach koffi: it would hold the exception and rethrow
    // it from whatever call into koffi comes next (a close() that then skips its munmap).
    // It is raised as an uncaught exception now instead, as an event listener's would be.
    const handle = this.n.koffi.node.poll(fd, { readable: true }, () => {
      try {
        onReadable();
      } catch (e) {
        process.nextTick(() => {
          throw e;
        });
      }
    });
    let closed = false;
    return {
      close: () => {
        if (!closed) handle.close();
        closed = true;
      },
      unref: () => handle.unref(),
      ref: () => handle.ref(),
    };
  }

  // -------------------------------------------------------------------------------------
  // mount

  mount(source: string, target: string, fstype: string, flags = 0): void {
    if (this.n.mount(source, target, fstype, flags, null) < 0) {
      throw new SysError('mount', this.errno(), `${fstype} on ${target}`);
    }
  }

  raiseMemlockLimit(): void {
    // struct rlimit { rlim_cur, rlim_max }, both RLIM_INFINITY (all ones).
    if (this.n.setrlimit(RLIMIT_MEMLOCK, Buffer.alloc(16, 0xff)) < 0) {
      throw new SysError('setrlimit', this.errno(), 'RLIMIT_MEMLOCK');
    }
  }

  // -------------------------------------------------------------------------------------
  // machine facts

  possibleCpus(): number {
    this.cpus ??= parseCpuList(readFileSync('/sys/devices/system/cpu/possible', 'utf8')).length;
    return this.cpus;
  }

  pageSize(): number {
    this.page ??= this.n.sysconf(SC_PAGESIZE);
    return this.page;
  }

  kernelRelease(): string {
    return release();
  }
}

function decodeEpollEvents(buf: Block, count: number): EpollEvent[] {
  const out: EpollEvent[] = [];
  for (let i = 0; i < count; i++) {
    const off = i * EPOLL_EVENT_SIZE;
    out.push({
      events: buf.dv.getUint32(off, true),
      data: Number(buf.dv.getBigUint64(off + EPOLL_DATA_OFFSET, true)),
    });
  }
  return out;
}
