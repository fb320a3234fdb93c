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
import { TsbpfError } from '../../errors.js';
import { pushIterator } from '../../push-iterator.js';
import { attach, tracefsPath, type Link } from '../../link/index.js';
import { Collection, setGlobal } from '../../loader/index.js';
import { loadObjectFile, type ObjectSpec } from '../../object/index.js';
import { RingBuffer } from '../../ringbuf/index.js';
import { defaultSys } from '../../sys/index.js';
import { CgroupPaths, cgroup2Mount, cgroupDir } from './cgroup.js';
import { CgroupIdentities, findContainerCgroup } from './container.js';
import { OutputWatch } from '../../output.js';
import { packagePath } from '../../package-root.js';
import { EventDecoder, monotonicToWall, type ExitEvent } from './event.js';
import { ExitFormatter, type OutputFormat, type TimeStyle } from './format.js';
import { Summary } from './summary.js';
import { quoted } from '../../text.js';

export { signalName, failed, type ExitEvent } from './event.js';
export { ExitFormatter, formatTime, type OutputFormat, type TimeStyle } from './format.js';
export { Summary, reasonOf } from './summary.js';
export { cgroup2Mount, cgroupDir } from './cgroup.js';

export const EXITSNOOP_OBJECT = packagePath('tools', 'exitsnoop', 'exitsnoop.bpf.o');

/** How long an exit may wait in the ring before the reader drains it (ExitFilterOptions.batchMs). */
export const DEFAULT_BATCH_MS = 10;

/** The ring's default size: room for about 45,000 exits before user space must read. */
export const DEFAULT_RINGBUF_SIZE = 4 << 20;
const PAGE_SIZE = 4096;
const COMM_LEN = 16;

/** Which exits to see: filtered in the kernel, before anything reaches user space. */
export interface ExitFilterOptions {
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
  /** Only this container's processes: its id or a prefix (found in the cgroup hierarchy at start). */
  container?: string;
  /** Only this Kubernetes pod's processes: its UID. */
  pod?: string;
  /** Only non-zero exit codes and signals. */
  failedOnly?: boolean;
  /** Only processes at least this old. */
  minAgeNs?: bigint;
  /** Ring buffer bytes: a power of two, at least a page. */
  ringbufSize?: number;
  /**
   * Batched wake-ups: the BPF side wakes the reader only once a quarter of the ring waits,
   * and the reader drains every `batchMs` ms, so that one exit costs no wake-up of its own
   * and none waits longer than that. 0: a wake-up per record. Default DEFAULT_BATCH_MS.
   */
  batchMs?: number;
  /** The kernel's BTF as a file (kernels without /sys/kernel/btf/vmlinux): CO-RE against it. */
  btf?: string;
}

export interface ExitsnoopOptions extends ExitFilterOptions {
  format?: OutputFormat;
  time?: TimeStyle;
  /** Print no events; print a summary when the run ends. */
  summary?: boolean;
  /** Print no events (loss notices go to stderr): for metrics only. */
  quiet?: boolean;
  /** Sees every exit and loss as they are delivered (metrics). */
  observer?: { exit(e: ExitEvent): void; lost(count: number, total: number): void };
  /** Where output goes (default stdout). */
  out?: NodeJS.WritableStream;
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
export function configure(spec: ObjectSpec, o: ExitFilterOptions): void {
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
    // The kernel keeps a name's first 15 bytes (not characters): match those bytes exactly.
    setGlobal(spec, 'targ_comm', Buffer.from(o.comm, 'utf8').subarray(0, COMM_LEN - 1));
  }
  if (o.cgroup !== undefined || o.container !== undefined || o.pod !== undefined) setGlobal(spec, 'filter_cgroup', true);
  if (o.failedOnly) setGlobal(spec, 'failed_only', true);
  if (o.minAgeNs !== undefined) setGlobal(spec, 'min_age_ns', o.minAgeNs);
  const size = o.ringbufSize ?? DEFAULT_RINGBUF_SIZE;
  if (!Number.isInteger(size) || size < PAGE_SIZE || (size & (size - 1)) !== 0 || size > 1 << 30) {
    throw new TsbpfError(`ring buffer size ${size} must be a power of two from ${PAGE_SIZE} to 1 GiB`);
  }
  spec.maps.find((m) => m.name === 'events')!.maxEntries = size;
  const batchMs = o.batchMs ?? DEFAULT_BATCH_MS;
  if (!Number.isFinite(batchMs) || batchMs < 0 || batchMs > 10_000) throw new TsbpfError(`batch interval ${batchMs} ms must be from 0 to 10000`);
  if (batchMs > 0) setGlobal(spec, 'wakeup_bytes', BigInt(size / 4));
}

