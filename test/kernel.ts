/**
 * Kernel tests attach real programs and need root (or CAP_BPF+CAP_PERFMON). Outside CI
 * they skip without root; under CI=true a kernel test that cannot run is a failure,
 * never a skip.
 */
import { test, type TestContext } from 'node:test';
import { defaultSys } from '../src/sys/index.js';

export const isRoot = process.getuid?.() === 0;
const inCI = process.env.CI === 'true';

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
