/**
 * The kernel matrix: dist/test/matrix/ in Debian's 5.10, 6.1 and 6.12 kernels under qemu
 * (scripts/vm.sh), one guest at a time; each must exit 0. The guest's TAP summary goes
 * into the assertion message.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { kernelTest } from './kernel.js';
import { ROOT } from './paths.js';

const inGuest = process.env.TSBPF_GUEST === '1';

for (const series of ['5.10', '6.1', '6.12']) {
  kernelTest(`kernel matrix: node --test dist/test/matrix/ in a ${series} guest`, () => {
    if (inGuest) return; // a guest does not boot guests
    const started = Date.now();
    const r = spawnSync('bash', [join(ROOT, 'scripts/vm.sh'), series, '--', 'env', 'TSBPF_GUEST=1', process.execPath, '--test', 'dist/test/matrix/'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, VM_TIMEOUT: process.env.VM_TIMEOUT ?? '300' },
      timeout: 330_000,
    });
    const out = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
    const summary = out
      .split('\n')
      .filter((l) => /^# (tests|pass|fail|cancelled|duration_ms) /.test(l) || /^not ok /.test(l))
      .join('; ');
    assert.equal(r.status, 0, `${series} guest: exit ${r.status} after ${Math.round((Date.now() - started) / 1000)} s; ${summary || out.slice(-2000)}`);
    assert.match(summary, /# fail 0/, `${series} guest: ${summary}`);
  });
}
