/**
 * A reader for BPF_MAP_TYPE_RINGBUF over the map's shared memory, following the
 * kernel's protocol: records carry an 8-byte header whose length word has BUSY (still
 * being written) and DISCARD bits; the data area is mapped twice back to back, so a
 * record that wraps is still contiguous; the consumer position is published with a
 * sequentially consistent store, or the kernel may skip a wake-up.
 *
 * Readiness comes from the map fd itself (it polls readable while records wait),
 * watched by the event loop (uv_poll): an idle reader blocks no thread and burns no CPU.
 */
import { TsbpfError } from '../errors.js';
import type { BpfMap } from '../loader/index.js';
import * as C from '../sys/constants.js';
import { defaultSys } from '../sys/index.js';
import type { FdWatch, Mapping, Sys } from '../sys/types.js';

const BUSY = 0x80000000;
const DISCARD = 0x40000000;
const HDR = 8;
/** Loads are not reordered with other loads (x86's TSO): a plain load is an acquire load. */
const TSO = process.arch === 'x64' || process.arch === 'ia32';

/** Visits one record: `length` bytes at `offset` of `data`, valid only during the call. */
export type RecordVisitor = (data: DataView, offset: number, length: number) => void;

export interface RingBufferOptions {
  sys?: Sys;
}

export class RingBuffer {
  private readonly sys: Sys;
  private readonly consumer: Mapping;
  private readonly producer: Mapping;
  private readonly consumerPos: BigInt64Array;
  private readonly producerPos: BigInt64Array;
  /** Both copies of the data area: records never need reassembly. */
  private readonly data: DataView;
  private readonly bytes: Uint8Array;
  private readonly lengths: Int32Array;
  private readonly mask: number;
  private closed = false;
  /** The readiness watch, while something waits or listens. */
  private watch?: FdWatch;
  /** The drain timer of listenBatch's intervalMs. */
  private timer?: NodeJS.Timeout;
  private onReady?: () => void;
  /** Ends a pending wait(); close() calls it too. */
  private endWait?: () => void;

  constructor(readonly map: BpfMap, opts: RingBufferOptions = {}) {
    if (map.type !== C.BPF_MAP_TYPE_RINGBUF) throw new TsbpfError(`map ${map.name} is not a ring buffer (BPF_MAP_TYPE_RINGBUF)`);
    this.sys = opts.sys ?? defaultSys();
    const page = this.sys.pageSize();
    const size = map.maxEntries;
    this.mask = size - 1;
    this.consumer = this.sys.mmap(page, C.PROT_READ | C.PROT_WRITE, C.MAP_SHARED, map.fd, 0);
    try {
      // The producer page and data are read-only to user space (mapping them writable is EPERM).
      this.producer = this.sys.mmap(page + 2 * size, C.PROT_READ, C.MAP_SHARED, map.fd, page);
    } catch (e) {
      this.sys.munmap(this.consumer);
      throw e;
    }
    const c = this.consumer;
    const p = this.producer;
    this.consumerPos = new BigInt64Array(c.buffer, c.offset, 1);
    this.producerPos = new BigInt64Array(p.buffer, p.offset, 1);
    this.data = new DataView(p.buffer, p.offset + page, 2 * size);
    this.bytes = new Uint8Array(p.buffer, p.offset + page, 2 * size);
    this.lengths = new Int32Array(p.buffer, p.offset + page, (2 * size) / 4);
  }

  /**
   * Batch form: hands every available record to `visit` without allocating, then
   * publishes the new consumer position once. Returns the number of records seen.
   */
  drain(visit: RecordVisitor, max = Infinity): number {
    this.live();
    // Locals, not fields, in the per-record loop; positions as 32-bit ring offsets and a
    // distance from the start, so the loop does integer arithmetic only.
    const lengths = this.lengths;
    const data = this.data;
    const mask = this.mask;
    // An int32 limit: comparing with Infinity, a double, costs the loop a third of its speed.
    const limit = max >= 0x7fffffff ? 0x7fffffff : Math.max(0, Math.floor(max));
    let base = Number(Atomics.load(this.consumerPos, 0));
    let n = 0;
    let done = 0;
    try {
      for (;;) {
        const end = Number(Atomics.load(this.producerPos, 0)) - base;
        const start = n;
        done = 0;
        let at = base & mask;
        while (done < end && n < limit) {
          // The header is an acquire load: the kernel publishes the length last. On x86 every
          // load is one (TSO), so a plain read does it; elsewhere Atomics.load.
          const len = TSO ? lengths[at >> 2]! : Atomics.load(lengths, at >> 2);
          if (len & BUSY) break;
          const size = len & 0x3fffffff; // without BUSY and DISCARD
          const record = at + HDR;
          // Past the record before the visitor sees it: one that throws is consumed, not redelivered.
          const step = (size + HDR + 7) & ~7;
          done += step;
          at = (at + step) & mask;
          if (!(len & DISCARD)) {
            visit(data, record, size);
            n++;
            // The visitor may have closed us: the memory is gone, touch nothing more.
            if (this.closed) return n;
          }
        }
        base += done;
        done = 0;
        Atomics.store(this.consumerPos, 0, BigInt(base));
        if (n === start || n >= limit) return n;
      }
    } catch (e) {
      // The visitor threw: what it saw is consumed, then the exception goes to our caller.
      if (!this.closed) Atomics.store(this.consumerPos, 0, BigInt(base + done));
      throw e;
    }
  }

  /** Callback form: each record as a zero-copy Uint8Array, valid only during the call. */
  consume(onRecord: (record: Uint8Array) => void, max = Infinity): number {
    return this.drain((_, offset, length) => onRecord(this.bytes.subarray(offset, offset + length)), max);
  }

