/**
 * Network attachments: xdp (a BPF_XDP link on an interface) and tc (a tcx link, Linux
 * 6.6+). Both take the interface from AttachOptions.interface, by name or index.
 */
import { TsbpfError, NotSupportedError } from '../errors.js';
import { BPF_TCX_EGRESS, BPF_TCX_INGRESS, BPF_XDP, XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE } from '../sys/constants.js';
import { EBUSY, EEXIST, EINVAL, SysError } from '../sys/errors.js';
import { AttachError, Link, type Ctx } from './link.js';

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
  return new Link(sys, fd, program, 'xdp', `${dev.name} (ifindex ${dev.index}, ${modeName})`);
}

export function attachTc(ctx: Ctx): Link {
  const { sys, program, opts } = ctx;
  const prefix = program.spec.sectionPrefix;
  const point = prefix.endsWith('/egress') ? 'egress' : prefix.endsWith('/ingress') ? 'ingress' : (opts.tc?.attachPoint ?? 'ingress');
  const dev = resolveInterface(ctx);
  const what = `tc ${point} of ${dev.name}`;
  let fd: number;
  try {
    fd = sys.linkCreate({ progFd: program.fd, targetFd: dev.index, attachType: point === 'egress' ? BPF_TCX_EGRESS : BPF_TCX_INGRESS, tcx: {} });
  } catch (e) {
    if (!(e instanceof SysError)) throw e;
    if (e.errno === EINVAL) {
      // Kernels before 6.6 have no tcx links; they take tc programs as clsact filters
      // over netlink, which tsbpf does not do yet.
      throw new NotSupportedError(
        `program ${program.name} (section ${program.spec.section}): tcx links`,
        `Linux 6.6+; this kernel needs a clsact qdisc and a bpf filter over netlink, not yet done by tsbpf: tc qdisc add dev ${dev.name} clsact; tc filter add dev ${dev.name} ${point} bpf da obj OBJECT sec ${program.spec.section}`,
      );
    }
    throw new AttachError(program.name, program.spec.section, what, e);
  }
  return new Link(sys, fd, program, 'tcx', `${dev.name} (ifindex ${dev.index}, ${point})`);
}
