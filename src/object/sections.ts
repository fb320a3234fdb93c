/**
 * Program section names -> program type and expected attach type, following libbpf's
 * conventions so objects written for libbpf load unchanged.
 */
import * as C from '../sys/constants.js';
import { ParseError } from '../errors.js';

export interface SectionDef {
  /** "tp" matches "tp" and "tp/..."; exact names match only themselves. */
  prefix: string;
  progType: number;
  attachType: number;
  /** Whether the text after "prefix/" names the attach target. */
  hasTarget: boolean;
  sleepable?: boolean;
  xdpFrags?: boolean;
}

const D = (prefix: string, progType: number, attachType = 0, extra: Partial<SectionDef> = {}): SectionDef => ({
  prefix, progType, attachType, hasTarget: false, ...extra,
});
const T = (prefix: string, progType: number, attachType = 0, extra: Partial<SectionDef> = {}): SectionDef =>
  D(prefix, progType, attachType, { hasTarget: true, ...extra });

/** Longer prefixes first where one is a prefix of another. */
export const SECTION_DEFS: readonly SectionDef[] = [
  D('socket', C.BPF_PROG_TYPE_SOCKET_FILTER),
  D('sk_reuseport/migrate', C.BPF_PROG_TYPE_SK_REUSEPORT, C.BPF_SK_REUSEPORT_SELECT_OR_MIGRATE),
  D('sk_reuseport', C.BPF_PROG_TYPE_SK_REUSEPORT, C.BPF_SK_REUSEPORT_SELECT),
  T('kprobe', C.BPF_PROG_TYPE_KPROBE),
  T('kretprobe', C.BPF_PROG_TYPE_KPROBE),
  T('uprobe', C.BPF_PROG_TYPE_KPROBE),
  T('uprobe.s', C.BPF_PROG_TYPE_KPROBE, 0, { sleepable: true }),
  T('uretprobe', C.BPF_PROG_TYPE_KPROBE),
  T('uretprobe.s', C.BPF_PROG_TYPE_KPROBE, 0, { sleepable: true }),
  T('kprobe.multi', C.BPF_PROG_TYPE_KPROBE, C.BPF_TRACE_KPROBE_MULTI),
  T('kretprobe.multi', C.BPF_PROG_TYPE_KPROBE, C.BPF_TRACE_KPROBE_MULTI),
  T('uprobe.multi', C.BPF_PROG_TYPE_KPROBE, C.BPF_TRACE_UPROBE_MULTI),
  T('uretprobe.multi', C.BPF_PROG_TYPE_KPROBE, C.BPF_TRACE_UPROBE_MULTI),
  T('ksyscall', C.BPF_PROG_TYPE_KPROBE),
  T('kretsyscall', C.BPF_PROG_TYPE_KPROBE),
  T('usdt', C.BPF_PROG_TYPE_KPROBE),
  D('tc/ingress', C.BPF_PROG_TYPE_SCHED_CLS, C.BPF_TCX_INGRESS),
  D('tc/egress', C.BPF_PROG_TYPE_SCHED_CLS, C.BPF_TCX_EGRESS),
  D('tcx/ingress', C.BPF_PROG_TYPE_SCHED_CLS, C.BPF_TCX_INGRESS),
  D('tcx/egress', C.BPF_PROG_TYPE_SCHED_CLS, C.BPF_TCX_EGRESS),
  D('tc', C.BPF_PROG_TYPE_SCHED_CLS),
  D('classifier', C.BPF_PROG_TYPE_SCHED_CLS),
  D('action', C.BPF_PROG_TYPE_SCHED_ACT),
  T('tracepoint', C.BPF_PROG_TYPE_TRACEPOINT),
  T('tp', C.BPF_PROG_TYPE_TRACEPOINT),
  T('raw_tracepoint', C.BPF_PROG_TYPE_RAW_TRACEPOINT),
  T('raw_tp', C.BPF_PROG_TYPE_RAW_TRACEPOINT),
  T('raw_tracepoint.w', C.BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE),
  T('raw_tp.w', C.BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE),
  T('tp_btf', C.BPF_PROG_TYPE_TRACING, C.BPF_TRACE_RAW_TP),
  T('fentry', C.BPF_PROG_TYPE_TRACING, C.BPF_TRACE_FENTRY),
  T('fmod_ret', C.BPF_PROG_TYPE_TRACING, C.BPF_MODIFY_RETURN),
  T('fexit', C.BPF_PROG_TYPE_TRACING, C.BPF_TRACE_FEXIT),
  T('fentry.s', C.BPF_PROG_TYPE_TRACING, C.BPF_TRACE_FENTRY, { sleepable: true }),
  T('fmod_ret.s', C.BPF_PROG_TYPE_TRACING, C.BPF_MODIFY_RETURN, { sleepable: true }),
  T('fexit.s', C.BPF_PROG_TYPE_TRACING, C.BPF_TRACE_FEXIT, { sleepable: true }),
  T('freplace', C.BPF_PROG_TYPE_EXT),
  T('lsm', C.BPF_PROG_TYPE_LSM, C.BPF_LSM_MAC),
  T('lsm.s', C.BPF_PROG_TYPE_LSM, C.BPF_LSM_MAC, { sleepable: true }),
  T('lsm_cgroup', C.BPF_PROG_TYPE_LSM, C.BPF_LSM_CGROUP),
  T('iter', C.BPF_PROG_TYPE_TRACING, C.BPF_TRACE_ITER),
  T('iter.s', C.BPF_PROG_TYPE_TRACING, C.BPF_TRACE_ITER, { sleepable: true }),
  D('syscall', C.BPF_PROG_TYPE_SYSCALL, 0, { sleepable: true }),
  D('xdp.frags/devmap', C.BPF_PROG_TYPE_XDP, C.BPF_XDP_DEVMAP, { xdpFrags: true }),
  D('xdp/devmap', C.BPF_PROG_TYPE_XDP, C.BPF_XDP_DEVMAP),
  D('xdp.frags/cpumap', C.BPF_PROG_TYPE_XDP, C.BPF_XDP_CPUMAP, { xdpFrags: true }),
  D('xdp/cpumap', C.BPF_PROG_TYPE_XDP, C.BPF_XDP_CPUMAP),
  D('xdp.frags', C.BPF_PROG_TYPE_XDP, C.BPF_XDP, { xdpFrags: true }),
  D('xdp', C.BPF_PROG_TYPE_XDP, C.BPF_XDP),
  D('perf_event', C.BPF_PROG_TYPE_PERF_EVENT),
  D('lwt_in', C.BPF_PROG_TYPE_LWT_IN),
  D('lwt_out', C.BPF_PROG_TYPE_LWT_OUT),
  D('lwt_xmit', C.BPF_PROG_TYPE_LWT_XMIT),
  D('lwt_seg6local', C.BPF_PROG_TYPE_LWT_SEG6LOCAL),
  D('sockops', C.BPF_PROG_TYPE_SOCK_OPS, C.BPF_CGROUP_SOCK_OPS),
  D('sk_skb/stream_parser', C.BPF_PROG_TYPE_SK_SKB, C.BPF_SK_SKB_STREAM_PARSER),
  D('sk_skb/stream_verdict', C.BPF_PROG_TYPE_SK_SKB, C.BPF_SK_SKB_STREAM_VERDICT),
  D('sk_skb/verdict', C.BPF_PROG_TYPE_SK_SKB, C.BPF_SK_SKB_VERDICT),
  D('sk_skb', C.BPF_PROG_TYPE_SK_SKB),
  D('sk_msg', C.BPF_PROG_TYPE_SK_MSG, C.BPF_SK_MSG_VERDICT),
  D('lirc_mode2', C.BPF_PROG_TYPE_LIRC_MODE2, C.BPF_LIRC_MODE2),
  D('flow_dissector', C.BPF_PROG_TYPE_FLOW_DISSECTOR, C.BPF_FLOW_DISSECTOR),
  D('cgroup_skb/ingress', C.BPF_PROG_TYPE_CGROUP_SKB, C.BPF_CGROUP_INET_INGRESS),
  D('cgroup_skb/egress', C.BPF_PROG_TYPE_CGROUP_SKB, C.BPF_CGROUP_INET_EGRESS),
  D('cgroup/skb', C.BPF_PROG_TYPE_CGROUP_SKB),
  D('cgroup/sock_create', C.BPF_PROG_TYPE_CGROUP_SOCK, C.BPF_CGROUP_INET_SOCK_CREATE),
  D('cgroup/sock_release', C.BPF_PROG_TYPE_CGROUP_SOCK, C.BPF_CGROUP_INET_SOCK_RELEASE),
  D('cgroup/sock', C.BPF_PROG_TYPE_CGROUP_SOCK, C.BPF_CGROUP_INET_SOCK_CREATE),
  D('cgroup/post_bind4', C.BPF_PROG_TYPE_CGROUP_SOCK, C.BPF_CGROUP_INET4_POST_BIND),
  D('cgroup/post_bind6', C.BPF_PROG_TYPE_CGROUP_SOCK, C.BPF_CGROUP_INET6_POST_BIND),
  D('cgroup/bind4', C.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, C.BPF_CGROUP_INET4_BIND),
  D('cgroup/bind6', C.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, C.BPF_CGROUP_INET6_BIND),
  D('cgroup/connect4', C.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, C.BPF_CGROUP_INET4_CONNECT),
  D('cgroup/connect6', C.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, C.BPF_CGROUP_INET6_CONNECT),
  D('cgroup/sendmsg4', C.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, C.BPF_CGROUP_UDP4_SENDMSG),
  D('cgroup/sendmsg6', C.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, C.BPF_CGROUP_UDP6_SENDMSG),
  D('cgroup/recvmsg4', C.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, C.BPF_CGROUP_UDP4_RECVMSG),
  D('cgroup/recvmsg6', C.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, C.BPF_CGROUP_UDP6_RECVMSG),
  D('cgroup/getpeername4', C.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, C.BPF_CGROUP_INET4_GETPEERNAME),
  D('cgroup/getpeername6', C.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, C.BPF_CGROUP_INET6_GETPEERNAME),
  D('cgroup/getsockname4', C.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, C.BPF_CGROUP_INET4_GETSOCKNAME),
  D('cgroup/getsockname6', C.BPF_PROG_TYPE_CGROUP_SOCK_ADDR, C.BPF_CGROUP_INET6_GETSOCKNAME),
  D('cgroup/sysctl', C.BPF_PROG_TYPE_CGROUP_SYSCTL, C.BPF_CGROUP_SYSCTL),
  D('cgroup/getsockopt', C.BPF_PROG_TYPE_CGROUP_SOCKOPT, C.BPF_CGROUP_GETSOCKOPT),
  D('cgroup/setsockopt', C.BPF_PROG_TYPE_CGROUP_SOCKOPT, C.BPF_CGROUP_SETSOCKOPT),
  D('cgroup/dev', C.BPF_PROG_TYPE_CGROUP_DEVICE, C.BPF_CGROUP_DEVICE),
  T('struct_ops', C.BPF_PROG_TYPE_STRUCT_OPS),
  T('struct_ops.s', C.BPF_PROG_TYPE_STRUCT_OPS, 0, { sleepable: true }),
  D('sk_lookup', C.BPF_PROG_TYPE_SK_LOOKUP, C.BPF_SK_LOOKUP),
  D('netfilter', C.BPF_PROG_TYPE_NETFILTER, C.BPF_NETFILTER),
];

export interface SectionMatch {
  def: SectionDef;
  /** What follows "prefix/": the tracepoint, function or path:symbol to attach to. */
  target: string;
}

/** Matches a program section name; undefined when no convention fits. */
export function matchSection(section: string): SectionMatch | undefined {
  let best: SectionMatch | undefined;
  for (const def of SECTION_DEFS) {
    let target: string | undefined;
    if (section === def.prefix) target = '';
    else if (def.hasTarget && section.startsWith(def.prefix + '/')) target = section.slice(def.prefix.length + 1);
    if (target !== undefined && (!best || def.prefix.length > best.def.prefix.length)) best = { def, target };
  }
  return best;
}

export function sectionError(section: string, program: string): ParseError {
  const known = [...new Set(SECTION_DEFS.map((d) => (d.hasTarget ? `${d.prefix}/` : d.prefix)))];
  return new ParseError(
    'object',
    `program ${program} is in section "${section}", which names no known program type; use one of: ${known.join(', ')}`,
  );
}
