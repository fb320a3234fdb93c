/**
 * The kernel boundary. Everything above sys/ talks to the kernel only through this
 * interface; `linux.ts` implements it with real syscalls (koffi), `fake.ts` in memory
 * for tests that need no root. Attr layouts and constants live in sys/ only.
 *
 * File descriptors are plain numbers; the caller owns every fd a method returns.
 * Failures throw SysError (errors.ts) naming the syscall, the command and the errno.
 */

/** Attributes of BPF_MAP_CREATE (union bpf_attr, anonymous struct of the command). */
export interface MapCreateAttr {
  mapType: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  mapFlags?: number;
  innerMapFd?: number;
  numaNode?: number;
  /** At most 15 bytes are used (BPF_OBJ_NAME_LEN - 1); the caller sanitises. */
  mapName?: string;
  mapIfindex?: number;
  btfFd?: number;
  btfKeyTypeId?: number;
  btfValueTypeId?: number;
  btfVmlinuxValueTypeId?: number;
  mapExtra?: bigint;
}

/** Attributes of BPF_PROG_LOAD. Record arrays are passed already encoded. */
export interface ProgLoadAttr {
  progType: number;
  /** Encoded instructions, 8 bytes each. */
  insns: Uint8Array;
  license: string;
  /** 0 for none; with a log, logBuf receives the verifier's text (NUL-terminated). */
  logLevel?: number;
  logBuf?: Buffer;
  kernVersion?: number;
  progFlags?: number;
  progName?: string;
  progIfindex?: number;
  expectedAttachType?: number;
  progBtfFd?: number;
  /** struct bpf_func_info records (insn_off in instructions). */
  funcInfo?: Uint8Array;
  funcInfoRecSize?: number;
  funcInfoCnt?: number;
  /** struct bpf_line_info records (insn_off in instructions). */
  lineInfo?: Uint8Array;
  lineInfoRecSize?: number;
  lineInfoCnt?: number;
  attachBtfId?: number;
  attachBtfObjFd?: number;
  attachProgFd?: number;
  /** struct bpf_core_relo records (insn_off in bytes). */
  coreRelos?: Uint8Array;
  coreReloRecSize?: number;
  coreReloCnt?: number;
  /**
   * fd_array: fds the instructions refer to by index (a kfunc call's `off` names the
   * module BTF fd at that index; index 0 is unused for that).
   */
  fdArray?: number[];
}

export interface ProgLoadResult {
  fd: number;
}

export interface BtfLoadAttr {
  btf: Uint8Array;
  logLevel?: number;
  logBuf?: Buffer;
}

/** BPF_PROG_TEST_RUN input. */
export interface TestRunAttr {
  progFd: number;
  repeat?: number;
  dataIn?: Uint8Array;
  /** Size of the data_out buffer to offer; 0 for none. */
  dataSizeOut?: number;
  ctxIn?: Uint8Array;
  ctxSizeOut?: number;
  flags?: number;
  cpu?: number;
}

export interface TestRunResult {
  retval: number;
  /** Average run time in ns, as reported by the kernel. */
  duration: number;
  dataOut?: Uint8Array;
  ctxOut?: Uint8Array;
}

/** BPF_LINK_CREATE. `targetFd` is the perf event fd, cgroup fd, ifindex... */
export interface LinkCreateAttr {
  progFd: number;
  targetFd: number;
  attachType: number;
  flags?: number;
  /** link_create.perf_event.bpf_cookie, for BPF_PERF_EVENT links. */
  bpfCookie?: bigint;
  /** link_create.target_btf_id, for tracing links. */
  targetBtfId?: number;
  /** link_create.iter_info (union bpf_iter_link_info, encoded), for BPF_TRACE_ITER links. */
  iterInfo?: Uint8Array;
  /** link_create.kprobe_multi, for BPF_TRACE_KPROBE_MULTI links: symbols or addresses, one cookie each. */
  kprobeMulti?: { flags?: number; syms?: string[]; addrs?: bigint[]; cookies?: bigint[] };
  /** link_create.tcx: the anchor program or link and the expected revision, for BPF_TCX_* links. */
  tcx?: { relativeFdOrId?: number; expectedRevision?: bigint };
}

