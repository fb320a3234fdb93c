/**
 * cgroup v2 paths and ids. A cgroup's id (what bpf_get_current_cgroup_id() returns) is
 * the inode number of its directory in the cgroup2 filesystem.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { TsbpfError } from '../../errors.js';

/** Where cgroup2 is mounted: /sys/fs/cgroup on unified hosts, /sys/fs/cgroup/unified on hybrid ones. */
export function cgroup2Mount(mounts = readFileSync('/proc/self/mounts', 'utf8')): string | undefined {
  for (const line of mounts.split('\n')) {
    const [, dir, type] = line.split(' ');
    if (type === 'cgroup2' && dir) return dir.replace(/\\040/g, ' ');
  }
  return undefined;
}

/** A user's --cgroup: an absolute directory, or a path relative to the cgroup2 mount. */
export function cgroupDir(path: string, mount = cgroup2Mount()): string {
  if (!mount) throw new TsbpfError('--cgroup: no cgroup2 filesystem is mounted (see /proc/self/mounts)');
  const dir = isAbsolute(path) ? path : join(mount, path);
  const rel = relative(mount, dir);
  if (rel === '..' || rel.startsWith('../') || isAbsolute(rel)) throw new TsbpfError(`--cgroup: ${path} is not under the cgroup2 mount ${mount}`);
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new TsbpfError(`--cgroup: ${dir} does not exist`);
  }
  if (!st.isDirectory()) throw new TsbpfError(`--cgroup: ${dir} is not a cgroup directory`);
  return dir;
}

/**
 * cgroup id -> path relative to the mount ("/" for the root, "/system.slice/x.service"),
 * from a walk of the hierarchy, redone when an id is unknown (at most once a second per
 * id, so the exits of a removed cgroup do not walk the tree each).
 */
export class CgroupPaths {
  private readonly paths = new Map<bigint, string>();
  private readonly missed = new Map<bigint, number>();

  constructor(private readonly mount = cgroup2Mount()) {}

  path(id: bigint): string | null {
    if (!this.mount) return null;
    const known = this.paths.get(id);
    if (known !== undefined) return known;
    const now = Date.now();
    if (now - (this.missed.get(id) ?? 0) < 1000) return null;
    this.scan(this.mount, 0);
    const found = this.paths.get(id);
    if (found !== undefined) return found;
    if (this.missed.size > 4096) this.missed.clear();
    this.missed.set(id, now);
    return null;
  }

  private scan(dir: string, depth: number): void {
    try {
      this.paths.set(statSync(dir, { bigint: true }).ino, '/' + relative(this.mount!, dir));
      if (depth > 32) return;
      for (const d of readdirSync(dir, { withFileTypes: true })) if (d.isDirectory()) this.scan(join(dir, d.name), depth + 1);
    } catch {
      // A cgroup removed while we walk is simply not found.
    }
  }
}
