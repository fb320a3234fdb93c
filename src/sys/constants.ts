/**
 * Kernel constants, named exactly as in linux/bpf.h, linux/bpf_common.h,
 * linux/perf_event.h, sys/mman.h and sys/epoll.h, so a reader can grep the headers.
 *
 * Values were checked against the 6.1 UAPI header in /usr/include and, for newer ones,
 * against the running 6.18 kernel's BTF. Enums are kept as objects too (named like the C
 * enum) so messages can turn numbers back into names.
 */

/** Reverse lookup table of an enum object; the first name wins for aliases. */
function reverse(e: Readonly<Record<string, number>>): ReadonlyMap<number, string> {
  const m = new Map<number, string>();
  for (const [k, v] of Object.entries(e)) if (!m.has(v)) m.set(v, k);
  return m;
}

// ---------------------------------------------------------------------------------------
// enum bpf_cmd

export const bpf_cmd = {
  BPF_MAP_CREATE: 0,
  BPF_MAP_LOOKUP_ELEM: 1,
  BPF_MAP_UPDATE_ELEM: 2,
  BPF_MAP_DELETE_ELEM: 3,
  BPF_MAP_GET_NEXT_KEY: 4,
  BPF_PROG_LOAD: 5,
  BPF_OBJ_PIN: 6,
  BPF_OBJ_GET: 7,
  BPF_PROG_ATTACH: 8,
  BPF_PROG_DETACH: 9,
  BPF_PROG_TEST_RUN: 10,
  BPF_PROG_GET_NEXT_ID: 11,
  BPF_MAP_GET_NEXT_ID: 12,
  BPF_PROG_GET_FD_BY_ID: 13,
  BPF_MAP_GET_FD_BY_ID: 14,
  BPF_OBJ_GET_INFO_BY_FD: 15,
  BPF_PROG_QUERY: 16,
  BPF_RAW_TRACEPOINT_OPEN: 17,
  BPF_BTF_LOAD: 18,
  BPF_BTF_GET_FD_BY_ID: 19,
  BPF_TASK_FD_QUERY: 20,
  BPF_MAP_LOOKUP_AND_DELETE_ELEM: 21,
  BPF_MAP_FREEZE: 22,
  BPF_BTF_GET_NEXT_ID: 23,
  BPF_MAP_LOOKUP_BATCH: 24,
  BPF_MAP_LOOKUP_AND_DELETE_BATCH: 25,
  BPF_MAP_UPDATE_BATCH: 26,
  BPF_MAP_DELETE_BATCH: 27,
  BPF_LINK_CREATE: 28,
  BPF_LINK_UPDATE: 29,
  BPF_LINK_GET_FD_BY_ID: 30,
  BPF_LINK_GET_NEXT_ID: 31,
  BPF_ENABLE_STATS: 32,
  BPF_ITER_CREATE: 33,
  BPF_LINK_DETACH: 34,
  BPF_PROG_BIND_MAP: 35,
  BPF_TOKEN_CREATE: 36,
  BPF_PROG_STREAM_READ_BY_FD: 37,
} as const;

export const {
  BPF_MAP_CREATE,
  BPF_MAP_LOOKUP_ELEM,
  BPF_MAP_UPDATE_ELEM,
  BPF_MAP_DELETE_ELEM,
  BPF_MAP_GET_NEXT_KEY,
  BPF_PROG_LOAD,
  BPF_OBJ_PIN,
  BPF_OBJ_GET,
  BPF_PROG_ATTACH,
  BPF_PROG_DETACH,
  BPF_PROG_TEST_RUN,
  BPF_PROG_GET_NEXT_ID,
  BPF_MAP_GET_NEXT_ID,
  BPF_PROG_GET_FD_BY_ID,
  BPF_MAP_GET_FD_BY_ID,
  BPF_OBJ_GET_INFO_BY_FD,
  BPF_PROG_QUERY,
  BPF_RAW_TRACEPOINT_OPEN,
  BPF_BTF_LOAD,
  BPF_BTF_GET_FD_BY_ID,
  BPF_TASK_FD_QUERY,
  BPF_MAP_LOOKUP_AND_DELETE_ELEM,
  BPF_MAP_FREEZE,
  BPF_BTF_GET_NEXT_ID,
  BPF_MAP_LOOKUP_BATCH,
  BPF_MAP_LOOKUP_AND_DELETE_BATCH,
  BPF_MAP_UPDATE_BATCH,
  BPF_MAP_DELETE_BATCH,
  BPF_LINK_CREATE,
  BPF_LINK_UPDATE,
  BPF_LINK_GET_FD_BY_ID,
  BPF_LINK_GET_NEXT_ID,
  BPF_ENABLE_STATS,
  BPF_ITER_CREATE,
  BPF_LINK_DETACH,
  BPF_PROG_BIND_MAP,
  BPF_TOKEN_CREATE,
  BPF_PROG_STREAM_READ_BY_FD,
} = bpf_cmd;
/** Alias of BPF_PROG_TEST_RUN (the kernel's newer name). */
export const BPF_PROG_RUN = BPF_PROG_TEST_RUN;

// ---------------------------------------------------------------------------------------
// enum bpf_map_type

