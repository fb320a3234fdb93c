/**
 * What the running kernel is, for tests that must hold on every kernel of the matrix
 * (scripts/vm.sh guests and the host), told from the kernel itself, not from tsbpf.
 */
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';

/** In a scripts/vm.sh guest, which runs 5-10x slower: time budgets grow. */
export const inGuest = process.env.TSBPF_GUEST === '1' || /tsbpf_guest/.test(readFileSync('/proc/cmdline', 'utf8'));

/** True when the running kernel is at least major.minor. */
export function kernelAtLeast(major: number, minor: number): boolean {
  const [a, b] = release().split('.').map(Number) as [number, number];
  return a > major || (a === major && b >= minor);
}

let config: string | undefined;
/** CONFIG_NAME's value in the running kernel's config (/boot/config-R or /proc/config.gz), or undefined. */
export function kernelConfig(name: string): string | undefined {
  if (config === undefined) {
    const boot = `/boot/config-${release()}`;
    if (existsSync(boot)) config = readFileSync(boot, 'utf8');
    else if (existsSync('/proc/config.gz')) config = gunzipSync(readFileSync('/proc/config.gz')).toString('utf8');
    else config = '';
  }
  return new RegExp(`^CONFIG_${name}=(.*)$`, 'm').exec(config)?.[1];
}

/** The kernel has the kprobe PMU or kprobe_events (CONFIG_KPROBES). */
export const hasKprobes = existsSync('/sys/bus/event_source/devices/kprobe/type');
/** Debian's 6.18 here refuses BPF trampolines (fentry, fexit, fmod_ret, lsm: EPERM at load); the guests take them. */
export const trampolinesRefused = /^6\.18\./.test(release());
