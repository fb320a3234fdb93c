#!/usr/bin/env node
// bench/ringbuf: ring buffer consumer throughput, tsbpf against libbpf.
//
//   node bench/ringbuf/run.mjs [--reps N] [--rounds N] [--per-round N] [--records N] [--batch N]
//                              [--consumers c,view,decoded,json]      (defaults: about 40 s)
//
// Root, a built dist/ (npx tsc -p tsconfig.json), clang, llvm-strip, gcc, libbpf-dev,
// libelf-dev and zlib1g-dev (installed with apt-get when missing and running as root).
//
// The producer is producer.bpf.c, a raw_tp program run with BPF_PROG_TEST_RUN: each run
// writes N 40-byte `struct record`s (record.h; 48 bytes in the ring with the header) into
// a 16 MiB BPF_MAP_TYPE_RINGBUF with bpf_loop + bpf_ringbuf_reserve/submit, each with the
// next sequence number. A full ring makes it stop early and return what it wrote (a BPF
// counter, `full`, counts those back-offs), so nothing is ever dropped: a slow consumer
// slows the producer instead. All C and BPF C is compiled at bench time into a temporary
// directory.
//
// Consumers, each in its own process (so one's JIT state or heap does not touch another's),
// each loading the same object itself:
//   c        consumer.c: libbpf's ring_buffer__consume/poll; the callback reads the record's
//            sequence number and checks it follows the previous one.
//   view     tsbpf RingBuffer.drain with a visitor doing the same (one DataView read).
//   decoded  tsbpf RingBuffer.drain + compileDecoder(btf, struct record).decode: a full JS
//            object per record ({seq, cpu, ts_ns (bigint), pid, tid, comm (string)}), its
//            seq checked the same way.
//
// Two measurements per consumer:
//   backlog (the headline figures, c_rps/view_rps/decoded_rps): the producer and consumer
//     alternate: one test run fills the ring with --per-round records (default 340,000,
//     ~16.3 MB of the 16 MiB ring), then the consumer drains the whole backlog, and only
//     the drain is timed: records/s of consumption time. This measures what the consumer
//     costs per record and nothing else (no producer speed, no wake-ups); a warm-up round
//     is not counted. Note that a drained backlog is a best case for memory access: records
//     are read sequentially, written moments before.
//   concurrent: producer.c (the same small C driver for every consumer), pinned to the last
//     CPU, loops test runs of --batch records (default 1024) while the consumer, pinned to
//     CPU 0 with taskset (all its threads: Node's GC and JIT threads share the consumer's
//     CPU), drains --records records (default 10M), waiting in epoll (libbpf) or
//     RingBuffer.wait() (tsbpf) when the ring is empty; timed from the first non-empty
//     drain to the last record. The BPF producer on this machine peaks at
//     ~13-16M records/s, below every consumer's backlog rate but the decoded one's, so these
//     figures mostly measure the producer, and how much the consumer slows it: libbpf
//     publishes its consumer position after every record, tsbpf once per drain, so the
//     producer (which reads that position in every reserve) contends less with tsbpf.
//     Producer stalls are test runs that found the ring full: many means the consumer was
//     the bottleneck; a few thousand with tsbpf view come from space being freed in steps
//     (once per drain), not from a slow consumer.
// No loss is verified for every run: sequence numbers seen are contiguous (gaps = 0), the
// number consumed equals the BPF sequence counter, and `full` is 0 in backlog runs.
//
// Figures are medians over --reps runs of each consumer (default 3), run interleaved.
//   json     tsbpf RingBuffer.drain + compileJsonWriter(btf, struct record): one JSON line per
//            record built straight from its bytes (as `tsbpf run -j` writes them), joined in
//            batches of 4096; reported as lines/s.
// Targets (issue 12): view >= 0.5x C, decoded >= 0.06x C. Ends with one JSON line of results.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import {
  buildDir, compileBpf, compileC, die, DIST, hasCommand, lastJson, median, requireDist, requireRoot, requireTools, round, si, spawnCollect, TOOLCHAIN,
} from '../lib.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const RING_SIZE = 16 << 20;
const RECORD_SIZE = 40;

