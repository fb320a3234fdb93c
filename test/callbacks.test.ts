/**
 * What a throwing callback or decoder does to a ring or perf buffer reader, against the
 * kernel: the exception reaches the caller at once (listen() itself, the iterator, or an
 * uncaught exception raised from the wake-up, as an event listener's would be), never
 * resurfaces from a later call; the record it threw on is consumed, the next ones still
 * come; close() unmaps (a kept view is detached) and the process then ends by itself.
 * Each scenario runs in its own child (test/callback-child.ts), since it raises an
 * uncaught exception and must show that nothing keeps the process alive.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { kernelTest } from './kernel.js';
import { ROOT } from './paths.js';

async function scenario(name: string): Promise<Record<string, unknown>[]> {
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'test', 'callback-child.js'), name], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit');
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code, signal] = (await exited) as [number | null, string | null];
  clearTimeout(timer);
  assert.equal(signal, null, `${name}: the child did not end by itself (killed after 30 s); stderr: ${err}`);
  assert.equal(code, 0, `${name}: exit ${code}; stderr: ${err}`);
  assert.equal(err, '');
  return out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
}

function assertAfter(lines: Record<string, unknown>[], name: string): void {
  assert.deepEqual(lines.at(-2), { redelivered: false, next: true }, `${name}: the record that threw is consumed, the next one read`);
  assert.deepEqual(lines.at(-1), { closed: true, detached: true }, `${name}: close() unmapped the buffer`);
}

for (const kind of ['ring', 'perf']) {
  kernelTest(`${kind} buffer: a listener that throws on a wake-up raises the exception at once, and close() still unmaps`, async () => {
    const lines = await scenario(`${kind}-listen`);
    assert.equal(lines.length, 3, JSON.stringify(lines));
    const first = lines[0]!;
    assert.equal(first.uncaught, `boom ${first.target}`);
    // At once: within a wake-up of the exec, not at some later call.
    assert.ok((first.ms as number) < 2000, `raised ${first.ms} ms after the exec`);
    assertAfter(lines, kind);
  });

  kernelTest(`${kind} buffer: a listener that throws on records already waiting makes listen() throw`, async () => {
    const lines = await scenario(`${kind}-first`);
    assert.equal(lines.length, 3, JSON.stringify(lines));
    assert.equal(lines[0]!.listenThrew, `boom ${lines[0]!.target}`);
    assertAfter(lines, kind);
  });

  kernelTest(`${kind} buffer: a decoder that throws ends events() with its exception, after the events before it`, async () => {
    const lines = await scenario(`${kind}-events`);
    assert.equal(lines.length, 3, JSON.stringify(lines));
    const first = lines[0]!;
    assert.equal(first.iterThrew, `boom ${first.target}`);
    assert.equal(first.sawBefore, true);
    assert.ok((first.ms as number) < 2000, `thrown after ${first.ms} ms`);
    assertAfter(lines, kind);
  });
}