/** The parts of struct bpf_prog_info that tsbpf reads. */
export interface ProgInfo {
  type: number;
  id: number;
  tag: Uint8Array;
  jitedProgLen: number;
  xlatedProgLen: number;
  loadTime: bigint;
  createdByUid: number;
  nrMapIds: number;
  name: string;
  btfId: number;
  /** Instructions the verifier processed (kernel >= 5.16, else 0). */
  verifiedInsns: number;
  mapIds: number[];
}

/** The parts of struct bpf_map_info that tsbpf reads. */
export interface MapInfo {
  type: number;
  id: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  mapFlags: number;
  name: string;
  btfId: number;
  btfKeyTypeId: number;
  btfValueTypeId: number;
  /** map_extra (bloom filter hashes, arena address); absent where not known. */
  mapExtra?: bigint;
}

export interface LinkInfo {
  type: number;
  id: number;
  progId: number;
}

export interface BtfInfo {
  id: number;
  btfSize: number;
  name: string;
  kernelBtf: boolean;
}

/** The fields of struct perf_event_attr that tsbpf sets; all others are zero. */
export interface PerfEventAttr {
  type: number;
  config: bigint;
  sampleType?: bigint;
  /** sample_period, or sample_freq when `freq` is set. */
  samplePeriod?: bigint;
  wakeupEvents?: number;
  /** Bit flags of the bitfield word (disabled, inherit, ..., freq, watermark...), PERF_ATTR_FLAG_*. */
  flags?: bigint;
  bpType?: number;
  /** config1 (for uprobes: the address of the path string, set by sys from `path`). */
  config1?: bigint;
  /** config2 (for uprobes: the file offset). */
  config2?: bigint;
  /** For PMU probes (uprobe/kprobe): the path or symbol that config1 points to. */
  path?: string;
}

/** A mapping made by mmap(2): `buffer` views the mapped memory without copying. */
export interface Mapping {
  /** Holds the mapping at byte `offset`; detached by munmap. */
  readonly buffer: ArrayBuffer;
  readonly offset: number;
  readonly length: number;
  readonly address: bigint;
}

export interface EpollEvent {
  events: number;
  /** The 64-bit user data registered with epollCtl (tsbpf registers the fd). */
  data: number;
}

/** A readiness watch on an fd, run by the event loop itself (libuv uv_poll). */
export interface FdWatch {
  close(): void;
  /** Lets the process exit while the watch is active. */
  unref(): void;
  ref(): void;
}

