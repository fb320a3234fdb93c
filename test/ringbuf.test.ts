/**
 * The ring buffer reader against the kernel: testdata/tracepoint.bpf.o writes one
 * {u32 pid; char comm[16]} record per exec and counts execs in .bss, so the records
 * read can be compared one for one with what happened.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { attach } from '../src/link/index.js';
import { Collection } from '../src/loader/index.js';
import { loadObjectFile } from '../src/object/index.js';
import { decoderHelpers } from '../src/gen/decoder.js';
import { RingBuffer } from '../src/ringbuf/index.js';
import { kernelTest } from './kernel.js';
import { ROOT } from './paths.js';

function setup() {
  const coll = Collection.load(loadObjectFile(join(ROOT, 'testdata', 'tracepoint.bpf.o')));
  const link = attach(coll.program('on_exec'));
  const ring = new RingBuffer(coll.map('events'));
  return {
    coll,
    ring,
    execs: () => coll.variable('execs').get() as bigint,
    [Symbol.dispose]() {
      ring.close();
      link.close();
      coll.close();
    },
  };
}

const pidOf = (rec: Uint8Array) => new DataView(rec.buffer, rec.byteOffset, rec.byteLength).getUint32(0, true);
const commOf = (rec: Uint8Array) => Buffer.from(rec.subarray(4, 20)).toString('latin1').replace(/\0.*$/s, '');

kernelTest('callback form: one zero-copy record per exec, with the exec\'d pid and comm', () => {
  using t = setup();
  t.ring.consume(() => {}); // whatever ran before
  const pids = [1, 2, 3].map(() => spawnSync('/bin/true').pid!);
  const seen: [number, string, number][] = [];
  t.ring.consume((rec) => seen.push([pidOf(rec), commOf(rec), rec.byteLength]));
  for (const pid of pids) assert.deepEqual(seen.filter(([p]) => p === pid), [[pid, 'true', 20]]);
});

kernelTest('a limit takes that many records and leaves the rest, in order, for the next read', () => {
  using t = setup();
  t.ring.consume(() => {});
  const pids = [1, 2, 3, 4].map(() => spawnSync('/bin/true').pid!);
  const ours = (rec: Uint8Array) => pids.includes(pidOf(rec));
  const seen: number[] = [];
  // Other processes may exec meanwhile: take one record at a time until all of ours came.
  for (let reads = 0; seen.length < pids.length && reads < 1000; reads++) {
    assert.ok(t.ring.consume((rec) => void (ours(rec) && seen.push(pidOf(rec))), 1) <= 1);
  }
  assert.deepEqual(seen, pids);
  assert.equal(t.ring.drain(() => {}, 0), 0);
});

kernelTest('wrap-around: more records than the 64 KiB ring holds, read in rounds, none lost or repeated', () => {
  using t = setup();
  t.ring.consume(() => {});
  const start = t.execs();
  let records = 0;
  let trueRecords = 0;
  // 32 bytes per record (8 header + 20 data, rounded to 8): 2048 fill the ring, so
  // three rounds of 1000 carry the positions past its end and around again.
  for (let round = 0; round < 3; round++) {
    const r = spawnSync('/bin/sh', ['-c', 'i=0; while [ $i -lt 1000 ]; do /bin/true; i=$((i+1)); done']);
    assert.equal(r.status, 0);
    t.ring.drain((view, offset, length) => {
      assert.equal(length, 20);
      records++;
      if (view.getUint8(offset + 4) === 0x74 /* "t"rue */) trueRecords++;
    });
  }
  assert.ok(trueRecords >= 3000);
  // Every exec the program counted became exactly one record read.
  assert.equal(BigInt(records), t.execs() - start);
});

kernelTest('async iterator: records arrive as processes exec, and iteration ends on close', async () => {
  using t = setup();
  t.ring.consume(() => {});
  const child = spawn('/bin/sh', ['-c', 'sleep 0.2; exec /bin/true']);
  const got: number[] = [];
  for await (const rec of t.ring) {
    got.push(pidOf(rec));
    if (got.includes(child.pid!)) break;
  }
  assert.ok(got.includes(child.pid!));
  await once(child, 'exit');
  // A pending iteration ends when the reader closes.
  const pending = (async () => {
    let n = 0;
    for await (const _ of t.ring) n++;
    return n;
  })();
  setTimeout(() => t.ring.close(), 100);
  const ended = await Promise.race([pending.then(() => true), new Promise((r) => setTimeout(() => r(false), 2000))]);
  assert.equal(ended, true, 'iteration still waiting 2 s after close');
});

kernelTest('listen: records are pushed from the event loop; an idle reader uses no CPU', async () => {
  using t = setup();
  t.ring.consume(() => {});
  const got: number[] = [];
  t.ring.listen((rec) => got.push(pidOf(rec)));
  const cpu0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, 500)); // idle
  const idle = process.cpuUsage(cpu0);
  assert.ok(idle.user + idle.system < 50_000, `idle reader used ${idle.user + idle.system} us of CPU in 500 ms`);
  const child = spawn('/bin/true');
  await once(child, 'exit');
  for (let i = 0; i < 50 && !got.includes(child.pid!); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(got.includes(child.pid!), `pid ${child.pid} in ${got}`);
});

kernelTest('events(decoder): decoded, owned records (safe to keep) as processes exec; ends on close', async () => {
  using t = setup();
  t.ring.consume(() => {});
  // The object's BTF has no struct for its records: a decoder written by hand (any function of view and offset).
  const decode = (v: DataView, o: number) => ({ pid: v.getUint32(o, true), comm: decoderHelpers.str(v, o + 4, 16) });
  const child = spawn('/bin/sh', ['-c', 'sleep 0.2; exec /bin/true']);
  const kept: Record<string, unknown>[] = [];
  for await (const e of t.ring.events(decode)) {
    kept.push(e);
    if (e.pid === child.pid && e.comm === 'true') break; // its first exec is the shell's
  }
  await once(child, 'exit');
  spawnSync('/bin/true'); // more records overwrite the ring's memory: the kept values stay
  t.ring.consume(() => {});
  assert.deepEqual(kept.filter((e) => e.pid === child.pid), [{ pid: child.pid, comm: 'sh' }, { pid: child.pid, comm: 'true' }]);
});

kernelTest('a zero-copy view kept past close() is detached: a DataView throws, a Uint8Array is empty; the process lives on', () => {
  using t = setup();
  t.ring.consume(() => {});
  const pid = spawnSync('/bin/true').pid!;
  let kept: Uint8Array | undefined;
  let view: DataView | undefined;
  let at = 0;
  t.ring.drain((v, offset, length) => {
    if (v.getUint32(offset, true) === pid) {
      kept = new Uint8Array(v.buffer, v.byteOffset + offset, length);
      view = v;
      at = offset;
    }
  });
  assert.equal(pidOf(kept!), pid);
  assert.equal(view!.getUint32(at, true), pid);
  t.ring.close();
  assert.throws(() => view!.getUint32(at, true), (e: Error) => e instanceof TypeError && /detached ArrayBuffer/.test(e.message));
  assert.equal(kept!.length, 0);
  assert.equal(kept![0], undefined);
  assert.throws(() => t.ring.drain(() => {}), /ring buffer events is closed/);
  // The pages went back to the allocator as ordinary memory: new buffers are usable.
  const later = new Uint8Array(1 << 20).fill(7);
  assert.equal(later[later.length - 1], 7);
});
