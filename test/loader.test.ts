/**
 * Kernel tests of the loader: the project's fixture objects are loaded into the real
 * kernel and run with BPF_PROG_TEST_RUN; return values, map contents and globals are
 * compared with what each program's source says it computes.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Collection, VerifierError, setGlobal } from '../src/loader/index.js';
import { loadObjectFile } from '../src/object/index.js';
import { SysError } from '../src/sys/errors.js';
import { kernelTest } from './kernel.js';
import { ROOT } from './paths.js';

const fixture = (name: string) => loadObjectFile(join(ROOT, 'testdata', `${name}.bpf.o`));

/** A raw tracepoint context: the u64 arguments the program reads from ctx->args[]. */
function args(...values: (number | bigint)[]): Uint8Array {
  const b = new Uint8Array(values.length * 8);
  const v = new DataView(b.buffer);
  values.forEach((x, i) => v.setBigUint64(i * 8, BigInt.asUintN(64, BigInt(x)), true));
  return b;
}

/** The program's return value as the C `int` it is. */
const run = (coll: Collection, prog: string, ...a: (number | bigint)[]) =>
  coll.program(prog).testRun(a.length ? { ctxIn: args(...a) } : {}).retval | 0;

kernelTest('maps.bpf.o: hash and array maps, typed keys and values', () => {
  using coll = Collection.load(fixture('maps'));
  assert.equal(run(coll, 'count', 3, 10), 10);
  assert.equal(run(coll, 'count', 3, 5), 15);
  assert.equal(run(coll, 'count', 11, 1), 1);

  const counts = coll.map('counts');
  assert.equal(counts.lookup(3), 15n);
  assert.equal(counts.lookup(11), 1n);
  assert.equal(counts.lookup(4), undefined);
  assert.deepEqual([...counts.keys()].sort(), [11, 3]);

  const slots = coll.map('slots');
  assert.deepEqual(slots.lookup(3), { sum: 16n, hits: 3, last: 11 });
  assert.deepEqual(slots.lookup(0), { sum: 0n, hits: 0, last: 0 });
  assert.equal([...slots.keys()].length, 8);

  // Values written from user space are what the program then adds to.
  counts.update(7, 100n);
  assert.equal(run(coll, 'count', 7, 1), 101);
  assert.equal(counts.delete(7), true);
  assert.equal(counts.delete(7), false);
  slots.update(5, { sum: 1n, hits: 2, last: 3 });
  assert.deepEqual(slots.lookup(5), { sum: 1n, hits: 2, last: 3 });
  assert.deepEqual(
    new Map([...counts.entries()].map(([k, v]) => [k, v])),
    new Map<unknown, unknown>([[3, 15n], [11, 1n]]),
  );
});

kernelTest('globals.bpf.o: .rodata constants set before load, .data/.bss through mmap', () => {
  {
    using coll = Collection.load(fixture('globals'));
    assert.equal(run(coll, 'compute', 5), 28); // 5*2 + 7 + 11
    assert.equal(run(coll, 'compute', 0), 18);
    assert.equal(run(coll, 'compute', 491), 1000); // clamped by .rodata.limits
    assert.equal(coll.variable('calls').get(), 3n);
    assert.equal(coll.variable('multiplier').get(), 2);
    assert.equal(coll.variable('negate').get(), false);
    assert.equal(coll.variable('limit').get(), 1000);

    coll.variable('bias').set(10);
    coll.variable('custom').set(100);
    assert.equal(run(coll, 'compute', 5), 120); // 5*2 + 10 + 100
    coll.variable('calls').set(0n);
    run(coll, 'compute', 1);
    assert.equal(coll.variable('calls').get(), 1n);
    // The map behind .bss sees the same bytes as the mapping.
    assert.deepEqual([...coll.map('globals.bss').lookupBytes(new Uint8Array(4))!], [1, 0, 0, 0, 0, 0, 0, 0]);

    assert.throws(() => coll.variable('multiplier').set(3), /frozen after load/);
    // .rodata is frozen: not even the map API may write it.
    assert.throws(() => coll.map('globals.rodata').update(new Uint8Array(4), new Uint8Array(5)), (e: unknown) => e instanceof SysError && e.code === 'EPERM');
  }
  const spec = fixture('globals');
  setGlobal(spec, 'multiplier', 3);
  setGlobal(spec, 'negate', true);
  using coll = Collection.load(spec);
  assert.equal(run(coll, 'compute', 5), -33);
  assert.equal(coll.variable('multiplier').get(), 3);
  assert.throws(() => setGlobal(spec, 'nonesuch', 1), /no global variable named nonesuch; variables: multiplier, negate/);
  assert.throws(() => setGlobal(spec, 'multiplier', 'three'), /multiplier: expected an integer/);
});