export const bpf_map_type = {
  BPF_MAP_TYPE_UNSPEC: 0,
  BPF_MAP_TYPE_HASH: 1,
  BPF_MAP_TYPE_ARRAY: 2,
  BPF_MAP_TYPE_PROG_ARRAY: 3,
  BPF_MAP_TYPE_PERF_EVENT_ARRAY: 4,
  BPF_MAP_TYPE_PERCPU_HASH: 5,
  BPF_MAP_TYPE_PERCPU_ARRAY: 6,
  BPF_MAP_TYPE_STACK_TRACE: 7,
  BPF_MAP_TYPE_CGROUP_ARRAY: 8,
  BPF_MAP_TYPE_LRU_HASH: 9,
  BPF_MAP_TYPE_LRU_PERCPU_HASH: 10,
  BPF_MAP_TYPE_LPM_TRIE: 11,
  BPF_MAP_TYPE_ARRAY_OF_MAPS: 12,
  BPF_MAP_TYPE_HASH_OF_MAPS: 13,
  BPF_MAP_TYPE_DEVMAP: 14,
  BPF_MAP_TYPE_SOCKMAP: 15,
  BPF_MAP_TYPE_CPUMAP: 16,
  BPF_MAP_TYPE_XSKMAP: 17,
  BPF_MAP_TYPE_SOCKHASH: 18,
  BPF_MAP_TYPE_CGROUP_STORAGE: 19,
  BPF_MAP_TYPE_REUSEPORT_SOCKARRAY: 20,
  BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE: 21,
  BPF_MAP_TYPE_QUEUE: 22,
  BPF_MAP_TYPE_STACK: 23,
  BPF_MAP_TYPE_SK_STORAGE: 24,
  BPF_MAP_TYPE_DEVMAP_HASH: 25,
  BPF_MAP_TYPE_STRUCT_OPS: 26,
  BPF_MAP_TYPE_RINGBUF: 27,
  BPF_MAP_TYPE_INODE_STORAGE: 28,
  BPF_MAP_TYPE_TASK_STORAGE: 29,
  BPF_MAP_TYPE_BLOOM_FILTER: 30,
  BPF_MAP_TYPE_USER_RINGBUF: 31,
  BPF_MAP_TYPE_CGRP_STORAGE: 32,
  BPF_MAP_TYPE_ARENA: 33,
} as const;

export const {
  BPF_MAP_TYPE_UNSPEC,
  BPF_MAP_TYPE_HASH,
  BPF_MAP_TYPE_ARRAY,
  BPF_MAP_TYPE_PROG_ARRAY,
  BPF_MAP_TYPE_PERF_EVENT_ARRAY,
  BPF_MAP_TYPE_PERCPU_HASH,
  BPF_MAP_TYPE_PERCPU_ARRAY,
  BPF_MAP_TYPE_STACK_TRACE,
  BPF_MAP_TYPE_CGROUP_ARRAY,
  BPF_MAP_TYPE_LRU_HASH,
  BPF_MAP_TYPE_LRU_PERCPU_HASH,
  BPF_MAP_TYPE_LPM_TRIE,
  BPF_MAP_TYPE_ARRAY_OF_MAPS,
  BPF_MAP_TYPE_HASH_OF_MAPS,
  BPF_MAP_TYPE_DEVMAP,
  BPF_MAP_TYPE_SOCKMAP,
  BPF_MAP_TYPE_CPUMAP,
  BPF_MAP_TYPE_XSKMAP,
  BPF_MAP_TYPE_SOCKHASH,
  BPF_MAP_TYPE_CGROUP_STORAGE,
  BPF_MAP_TYPE_REUSEPORT_SOCKARRAY,
  BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE,
  BPF_MAP_TYPE_QUEUE,
  BPF_MAP_TYPE_STACK,
  BPF_MAP_TYPE_SK_STORAGE,
  BPF_MAP_TYPE_DEVMAP_HASH,
  BPF_MAP_TYPE_STRUCT_OPS,
  BPF_MAP_TYPE_RINGBUF,
  BPF_MAP_TYPE_INODE_STORAGE,
  BPF_MAP_TYPE_TASK_STORAGE,
  BPF_MAP_TYPE_BLOOM_FILTER,
  BPF_MAP_TYPE_USER_RINGBUF,
  BPF_MAP_TYPE_CGRP_STORAGE,
  BPF_MAP_TYPE_ARENA,
} = bpf_map_type;
/** 6.2 renamed the cgroup storage types; both names have the same value. */
export const BPF_MAP_TYPE_CGROUP_STORAGE_DEPRECATED = BPF_MAP_TYPE_CGROUP_STORAGE;
export const BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE_DEPRECATED = BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;

// ---------------------------------------------------------------------------------------
// enum bpf_prog_type

export const bpf_prog_type = {
  BPF_PROG_TYPE_UNSPEC: 0,
  BPF_PROG_TYPE_SOCKET_FILTER: 1,
  BPF_PROG_TYPE_KPROBE: 2,
  BPF_PROG_TYPE_SCHED_CLS: 3,
  BPF_PROG_TYPE_SCHED_ACT: 4,
  BPF_PROG_TYPE_TRACEPOINT: 5,
  BPF_PROG_TYPE_XDP: 6,
  BPF_PROG_TYPE_PERF_EVENT: 7,
  BPF_PROG_TYPE_CGROUP_SKB: 8,
  BPF_PROG_TYPE_CGROUP_SOCK: 9,
  BPF_PROG_TYPE_LWT_IN: 10,
  BPF_PROG_TYPE_LWT_OUT: 11,
  BPF_PROG_TYPE_LWT_XMIT: 12,
  BPF_PROG_TYPE_SOCK_OPS: 13,
  BPF_PROG_TYPE_SK_SKB: 14,
  BPF_PROG_TYPE_CGROUP_DEVICE: 15,
  BPF_PROG_TYPE_SK_MSG: 16,
  BPF_PROG_TYPE_RAW_TRACEPOINT: 17,
  BPF_PROG_TYPE_CGROUP_SOCK_ADDR: 18,
  BPF_PROG_TYPE_LWT_SEG6LOCAL: 19,
  BPF_PROG_TYPE_LIRC_MODE2: 20,
  BPF_PROG_TYPE_SK_REUSEPORT: 21,
  BPF_PROG_TYPE_FLOW_DISSECTOR: 22,
  BPF_PROG_TYPE_CGROUP_SYSCTL: 23,
  BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE: 24,
  BPF_PROG_TYPE_CGROUP_SOCKOPT: 25,
  BPF_PROG_TYPE_TRACING: 26,
  BPF_PROG_TYPE_STRUCT_OPS: 27,
  BPF_PROG_TYPE_EXT: 28,
  BPF_PROG_TYPE_LSM: 29,
  BPF_PROG_TYPE_SK_LOOKUP: 30,
  BPF_PROG_TYPE_SYSCALL: 31,
  BPF_PROG_TYPE_NETFILTER: 32,
} as const;

