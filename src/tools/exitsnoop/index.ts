/**
 * exitsnoop: every process exit on the machine (or every thread's, with threads), filtered
 * in the kernel, as a table, the seed's table, JSON lines or a summary. The BPF side
 * (tools/exitsnoop/) is compiled ahead of time and shipped, so this needs no compiler.
 *
 * Nothing is lost silently: the BPF program counts the records the ring had no room for,
 * per CPU, and every increase is reported in the output stream.
 */
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TsbpfError } from '../../errors.js';
import { attach, tracefsPath } from '../../link/index.js';
import { Collection, setGlobal } from '../../loader/index.js';
import { loadObjectFile, type ObjectSpec } from '../../object/index.js';
import { RingBuffer } from '../../ringbuf/index.js';
import { defaultSys } from '../../sys/index.js';
import { CgroupPaths, cgroupDir } from './cgroup.js';
import { EventDecoder, monotonicToWall, type ExitEvent } from './event.js';
import { ExitFormatter, type OutputFormat, type TimeStyle } from './format.js';
import { Summary } from './summary.js';

export { signalName, failed, type ExitEvent } from './event.js';
export { ExitFormatter, formatTime, type OutputFormat, type TimeStyle } from './format.js';
export { Summary, reasonOf } from './summary.js';
export { cgroup2Mount, cgroupDir } from './cgroup.js';

export const EXITSNOOP_OBJECT = fileURLToPath(new URL('../../../../tools/exitsnoop/exitsnoop.bpf.o', import.meta.url));

/** The ring's default size: room for about 45,000 exits before user space must read. */
export const DEFAULT_RINGBUF_SIZE = 4 << 20;
const PAGE_SIZE = 4096;
const COMM_LEN = 16;

export interface ExitsnoopOptions {
  format?: OutputFormat;
  time?: TimeStyle;
  /** One event per thread instead of per process. */
  threads?: boolean;
  /** Only these process ids. */
  pids?: number[];
  /** Only children of this process. */
  ppid?: number;
  /** Only this real uid. */
  uid?: number;
  /** Only processes of this name (the first 15 characters count, as in the kernel). */
  comm?: string;
  /** Only tasks in this cgroup v2 or below it: a directory, or a path under the cgroup2 mount. */
  cgroup?: string;
  /** Only non-zero exit codes and signals. */
  failedOnly?: boolean;
  /** Only processes at least this old. */
  minAgeNs?: bigint;
  /** Ring buffer bytes: a power of two, at least a page. */
  ringbufSize?: number;
  /** Print no events; print a summary when the run ends. */
  summary?: boolean;
  /** Where output goes (default stdout). */
  out?: NodeJS.WritableStream;
  /** The kernel's BTF as a file (kernels without /sys/kernel/btf/vmlinux): CO-RE against it. */
  btf?: string;
  /** Told once the program is attached; `groupDead` says which process-exit rule is in force. */
  onReady?: (info: { groupDead: boolean }) => void;
  /** Stops the run. */
  signal?: AbortSignal;
}

export interface ExitsnoopResult {
  events: number;
  lost: number;
}

/** Writes the options into the object before load: the BPF side's const volatile settings. */
export function configure(spec: ObjectSpec, o: ExitsnoopOptions): void {
  if (o.threads) setGlobal(spec, 'threads', true);
  if (o.pids?.length) setGlobal(spec, 'filter_pids', true);
  if (o.ppid !== undefined) setGlobal(spec, 'targ_ppid', positiveInt(o.ppid, 'ppid'));
  if (o.uid !== undefined) {
    if (!Number.isInteger(o.uid) || o.uid < 0 || o.uid > 0xfffffffe) throw new TsbpfError(`uid ${o.uid} is not a user id`);
    setGlobal(spec, 'filter_uid', true);
    setGlobal(spec, 'targ_uid', o.uid);
  }
  if (o.comm !== undefined) {
    if (!o.comm) throw new TsbpfError('comm: an empty name matches nothing');
    setGlobal(spec, 'filter_comm', true);
    setGlobal(spec, 'targ_comm', Buffer.from(o.comm).subarray(0, COMM_LEN - 1).toString('latin1'));
  }
  if (o.cgroup !== undefined) setGlobal(spec, 'filter_cgroup', true);
  if (o.failedOnly) setGlobal(spec, 'failed_only', true);
  if (o.minAgeNs !== undefined) setGlobal(spec, 'min_age_ns', o.minAgeNs);
  const size = o.ringbufSize ?? DEFAULT_RINGBUF_SIZE;
  if (!Number.isInteger(size) || size < PAGE_SIZE || (size & (size - 1)) !== 0 || size > 1 << 30) {
    throw new TsbpfError(`ring buffer size ${size} must be a power of two from ${PAGE_SIZE} to 1 GiB`);
  }
  spec.maps.find((m) => m.name === 'events')!.maxEntries = size;
}