function parseOpts(argv) {
  const o = { reps: 3, rounds: 20, perRound: 340_000, records: 10_000_000, batch: 1024, consumers: ['c', 'view', 'decoded', 'json'] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v <= 0) die(`${a} needs a positive integer`);
      return v;
    };
    if (a === '--reps') o.reps = num();
    else if (a === '--rounds') o.rounds = num();
    else if (a === '--per-round') o.perRound = num();
    else if (a === '--records') o.records = num();
    else if (a === '--batch') o.batch = num();
    else if (a === '--consumers') o.consumers = argv[++i].split(',');
    else if (a === '-h' || a === '--help') {
      console.log('usage: node bench/ringbuf/run.mjs [--reps N] [--rounds N] [--per-round N] [--records N] [--batch N] [--consumers c,view,decoded]');
      process.exit(0);
    } else die(`unknown option ${a}`);
  }
  if (o.perRound * (RECORD_SIZE + 8) > RING_SIZE) die(`--per-round ${o.perRound}: ${o.perRound} records of ${RECORD_SIZE + 8} bytes do not fit the ${RING_SIZE >> 20} MiB ring`);
  return o;
}

// ---------------------------------------------------------------- tsbpf consumer (child)

async function child([kind, obj, mode, a, b, producerBin, cpu]) {
  const { loadObjectFile } = await import(join(DIST, 'object', 'index.js'));
  const { Collection } = await import(join(DIST, 'loader', 'index.js'));
  const { RingBuffer } = await import(join(DIST, 'ringbuf', 'index.js'));
  const { compileDecoder, compileJsonWriter } = await import(join(DIST, 'decode', 'index.js'));

  const spec = loadObjectFile(obj);
  const coll = Collection.load(spec);
  const prog = coll.program('produce');
  const ring = new RingBuffer(coll.map('rb'));

  let count = 0;
  let gaps = 0;
  let expected = 0;
  let last;
  let visit;
  if (kind === 'view') {
    visit = (view, offset) => {
      const seq = view.getUint32(offset, true);
      if (seq !== expected) gaps++;
      expected = (seq + 1) >>> 0;
      count++;
    };
  } else if (kind === 'decoded') {
    const id = spec.btf.idByName('record', 'struct');
    if (id === undefined) die(`${obj}: no struct record in its BTF`);
    const { decode } = compileDecoder(spec.btf, id);
    visit = (view, offset) => {
      const e = decode(view, offset);
      if (e.seq !== expected) gaps++;
      expected = (e.seq + 1) >>> 0;
      count++;
      last = e;
    };
  } else if (kind === 'json') {
    const id = spec.btf.idByName('record', 'struct');
    if (id === undefined) die(`${obj}: no struct record in its BTF`);
    const json = compileJsonWriter(spec.btf, id);
    // A JSON line per record, as `tsbpf run -j` writes them (joined per drain, not printed).
    let lines = [];
    visit = (view, offset) => {
      const seq = view.getUint32(offset, true);
      if (seq !== expected) gaps++;
      expected = (seq + 1) >>> 0;
      count++;
      lines.push(json(view, offset));
      if (lines.length === 4096) {
        last = lines.join('\n');
        lines = [];
      }
    };
  } else die(`unknown consumer ${kind}`);

  const out = { consumer: kind, mode };
  if (mode === 'backlog') {
    const rounds = Number(a);
    const per = Number(b);
    const ctxIn = new Uint8Array(8);
    new DataView(ctxIn.buffer).setUint32(0, per, true);
    let seconds = 0;
    let counted = 0;
    for (let r = 0; r <= rounds; r++) {
      const { retval } = prog.testRun({ ctxIn });
      if (retval !== per) die(`the producer wrote ${retval} of ${per} records: ring too small`);
      const before = count;
      const t0 = performance.now();
      ring.drain(visit);
      const t1 = performance.now();
      if (count - before !== per) die(`round ${r} consumed ${count - before} of ${per} records`);
      if (r === 0) continue; // warm-up (and JIT)
      seconds += (t1 - t0) / 1e3;
      counted += per;
    }
    Object.assign(out, { records: counted, seconds });
  } else if (mode === 'concurrent') {
    const total = Number(a);
    const { spawn } = await import('node:child_process');
    const args = [String(prog.info().id), String(total), String(b)];
    if (cpu !== undefined) args.push(cpu);
    const producer = spawn(producerBin, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let producerOut = '';
    producer.stdout.setEncoding('utf8').on('data', (d) => (producerOut += d));
    const exited = new Promise((res) => producer.on('close', (code) => res(code)));
    let start = 0;
    while (count < total) {
      const t = performance.now();
      const n = ring.drain(visit);
      if (n > 0) {
        if (!start) start = t;
      } else {
        await ring.wait(1000);
      }
    }
    const end = performance.now();
    const code = await exited;
    if (code !== 0) die(`the producer failed (exit ${code})`);
    process.stdout.write(producerOut);
    Object.assign(out, { records: count, seconds: (end - start) / 1e3 });
  } else die(`unknown mode ${mode}`);

  const c = coll.variable('counters').get();
  Object.assign(out, { rps: Math.round(out.records / out.seconds), consumed: count, gaps, produced: Number(c.seq), full: Number(c.full) });
  if (kind === 'decoded') out.last = { ...last, ts_ns: String(last.ts_ns) };
  ring.close();
  coll.close();
  console.log(JSON.stringify(out));
}

// ---------------------------------------------------------------- orchestration

/** Consumers run on CPU 0 (with taskset, all their threads), the producer on the last CPU. */
const PIN = hasCommand('taskset') && availableParallelism() > 1;

async function runConsumer(kind, bin, obj, producerBin, mode, o) {
  const cpu = String(availableParallelism() - 1);
  const args = mode === 'backlog' ? [mode, String(o.rounds), String(o.perRound)] : [mode, String(o.records), String(o.batch), producerBin, cpu];
  const cmd = kind === 'c' ? [bin, obj, ...args] : [process.execPath, fileURLToPath(import.meta.url), '--child', kind, obj, ...args];
  const r = PIN ? await spawnCollect('taskset', ['-c', '0', ...cmd]) : await spawnCollect(cmd[0], cmd.slice(1));
  if (r.code !== 0) die(`${kind} consumer (${mode}) failed (exit ${r.code ?? r.signal}):\n${r.stderr}${r.stdout}`);
  const res = lastJson(r.stdout);
  if (!res?.consumer) die(`${kind} consumer printed no result:\n${r.stdout}${r.stderr}`);
  const prod = r.stdout.split('\n').filter((l) => l.startsWith('{"produced"')).map((l) => JSON.parse(l))[0];
  if (prod) res.producer = prod;
  // No loss: every sequence number once, in order, and all the producer wrote was consumed.
  const problems = [];
  if (res.gaps) problems.push(`${res.gaps} sequence gaps`);
  if (res.consumed !== res.produced) problems.push(`consumed ${res.consumed} of ${res.produced} produced`);
  if (mode === 'backlog' && res.full) problems.push(`${res.full} reserve failures in a backlog run`);
  res.lost = res.produced - res.consumed;
  if (problems.length) die(`${kind} (${mode}): LOSS: ${problems.join(', ')}`);
  return res;
}

async function main() {
  const o = parseOpts(process.argv.slice(2));
  requireRoot();
  requireDist('object/index.js', 'loader/index.js', 'ringbuf/index.js', 'decode/index.js');
  requireTools(TOOLCHAIN);

  const dir = buildDir('ringbuf');
  const obj = compileBpf(join(HERE, 'producer.bpf.c'), join(dir, 'producer.bpf.o'), [`RING_SIZE=${RING_SIZE}`]);
  const consumerBin = compileC(join(HERE, 'consumer.c'), join(dir, 'consumer'), { defines: [`RING_SIZE=${RING_SIZE}`] });
  const producerBin = compileC(join(HERE, 'producer.c'), join(dir, 'producer'));

  const clang = spawnSync('clang', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0];
  const libbpf = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'libbpf-dev'], { encoding: 'utf8' }).stdout || 'unknown';
  console.log(`ringbuf bench: ${RECORD_SIZE}-byte records, ${RING_SIZE >> 20} MiB ring, node ${process.version}, ${clang}, libbpf-dev ${libbpf}`);
  console.log(`consumers ${PIN ? 'pinned to CPU 0 (taskset)' : 'not pinned (no taskset or one CPU)'}, producer on CPU ${availableParallelism() - 1}`);
  console.log(`backlog: ${o.rounds} rounds x ${o.perRound} records per consumer run (+1 warm-up); concurrent: ${o.records} records in test runs of ${o.batch}; ${o.reps} runs each, medians\n`);

  const results = { backlog: {}, concurrent: {} };
  for (const mode of ['backlog', 'concurrent']) {
    for (const k of o.consumers) results[mode][k] = [];
    for (let rep = 0; rep < o.reps; rep++) {
      for (const k of o.consumers) {
        const r = await runConsumer(k, consumerBin, obj, producerBin, mode, o);
        results[mode][k].push(r);
        const extra = mode === 'concurrent' ? `  producer stalls ${r.producer?.stalls ?? '?'} of ${r.producer?.calls ?? '?'} test runs` : '';
        console.log(`  ${mode.padEnd(10)} ${k.padEnd(8)} run ${rep + 1}: ${si(r.rps).padStart(8)} records/s  (${r.records} records in ${r.seconds.toFixed(4)} s, gaps ${r.gaps}, lost ${r.lost})${extra}`);
      }
    }
  }

  const med = (mode, k) => (results[mode][k]?.length ? median(results[mode][k].map((r) => r.rps)) : NaN);
  const stalls = (k) => (results.concurrent[k]?.length ? median(results.concurrent[k].map((r) => r.producer?.stalls ?? 0)) : NaN);
  const c = med('backlog', 'c');
  const view = med('backlog', 'view');
  const decoded = med('backlog', 'decoded');
  const json = med('backlog', 'json');
  const cc = med('concurrent', 'c');
  const cv = med('concurrent', 'view');
  const cd = med('concurrent', 'decoded');

  console.log('\nbacklog (consumption time only; medians):');
  console.log(`  C (libbpf ring_buffer__consume)   ${si(c).padStart(9)} records/s  ${(1e9 / c).toFixed(2)} ns/record`);
  console.log(`  tsbpf view (drain, one field)     ${si(view).padStart(9)} records/s  ${(1e9 / view).toFixed(2)} ns/record   ${(view / c).toFixed(3)}x C  (target >= 0.5x: ${view / c >= 0.5 ? 'met' : 'MISSED'})`);
  console.log(`  tsbpf decoded (drain + decode)    ${si(decoded).padStart(9)} records/s  ${(1e9 / decoded).toFixed(2)} ns/record   ${(decoded / c).toFixed(3)}x C  (target >= 0.06x: ${decoded / c >= 0.06 ? 'met' : 'MISSED'})`);
  if (!Number.isNaN(json)) console.log(`  tsbpf JSON lines (drain + write)   ${si(json).padStart(9)} lines/s    ${(1e9 / json).toFixed(2)} ns/line     ${(json / c).toFixed(3)}x C`);
  console.log('concurrent (producer on another CPU; medians; stalls: producer test runs that found the ring full):');
  console.log(`  C                                 ${si(cc).padStart(9)} records/s  producer stalls ${stalls('c')}`);
  console.log(`  tsbpf view                        ${si(cv).padStart(9)} records/s  producer stalls ${stalls('view')}   ${(cv / cc).toFixed(3)}x C`);
  console.log(`  tsbpf decoded                     ${si(cd).padStart(9)} records/s  producer stalls ${stalls('decoded')}   ${(cd / cc).toFixed(3)}x C`);
  console.log('no loss: every run saw contiguous sequence numbers and consumed all that was produced');

  // records: timed per consumer in the headline (backlog) figures; records_total: everything
  // consumed and checked, warm-ups and concurrent runs included
  const records = o.rounds * o.perRound * o.reps;
  const recordsTotal = Object.values(results).flatMap((m) => Object.values(m).flat()).reduce((s, r) => s + r.consumed, 0);
  console.log(JSON.stringify({
    bench: 'ringbuf',
    mode: 'backlog',
    c_rps: Math.round(c),
    view_rps: Math.round(view),
    decoded_rps: Math.round(decoded),
    view_ratio: round(view / c),
    decoded_ratio: round(decoded / c),
    json_lines_per_s: Number.isNaN(json) ? null : Math.round(json),
    json_ratio: Number.isNaN(json) ? null : round(json / c),
    view_target_met: view / c >= 0.5,
    decoded_target_met: decoded / c >= 0.06,
    records,
    records_total: recordsTotal,
    record_bytes: RECORD_SIZE,
    ring_bytes: RING_SIZE,
    reps: o.reps,
    per_round: o.perRound,
    rounds: o.rounds,
    concurrent: {
      records: o.records,
      batch: o.batch,
      c_rps: Math.round(cc),
      view_rps: Math.round(cv),
      decoded_rps: Math.round(cd),
      view_ratio: round(cv / cc),
      decoded_ratio: round(cd / cc),
      c_stalls: stalls('c'),
      view_stalls: stalls('view'),
      decoded_stalls: stalls('decoded'),
    },
    lost: 0,
    gaps: 0,
    pinned: PIN,
    node: process.version,
    libbpf,
  }));
}

if (process.argv[2] === '--child') await child(process.argv.slice(3));
else await main();