export const {
  BPF_PROG_TYPE_UNSPEC,
  BPF_PROG_TYPE_SOCKET_FILTER,
  BPF_PROG_TYPE_KPROBE,
  BPF_PROG_TYPE_SCHED_CLS,
  BPF_PROG_TYPE_SCHED_ACT,
  BPF_PROG_TYPE_TRACEPOINT,
  BPF_PROG_TYPE_XDP,
  BPF_PROG_TYPE_PERF_EVENT,
  BPF_PROG_TYPE_CGROUP_SKB,
  BPF_PROG_TYPE_CGROUP_SOCK,
  BPF_PROG_TYPE_LWT_IN,
  BPF_PROG_TYPE_LWT_OUT,
  BPF_PROG_TYPE_LWT_XMIT,
  BPF_PROG_TYPE_SOCK_OPS,
  BPF_PROG_TYPE_SK_SKB,
  BPF_PROG_TYPE_CGROUP_DEVICE,
  BPF_PROG_TYPE_SK_MSG,
  BPF_PROG_TYPE_RAW_TRACEPOINT,
  BPF_PROG_TYPE_CGROUP_SOCK_ADDR,
  BPF_PROG_TYPE_LWT_SEG6LOCAL,
  BPF_PROG_TYPE_LIRC_MODE2,
  BPF_PROG_TYPE_SK_REUSEPORT,
  BPF_PROG_TYPE_FLOW_DISSECTOR,
  BPF_PROG_TYPE_CGROUP_SYSCTL,
  BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE,
  BPF_PROG_TYPE_CGROUP_SOCKOPT,
  BPF_PROG_TYPE_TRACING,
  BPF_PROG_TYPE_STRUCT_OPS,
  BPF_PROG_TYPE_EXT,
  BPF_PROG_TYPE_LSM,
  BPF_PROG_TYPE_SK_LOOKUP,
  BPF_PROG_TYPE_SYSCALL,
  BPF_PROG_TYPE_NETFILTER,
} = bpf_prog_type;

// ---------------------------------------------------------------------------------------
// enum bpf_attach_type

export const bpf_attach_type = {
  BPF_CGROUP_INET_INGRESS: 0,
  BPF_CGROUP_INET_EGRESS: 1,
  BPF_CGROUP_INET_SOCK_CREATE: 2,
  BPF_CGROUP_SOCK_OPS: 3,
  BPF_SK_SKB_STREAM_PARSER: 4,
  BPF_SK_SKB_STREAM_VERDICT: 5,
  BPF_CGROUP_DEVICE: 6,
  BPF_SK_MSG_VERDICT: 7,
  BPF_CGROUP_INET4_BIND: 8,
  BPF_CGROUP_INET6_BIND: 9,
  BPF_CGROUP_INET4_CONNECT: 10,
  BPF_CGROUP_INET6_CONNECT: 11,
  BPF_CGROUP_INET4_POST_BIND: 12,
  BPF_CGROUP_INET6_POST_BIND: 13,
  BPF_CGROUP_UDP4_SENDMSG: 14,
  BPF_CGROUP_UDP6_SENDMSG: 15,
  BPF_LIRC_MODE2: 16,
  BPF_FLOW_DISSECTOR: 17,
  BPF_CGROUP_SYSCTL: 18,
  BPF_CGROUP_UDP4_RECVMSG: 19,
  BPF_CGROUP_UDP6_RECVMSG: 20,
  BPF_CGROUP_GETSOCKOPT: 21,
  BPF_CGROUP_SETSOCKOPT: 22,
  BPF_TRACE_RAW_TP: 23,
  BPF_TRACE_FENTRY: 24,
  BPF_TRACE_FEXIT: 25,
  BPF_MODIFY_RETURN: 26,
  BPF_LSM_MAC: 27,
  BPF_TRACE_ITER: 28,
  BPF_CGROUP_INET4_GETPEERNAME: 29,
  BPF_CGROUP_INET6_GETPEERNAME: 30,
  BPF_CGROUP_INET4_GETSOCKNAME: 31,
  BPF_CGROUP_INET6_GETSOCKNAME: 32,
  BPF_XDP_DEVMAP: 33,
  BPF_CGROUP_INET_SOCK_RELEASE: 34,
  BPF_XDP_CPUMAP: 35,
  BPF_SK_LOOKUP: 36,
  BPF_XDP: 37,
  BPF_SK_SKB_VERDICT: 38,
  BPF_SK_REUSEPORT_SELECT: 39,
  BPF_SK_REUSEPORT_SELECT_OR_MIGRATE: 40,
  BPF_PERF_EVENT: 41,
  BPF_TRACE_KPROBE_MULTI: 42,
  BPF_LSM_CGROUP: 43,
  BPF_STRUCT_OPS: 44,
  BPF_NETFILTER: 45,
  BPF_TCX_INGRESS: 46,
  BPF_TCX_EGRESS: 47,
  BPF_TRACE_UPROBE_MULTI: 48,
  BPF_CGROUP_UNIX_CONNECT: 49,
  BPF_CGROUP_UNIX_SENDMSG: 50,
  BPF_CGROUP_UNIX_RECVMSG: 51,
  BPF_CGROUP_UNIX_GETPEERNAME: 52,
  BPF_CGROUP_UNIX_GETSOCKNAME: 53,
  BPF_NETKIT_PRIMARY: 54,
  BPF_NETKIT_PEER: 55,
  BPF_TRACE_KPROBE_SESSION: 56,
  BPF_TRACE_UPROBE_SESSION: 57,
} as const;

