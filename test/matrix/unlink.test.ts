/**
 * The kernel matrix (5.10, 6.1, 6.12 in guests, 6.18 on the host): examples/kprobe and
 * examples/fentry built with `tsbpf build` and run with `tsbpf run`; a child process
 * unlinks a known file and the output must hold its pid and the file name. Where the
 * kernel lacks the hook (the host: no kprobes, fentry refused), the exact one-line error.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasKprobes, inGuest, trampolinesRefused } from '../guest.js';
import { kernelTest } from '../kernel.js';
import { buildExample, start, stop } from '../tsbpf-cli.js';

const SETTLE = inGuest ? 3000 : 500;

function unlinkInChild(name: string): number {
  const file = join(tmpdir(), name);
  writeFileSync(file, 'x');
  const r = spawnSync(process.execPath, ['-e', `require('fs').unlinkSync(${JSON.stringify(file)}); console.log(process.pid)`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout.trim());
}

for (const example of ['kprobe', 'fentry'] as const) {
  kernelTest(`matrix: ${example} example on do_unlinkat reports the unlinking pid and file name`, async (t) => {
    const built = buildExample(example, t);
    const unsupported = example === 'kprobe' ? !hasKprobes : trampolinesRefused;
    if (unsupported) {
      const expected =
        example === 'kprobe'
          ? 'tsbpf: cannot attach program do_unlinkat (section kprobe/do_unlinkat): kprobes: not supported by this kernel (kernel built without CONFIG_KPROBES)'
          : 'tsbpf: program do_unlinkat: the kernel rejected it (EPERM) and gave no log';
      await assert.rejects(start(['run', built.package], /running/, { cwd: built.dir }), (e: Error) => {
        assert.ok(e.message.includes(expected), e.message);
        return true;
      });
      return;
    }
    const run = await start(['run', built.package], /running/, { cwd: built.dir });
    const name = `tsbpf-matrix-${example}-${process.pid}`;
    let pid = 0;
    try {
      await new Promise((r) => setTimeout(r, SETTLE));
      pid = unlinkInChild(name);
    } finally {
      await stop(run.proc, SETTLE);
    }
    const lines = run.out().split('\n').filter((l) => l.includes(String(pid)));
    assert.ok(lines.some((l) => l.includes(name)), `no event with pid ${pid} and ${name} in:\n${run.out()}\n${run.err()}`);
    // Nothing stays behind: no legacy tsbpf_ probe event in kprobe_events.
    let events = '';
    try {
      events = readFileSync('/sys/kernel/tracing/kprobe_events', 'utf8');
    } catch {
      /* no tracefs kprobe_events */
    }
    assert.equal(events.split('\n').filter((l) => l.includes('tsbpf_')).join('\n'), '');
  });
}
