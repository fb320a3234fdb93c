/**
 * A perf buffer reader for BPF_MAP_TYPE_PERF_EVENT_ARRAY: one BPF-output perf event
 * per CPU, each with its own mmap'd ring, registered in the map so bpf_perf_event_output
 * reaches it. Samples that the kernel dropped because a ring was full arrive as
 * PERF_RECORD_LOST records: they are counted, never silently ignored.
 */
import { TsbpfError } from '../errors.js';
import type { BpfMap } from '../loader/index.js';
import * as C from '../sys/constants.js';
import { defaultSys } from '../sys/index.js';
import type { FdWatch, Mapping, Sys } from '../sys/types.js';

export interface PerfBufferOptions {
  sys?: Sys;
  /** Data pages per CPU, a power of two (default 64: 256 KiB per CPU). */
  pageCount?: number;
}

interface CpuRing {
  cpu: number;
  fd: number;
  mapping: Mapping;
  head: BigInt64Array;
  tail: BigInt64Array;
  data: Uint8Array;
  view: DataView;
}

/** Called per sample with a view of its raw bytes, valid during the call. */
export type SampleHandler = (sample: Uint8Array, cpu: number) => void;

/** Samples the kernel dropped on one CPU because its ring was full (PERF_RECORD_LOST). */
export class LostSamples {
  constructor(readonly count: number, readonly cpu: number) {}
}

export class PerfBuffer {
  private readonly sys: Sys;
  private readonly rings: CpuRing[] = [];
  private readonly size: number;
  private watches: FdWatch[] = [];
  private closed = false;
  /** Ends a pending events() wait; close() calls it. */
  private endWait?: () => void;
  /** Samples the kernel reported lost (PERF_RECORD_LOST), per CPU. */
  readonly lost: number[] = [];
  /** Scratch for samples that wrap around the end of a ring. */
  private wrapBuf = new Uint8Array(256);
  /** Told of each PERF_RECORD_LOST as it is read. */
  private onLost?: (lost: LostSamples) => void;

  constructor(readonly map: BpfMap, opts: PerfBufferOptions = {}) {
    if (map.type !== C.BPF_MAP_TYPE_PERF_EVENT_ARRAY) throw new TsbpfError(`map ${map.name} is not a perf event array`);
    this.sys = opts.sys ?? defaultSys();
    const pages = opts.pageCount ?? 64;
    if (pages & (pages - 1)) throw new TsbpfError(`perf buffer page count ${pages} is not a power of two`);
    const page = this.sys.pageSize();
    this.size = pages * page;
    try {
      const cpus = Math.min(this.sys.possibleCpus(), map.maxEntries);
      for (let cpu = 0; cpu < cpus; cpu++) {
        const fd = this.sys.perfEventOpen(
          { type: C.PERF_TYPE_SOFTWARE, config: C.PERF_COUNT_SW_BPF_OUTPUT, sampleType: C.PERF_SAMPLE_RAW, samplePeriod: 1n, wakeupEvents: 1 },
          -1, cpu, -1, C.PERF_FLAG_FD_CLOEXEC,
        );
        let mapping: Mapping;
        try {
          mapping = this.sys.mmap(page + this.size, C.PROT_READ | C.PROT_WRITE, C.MAP_SHARED, fd, 0);
        } catch (e) {
          this.sys.close(fd);
          throw e;
        }
        this.rings.push({
          cpu, fd, mapping,
          head: new BigInt64Array(mapping.buffer, mapping.offset + C.PERF_MMAP_PAGE_DATA_HEAD, 1),
          tail: new BigInt64Array(mapping.buffer, mapping.offset + C.PERF_MMAP_PAGE_DATA_TAIL, 1),
          data: new Uint8Array(mapping.buffer, mapping.offset + page, this.size),
          view: new DataView(mapping.buffer, mapping.offset + page, this.size),
        });
        this.lost.push(0);
        const key = new Uint8Array(4);
        new DataView(key.buffer).setUint32(0, cpu, true);
        const value = new Uint8Array(4);
        new DataView(value.buffer).setUint32(0, fd, true);
        map.update(key, value);
        this.sys.ioctl(fd, C.PERF_EVENT_IOC_ENABLE, 0);
      }
    } catch (e) {
      this.close();
      throw e;
    }
  }

  get totalLost(): number {
    return this.lost.reduce((a, b) => a + b, 0);
  }

  /** Reads every available sample of every CPU. Returns the number of samples. */
  drain(onSample: SampleHandler): number {
    let n = 0;
    for (const r of this.rings) n += this.drainRing(r, onSample);
    return n;
  }