function positiveInt(n: number, what: string): number {
  if (!Number.isInteger(n) || n <= 0 || n > 0x7fffffff) throw new TsbpfError(`${what} ${n} is not a process id`);
  return n;
}

/** True when this kernel's sched_process_exit says which thread is the last (group_dead). */
export function kernelHasGroupDead(): boolean {
  try {
    const format = readFileSync(join(tracefsPath(defaultSys()), 'events', 'sched', 'sched_process_exit', 'format'), 'utf8');
    return /\bgroup_dead;/.test(format);
  } catch {
    return false;
  }
}

export async function exitsnoop(opts: ExitsnoopOptions = {}): Promise<ExitsnoopResult> {
  const out = opts.out ?? process.stdout;
  const spec = loadObjectFile(EXITSNOOP_OBJECT);
  configure(spec, opts);
  const cgroup = opts.cgroup !== undefined ? cgroupDir(opts.cgroup) : undefined;
  const paths = opts.format === 'json' ? new CgroupPaths() : undefined;
  const format = new ExitFormatter(opts.format ?? 'table', opts.time, paths ? (id) => paths.path(id) : undefined);
  const decoder = new EventDecoder(spec.btf, monotonicToWall());
  const summary = opts.summary ? new Summary() : undefined;

  using coll = Collection.load(spec, { targetBtf: opts.btf });
  for (const pid of opts.pids ?? []) coll.map('pids').update(positiveInt(pid, 'pid'), 1);
  if (cgroup) {
    // The map keeps its own reference to the cgroup; the directory fd is only the handle.
    const fd = openSync(cgroup, 'r');
    try {
      const value = new Uint8Array(4);
      new DataView(value.buffer).setUint32(0, fd, true);
      coll.map('cgroup').update(0, value);
    } finally {
      closeSync(fd);
    }
  }
  using link = attach(coll.program('handle_exit'));
  void link;
  using ring = new RingBuffer(coll.map('events'));
  const lostMap = coll.map('lost');
  const totalLost = () => (lostMap.lookup(0) as bigint[]).reduce((a, b) => a + Number(b), 0);

  let broken = false;
  const write = (text: string) => {
    if (text && !broken) out.write(text);
  };
  out.on?.('error', () => {
    broken = true; // a closed pipe (| head) ends the run quietly
    abort();
  });

  let events = 0;
  let reportedLost = 0;
  let lastLostCheck = 0;
  const lines: string[] = [];
  const flush = () => {
    write(lines.length ? lines.join('\n') + '\n' : '');
    lines.length = 0;
  };
  const checkLost = (force: boolean) => {
    const now = Date.now();
    if (!force && now - lastLostCheck < 50) return;
    lastLostCheck = now;
    const total = totalLost();
    if (total > reportedLost) {
      if (!summary) lines.push(format.lost(total - reportedLost, total, now));
      reportedLost = total;
    }
  };
  const onEvent = (e: ExitEvent) => {
    events++;
    if (summary) summary.add(e);
    else lines.push(format.line(e));
  };
  const drain = () => {
    ring.drain((view, offset) => onEvent(decoder.event(view, offset)));
    checkLost(false);
    flush();
  };

  let abort = () => {};
  const stopped = new Promise<void>((resolve) => {
    abort = resolve;
    if (opts.signal?.aborted) resolve();
    opts.signal?.addEventListener('abort', () => resolve(), { once: true });
  });

  write(summary ? '' : format.header);
  opts.onReady?.({ groupDead: opts.threads ? true : kernelHasGroupDead() });
  // One watch for the whole run; each wake-up drains everything there is.
  ring.listenBatch((view, offset) => {
    onEvent(decoder.event(view, offset));
    if (lines.length === 1) queueMicrotask(() => {
      checkLost(false);
      flush();
    });
  });
  const lostTimer = setInterval(() => {
    checkLost(true);
    flush();
  }, 1000);
  try {
    await stopped;
  } finally {
    clearInterval(lostTimer);
  }
  if (!broken) {
    // What is already in the ring is printed before the ring is let go, and the final
    // loss count after it.
    drain();
    checkLost(true);
    if (summary) write(opts.format === 'json' ? summary.json(reportedLost) + '\n' : summary.text(reportedLost));
    flush();
  }
  return { events, lost: reportedLost };
}