/** The cgroup directory the filters name, if any: --cgroup's, or the container's or pod's. */
function filterCgroup(o: ExitFilterOptions): string | undefined {
  const named = [o.cgroup !== undefined && 'cgroup', o.container !== undefined && 'container', o.pod !== undefined && 'pod'].filter(Boolean);
  if (named.length > 1) throw new TsbpfError(`${named.map((n) => `--${n}`).join(' and ')}: give one (each is a cgroup filter, and the kernel side takes one cgroup)`);
  if (o.cgroup !== undefined) return cgroupDir(o.cgroup);
  if (o.container === undefined && o.pod === undefined) return undefined;
  const mount = cgroup2Mount();
  if (!mount) throw new TsbpfError('--container/--pod: no cgroup2 filesystem is mounted (see /proc/self/mounts)');
  if (o.container !== undefined && !/^[0-9a-f]{1,64}$/i.test(o.container)) throw new TsbpfError(`--container ${quoted(o.container)}: a container id is hex digits`);
  if (o.pod !== undefined && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(o.pod)) throw new TsbpfError(`--pod ${quoted(o.pod)}: a pod UID looks like 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0`);
  const dir = findContainerCgroup(mount, o);
  if (!dir) throw new TsbpfError(o.pod !== undefined ? `--pod ${o.pod}: no cgroup of that pod under ${mount} (is it running on this node?)` : `--container ${o.container}: no cgroup of that container under ${mount} (is it running?)`);
  return dir;
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

/** What exitEvents() and ExitMonitor deliver: exits, and losses as soon as they are counted. */
export type ExitItem = ({ kind: 'exit' } & ExitEvent) | { kind: 'lost'; count: number; total: number };

export interface ExitHandlers {
  exit(e: ExitEvent): void;
  /** `count` records the ring had no room for since the last notice; `total` in all. */
  lost?(count: number, total: number): void;
  /** After each batch of exits: one wake-up's worth has been delivered. */
  batch?(): void;
}

/**
 * The exit monitor as a library: the shipped object loaded with the filters, attached, its
 * ring read. Every exit is an ExitEvent; every record the ring had no room for is counted
 * by the BPF side and reported as a loss.
 */
export class ExitMonitor implements Disposable {
  /** Which process-exit rule is in force: the kernel's group_dead, or the fallback (README). */
  readonly groupDead: boolean;
  private readonly coll: Collection;
  private readonly link: Link;
  private readonly ring: RingBuffer;
  private readonly decoder: EventDecoder;
  private reportedLost = 0;
  private running = false;

  private readonly batchMs: number;

  private constructor(coll: Collection, link: Link, ring: RingBuffer, decoder: EventDecoder, groupDead: boolean, batchMs: number) {
    this.batchMs = batchMs;
    this.coll = coll;
    this.link = link;
    this.ring = ring;
    this.decoder = decoder;
    this.groupDead = groupDead;
  }

  /** Loads, filters and attaches; errors here leave nothing behind. */
  static open(opts: ExitFilterOptions = {}): ExitMonitor {
    const spec = loadObjectFile(EXITSNOOP_OBJECT);
    configure(spec, opts);
    const cgroup = filterCgroup(opts);
    const decoder = new EventDecoder(spec.btf, monotonicToWall());
    const coll = Collection.load(spec, { targetBtf: opts.btf });
    try {
      const pids = coll.map('pids');
      const wanted = new Set(opts.pids ?? []);
      if (wanted.size > pids.maxEntries) throw new TsbpfError(`-p: ${wanted.size} processes are more than the ${pids.maxEntries} the filter holds; filter by --ppid, --cgroup or -u instead, or run several exitsnoops`);
      for (const pid of wanted) pids.update(positiveInt(pid, 'pid'), 1);
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
      const link = attach(coll.program('handle_exit'));
      try {
        return new ExitMonitor(coll, link, new RingBuffer(coll.map('events')), decoder, opts.threads ? true : kernelHasGroupDead(), opts.batchMs ?? DEFAULT_BATCH_MS);
      } catch (e) {
        link.close();
        throw e;
      }
    } catch (e) {
      coll.close();
      throw e;
    }
  }

  /** Records lost so far (the BPF side's per-CPU counter). */
  totalLost(): number {
    return (this.coll.map('lost').lookup(0) as bigint[]).reduce((a, b) => a + Number(b), 0);
  }

  /**
   * Delivers every exit until `signal` aborts, then what the ring still holds; losses are
   * checked after each batch (at most every 50 ms) and every second. A handler's
   * exception ends the run with it.
   */
  async run(h: ExitHandlers, signal?: AbortSignal): Promise<void> {
    if (this.running) throw new TsbpfError('this exit monitor is already running');
    this.running = true;
    let stop = () => {};
    let failed: { error: unknown } | undefined;
    const stopped = new Promise<void>((resolve) => {
      stop = resolve;
      if (signal?.aborted) resolve();
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    const guard = (fn: () => void) => {
      if (failed) return;
      try {
        fn();
      } catch (error) {
        failed = { error };
        stop();
      }
    };
    let lastLostCheck = 0;
    const checkLost = (force: boolean) => {
      const now = Date.now();
      if (!force && now - lastLostCheck < 50) return;
      lastLostCheck = now;
      const total = this.totalLost();
      if (total > this.reportedLost) {
        const count = total - this.reportedLost;
        this.reportedLost = total;
        h.lost?.(count, total);
      }
    };
    let pending = false;
    const endBatch = () => {
      pending = false;
      guard(() => {
        checkLost(false);
        h.batch?.();
      });
    };
    const visit = (view: DataView, offset: number) => {
      if (failed) return;
      guard(() => h.exit(this.decoder.event(view, offset)));
      if (!pending) {
        pending = true;
        queueMicrotask(endBatch);
      }
    };
    // One watch for the whole run; each wake-up drains everything there is.
    this.ring.listenBatch(visit, { intervalMs: this.batchMs });
    const lostTimer = setInterval(() => guard(() => {
      checkLost(true);
      h.batch?.();
    }), 1000);
    try {
      await stopped;
    } finally {
      clearInterval(lostTimer);
    }
    if (!failed) {
      // What is already in the ring is delivered before the ring is let go, and the final
      // loss count after it.
      this.ring.drain(visit);
      guard(() => {
        checkLost(true);
        h.batch?.();
      });
    }
    if (failed) throw failed.error;
  }

  /** Exits and loss notices as an async iterator of owned values; leaving the loop stops the run. */
  items(signal?: AbortSignal): AsyncGenerator<ExitItem, void, undefined> {
    // Woken once per batch, not per exit: one event-loop turn per wake-up of the ring.
    return pushIterator<ExitItem>(
      (push, wake, stop) =>
        this.run(
          {
            exit: (e) => push({ kind: 'exit', ...e }),
            lost: (count, total) => push({ kind: 'lost', count, total }),
            batch: wake,
          },
          stop,
        ),
      signal,
      false,
    );
  }

  close(): void {
    this.ring.close();
    this.link.close();
    this.coll.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Every exit the filters let through, and every loss, as an async iterator (typed
 * ExitItems); ends when `signal` aborts or the loop is left, detaching everything.
 *
 *   for await (const e of exitEvents({ failedOnly: true, signal })) if (e.kind === 'exit') console.log(e.pid, e.exitCode);
 */
export async function* exitEvents(opts: ExitFilterOptions & { signal?: AbortSignal } = {}): AsyncGenerator<ExitItem, void, undefined> {
  using monitor = ExitMonitor.open(opts);
  yield* monitor.items(opts.signal);
}

/** `tsbpf exitsnoop`: the exits as a table, the seed's table, JSON lines or a summary. */
export async function exitsnoop(opts: ExitsnoopOptions = {}): Promise<ExitsnoopResult> {
  const out = opts.out ?? process.stdout;
  const cgroups = opts.format === 'json' ? new CgroupIdentities(new CgroupPaths()) : undefined;
  const format = new ExitFormatter(opts.format ?? 'table', opts.time, cgroups ? (id) => cgroups.info(id) : undefined);
  const summary = opts.summary ? new Summary() : undefined;
  using monitor = ExitMonitor.open(opts);

  const ac = new AbortController();
  const output = new OutputWatch(out, () => ac.abort());
  const write = (text: string) => {
    if (text && !output.broken) out.write(text);
  };
  let events = 0;
  let lost = 0;
  const lines: string[] = [];
  const flush = () => {
    write(lines.length ? lines.join('\n') + '\n' : '');
    lines.length = 0;
  };
  const quiet = !!opts.quiet && !summary;
  const observer = opts.observer;
  write(summary || quiet ? '' : format.header);
  opts.onReady?.({ groupDead: monitor.groupDead });
  await monitor.run(
    {
      exit: (e) => {
        events++;
        observer?.exit(e);
        if (summary) summary.add(e);
        else if (!quiet) lines.push(format.line(e));
      },
      lost: (count, total) => {
        lost = total;
        observer?.lost(count, total);
        if (quiet) process.stderr.write(`tsbpf: ${count} exits lost (ring buffer full; ${total} in all)\n`);
        else if (!summary) lines.push(format.lost(count, total, Date.now()));
      },
      batch: flush,
    },
    opts.signal ? AbortSignal.any([opts.signal, ac.signal]) : ac.signal,
  );
  if (summary) write(opts.format === 'json' ? summary.json(lost) + '\n' : summary.text(lost));
  flush();
  output.check();
  return { events, lost };
}