  /** From now until close, samples are handed over as they arrive (event-loop readiness). */
  listen(onSample: SampleHandler): void {
    if (this.watches.length) throw new TsbpfError(`perf buffer ${this.map.name} already has a reader`);
    // One watch per CPU's fd. (Not one epoll set of them all: perf's poll clears its
    // readiness flag when read, so a nested epoll loses wake-ups.)
    // A handler that throws ends the listening (close() is still the caller's): the
    // exception reaches the caller of listen when it is the first drain, else it is
    // raised as an uncaught exception at once, as an event listener's would be.
    const drain = () => {
      if (this.closed) return;
      try {
        this.drain(onSample);
      } catch (e) {
        this.stopWatches();
        throw e;
      }
    };
    // Any CPU's wake-up drains every ring, so one lost readiness delays nothing for long.
    this.watches = this.rings.map((r) => this.sys.watchReadable(r.fd, drain));
    drain();
    // libuv registers the fds at its next poll phase, and perf's poll clears its
    // readiness flag when checked: a sample landing before then would wake no one.
    // setImmediate runs after that poll phase.
    setImmediate(() => {
      if (this.watches.length) drain();
    });
  }

  private stopWatches(): void {
    for (const w of this.watches) w.close();
    this.watches = [];
  }

  /**
   * Decoded samples as they arrive, owned values safe to keep, and LostSamples notices in
   * the same stream where the kernel dropped some. Ends when the reader is closed.
   */
  async *events<T>(decode: (view: DataView, offset: number, length: number) => T): AsyncGenerator<T | LostSamples, void, undefined> {
    const queue: (T | LostSamples)[] = [];
    let wake: (() => void) | undefined;
    // A decoder that throws: the events decoded before it, then its exception, here.
    let failed: { error: unknown } | undefined;
    this.onLost = (l) => {
      queue.push(l);
      wake?.();
    };
    this.listen((sample) => {
      if (failed) return;
      try {
        queue.push(decode(new DataView(sample.buffer, sample.byteOffset, sample.byteLength), 0, sample.byteLength));
      } catch (error) {
        failed = { error };
        this.stopWatches();
      }
      wake?.();
    });
    this.endWait = () => wake?.();
    let head = 0;
    while (!this.closed || head < queue.length) {
      while (head < queue.length) yield queue[head++]!;
      queue.length = head = 0;
      if (failed) throw failed.error;
      if (this.closed) return;
      await new Promise<void>((r) => (wake = r));
      wake = undefined;
    }
  }

  /** Callback form of events(): each sample decoded as it arrives; losses to `onLost`. */
  listenEvents<T>(decode: (view: DataView, offset: number, length: number) => T, onEvent: (event: T) => void, onLost?: (lost: LostSamples) => void): void {
    this.onLost = onLost;
    this.listen((sample) => onEvent(decode(new DataView(sample.buffer, sample.byteOffset, sample.byteLength), 0, sample.byteLength)));
  }

  /** Stops reading and closes the events; a sample view kept past this reads zeros, never faults. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopWatches();
    for (const r of this.rings) {
      this.sys.munmap(r.mapping);
      this.sys.close(r.fd);
    }
    this.rings.length = 0;
    this.endWait?.();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private drainRing(r: CpuRing, onSample: SampleHandler): number {
    const head = Number(Atomics.load(r.head, 0));
    let tail = Number(Atomics.load(r.tail, 0));
    const mask = this.size - 1;
    let n = 0;
    try {
      while (tail < head) {
        const at = tail & mask;
        // perf_event_header: u32 type, u16 misc, u16 size; records are 8-byte aligned,
        // so the header never wraps, but the body may.
        const type = r.view.getUint32(at, true);
        const size = r.view.getUint16(at + 6, true);
        if (size < 8) throw new TsbpfError(`perf buffer of CPU ${r.cpu}: corrupt record of ${size} bytes`);
        const rec = this.contiguous(r, at, size);
        const rv = new DataView(rec.buffer, rec.byteOffset, rec.byteLength);
        // Past the record before a handler sees it: one that throws is consumed, not redelivered.
        tail += size;
        if (type === C.PERF_RECORD_SAMPLE) {
          const rawSize = rv.getUint32(8, true);
          n++;
          onSample(rec.subarray(12, 12 + Math.min(rawSize, size - 12)), r.cpu);
        } else if (type === C.PERF_RECORD_LOST) {
          const count = Number(rv.getBigUint64(16, true));
          this.lost[r.cpu]! += count;
          this.onLost?.(new LostSamples(count, r.cpu));
        }
        if (this.closed) return n;
      }
    } catch (e) {
      // A handler threw: the exception goes to our caller, with what it saw consumed.
      if (!this.closed) Atomics.store(r.tail, 0, BigInt(tail));
      throw e;
    }
    Atomics.store(r.tail, 0, BigInt(tail));
    return n;
  }

  /** The record's bytes; copied only when it wraps past the end of the ring. */
  private contiguous(r: CpuRing, at: number, size: number): Uint8Array {
    if (at + size <= this.size) return r.data.subarray(at, at + size);
    if (this.wrapBuf.length < size) this.wrapBuf = new Uint8Array(size * 2);
    const first = this.size - at;
    this.wrapBuf.set(r.data.subarray(at), 0);
    this.wrapBuf.set(r.data.subarray(0, size - first), first);
    return this.wrapBuf.subarray(0, size);
  }
}
