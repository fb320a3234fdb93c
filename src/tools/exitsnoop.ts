/**
 * exitsnoop: every process exit on the machine, as the seed's table or as JSON lines.
 * The BPF side (tools/exitsnoop/) is compiled ahead of time and shipped, so running
 * this needs no compiler.
 */
import { fileURLToPath } from 'node:url';
import { clockTime, EventFormatter } from '../decode/index.js';
import { TsbpfError } from '../errors.js';
import { attach } from '../link/index.js';
import { Collection } from '../loader/index.js';
import { loadObjectFile } from '../object/index.js';
import { RingBuffer } from '../ringbuf/index.js';

export const EXITSNOOP_OBJECT = fileURLToPath(new URL('../../../tools/exitsnoop/exitsnoop.bpf.o', import.meta.url));

export interface ExitsnoopOptions {
  json?: boolean;
  /** Where events go (default stdout). */
  out?: NodeJS.WritableStream;
  /** Told once the program is attached. */
  onReady?: () => void;
  /** Stops the run. */
  signal?: AbortSignal;
}

export async function exitsnoop(opts: ExitsnoopOptions = {}): Promise<void> {
  const out = opts.out ?? process.stdout;
  const spec = loadObjectFile(EXITSNOOP_OBJECT);
  const eventId = spec.btf.idByName('event', 'struct');
  if (eventId === undefined) throw new TsbpfError(`${EXITSNOOP_OBJECT}: no struct event in its BTF`);
  const format = new EventFormatter(spec.btf, eventId, opts.json);

  using coll = Collection.load(spec);
  using link = attach(coll.program('handle_exit'));
  using ring = new RingBuffer(coll.map('rb'));
  void link;

  let broken = false;
  const write = (text: string) => {
    if (text && !broken) out.write(text);
  };
  out.on?.('error', () => {
    broken = true; // a closed pipe (| head) ends the run quietly
    ring.close();
  });
  write(format.header);
  opts.onReady?.();

  const stop = new Promise<void>((resolve) => {
    if (opts.signal?.aborted) resolve();
    opts.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  let stopped = false;
  const lines: string[] = [];
  let now = '';
  const visit = (view: DataView, offset: number) => {
    lines.push(format.line(view, offset, now));
  };
  const flush = () => {
    write(lines.length ? lines.join('\n') + '\n' : '');
    lines.length = 0;
  };
  void stop.then(() => {
    stopped = true;
    // Print what is already in the ring before letting go of it.
    if (!broken) {
      now = clockTime(new Date());
      ring.drain(visit);
      flush();
    }
    ring.close();
  });

  while (!stopped && !broken) {
    await ring.wait();
    if (stopped || broken) break;
    now = clockTime(new Date());
    ring.drain(visit);
    // One write per batch: under load, per-event writes would cost more than decoding.
    flush();
  }
}
