/**
 * The perf buffer reader against the kernel, with examples/perfbuf/execs.bpf.c: one
 * sample per exec through bpf_perf_event_output.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { compileDecoder } from '../src/decode/index.js';
import { attach } from '../src/link/index.js';
import { Collection } from '../src/loader/index.js';
import { loadObjectFile } from '../src/object/index.js';
import { PerfBuffer } from '../src/perf/index.js';
import { compileBpf } from './compile.js';
import { kernelTest } from './kernel.js';
import { ROOT } from './paths.js';

kernelTest('perf buffer: one decoded sample per exec, from every CPU, nothing lost', async () => {
  const spec = loadObjectFile(compileBpf(join(ROOT, 'examples', 'perfbuf', 'execs.bpf.c'), { keepStructs: ['event'] }));
  const { decode } = compileDecoder(spec.btf, spec.btf.idByName('event', 'struct')!);
  using coll = Collection.load(spec);
  using link = attach(coll.program('handle_exec'));
  using perf = new PerfBuffer(coll.map('events'));
  void link;
  perf.drain(() => {});
  const pids: number[] = [];
  for (let i = 0; i < 20; i++) pids.push(spawnSync('/bin/true').pid!);
  const seen = new Map<number, Record<string, unknown>>();
  perf.drain((sample) => {
    const e = decode(new DataView(sample.buffer, sample.byteOffset, sample.byteLength), 0);
    seen.set(e.pid as number, e);
  });
  for (const pid of pids) {
    assert.deepEqual(seen.get(pid), { pid, ppid: process.pid, comm: 'true' });
  }
  assert.equal(perf.totalLost, 0);

  // listen(): samples pushed from the event loop.
  const live: number[] = [];
  perf.listen((sample) => live.push(new DataView(sample.buffer, sample.byteOffset).getInt32(0, true)));
  const pid = spawnSync('/bin/true').pid!;
  for (let i = 0; i < 50 && !live.includes(pid); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(live.includes(pid));
});

kernelTest('perf buffer: a full ring reports lost samples instead of hiding them', () => {
  const spec = loadObjectFile(compileBpf(join(ROOT, 'examples', 'perfbuf', 'execs.bpf.c'), { keepStructs: ['event'] }));
  using coll = Collection.load(spec);
  using link = attach(coll.program('handle_exec'));
  // One data page per CPU holds ~60 samples of 48 bytes: 400 execs overflow it.
  using perf = new PerfBuffer(coll.map('events'), { pageCount: 1 });
  void link;
  const r = spawnSync('/bin/sh', ['-c', 'i=0; while [ $i -lt 400 ]; do /bin/true; i=$((i+1)); done']);
  assert.equal(r.status, 0);
  let samples = 0;
  perf.drain(() => samples++);
  // The kernel writes a CPU's LOST record with its next sample once the reader has made
  // room: one more exec pinned to each CPU, then one more drain.
  for (let cpu = 0; cpu < availableParallelism(); cpu++) spawnSync('taskset', ['-c', String(cpu), '/bin/true']);
  perf.drain(() => samples++);
  assert.ok(perf.totalLost > 0, `lost ${perf.totalLost}, read ${samples}`);
  // Lost records only appear on a CPU once its ring has room again, so the total can
  // stay below the exec count; it can never exceed it.
  assert.ok(samples < 400 && samples + perf.totalLost <= 400 + 3 * availableParallelism() + 50, `read ${samples} + lost ${perf.totalLost}`);
});
