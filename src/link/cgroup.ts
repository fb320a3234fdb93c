/**
 * cgroup programs (cgroup/connect4, cgroup_skb/ingress, sockops, cgroup/dev, sysctl...):
 * a BPF link on a cgroup v2 directory's fd, with the program's expected attach type.
 */
import { TsbpfError } from '../errors.js';
import { parseMounts } from '../loader/fs.js';
import { SysError } from '../sys/errors.js';
import { AttachError, guard, Link, type Ctx } from './link.js';

/** The cgroup2 mount point: where a cgroup program attaches by default. */
export function cgroup2Root(ctx: Ctx): string {
  const m = parseMounts(ctx.host.readFile('/proc/self/mounts')).find((e) => e.fstype === 'cgroup2');
  if (!m) throw new TsbpfError(`program ${ctx.program.name} (section ${ctx.program.spec.section}): no cgroup v2 hierarchy is mounted (mount -t cgroup2 none /sys/fs/cgroup)`);
  return m.target;
}

export function attachCgroup(ctx: Ctx): Link {
  const { sys, program, opts } = ctx;
  const spec = program.spec;
  if (!spec.expectedAttachType && spec.sectionPrefix === 'cgroup/skb') {
    throw new TsbpfError(`program ${program.name}: section cgroup/skb names no direction; use cgroup_skb/ingress or cgroup_skb/egress`);
  }
  const path = opts.cgroup ?? cgroup2Root(ctx);
  let cg: number;
  try {
    cg = sys.openPath(path);
  } catch (e) {
    if (e instanceof SysError) throw new TsbpfError(`program ${program.name} (section ${spec.section}): cannot open cgroup ${path}: ${e.code}`);
    throw e;
  }
  try {
    const fd = guard(ctx, `cgroup ${path}`, () => sys.linkCreate({ progFd: program.fd, targetFd: cg, attachType: spec.expectedAttachType }));
    return new Link(sys, fd, program, 'cgroup', path);
  } catch (e) {
    if (e instanceof AttachError && e.code === 'EBADF') {
      throw new TsbpfError(`program ${program.name} (section ${spec.section}): ${path} is not a cgroup v2 directory (cgroup2 is mounted at ${cgroup2Root(ctx)})`);
    }
    throw e;
  } finally {
    // The link holds the cgroup; the directory fd is not needed past creation.
    sys.close(cg);
  }
}