export const {
  BPF_CGROUP_INET_INGRESS,
  BPF_CGROUP_INET_EGRESS,
  BPF_CGROUP_INET_SOCK_CREATE,
  BPF_CGROUP_SOCK_OPS,
  BPF_SK_SKB_STREAM_PARSER,
  BPF_SK_SKB_STREAM_VERDICT,
  BPF_CGROUP_DEVICE,
  BPF_SK_MSG_VERDICT,
  BPF_CGROUP_INET4_BIND,
  BPF_CGROUP_INET6_BIND,
  BPF_CGROUP_INET4_CONNECT,
  BPF_CGROUP_INET6_CONNECT,
  BPF_CGROUP_INET4_POST_BIND,
  BPF_CGROUP_INET6_POST_BIND,
  BPF_CGROUP_UDP4_SENDMSG,
  BPF_CGROUP_UDP6_SENDMSG,
  BPF_LIRC_MODE2,
  BPF_FLOW_DISSECTOR,
  BPF_CGROUP_SYSCTL,
  BPF_CGROUP_UDP4_RECVMSG,
  BPF_CGROUP_UDP6_RECVMSG,
  BPF_CGROUP_GETSOCKOPT,
  BPF_CGROUP_SETSOCKOPT,
  BPF_TRACE_RAW_TP,
  BPF_TRACE_FENTRY,
  BPF_TRACE_FEXIT,
  BPF_MODIFY_RETURN,
  BPF_LSM_MAC,
  BPF_TRACE_ITER,
  BPF_CGROUP_INET4_GETPEERNAME,
  BPF_CGROUP_INET6_GETPEERNAME,
  BPF_CGROUP_INET4_GETSOCKNAME,
  BPF_CGROUP_INET6_GETSOCKNAME,
  BPF_XDP_DEVMAP,
  BPF_CGROUP_INET_SOCK_RELEASE,
  BPF_XDP_CPUMAP,
  BPF_SK_LOOKUP,
  BPF_XDP,
  BPF_SK_SKB_VERDICT,
  BPF_SK_REUSEPORT_SELECT,
  BPF_SK_REUSEPORT_SELECT_OR_MIGRATE,
  BPF_PERF_EVENT,
  BPF_TRACE_KPROBE_MULTI,
  BPF_LSM_CGROUP,
  BPF_STRUCT_OPS,
  BPF_NETFILTER,
  BPF_TCX_INGRESS,
  BPF_TCX_EGRESS,
  BPF_TRACE_UPROBE_MULTI,
  BPF_CGROUP_UNIX_CONNECT,
  BPF_CGROUP_UNIX_SENDMSG,
  BPF_CGROUP_UNIX_RECVMSG,
  BPF_CGROUP_UNIX_GETPEERNAME,
  BPF_CGROUP_UNIX_GETSOCKNAME,
  BPF_NETKIT_PRIMARY,
  BPF_NETKIT_PEER,
  BPF_TRACE_KPROBE_SESSION,
  BPF_TRACE_UPROBE_SESSION,
} = bpf_attach_type;

// ---------------------------------------------------------------------------------------
// enum bpf_link_type

export const bpf_link_type = {
  BPF_LINK_TYPE_UNSPEC: 0,
  BPF_LINK_TYPE_RAW_TRACEPOINT: 1,
  BPF_LINK_TYPE_TRACING: 2,
  BPF_LINK_TYPE_CGROUP: 3,
  BPF_LINK_TYPE_ITER: 4,
  BPF_LINK_TYPE_NETNS: 5,
  BPF_LINK_TYPE_XDP: 6,
  BPF_LINK_TYPE_PERF_EVENT: 7,
  BPF_LINK_TYPE_KPROBE_MULTI: 8,
  BPF_LINK_TYPE_STRUCT_OPS: 9,
  BPF_LINK_TYPE_NETFILTER: 10,
  BPF_LINK_TYPE_TCX: 11,
  BPF_LINK_TYPE_UPROBE_MULTI: 12,
  BPF_LINK_TYPE_NETKIT: 13,
  BPF_LINK_TYPE_SOCKMAP: 14,
} as const;

export const {
  BPF_LINK_TYPE_UNSPEC,
  BPF_LINK_TYPE_RAW_TRACEPOINT,
  BPF_LINK_TYPE_TRACING,
  BPF_LINK_TYPE_CGROUP,
  BPF_LINK_TYPE_ITER,
  BPF_LINK_TYPE_NETNS,
  BPF_LINK_TYPE_XDP,
  BPF_LINK_TYPE_PERF_EVENT,
  BPF_LINK_TYPE_KPROBE_MULTI,
  BPF_LINK_TYPE_STRUCT_OPS,
  BPF_LINK_TYPE_NETFILTER,
  BPF_LINK_TYPE_TCX,
  BPF_LINK_TYPE_UPROBE_MULTI,
  BPF_LINK_TYPE_NETKIT,
  BPF_LINK_TYPE_SOCKMAP,
} = bpf_link_type;

// ---------------------------------------------------------------------------------------
// enum bpf_core_relo_kind (struct bpf_core_relo.kind)

export const bpf_core_relo_kind = {
  BPF_CORE_FIELD_BYTE_OFFSET: 0,
  BPF_CORE_FIELD_BYTE_SIZE: 1,
  BPF_CORE_FIELD_EXISTS: 2,
  BPF_CORE_FIELD_SIGNED: 3,
  BPF_CORE_FIELD_LSHIFT_U64: 4,
  BPF_CORE_FIELD_RSHIFT_U64: 5,
  BPF_CORE_TYPE_ID_LOCAL: 6,
  BPF_CORE_TYPE_ID_TARGET: 7,
  BPF_CORE_TYPE_EXISTS: 8,
  BPF_CORE_TYPE_SIZE: 9,
  BPF_CORE_ENUMVAL_EXISTS: 10,
  BPF_CORE_ENUMVAL_VALUE: 11,
  BPF_CORE_TYPE_MATCHES: 12,
} as const;

export const {
  BPF_CORE_FIELD_BYTE_OFFSET,
  BPF_CORE_FIELD_BYTE_SIZE,
  BPF_CORE_FIELD_EXISTS,
  BPF_CORE_FIELD_SIGNED,
  BPF_CORE_FIELD_LSHIFT_U64,
  BPF_CORE_FIELD_RSHIFT_U64,
  BPF_CORE_TYPE_ID_LOCAL,
  BPF_CORE_TYPE_ID_TARGET,
  BPF_CORE_TYPE_EXISTS,
  BPF_CORE_TYPE_SIZE,
  BPF_CORE_ENUMVAL_EXISTS,
  BPF_CORE_ENUMVAL_VALUE,
  BPF_CORE_TYPE_MATCHES,
} = bpf_core_relo_kind;