export interface Sys {
  // bpf(2) commands
  mapCreate(attr: MapCreateAttr): number;
  /** False when the key is absent (ENOENT). `value` receives the value. */
  mapLookupElem(mapFd: number, key: Uint8Array, value: Uint8Array, flags?: bigint): boolean;
  mapUpdateElem(mapFd: number, key: Uint8Array, value: Uint8Array, flags?: bigint): void;
  /** False when the key is absent (ENOENT). */
  mapDeleteElem(mapFd: number, key: Uint8Array): boolean;
  /** Writes the key following `key` (the first key when null) into `nextKey`; false at the end. */
  mapGetNextKey(mapFd: number, key: Uint8Array | null, nextKey: Uint8Array): boolean;
  mapFreeze(mapFd: number): void;
  progLoad(attr: ProgLoadAttr): number;
  btfLoad(attr: BtfLoadAttr): number;
  progTestRun(attr: TestRunAttr): TestRunResult;
  linkCreate(attr: LinkCreateAttr): number;
  /** BPF_ITER_CREATE: a readable fd that runs the iterator link's program as it is read. */
  iterCreate(linkFd: number): number;
  /** socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol), bound: a netlink socket's fd. */
  netlinkOpen(protocol: number): number;
  /**
   * Sends one netlink request (nlmsghdr included; sys sets nlmsg_seq) and returns the
   * replies up to the kernel's ACK; an NLMSG_ERROR with an errno throws SysError.
   */
  netlinkRequest(fd: number, message: Uint8Array): Uint8Array[];
  /** open(2) of a directory read-only (a cgroup v2 directory, a network namespace file), for its fd. */
  openPath(path: string): number;
  /** read(2) into `buf`; returns the bytes read (0 at end of file). */
  read(fd: number, buf: Uint8Array): number;
  /** BPF_RAW_TRACEPOINT_OPEN; name null for tp_btf programs (the kernel knows the target). */
  rawTracepointOpen(name: string | null, progFd: number): number;
  objPin(fd: number, path: string): void;
  objGet(path: string): number;
  progGetInfo(fd: number): ProgInfo;
  /**
   * The program as the verifier left it (bpf_prog_info.xlated_prog_insns), 8 bytes an
   * instruction; map references read as map ids. Empty without CAP_SYS_ADMIN-like rights.
   */
  progXlatedInsns(fd: number): Uint8Array;
  mapGetInfo(fd: number): MapInfo;
  linkGetInfo(fd: number): LinkInfo;
  btfGetInfo(fd: number): BtfInfo;
  /** Next id after `id` (0 for the first), or null at the end. */
  progGetNextId(id: number): number | null;
  mapGetNextId(id: number): number | null;
  linkGetNextId(id: number): number | null;
  btfGetNextId(id: number): number | null;
  progGetFdById(id: number): number;
  mapGetFdById(id: number): number;
  linkGetFdById(id: number): number;
  btfGetFdById(id: number): number;

  // other syscalls
  perfEventOpen(attr: PerfEventAttr, pid: number, cpu: number, groupFd: number, flags: number): number;
  /** ioctl(2) with an integer argument. */
  ioctl(fd: number, request: number, arg: number): number;
  mmap(length: number, prot: number, flags: number, fd: number, offset: number): Mapping;
  /**
   * Lets go of the kernel object's memory and detaches `mapping.buffer`: a view still held
   * throws (DataView) or reads as empty (typed arrays); it never touches freed memory.
   */
  munmap(mapping: Mapping): void;
  close(fd: number): void;
  epollCreate(): number;
  epollCtl(epfd: number, op: number, fd: number, events: number): void;
  /** Blocks the calling thread up to timeoutMs (-1: forever). */
  epollWait(epfd: number, maxEvents: number, timeoutMs: number): EpollEvent[];
  /** The same wait on a worker thread of libuv's pool: the event loop stays free. */
  epollWaitAsync(epfd: number, maxEvents: number, timeoutMs: number): Promise<EpollEvent[]>;
  /**
   * Calls `onReadable` from the event loop whenever `fd` is readable (level-triggered),
   * with no thread blocked and no polling: the way ring and perf buffer readers wake.
   * An exception thrown by `onReadable` is raised as an uncaught exception at once.
   */
  watchReadable(fd: number, onReadable: () => void): FdWatch;
  /**
   * mount(2) with no data argument: `mount("nodev", "/sys/kernel/tracing", "tracefs")`
   * mounts tracefs, `mount("bpf", "/sys/fs/bpf", "bpf")` bpffs. `flags` are MS_* bits.
   */
  mount(source: string, target: string, fstype: string, flags?: number): void;
  /**
   * setrlimit(RLIMIT_MEMLOCK, infinity): kernels before 5.11 charge BPF maps and programs
   * to the locked-memory limit (often 64 KiB), not to the memory cgroup.
   */
  raiseMemlockLimit(): void;
  /** Number of possible CPUs (/sys/devices/system/cpu/possible), for per-CPU maps and perf buffers. */
  possibleCpus(): number;
  pageSize(): number;
  /** uname(2)'s release, e.g. "6.18.0-1-amd64": for the kernel floor's message. */
  kernelRelease(): string;
}
