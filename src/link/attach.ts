/**
 * Attach loaded programs by their section name, as libbpf's bpf_program__attach does:
 *
 *   tp/ tracepoint/      perf_event_open(PERF_TYPE_TRACEPOINT, tracefs id) + BPF link
 *   raw_tp/ raw_tracepoint/   BPF_RAW_TRACEPOINT_OPEN(name)
 *   tp_btf/ fentry/ fexit/ fmod_ret/ lsm/   BPF_RAW_TRACEPOINT_OPEN(NULL): the kernel
 *                        knows the target from the program's attach_btf_id
 *   iter/                BPF_LINK_CREATE(BPF_TRACE_ITER); readIterator() reads it
 *   uprobe/ uretprobe/   perf_event_open(uprobe PMU, path, file offset) + BPF link
 *   kprobe/ kretprobe/ ksyscall/ kretsyscall/   the kprobe PMU, the same way
 *   usdt/                a uprobe per USDT probe location, specs in __bpf_usdt_specs
 *   perf_event           a sampling perf event on every online CPU
 *   xdp, tc/, tcx/       a BPF link on an interface (tc: a clsact filter before 6.6)
 *   cgroup/, sockops     a BPF link on a cgroup v2 directory
 *   flow_dissector, sk_lookup   a BPF link on a network namespace
 *
 * Perf-event attachments use BPF_LINK_CREATE(BPF_PERF_EVENT) (Linux 5.15+) and fall back
 * to ioctl(PERF_EVENT_IOC_SET_BPF) on older kernels. Every attachment lives as long as
 * its Link: Link.close() detaches it, and the process's end closes its fds.
 */
import { TsbpfError } from '../errors.js';
import type { Collection, Program } from '../loader/index.js';
import { defaultSys } from '../sys/index.js';
import { realHost } from '../loader/fs.js';
import { closeAll, guard, Link, LinkSet, noTarget, type AttachOptions, type Ctx, type LinkKind } from './link.js';
import { attachCgroup } from './cgroup.js';
import { attachIter } from './iter.js';
import { attachNetns, attachTc, attachXdp, TC_SECTIONS, XDP_SECTIONS } from './net.js';
import { attachKprobe, attachKprobeMulti } from './kprobe.js';
import { attachUsdt } from './usdt.js';
import { attachPerfSampling, attachTracepoint, attachUprobe } from './perf-event.js';

/** Sections of programs that attach to a cgroup. */
const CGROUP_PREFIXES = /^(cgroup\/|cgroup_skb\/|sockops$)/;

/** Attaches every program of `collection`; when one fails, the ones already attached are detached. */
export function attachAll(
  collection: Collection,
  opts: Omit<AttachOptions, 'target'> = {},
  /** Options of one program over `opts` (a package's interface for its xdp program...). */
  perProgram?: (program: Program) => Partial<AttachOptions>,
): LinkSet {
  const links = new Map<string, Link>();
  try {
    for (const [name, prog] of collection.programs) links.set(name, attach(prog, { collection, ...opts, ...perProgram?.(prog) }));
  } catch (e) {
    try {
      closeAll([...links.values()].reverse());
    } catch {
      // The attach error is the one worth reporting.
    }
    throw e;
  }
  return new LinkSet(links);
}

/** Attaches `program` where its section (or `opts.target`) says. */
export function attach(program: Program, opts: AttachOptions = {}): Link {
  try {
    return attachBySection(program, opts);
  } catch (e) {
    // Every attach failure names the program and its section, whichever layer found it.
    if (e instanceof TsbpfError && !e.message.includes(`program ${program.name}`)) {
      e.message = `cannot attach program ${program.name} (section ${program.spec.section}): ${e.message}`;
    }
    throw e;
  }
}

function attachBySection(program: Program, opts: AttachOptions): Link {
  const sys = opts.sys ?? defaultSys();
  const host = opts.host ?? realHost;
  const spec = program.spec;
  const prefix = spec.sectionPrefix;
  const target = opts.target ?? spec.attachTarget;
  const ctx: Ctx = { sys, host, program, target, opts };

  switch (prefix) {
    case 'tp':
    case 'tracepoint':
      return attachTracepoint(ctx);
    case 'raw_tp':
    case 'raw_tracepoint':
    case 'raw_tp.w':
    case 'raw_tracepoint.w': {
      if (!target) throw noTarget(program, 'a raw tracepoint name, such as sys_enter');
      const fd = guard(ctx, `raw tracepoint ${target}`, () => sys.rawTracepointOpen(target, program.fd));
      return new Link(sys, fd, program, 'raw_tracepoint', target);
    }
    case 'tp_btf':
    case 'fentry':
    case 'fentry.s':
    case 'fexit':
    case 'fexit.s':
    case 'fmod_ret':
    case 'fmod_ret.s':
    case 'lsm':
    case 'lsm.s': {
      // The target was fixed at load time (attach_btf_id); a different one needs a reload.
      if (opts.target !== undefined && opts.target !== spec.attachTarget) {
        throw new TsbpfError(
          `program ${program.name}: a ${prefix} program attaches where it was loaded for (${spec.attachTarget}); to attach to ${opts.target}, change the section and load it again`,
        );
      }
      const kind: LinkKind = prefix === 'tp_btf' ? 'tp_btf' : prefix.startsWith('lsm') ? 'lsm' : 'tracing';
      const fd = guard(ctx, `${prefix} ${spec.attachTarget}`, () => sys.rawTracepointOpen(null, program.fd));
      return new Link(sys, fd, program, kind, spec.attachTarget);
    }
    case 'iter':
    case 'iter.s':
      return attachIter(ctx);
    case 'flow_dissector':
    case 'sk_lookup':
      return attachNetns(ctx);
    case 'perf_event':
      return attachPerfSampling(ctx);
    case 'uprobe':
    case 'uprobe.s':
    case 'uretprobe':
    case 'uretprobe.s':
      return attachUprobe(ctx, prefix.startsWith('uretprobe'), opts.pid);
    case 'usdt':
      return attachUsdt(ctx, opts.collection);
    case 'kprobe':
    case 'kretprobe':
    case 'ksyscall':
    case 'kretsyscall':
      return attachKprobe(ctx, prefix === 'kretprobe' || prefix === 'kretsyscall', prefix.endsWith('syscall'));
    case 'kprobe.multi':
    case 'kretprobe.multi':
      return attachKprobeMulti(ctx, prefix === 'kretprobe.multi');
    default:
      if (XDP_SECTIONS.has(prefix)) return attachXdp(ctx);
      if (TC_SECTIONS.has(prefix)) return attachTc(ctx);
      if (CGROUP_PREFIXES.test(prefix)) return attachCgroup(ctx);
      throw new TsbpfError(`cannot attach program ${program.name}: section ${spec.section} (${prefix}) is not supported by tsbpf attach yet`);
  }
}