// ---------------------------------------------------------------------------------------
// Reverse lookups, for messages. Unknown numbers come back as "<enum> <n>".

const CMD_NAMES = reverse(bpf_cmd);
const MAP_TYPE_NAMES = reverse(bpf_map_type);
const PROG_TYPE_NAMES = reverse(bpf_prog_type);
const ATTACH_TYPE_NAMES = reverse(bpf_attach_type);
const LINK_TYPE_NAMES = reverse(bpf_link_type);
const CORE_RELO_KIND_NAMES = reverse(bpf_core_relo_kind);

export const bpfCmdName = (n: number): string => CMD_NAMES.get(n) ?? `bpf_cmd ${n}`;
export const mapTypeName = (n: number): string => MAP_TYPE_NAMES.get(n) ?? `bpf_map_type ${n}`;
export const progTypeName = (n: number): string => PROG_TYPE_NAMES.get(n) ?? `bpf_prog_type ${n}`;
export const attachTypeName = (n: number): string => ATTACH_TYPE_NAMES.get(n) ?? `bpf_attach_type ${n}`;
export const linkTypeName = (n: number): string => LINK_TYPE_NAMES.get(n) ?? `bpf_link_type ${n}`;
export const coreReloKindName = (n: number): string => CORE_RELO_KIND_NAMES.get(n) ?? `bpf_core_relo_kind ${n}`;

// ---------------------------------------------------------------------------------------
// BPF_MAP_CREATE map_flags

export const BPF_F_NO_PREALLOC = 1 << 0;
export const BPF_F_NO_COMMON_LRU = 1 << 1;
export const BPF_F_NUMA_NODE = 1 << 2;
/** Also BPF_OBJ_GET file_flags and BPF_*_GET_FD_BY_ID open_flags. */
export const BPF_F_RDONLY = 1 << 3;
export const BPF_F_WRONLY = 1 << 4;
export const BPF_F_STACK_BUILD_ID = 1 << 5;
export const BPF_F_ZERO_SEED = 1 << 6;
export const BPF_F_RDONLY_PROG = 1 << 7;
export const BPF_F_WRONLY_PROG = 1 << 8;
export const BPF_F_CLONE = 1 << 9;
export const BPF_F_MMAPABLE = 1 << 10;
export const BPF_F_PRESERVE_ELEMS = 1 << 11;
export const BPF_F_INNER_MAP = 1 << 12;
export const BPF_F_LINK = 1 << 13;
export const BPF_F_PATH_FD = 1 << 14;
export const BPF_F_VTYPE_BTF_OBJ_FD = 1 << 15;
/** Also a BPF_PROG_LOAD prog_flags bit. */
export const BPF_F_TOKEN_FD = 1 << 16;
export const BPF_F_SEGV_ON_FAULT = 1 << 17;
export const BPF_F_NO_USER_CONV = 1 << 18;

// BPF_MAP_UPDATE_ELEM / LOOKUP flags (the attr field is 64-bit; these fit a number).
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;
export const BPF_F_LOCK = 4;

// BPF_PROG_LOAD prog_flags
export const BPF_F_STRICT_ALIGNMENT = 1 << 0;
export const BPF_F_ANY_ALIGNMENT = 1 << 1;
export const BPF_F_TEST_RND_HI32 = 1 << 2;
export const BPF_F_TEST_STATE_FREQ = 1 << 3;
export const BPF_F_SLEEPABLE = 1 << 4;
export const BPF_F_XDP_HAS_FRAGS = 1 << 5;
export const BPF_F_XDP_DEV_BOUND_ONLY = 1 << 6;
export const BPF_F_TEST_REG_INVARIANTS = 1 << 7;

// BPF_PROG_ATTACH attach_flags
export const BPF_F_ALLOW_OVERRIDE = 1 << 0;
export const BPF_F_ALLOW_MULTI = 1 << 1;
export const BPF_F_REPLACE = 1 << 2;
export const BPF_F_BEFORE = 1 << 3;
export const BPF_F_AFTER = 1 << 4;
export const BPF_F_ID = 1 << 5;

// BPF_PROG_QUERY
export const BPF_F_QUERY_EFFECTIVE = 1 << 0;

// BPF_PROG_TEST_RUN flags
export const BPF_F_TEST_RUN_ON_CPU = 1 << 0;
export const BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1;
export const BPF_F_TEST_SKB_CHECKSUM_COMPLETE = 1 << 2;

// BPF_LINK_CREATE kprobe_multi / uprobe_multi flags
export const BPF_F_KPROBE_MULTI_RETURN = 1 << 0;
export const BPF_F_UPROBE_MULTI_RETURN = 1 << 0;

// enum bpf_stats_type
export const BPF_STATS_RUN_TIME = 0;

// bpf_perf_event_output() flags (64-bit in the helper; bigint so the mask stays exact).
export const BPF_F_INDEX_MASK = 0xffffffffn;
export const BPF_F_CURRENT_CPU = 0xffffffffn;
export const BPF_F_CTXLEN_MASK = 0xfffffn << 32n;

// Ring buffer: helper flags, bpf_ringbuf_query() selectors, and the record header.
export const BPF_RB_NO_WAKEUP = 1 << 0;
export const BPF_RB_FORCE_WAKEUP = 1 << 1;
export const BPF_RB_AVAIL_DATA = 0;
export const BPF_RB_RING_SIZE = 1;
export const BPF_RB_CONS_POS = 2;
export const BPF_RB_PROD_POS = 3;
/** Bit 31 of a record's length word: the producer has not committed it yet. */
export const BPF_RINGBUF_BUSY_BIT = 0x80000000;
/** Bit 30: the producer discarded the record; skip it. */
export const BPF_RINGBUF_DISCARD_BIT = 0x40000000;
export const BPF_RINGBUF_HDR_SZ = 8;

