/**
 * Where tracefs and bpffs are mounted, mounting them when they are not and we may.
 *
 * tracefs holds the tracepoint ids (events/<category>/<name>/id) that perf_event_open
 * needs; bpffs holds pinned objects. Fresh machines often have neither mounted. The file
 * reads go through `Host` so unit tests can describe a machine; the mount itself is a
 * syscall and goes through Sys.
 */
import { existsSync, readFileSync } from 'node:fs';
import { TsbpfError } from '../errors.js';
import { MS_NODEV, MS_NOEXEC, MS_NOSUID } from '../sys/constants.js';
import { SysError } from '../sys/errors.js';
import type { Sys } from '../sys/types.js';

/** The host facts attach reads besides syscalls: files under /proc and /sys, privilege, stderr. */
export interface Host {
  readFile(path: string): string;
  exists(path: string): boolean;
  isRoot(): boolean;
  /** Tells the user something tsbpf did on their behalf (stderr). */
  notice(message: string): void;
}

export const realHost: Host = {
  readFile: (path) => readFileSync(path, 'utf8'),
  exists: (path) => existsSync(path),
  isRoot: () => process.getuid?.() === 0,
  notice: (message) => process.stderr.write(`${message}\n`),
};

export interface MountEntry {
  source: string;
  target: string;
  fstype: string;
  options: string;
}

/** Undoes the octal escapes (\040 for a space...) the kernel writes in mount tables. */
const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** Parses /proc/self/mounts (fstab format). */
export function parseMounts(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 3) continue;
    out.push({ source: unescape(f[0]!), target: unescape(f[1]!), fstype: f[2]!, options: f[3] ?? '' });
  }
  return out;
}

interface FsKind {
  /** Name in messages: "tracefs", "bpffs". */
  name: string;
  fstype: string;
  source: string;
  /** Where tsbpf mounts it, and the preferred mount point. */
  target: string;
  /** Other well-known places, in order of preference. */
  alternatives: string[];
  /** A file or directory that must exist under the mount point for it to be usable. */
  probe?: string;
}

const TRACEFS: FsKind = {
  name: 'tracefs',
  fstype: 'tracefs',
  source: 'nodev',
  target: '/sys/kernel/tracing',
  alternatives: ['/sys/kernel/debug/tracing'],
  probe: 'events',
};

const BPFFS: FsKind = {
  name: 'bpffs',
  fstype: 'bpf',
  source: 'bpf',
  target: '/sys/fs/bpf',
  alternatives: [],
};

/** Memoised answers, per Sys (so each FakeSys of a unit test starts afresh). */
const found = new Map<FsKind, WeakMap<Sys, string>>([
  [TRACEFS, new WeakMap()],
  [BPFFS, new WeakMap()],
]);

function locate(kind: FsKind, sys: Sys, host: Host): string {
  const memo = found.get(kind)!;
  const known = memo.get(sys);
  if (known !== undefined) return known;
  const path = discover(kind, sys, host);
  memo.set(sys, path);
  return path;
}

function discover(kind: FsKind, sys: Sys, host: Host): string {
  const table = parseMounts(host.readFile('/proc/self/mounts'));
  const mounted = table.filter((m) => m.fstype === kind.fstype).map((m) => m.target);
  for (const place of [kind.target, ...kind.alternatives]) if (mounted.includes(place)) return place;
  if (mounted.length > 0) return mounted[0]!;
  // debugfs mounts tracefs on demand at <debugfs>/tracing (an automount the table lists
  // only once it has been entered).
  if (kind === TRACEFS) {
    for (const m of table) {
      if (m.fstype === 'debugfs' && host.exists(`${m.target}/tracing/events`)) return `${m.target}/tracing`;
    }
  }

  const command = `mount -t ${kind.fstype} ${kind.source} ${kind.target}`;
  if (!host.isRoot()) {
    throw new TsbpfError(`${kind.name} is not mounted, and tsbpf is not root so it cannot mount it: run \`sudo ${command}\``);
  }
  try {
    sys.mount(kind.source, kind.target, kind.fstype, MS_NOSUID | MS_NODEV | MS_NOEXEC);
  } catch (e) {
    if (!(e instanceof SysError)) throw e;
    throw new TsbpfError(`${kind.name} is not mounted, and mounting it at ${kind.target} failed: ${e.message}; mount it yourself (\`${command}\`) or at another place`);
  }
  if (kind.probe && !host.exists(`${kind.target}/${kind.probe}`)) {
    throw new TsbpfError(`${kind.name} was mounted at ${kind.target} but has no ${kind.probe}/: this kernel's ${kind.name} is unusable`);
  }
  host.notice(`tsbpf: ${kind.name} was not mounted: mounted it at ${kind.target}`);
  return kind.target;
}

/**
 * The tracefs mount point: /sys/kernel/tracing when mounted there, else
 * /sys/kernel/debug/tracing, else any tracefs mount. When there is none and we are root
 * it is mounted at /sys/kernel/tracing (and stderr says so); otherwise a TsbpfError says
 * what to run. Memoised.
 */
export function tracefsPath(sys: Sys, host: Host = realHost): string {
  return locate(TRACEFS, sys, host);
}

/** The bpffs mount point (/sys/fs/bpf preferred), mounted there when missing and root. Memoised. */
export function bpffsPath(sys: Sys, host: Host = realHost): string {
  return locate(BPFFS, sys, host);
}
