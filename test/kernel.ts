/**
 * Kernel tests attach real programs and need root (or CAP_BPF+CAP_PERFMON). Outside CI
 * they skip without root; under CI=true a kernel test that cannot run is a failure,
 * never a skip.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { test, type TestContext } from 'node:test';
import { defaultSys } from '../src/sys/index.js';

export const isRoot = process.getuid?.() === 0;
const inCI = process.env.CI === 'true';

// A test that fails between spawning a tracer and stopping it leaves the child running;
// the runner's --test-force-exit ends this file anyway, and this kills what it left, so
// one failure cannot hold trace_pipe, a hook or the whole run for the next tests.
process.on('exit', () => {
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      // The parent pid is the second field after the command, which is in parentheses.
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid) process.kill(Number(p), 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
});

export function kernelTest(name: string, fn: (t: TestContext) => void | Promise<void>): void {
  if (isRoot) {
    test(name, fn);
  } else if (inCI) {
    test(name, () => {
      throw new Error('kernel test needs root, and CI=true forbids skipping it');
    });
  } else {
    test(name, { skip: 'needs root (kernel test)' }, () => {});
  }
}

export type ObjKind = 'prog' | 'map' | 'link';

/** Ids of live kernel objects (BPF_*_GET_NEXT_ID walk) whose name matches (links: whose program does). */
export function liveIds(kind: ObjKind, match: (info: { name: string; progId?: number }) => boolean): number[] {
  const sys = defaultSys();
  const next = { prog: sys.progGetNextId, map: sys.mapGetNextId, link: sys.linkGetNextId }[kind].bind(sys);
  const byId = { prog: sys.progGetFdById, map: sys.mapGetFdById, link: sys.linkGetFdById }[kind].bind(sys);
  const ids: number[] = [];
  for (let id = next(0); id !== null; id = next(id)) {
    let fd: number;
    try {
      fd = byId(id);
    } catch {
      continue; // freed between the walk and the lookup
    }
    try {
      const info = kind === 'prog' ? sys.progGetInfo(fd) : kind === 'map' ? sys.mapGetInfo(fd) : { name: '', ...sys.linkGetInfo(fd) };
      if (match(info)) ids.push(id);
    } finally {
      sys.close(fd);
    }
  }
  return ids;
}

/** Kernel objects are freed after an RCU grace period: true once none of `ids` is live. */
export async function allGone(kind: ObjKind, ids: number[]): Promise<boolean> {
  for (let i = 0; i < 150; i++) {
    const live = liveIds(kind, () => true);
    if (!ids.some((id) => live.includes(id))) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/**
 * Runs a command as uid 65534 without BPF privileges but able to read the checkout
 * (CAP_DAC_READ_SEARCH only), so a private checkout directory does not fail the test.
 */
export const UNPRIVILEGED = [
  'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
  '--inh-caps=+dac_read_search', '--ambient-caps=+dac_read_search',
];

/**
 * The BPF programs, maps and links a process holds, from its /proc fdinfo: exact even
 * while other tests load objects of the same names.
 */
export function heldIds(pid: number): { prog: number[]; map: number[]; link: number[] } {
  const held = { prog: [] as number[], map: [] as number[], link: [] as number[] };
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    let info: string;
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // closed meanwhile
    }
    const id = (key: string) => Number(new RegExp(`^${key}:\\s*(\\d+)$`, 'm').exec(info)?.[1] ?? 0);
    // A link's fdinfo names its program too: look for link_id first.
    if (id('link_id')) held.link.push(id('link_id'));
    else if (id('prog_id')) held.prog.push(id('prog_id'));
    else if (id('map_id')) held.map.push(id('map_id'));
  }
  return held;
}

/** Ids of every BPF object some process holds an fd of now (other tests' runs included). */
export function heldAnywhere(): { prog: Set<number>; map: Set<number>; link: Set<number> } {
  const all = { prog: new Set<number>(), map: new Set<number>(), link: new Set<number>() };
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    let held;
    try {
      held = heldIds(Number(p));
    } catch {
      continue; // exited meanwhile
    }
    for (const k of ['prog', 'map', 'link'] as const) for (const id of held[k]) all[k].add(id);
  }
  return all;
}
