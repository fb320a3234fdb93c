/**
 * Network attachments: xdp (a BPF_XDP link on an interface) and tc (a tcx link on Linux
 * 6.6+, else a clsact qdisc and a bpf filter over rtnetlink). Both take the interface from AttachOptions.interface, by name or index.
 */
import { TsbpfError } from '../errors.js';
import { BPF_TCX_EGRESS, BPF_TCX_INGRESS, BPF_XDP, XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE } from '../sys/constants.js';
import { EBUSY, EEXIST, EINVAL, ENOENT, SysError } from '../sys/errors.js';
import { AttachError, guard, Link, type Ctx } from './link.js';
import { addBpfFilter, clsactQdisc, delBpfFilter, RTM_DELQDISC, RTM_NEWQDISC, type BpfFilter } from '../sys/netlink.js';

const NETLINK_ROUTE = 0;

/** Sections whose programs attach to a network interface: xdp's, then tc's. */
export const XDP_SECTIONS: ReadonlySet<string> = new Set(['xdp', 'xdp.frags']);
export const TC_SECTIONS: ReadonlySet<string> = new Set(['tc', 'tc/ingress', 'tc/egress', 'tcx/ingress', 'tcx/egress', 'classifier']);

/** Whether programs of this section prefix attach to a network interface (need AttachOptions.interface). */
export function attachesToInterface(sectionPrefix: string): boolean {
  return XDP_SECTIONS.has(sectionPrefix) || TC_SECTIONS.has(sectionPrefix);
}

/** The interface's name and index, from a name ("eth0") or an index. */
export function resolveInterface(ctx: Ctx): { name: string; index: number } {
  const { host, program, opts } = ctx;
  const given = opts.interface;
  if (given === undefined) {
    throw new TsbpfError(`program ${program.name} (section ${program.spec.section}) attaches to a network interface; pass { interface } (tsbpf run: --interface NAME)`);
  }
  if (typeof given === 'number') {
    // /sys/class/net lists names; find the one with this index (for messages).
    return { name: `ifindex ${given}`, index: given };
  }
  if (!/^[^/\s]{1,15}$/.test(given)) throw new TsbpfError(`program ${program.name}: "${given}" is not a network interface name`);
  const path = `/sys/class/net/${given}/ifindex`;
  if (!host.exists(path)) throw new TsbpfError(`program ${program.name} (section ${program.spec.section}): no network interface ${given} in this network namespace (see ip link)`);
  return { name: given, index: Number(host.readFile(path).trim()) };
}

/** A Link's target: "lo (ifindex 1, ingress)", or "ifindex 1 (ingress)" when given by index. */
function onInterface(dev: { name: string; index: number }, rest: string): string {
  return dev.name === `ifindex ${dev.index}` ? `${dev.name} (${rest})` : `${dev.name} (ifindex ${dev.index}, ${rest})`;
}

export function attachXdp(ctx: Ctx): Link {
  const { sys, program, opts } = ctx;
  const dev = resolveInterface(ctx);
  const mode = opts.xdpMode === 'generic' ? XDP_FLAGS_SKB_MODE : opts.xdpMode === 'driver' ? XDP_FLAGS_DRV_MODE : 0;
  const flags = mode | (opts.xdpFlags ?? 0);
  const modeName = flags & XDP_FLAGS_SKB_MODE ? 'generic' : flags & XDP_FLAGS_DRV_MODE ? 'driver' : 'driver or generic';
  const what = `xdp on ${dev.name} (${modeName})`;
  let fd: number;
  try {
    fd = sys.linkCreate({ progFd: program.fd, targetFd: dev.index, attachType: BPF_XDP, flags });
  } catch (e) {
    if (!(e instanceof SysError)) throw e;
    const hint =
      e.errno === EBUSY || e.errno === EEXIST
        ? `another XDP program is attached to ${dev.name} (ip link show ${dev.name}); detach it first`
        : e.errno === EINVAL && flags & XDP_FLAGS_DRV_MODE
          ? `the driver of ${dev.name} may not support native XDP; try --xdp-mode generic`
          : undefined;
    throw new AttachError(program.name, program.spec.section, what, e, hint);
  }
  return new Link(sys, fd, program, 'xdp', onInterface(dev, modeName));
}