kernelTest('subprog.bpf.o: static and global subprograms, bpf_loop callback', () => {
  using coll = Collection.load(fixture('subprog'));
  assert.equal(run(coll, 'calls', 5), 44);
  assert.equal(run(coll, 'calls', 10), 129);
  assert.equal(run(coll, 'calls', -3), 12);
  assert.equal(run(coll, 'second', 5), 80);
  assert.equal(run(coll, 'loop_sum', 10), 45);
  assert.equal(run(coll, 'loop_sum', 100), 4950);
  assert.equal(coll.program('calls').insnCount, 22);
});

kernelTest('core.bpf.o: CO-RE reads of task_struct resolved by the kernel', () => {
  using coll = Collection.load(fixture('core'));
  const tgid = run(coll, 'read_task');
  assert.equal(tgid, process.pid);
  const facts = coll.variable('facts').get() as Record<string, unknown>;
  assert.equal(facts.pid, process.pid); // test runs on the main thread: tid == pid
  assert.equal(facts.tgid, process.pid);
  assert.equal(facts.ppid, process.ppid);
  assert.equal(facts.has_pid, 1);
  assert.equal(facts.has_bogus, 0); // only a CO-RE-relocated load makes this 0
  assert.equal(facts.comm_ok, 1);
  assert.ok(typeof facts.start_time === 'bigint' && facts.start_time > 0n);
  assert.ok((facts.start_time as bigint) < process.hrtime.bigint());
});

kernelTest('rejected.bpf.o: the verifier log names the fault and the source line', () => {
  assert.throws(
    () => Collection.load(fixture('rejected')),
    (e: unknown) => {
      assert.ok(e instanceof VerifierError, String(e));
      assert.equal(e.program, 'bad_deref');
      assert.equal(e.code, 'EACCES');
      assert.match(e.log, /invalid mem access 'map_value_or_null'/);
      // line_info puts the C source into the log.
      assert.match(e.log, /@ rejected\.bpf\.c:\d+/);
      assert.match(e.message, /program bad_deref: the kernel rejected it \(EACCES\)/);
      return true;
    },
  );
  using coll = Collection.load(fixture('rejected'), { collectFailures: true });
  assert.deepEqual([...coll.failures.keys()], ['bad_deref']);
  assert.equal(run(coll, 'good'), 1);
});

kernelTest('every fixture object loads (except the one meant to be rejected) and closes without leaking fds', () => {
  const fds = () => readdirSync('/proc/self/fd').length;
  const before = fds();
  for (const f of readdirSync(join(ROOT, 'testdata')).filter((n) => n.endsWith('.bpf.o'))) {
    const spec = loadObjectFile(join(ROOT, 'testdata', f));
    const coll = Collection.load(spec, { collectFailures: true });
    assert.equal(coll.programs.size + coll.failures.size, spec.programs.length, f);
    if (!f.startsWith('rejected')) assert.equal(coll.failures.size, 0, `${f}: ${[...coll.failures.values()].join('\n')}`);
    coll.close();
  }
  assert.equal(fds(), before);
});