// Sizes
export const BPF_OBJ_NAME_LEN = 16;
export const BPF_TAG_SIZE = 8;
export const BPF_BUILD_ID_SIZE = 20;
export const BPF_MAXINSNS = 4096;

// ---------------------------------------------------------------------------------------
// Instruction encoding (bpf_common.h + bpf.h). struct bpf_insn is 8 bytes:
// u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm.

// classes
export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ST = 0x02;
export const BPF_STX = 0x03;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_JMP32 = 0x06;
export const BPF_ALU64 = 0x07;
/** Classic BPF names for classes 6 and 7 (eBPF reuses the values as JMP32/ALU64). */
export const BPF_RET = 0x06;
export const BPF_MISC = 0x07;

// sizes
export const BPF_W = 0x00;
export const BPF_H = 0x08;
export const BPF_B = 0x10;
export const BPF_DW = 0x18;

// modes
export const BPF_IMM = 0x00;
export const BPF_ABS = 0x20;
export const BPF_IND = 0x40;
export const BPF_MEM = 0x60;
export const BPF_LEN = 0x80;
export const BPF_MSH = 0xa0;
/** Sign-extending load (6.6+). */
export const BPF_MEMSX = 0x80;
export const BPF_ATOMIC = 0xc0;
export const BPF_XADD = 0xc0;

// ALU ops
export const BPF_ADD = 0x00;
export const BPF_SUB = 0x10;
export const BPF_MUL = 0x20;
export const BPF_DIV = 0x30;
export const BPF_OR = 0x40;
export const BPF_AND = 0x50;
export const BPF_LSH = 0x60;
export const BPF_RSH = 0x70;
export const BPF_NEG = 0x80;
export const BPF_MOD = 0x90;
export const BPF_XOR = 0xa0;
export const BPF_MOV = 0xb0;
export const BPF_ARSH = 0xc0;
export const BPF_END = 0xd0;
export const BPF_TO_LE = 0x00;
export const BPF_TO_BE = 0x08;
export const BPF_FROM_LE = BPF_TO_LE;
export const BPF_FROM_BE = BPF_TO_BE;

// JMP ops
export const BPF_JA = 0x00;
export const BPF_JEQ = 0x10;
export const BPF_JGT = 0x20;
export const BPF_JGE = 0x30;
export const BPF_JSET = 0x40;
export const BPF_JNE = 0x50;
export const BPF_JSGT = 0x60;
export const BPF_JSGE = 0x70;
export const BPF_CALL = 0x80;
export const BPF_EXIT = 0x90;
export const BPF_JLT = 0xa0;
export const BPF_JLE = 0xb0;
export const BPF_JSLT = 0xc0;
export const BPF_JSLE = 0xd0;
/** Conditional pseudo jump (6.9+); BPF_MAY_GOTO is its only form. */
export const BPF_JCOND = 0xe0;
export const BPF_MAY_GOTO = 0;

// source operand
export const BPF_K = 0x00;
export const BPF_X = 0x08;

// atomic op types (in the immediate of BPF_STX | BPF_ATOMIC)
export const BPF_FETCH = 0x01;
export const BPF_XCHG = 0xe0 | BPF_FETCH;
export const BPF_CMPXCHG = 0xf0 | BPF_FETCH;

// field extractors, as the C macros
export const BPF_CLASS = (code: number): number => code & 0x07;
export const BPF_SIZE = (code: number): number => code & 0x18;
export const BPF_MODE = (code: number): number => code & 0xe0;
export const BPF_OP = (code: number): number => code & 0xf0;
export const BPF_SRC = (code: number): number => code & 0x08;

// registers
export const BPF_REG_0 = 0;
export const BPF_REG_1 = 1;
export const BPF_REG_2 = 2;
export const BPF_REG_3 = 3;
export const BPF_REG_4 = 4;
export const BPF_REG_5 = 5;
export const BPF_REG_6 = 6;
export const BPF_REG_7 = 7;
export const BPF_REG_8 = 8;
export const BPF_REG_9 = 9;
export const BPF_REG_10 = 10;
export const MAX_BPF_REG = 11;

// ld_imm64 src_reg values and call src_reg values
export const BPF_PSEUDO_MAP_FD = 1;
export const BPF_PSEUDO_MAP_VALUE = 2;
export const BPF_PSEUDO_BTF_ID = 3;
export const BPF_PSEUDO_FUNC = 4;
export const BPF_PSEUDO_MAP_IDX = 5;
export const BPF_PSEUDO_MAP_IDX_VALUE = 6;
export const BPF_PSEUDO_CALL = 1;
export const BPF_PSEUDO_KFUNC_CALL = 2;

// ---------------------------------------------------------------------------------------
// perf_event.h

// enum perf_type_id
export const PERF_TYPE_HARDWARE = 0;
export const PERF_TYPE_SOFTWARE = 1;
export const PERF_TYPE_TRACEPOINT = 2;
export const PERF_TYPE_HW_CACHE = 3;
export const PERF_TYPE_RAW = 4;
export const PERF_TYPE_BREAKPOINT = 5;

// enum perf_hw_id (config for PERF_TYPE_HARDWARE); bigint because config is a u64
export const PERF_COUNT_HW_CPU_CYCLES = 0n;
export const PERF_COUNT_HW_INSTRUCTIONS = 1n;
export const PERF_COUNT_HW_CACHE_REFERENCES = 2n;
export const PERF_COUNT_HW_CACHE_MISSES = 3n;
export const PERF_COUNT_HW_BRANCH_INSTRUCTIONS = 4n;
export const PERF_COUNT_HW_BRANCH_MISSES = 5n;
export const PERF_COUNT_HW_BUS_CYCLES = 6n;
export const PERF_COUNT_HW_STALLED_CYCLES_FRONTEND = 7n;
export const PERF_COUNT_HW_STALLED_CYCLES_BACKEND = 8n;
export const PERF_COUNT_HW_REF_CPU_CYCLES = 9n;

