/**
 * Real cgroup v2 directories for tests: where the hierarchy is mounted, and fresh cgroups
 * (with children) that are removed when the test ends.
 */
import { mkdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Where cgroup2 is mounted, from /proc/self/mounts. */
export function cgroup2Mount(): string {
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [, dir, type] = line.split(' ');
    if (type === 'cgroup2' && dir) return dir.replace(/\\040/g, ' ');
  }
  throw new Error('no cgroup2 filesystem in /proc/self/mounts');
}

/** A fresh cgroup directly under the cgroup2 mount (with `children` below it), removed by `t.after`. */
export function freshCgroup(t: { after: (fn: () => void | Promise<void>) => void }, children: string[] = []) {
  const mount = cgroup2Mount();
  const name = `tsbpf-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const dir = join(mount, name);
  mkdirSync(dir);
  const dirs = [dir, ...children.map((c) => join(dir, c))];
  for (const d of dirs.slice(1)) mkdirSync(d);
  t.after(async () => {
    // Deepest first; a cgroup whose last task was just reaped can be busy for a moment.
    for (const d of dirs.reverse()) {
      for (let i = 0; ; i++) {
        try {
          rmdirSync(d);
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') break;
          if ((e as NodeJS.ErrnoException).code !== 'EBUSY' || i >= 100) throw e;
          await new Promise((r) => setTimeout(r, 20));
        }
      }
    }
  });
  const id = (d: string) => statSync(d, { bigint: true }).ino;
  return { mount, name, dir, id };
}

