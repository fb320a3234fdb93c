/**
 * Kernel tests attach real programs and need root (or CAP_BPF+CAP_PERFMON). Outside CI
 * they skip without root; under CI=true a kernel test that cannot run is a failure,
 * never a skip.
 */
import { test, type TestContext } from 'node:test';

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