  /** Resolves when records are available, after `timeoutMs` (-1: no limit), or on close. */
  wait(timeoutMs = -1): Promise<void> {
    this.live();
    if (this.available()) return Promise.resolve();
    if (this.onReady) throw new TsbpfError(`ring buffer ${this.map.name} already has a reader waiting`);
    return new Promise((resolve) => {
      const timer = timeoutMs >= 0 ? setTimeout(() => done(), timeoutMs) : undefined;
      const done = () => {
        if (timer) clearTimeout(timer);
        this.endWait = undefined;
        this.stopWatch();
        resolve();
      };
      this.endWait = done;
      this.startWatch(done);
    });
  }

  /**
   * Continuous callback form: from now until close, every record is handed to
   * `onRecord` as a zero-copy view (valid during the call) as soon as it arrives.
   */
  listen(onRecord: (record: Uint8Array) => void): void {
    this.listenBatch((_, offset, length) => onRecord(this.bytes.subarray(offset, offset + length)));
  }

  /**
   * Continuous batch form: `visit` gets every record without allocation. With
   * `intervalMs`, the ring is also drained on that timer: for producers that skip most
   * wake-ups (BPF_RB_NO_WAKEUP), so that no record waits longer than that.
   */
  listenBatch(visit: RecordVisitor, opts: { intervalMs?: number } = {}): void {
    this.live();
    if (this.onReady) throw new TsbpfError(`ring buffer ${this.map.name} already has a reader`);
    // A visitor that throws ends the listening (close() is still the caller's): the
    // exception reaches the caller of listen when it is the first drain, else it is
    // raised as an uncaught exception at once, as an event listener's would be.
    const drain = () => {
      try {
        this.drain(visit);
      } catch (e) {
        this.stopWatch();
        throw e;
      }
    };
    this.startWatch(drain);
    if (opts.intervalMs) {
      this.timer = setInterval(() => {
        if (!this.closed && this.available()) drain();
      }, opts.intervalMs);
    }
    drain();
  }

  /** Lets the process exit even while listening (the watch no longer holds the loop). */
  unref(): void {
    this.watch?.unref();
    this.timer?.unref();
  }

  /** True when a complete record waits at the consumer position. */
  available(): boolean {
    if (this.closed) return false;
    const cons = Number(Atomics.load(this.consumerPos, 0));
    if (cons >= Number(Atomics.load(this.producerPos, 0))) return false;
    return (Atomics.load(this.lengths, (cons & this.mask) >> 2) & BUSY) === 0;
  }

  /**
   * Async iterator of records: zero-copy views, each valid until the next step of the
   * iteration. Ends when the reader is closed.
   */
  async *records(): AsyncGenerator<Uint8Array> {
    while (!this.closed) {
      let got: Uint8Array | undefined;
      // Take one record at a time, so the consumer position moves past a record only
      // once the loop body that received it has finished with it.
      const cons = Number(Atomics.load(this.consumerPos, 0));
      const prod = Number(Atomics.load(this.producerPos, 0));
      if (cons < prod) {
        const at = cons & this.mask;
        const len = Atomics.load(this.lengths, at >> 2) >>> 0;
        if (!(len & BUSY)) {
          const size = len & ~(BUSY | DISCARD);
          const next = cons + ((size + HDR + 7) & ~7);
          if (!(len & DISCARD)) {
            got = this.bytes.subarray(at + HDR, at + HDR + size);
            yield got;
            if (this.closed) return;
          }
          Atomics.store(this.consumerPos, 0, BigInt(next));
          continue;
        }
      }
      await this.wait();
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    return this.records();
  }

  /**
   * Decoded records as they arrive: owned values, safe to keep, each batch read before it
   * is handed over (so the ring's space is freed at once). Ends when the reader is closed.
   * `decode` is a compiled decoder (compileDecoder, generated bindings) or any function of
   * the record's view, offset and length.
   */
  async *events<T>(decode: (view: DataView, offset: number, length: number) => T): AsyncGenerator<T, void, undefined> {
    const batch: T[] = [];
    while (!this.closed) {
      let failed: { error: unknown } | undefined;
      try {
        this.drain((v, o, l) => void batch.push(decode(v, o, l)));
      } catch (error) {
        failed = { error };
      }
      for (let i = 0; i < batch.length; i++) yield batch[i]!;
      // A decoder that threw: the events decoded before it, then its exception.
      if (failed) throw failed.error;
      if (batch.length) {
        batch.length = 0;
        continue;
      }
      await this.wait();
    }
  }

  /** Callback form of events(): from now until close, each record decoded, as it arrives. */
  listenEvents<T>(decode: (view: DataView, offset: number, length: number) => T, onEvent: (event: T) => void): void {
    this.listenBatch((v, o, l) => onEvent(decode(v, o, l)));
  }

  /**
   * Stops listening and unmaps the ring; the map itself belongs to its collection. A
   * record view kept past this is detached: a DataView throws, a Uint8Array is empty.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.endWait?.(); // a pending wait() resolves, and iteration ends
    this.stopWatch();
    this.sys.munmap(this.producer);
    this.sys.munmap(this.consumer);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private startWatch(onReady: () => void): void {
    this.onReady = onReady;
    this.watch = this.sys.watchReadable(this.map.fd, () => {
      if (!this.closed) this.onReady?.();
    });
  }

  private stopWatch(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.watch?.close();
    this.watch = undefined;
    this.onReady = undefined;
  }

  private live(): void {
    if (this.closed) throw new TsbpfError(`ring buffer ${this.map.name} is closed`);
  }
}