// enum perf_sw_ids (config for PERF_TYPE_SOFTWARE)
export const PERF_COUNT_SW_CPU_CLOCK = 0n;
export const PERF_COUNT_SW_TASK_CLOCK = 1n;
export const PERF_COUNT_SW_PAGE_FAULTS = 2n;
export const PERF_COUNT_SW_CONTEXT_SWITCHES = 3n;
export const PERF_COUNT_SW_CPU_MIGRATIONS = 4n;
export const PERF_COUNT_SW_PAGE_FAULTS_MIN = 5n;
export const PERF_COUNT_SW_PAGE_FAULTS_MAJ = 6n;
export const PERF_COUNT_SW_ALIGNMENT_FAULTS = 7n;
export const PERF_COUNT_SW_EMULATION_FAULTS = 8n;
export const PERF_COUNT_SW_DUMMY = 9n;
export const PERF_COUNT_SW_BPF_OUTPUT = 10n;
export const PERF_COUNT_SW_CGROUP_SWITCHES = 11n;

// enum perf_event_sample_format (sample_type, u64)
export const PERF_SAMPLE_IP = 1n << 0n;
export const PERF_SAMPLE_TID = 1n << 1n;
export const PERF_SAMPLE_TIME = 1n << 2n;
export const PERF_SAMPLE_ADDR = 1n << 3n;
export const PERF_SAMPLE_READ = 1n << 4n;
export const PERF_SAMPLE_CALLCHAIN = 1n << 5n;
export const PERF_SAMPLE_ID = 1n << 6n;
export const PERF_SAMPLE_CPU = 1n << 7n;
export const PERF_SAMPLE_PERIOD = 1n << 8n;
export const PERF_SAMPLE_STREAM_ID = 1n << 9n;
export const PERF_SAMPLE_RAW = 1n << 10n;

/**
 * Bits of perf_event_attr's bitfield word (the u64 after read_format), as masks for
 * PerfEventAttr.flags. Bit order is the C declaration order (little-endian bitfields).
 */
export const PERF_ATTR_FLAG_DISABLED = 1n << 0n;
export const PERF_ATTR_FLAG_INHERIT = 1n << 1n;
export const PERF_ATTR_FLAG_PINNED = 1n << 2n;
export const PERF_ATTR_FLAG_EXCLUSIVE = 1n << 3n;
export const PERF_ATTR_FLAG_EXCLUDE_USER = 1n << 4n;
export const PERF_ATTR_FLAG_EXCLUDE_KERNEL = 1n << 5n;
export const PERF_ATTR_FLAG_EXCLUDE_HV = 1n << 6n;
export const PERF_ATTR_FLAG_EXCLUDE_IDLE = 1n << 7n;
export const PERF_ATTR_FLAG_MMAP = 1n << 8n;
export const PERF_ATTR_FLAG_COMM = 1n << 9n;
export const PERF_ATTR_FLAG_FREQ = 1n << 10n;
export const PERF_ATTR_FLAG_INHERIT_STAT = 1n << 11n;
export const PERF_ATTR_FLAG_ENABLE_ON_EXEC = 1n << 12n;
export const PERF_ATTR_FLAG_TASK = 1n << 13n;
/** wakeup_watermark (bytes) is used instead of wakeup_events. */
export const PERF_ATTR_FLAG_WATERMARK = 1n << 14n;
/** precise_ip is a 2-bit field; this is its mask (value << 15n to set a level). */
export const PERF_ATTR_FLAG_PRECISE_IP_MASK = 3n << 15n;
export const PERF_ATTR_FLAG_MMAP_DATA = 1n << 17n;
export const PERF_ATTR_FLAG_SAMPLE_ID_ALL = 1n << 18n;
export const PERF_ATTR_FLAG_EXCLUDE_HOST = 1n << 19n;
export const PERF_ATTR_FLAG_EXCLUDE_GUEST = 1n << 20n;
export const PERF_ATTR_FLAG_EXCLUDE_CALLCHAIN_KERNEL = 1n << 21n;
export const PERF_ATTR_FLAG_EXCLUDE_CALLCHAIN_USER = 1n << 22n;
export const PERF_ATTR_FLAG_MMAP2 = 1n << 23n;
export const PERF_ATTR_FLAG_COMM_EXEC = 1n << 24n;
export const PERF_ATTR_FLAG_USE_CLOCKID = 1n << 25n;
export const PERF_ATTR_FLAG_CONTEXT_SWITCH = 1n << 26n;
export const PERF_ATTR_FLAG_WRITE_BACKWARD = 1n << 27n;
export const PERF_ATTR_FLAG_NAMESPACES = 1n << 28n;
export const PERF_ATTR_FLAG_KSYMBOL = 1n << 29n;
export const PERF_ATTR_FLAG_BPF_EVENT = 1n << 30n;
export const PERF_ATTR_FLAG_AUX_OUTPUT = 1n << 31n;
export const PERF_ATTR_FLAG_CGROUP = 1n << 32n;
export const PERF_ATTR_FLAG_TEXT_POKE = 1n << 33n;
export const PERF_ATTR_FLAG_BUILD_ID = 1n << 34n;
export const PERF_ATTR_FLAG_INHERIT_THREAD = 1n << 35n;
export const PERF_ATTR_FLAG_REMOVE_ON_EXEC = 1n << 36n;
export const PERF_ATTR_FLAG_SIGTRAP = 1n << 37n;

// sizeof(struct perf_event_attr) by ABI revision
export const PERF_ATTR_SIZE_VER0 = 64;
export const PERF_ATTR_SIZE_VER1 = 72;
export const PERF_ATTR_SIZE_VER2 = 80;
export const PERF_ATTR_SIZE_VER3 = 96;
export const PERF_ATTR_SIZE_VER4 = 104;
export const PERF_ATTR_SIZE_VER5 = 112;
export const PERF_ATTR_SIZE_VER6 = 120;
export const PERF_ATTR_SIZE_VER7 = 128;
export const PERF_ATTR_SIZE_VER8 = 136;

