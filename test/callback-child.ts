/**
 * A child process for callbacks.test.ts: one scenario (argv[2]) of a ring or perf buffer
 * reader whose callback or decoder throws for one known exec. It prints one JSON line per
 * observation and must end by itself: a watch left open would keep it alive.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { attach } from '../src/link/index.js';
import { Collection } from '../src/loader/index.js';
import { loadObjectFile } from '../src/object/index.js';
import { PerfBuffer } from '../src/perf/index.js';
import { RingBuffer } from '../src/ringbuf/index.js';
import { compileBpf } from './compile.js';
import { ROOT } from './paths.js';

const scenario = process.argv[2] ?? '';
const say = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(o)}\n`);
const pidAt = (v: DataView, o: number) => v.getUint32(o, true);
const perf = scenario.startsWith('perf');

const spec = perf
  ? loadObjectFile(compileBpf(join(ROOT, 'examples', 'perfbuf', 'execs.bpf.c'), { keepStructs: ['event'] }))
  : loadObjectFile(join(ROOT, 'testdata', 'tracepoint.bpf.o'));
const coll = Collection.load(spec);
const link = attach(coll.program(perf ? 'handle_exec' : 'on_exec'));
const ring = perf ? undefined : new RingBuffer(coll.map('events'));
const pbuf = perf ? new PerfBuffer(coll.map('events')) : undefined;
const drainPids = (): number[] => {
  const pids: number[] = [];
  if (ring) ring.drain((v, o) => void pids.push(pidAt(v, o)));
  else pbuf!.drain((s) => void pids.push(pidAt(new DataView(s.buffer, s.byteOffset, s.byteLength), 0)));
  return pids;
};
drainPids(); // what ran before
let kept: DataView | undefined;
let keptAt = 0;

function finish(target: number): void {
  // The record that threw is consumed, not handed over again; the next ones still come.
  const next = spawnSync('/bin/true').pid!;
  const after = drainPids();
  say({ redelivered: after.includes(target), next: after.includes(next) });
  ring?.close();
  pbuf?.close();
  let detached = false;
  try {
    kept?.getUint32(keptAt, true);
  } catch (e) {
    detached = e instanceof TypeError;
  }
  say({ closed: true, detached });
  link.close();
  coll.close();
}

const onRecord = (target: () => number) => (v: DataView, o: number) => {
  if (pidAt(v, o) !== target()) return;
  kept = v;
  keptAt = o;
  throw new Error(`boom ${target()}`);
};

if (scenario.endsWith('-listen')) {
  // Thrown from the event loop's wake-up: raised as an uncaught exception at once.
  let target = -1;
  let spawnedAt = 0;
  process.once('uncaughtException', (e) => {
    say({ uncaught: e.message, target, ms: Date.now() - spawnedAt });
    finish(target);
  });
  const visit = onRecord(() => target);
  if (ring) ring.listenBatch(visit);
  else pbuf!.listen((s) => visit(new DataView(s.buffer, s.byteOffset, s.byteLength), 0));
  setTimeout(() => {
    spawnedAt = Date.now();
    target = spawnSync('/bin/true').pid!;
  }, 100);
} else if (scenario.endsWith('-first')) {
  // Records already waiting: the first drain runs inside listen(), which throws.
  const target = spawnSync('/bin/true').pid!;
  const visit = onRecord(() => target);
  try {
    if (ring) ring.listenBatch(visit);
    else pbuf!.listen((s) => visit(new DataView(s.buffer, s.byteOffset, s.byteLength), 0));
    say({ listenThrew: false });
  } catch (e) {
    say({ listenThrew: (e as Error).message, target });
  }
  finish(target);
} else if (scenario.endsWith('-events')) {
  // A decoder that throws: the iterator gives what came before, then throws.
  const before = spawnSync('/bin/true').pid!;
  const target = spawnSync('/bin/true').pid!;
  const decode = (v: DataView, o: number) => {
    const pid = pidAt(v, o);
    if (pid === target) {
      kept = v;
      keptAt = o;
      throw new Error(`boom ${pid}`);
    }
    return pid;
  };
  const seen: unknown[] = [];
  const it = ring ? ring.events(decode) : pbuf!.events(decode);
  const started = Date.now();
  try {
    for await (const pid of it) seen.push(pid);
    say({ iterThrew: false });
  } catch (e) {
    say({ iterThrew: (e as Error).message, target, sawBefore: seen.includes(before), ms: Date.now() - started });
  }
  finish(target);
} else {
  throw new Error(`unknown scenario ${scenario}`);
}
