/**
 * What the third-party-style corpus objects compute, loaded by tsbpf and run against the
 * kernel (test/corpus.test.ts only compares loading with libbpf). Each test asserts the
 * values the object's source comment states.
 *
 * ksyscall needs CONFIG_KPROBES to attach, which this kernel lacks; its loading is what
 * corpus.test.ts checks. usdt attach is tested on a binary of its own in usdt.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { attach } from '../src/link/index.js';
import { Collection, setGlobal } from '../src/loader/index.js';
import { loadObjectFile } from '../src/object/index.js';
import { PerfBuffer } from '../src/perf/index.js';
import { kernelTest } from './kernel.js';
import { ROOT } from './paths.js';

const corpus = (name: string) => loadObjectFile(join(ROOT, 'testdata', 'corpus', `${name}.bpf.o`));

/** Number of possible CPUs, from /sys/devices/system/cpu/possible ("0-3", "0,2-5"). */
function possibleCpus(): number {
  const text = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
  let n = 0;
  for (const part of text.split(',')) {
    const [a, b] = part.split('-').map(Number);
    n += b === undefined ? 1 : b - a! + 1;
  }
  return n;
}

kernelTest('corpus perfarray: one 24-byte record per exec of a child, the perf array sized to the possible CPUs', () => {
  const spec = corpus('perfarray');
  setGlobal(spec, 'targ_ppid', process.pid);
  using coll = Collection.load(spec);
  // Declared with key_size/value_size and no max_entries: one slot per possible CPU.
  const info = coll.map('events').info();
  assert.deepEqual([info.keySize, info.valueSize, info.maxEntries], [4, 4, possibleCpus()]);
  using link = attach(coll.program('on_exec'));
  void link;
  using perf = new PerfBuffer(coll.map('events'));
  perf.drain(() => {});
  const pids: number[] = [];
  for (let i = 0; i < 8; i++) pids.push(spawnSync('/bin/true').pid!);
  const seen = new Map<number, { ppid: number; comm: string; size: number }>();
  perf.drain((s) => {
    const v = new DataView(s.buffer, s.byteOffset, s.byteLength);
    const comm = Buffer.from(s.subarray(8, 24)).toString('latin1').replace(/\0.*$/s, '');
    seen.set(v.getUint32(0, true), { ppid: v.getUint32(4, true), comm, size: s.byteLength });
  });
  // The kernel pads a raw sample to 8 bytes with its u32 size: 24 bytes come as 28.
  for (const pid of pids) assert.deepEqual(seen.get(pid), { ppid: process.pid, comm: 'true', size: 28 }, `exec of pid ${pid}`);
  // targ_ppid filters in the kernel: nothing but our children.
  assert.deepEqual([...seen.keys()].sort(), [...pids].sort());
  assert.equal(perf.totalLost, 0);
});

kernelTest('corpus kversion: LINUX_KERNEL_VERSION is the running kernel, the >= 5.11 branch taken', () => {
  using coll = Collection.load(corpus('kversion'));
  const [major, minor, patch] = release().split(/[.-]/).map(Number) as [number, number, number];
  const expected = (major << 16) + (minor << 8) + Math.min(patch, 255);
  const ret = coll.program('get_version').testRun({ ctxIn: new Uint8Array(16) }).retval;
  assert.equal(ret, expected >= (5 << 16) + (11 << 8) ? 2 : 1);
  assert.equal(coll.variable('version').get(), expected);
  assert.equal(coll.variable('newer').get(), expected >= (5 << 16) + (11 << 8) ? 1 : 0);
});

kernelTest('corpus runqlat-like: a forked child gets its run-queue latency counted under its tgid', async () => {
  const spec = corpus('runqlat-like');
  setGlobal(spec, 'targ_per_process', true);
  using coll = Collection.load(spec);
  using l1 = attach(coll.program('on_wakeup'));
  using l2 = attach(coll.program('on_wakeup_new'));
  using l3 = attach(coll.program('on_switch'));
  void [l1, l2, l3];
  // A child that is woken (wakeup_new at fork, then wakeups after each sleep) and switched in.
  const child = spawnSync('/bin/sh', ['-c', 'sleep 0.02; sleep 0.02; sleep 0.02'], { encoding: 'utf8' });
  assert.equal(child.status, 0);
  const hists = coll.map('hists');
  const h = hists.lookup(child.pid) as { slots: number[] } | undefined;
  assert.ok(h, `no histogram for the child's tgid ${child.pid}; keys: ${[...hists.keys()].slice(0, 10).join(', ')}`);
  assert.equal(h.slots.length, 26);
  const total = h.slots.reduce((a, b) => a + b, 0);
  // At least the first switch-in after fork; each sleep's wakeup adds one more.
  assert.ok(total >= 1, `histogram of ${child.pid}: ${h.slots.join(',')}`);
  // targ_per_process: keys are tgids, never the (u32)-1 of the global histogram.
  assert.ok(!([...hists.keys()] as number[]).includes(0xffffffff));
});

kernelTest('corpus hidden_subprog: a __hidden subprogram is verified in its caller, as libbpf has it (returns 42, seen 7)', () => {
  using coll = Collection.load(corpus('hidden_subprog'));
  assert.equal(coll.program('run').testRun({ ctxIn: new Uint8Array(16) }).retval, 42);
  assert.equal(coll.variable('seen').get(), 7n);
});