// perf_event_open flags
export const PERF_FLAG_FD_NO_GROUP = 1 << 0;
export const PERF_FLAG_FD_OUTPUT = 1 << 1;
export const PERF_FLAG_PID_CGROUP = 1 << 2;
export const PERF_FLAG_FD_CLOEXEC = 1 << 3;

// enum perf_event_type (perf ring buffer record types)
export const PERF_RECORD_MMAP = 1;
export const PERF_RECORD_LOST = 2;
export const PERF_RECORD_COMM = 3;
export const PERF_RECORD_EXIT = 4;
export const PERF_RECORD_THROTTLE = 5;
export const PERF_RECORD_UNTHROTTLE = 6;
export const PERF_RECORD_FORK = 7;
export const PERF_RECORD_READ = 8;
export const PERF_RECORD_SAMPLE = 9;
export const PERF_RECORD_LOST_SAMPLES = 13;

/**
 * Offsets in struct perf_event_mmap_page (the first page of a perf ring buffer mapping);
 * the names are the C field names.
 */
export const PERF_MMAP_PAGE_DATA_HEAD = 1024;
export const PERF_MMAP_PAGE_DATA_TAIL = 1032;
export const PERF_MMAP_PAGE_DATA_OFFSET = 1040;
export const PERF_MMAP_PAGE_DATA_SIZE = 1048;

// ---------------------------------------------------------------------------------------
// ioctl request encoding (asm-generic/ioctl.h, used by x86_64 and aarch64)

const _IOC_NRSHIFT = 0;
const _IOC_TYPESHIFT = 8;
const _IOC_SIZESHIFT = 16;
const _IOC_DIRSHIFT = 30;
export const _IOC_NONE = 0;
export const _IOC_WRITE = 1;
export const _IOC_READ = 2;

/** `type` is the one-character ioctl magic ('$' for perf). The result is unsigned. */
export function _IOC(dir: number, type: string, nr: number, size: number): number {
  const code =
    (dir << _IOC_DIRSHIFT) |
    (size << _IOC_SIZESHIFT) |
    (type.charCodeAt(0) << _IOC_TYPESHIFT) |
    (nr << _IOC_NRSHIFT);
  return code >>> 0;
}
export const _IO = (type: string, nr: number): number => _IOC(_IOC_NONE, type, nr, 0);
export const _IOR = (type: string, nr: number, size: number): number => _IOC(_IOC_READ, type, nr, size);
export const _IOW = (type: string, nr: number, size: number): number => _IOC(_IOC_WRITE, type, nr, size);
export const _IOWR = (type: string, nr: number, size: number): number =>
  _IOC(_IOC_READ | _IOC_WRITE, type, nr, size);

export const PERF_EVENT_IOC_ENABLE = _IO('$', 0);
export const PERF_EVENT_IOC_DISABLE = _IO('$', 1);
export const PERF_EVENT_IOC_REFRESH = _IO('$', 2);
export const PERF_EVENT_IOC_RESET = _IO('$', 3);
export const PERF_EVENT_IOC_PERIOD = _IOW('$', 4, 8); // __u64
export const PERF_EVENT_IOC_SET_OUTPUT = _IO('$', 5);
export const PERF_EVENT_IOC_SET_FILTER = _IOW('$', 6, 8); // char *
export const PERF_EVENT_IOC_ID = _IOR('$', 7, 8); // __u64 *
export const PERF_EVENT_IOC_SET_BPF = _IOW('$', 8, 4); // __u32
export const PERF_EVENT_IOC_PAUSE_OUTPUT = _IOW('$', 9, 4); // __u32
export const PERF_EVENT_IOC_QUERY_BPF = _IOWR('$', 10, 8); // struct perf_event_query_bpf *
export const PERF_EVENT_IOC_MODIFY_ATTRIBUTES = _IOW('$', 11, 8); // struct perf_event_attr *

// ---------------------------------------------------------------------------------------
// mman.h (same values on x86_64 and aarch64)

export const PROT_NONE = 0x0;
export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const PROT_EXEC = 0x4;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_FIXED = 0x10;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
export const MAP_POPULATE = 0x8000;

// ---------------------------------------------------------------------------------------
// epoll.h

export const EPOLLIN = 0x001;
export const EPOLLPRI = 0x002;
export const EPOLLOUT = 0x004;
export const EPOLLERR = 0x008;
export const EPOLLHUP = 0x010;
export const EPOLLRDNORM = 0x040;
export const EPOLLRDBAND = 0x080;
export const EPOLLWRNORM = 0x100;
export const EPOLLWRBAND = 0x200;
export const EPOLLMSG = 0x400;
export const EPOLLRDHUP = 0x2000;
export const EPOLLEXCLUSIVE = 1 << 28;
export const EPOLLWAKEUP = 1 << 29;
export const EPOLLONESHOT = 1 << 30;
/** 1u << 31, kept positive so it compares equal to the unsigned events word. */
export const EPOLLET = 0x80000000;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CTL_MOD = 3;
export const EPOLL_CLOEXEC = 0o2000000;

// ---------------------------------------------------------------------------------------
// mount(2) flags (linux/mount.h)

export const MS_RDONLY = 1;
export const MS_NOSUID = 2;
/** RLIMIT_MEMLOCK (asm-generic/resource.h; the same on x86 and arm64). */
export const RLIMIT_MEMLOCK = 8;
export const MS_NODEV = 4;
export const MS_NOEXEC = 8;
export const MS_RELATIME = 1 << 21;

// fcntl.h, for flags sys passes itself
export const O_CLOEXEC = 0o2000000;

/** enum bpf_func_id: the helpers tsbpf's feature probes call. */
export const BPF_FUNC_get_attach_cookie = 174;

// XDP attach flags (include/uapi/linux/if_link.h)
export const XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0;
export const XDP_FLAGS_SKB_MODE = 1 << 1;
export const XDP_FLAGS_DRV_MODE = 1 << 2;
export const XDP_FLAGS_HW_MODE = 1 << 3;