export function attachTc(ctx: Ctx): Link {
  const { sys, program, opts } = ctx;
  const prefix = program.spec.sectionPrefix;
  const point = prefix.endsWith('/egress') ? 'egress' : prefix.endsWith('/ingress') ? 'ingress' : (opts.tc?.attachPoint ?? 'ingress');
  const dev = resolveInterface(ctx);
  const what = `tc ${point} of ${dev.name}`;
  if (opts.tc?.mode !== 'netlink') {
    try {
      const fd = sys.linkCreate({ progFd: program.fd, targetFd: dev.index, attachType: point === 'egress' ? BPF_TCX_EGRESS : BPF_TCX_INGRESS, tcx: {} });
      return new Link(sys, fd, program, 'tcx', onInterface(dev, point));
    } catch (e) {
      if (!(e instanceof SysError)) throw e;
      // Kernels before 6.6 have no tcx links (EINVAL): a clsact filter does the same.
      if (e.errno !== EINVAL || opts.tc?.mode === 'tcx') throw new AttachError(program.name, program.spec.section, what, e);
    }
  }
  return attachTcNetlink(ctx, dev, point);
}

/**
 * The clsact path: add a clsact qdisc unless the interface has one, then a direct-action
 * bpf filter; the Link removes the filter and the qdisc tsbpf added.
 */
function attachTcNetlink(ctx: Ctx, dev: { name: string; index: number }, point: 'ingress' | 'egress'): Link {
  const { sys, program, opts } = ctx;
  const filter: BpfFilter = { ifindex: dev.index, point, handle: opts.tc?.handle ?? 1, priority: opts.tc?.priority ?? 1 };
  const what = `tc ${point} of ${dev.name} (clsact filter handle ${filter.handle}, priority ${filter.priority})`;
  const nl = guard(ctx, 'rtnetlink', () => sys.netlinkOpen(NETLINK_ROUTE));
  let addedQdisc = false;
  // Which request failed decides the hint: ENOENT means the kernel lacks that tc piece.
  let step: 'qdisc' | 'filter' = 'qdisc';
  try {
    try {
      sys.netlinkRequest(nl, clsactQdisc(RTM_NEWQDISC, dev.index));
      addedQdisc = true;
    } catch (e) {
      // EEXIST: the interface has a clsact qdisc already, which stays when we are done.
      if (!(e instanceof SysError) || e.errno !== EEXIST) throw e;
    }
    step = 'filter';
    try {
      sys.netlinkRequest(nl, addBpfFilter(filter, program.fd, `${program.name}:[tsbpf]`));
    } catch (e) {
      if (addedQdisc) sys.netlinkRequest(nl, clsactQdisc(RTM_DELQDISC, dev.index));
      throw e;
    }
  } catch (e) {
    sys.close(nl);
    if (e instanceof SysError) {
      const hint =
        e.errno === EEXIST
          ? `${dev.name} has a filter with handle ${filter.handle} and priority ${filter.priority} already (tc filter show dev ${dev.name} ${point}); choose others with @tcopts`
          : e.errno === ENOENT
            ? step === 'qdisc'
              ? 'the kernel has no clsact qdisc (modprobe sch_ingress)'
              : 'the kernel has no bpf tc classifier (modprobe cls_bpf)'
            : undefined;
      throw new AttachError(program.name, program.spec.section, what, e, hint);
    }
    throw e;
  }
  const detach = () => {
    try {
      sys.netlinkRequest(nl, delBpfFilter(filter));
      if (addedQdisc) sys.netlinkRequest(nl, clsactQdisc(RTM_DELQDISC, dev.index));
    } finally {
      sys.close(nl);
    }
  };
  return new Link(sys, -1, program, 'tc', onInterface(dev, `${point}, clsact filter ${filter.handle}:${filter.priority}`), { bpfLink: false, detach });
}

/** flow_dissector and sk_lookup programs: a BPF link on a network namespace. */
export function attachNetns(ctx: Ctx): Link {
  const { sys, program, opts } = ctx;
  const path = opts.netns ?? '/proc/self/ns/net';
  let ns: number;
  try {
    ns = sys.openPath(path);
  } catch (e) {
    if (e instanceof SysError) throw new TsbpfError(`program ${program.name} (section ${program.spec.section}): cannot open network namespace ${path}: ${e.code}`);
    throw e;
  }
  try {
    const fd = guard(ctx, `network namespace ${path}`, () => sys.linkCreate({ progFd: program.fd, targetFd: ns, attachType: program.spec.expectedAttachType }));
    return new Link(sys, fd, program, 'netns', path);
  } finally {
    // The link holds the namespace.
    sys.close(ns);
  }
}
