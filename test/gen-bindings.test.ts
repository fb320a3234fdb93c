/**
 * Generated bindings against the kernel: examples/gen/consumer.ts (compiled with the
 * project) loads the committed bindings and reads exact values through them: typed map
 * keys and values, .rodata settings and variables, and a ring buffer's typed events.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { compute, countOnce, firstExits, writeSlot } from '../examples/gen/consumer.js';
import { kernelTest } from './kernel.js';

kernelTest('maps through bindings: a typed update, the program\'s sum read back as a bigint, a struct value', () => {
  const { total, slot } = countOnce(3, 10n);
  assert.equal(total, 15n); // 5 written from JS, 10 added by the program
  assert.deepEqual(slot, { sum: 10n, hits: 1, last: 3 });
});

kernelTest('a struct value through the generated encoder: bpftool reads back its exact bytes; a value out of range names the member', () => {
  let bytes: number[] = [];
  const error = writeSlot(5, { sum: 0x0102030405060708n, hits: 7, last: 0xfffffffe }, (id) => {
    const r = spawnSync('bpftool', ['-j', 'map', 'lookup', 'id', String(id), 'key', '5', '0', '0', '0'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    bytes = (JSON.parse(r.stdout) as { value: string[] }).value.map((b) => Number(b));
  });
  assert.deepEqual(bytes, [8, 7, 6, 5, 4, 3, 2, 1, 7, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff]);
  assert.equal(error, 'value of map slots.hits: -1 does not fit a unsigned 32-bit integer');
});

kernelTest('settings and variables through bindings: multiplier and negate before load, bias after', () => {
  assert.deepEqual(compute(5, { multiplier: 3, negate: true }), { result: -(5 * 3 + 1 + 11), calls: 1n, bias: 1 });
  assert.deepEqual(compute(5, { multiplier: 2, negate: false }), { result: 5 * 2 + 1 + 11, calls: 1n, bias: 1 });
});

kernelTest('events through bindings: exitsnoop\'s ring buffer as typed Events, exact pid, ppid and status', async () => {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 10_000).unref();
  const pids: number[] = [];
  const got = firstExits(2, process.pid, ac.signal);
  await new Promise((r) => setTimeout(r, 200));
  for (const code of [3, 4]) {
    const p = spawn('/bin/sh', ['-c', `exit ${code}`]);
    await once(p, 'exit');
    pids.push(p.pid!);
  }
  const events = await got;
  assert.deepEqual(events.map((e) => [e.pid, e.tid, e.ppid, e.status, e.comm]), [
    [pids[0], pids[0], process.pid, 3 << 8, 'sh'],
    [pids[1], pids[1], process.pid, 4 << 8, 'sh'],
  ]);
  assert.equal(typeof events[0]!.duration_ns, 'bigint');
});
