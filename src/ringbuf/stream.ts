/**
 * A typed stream of an export map's records, ring buffer or perf event array alike: the
 * reader opened on first use, each record decoded to an owned value by `decode` (a
 * generated or compiled decoder), as an async iterator or by callback. Perf buffers add
 * LostSamples notices to the stream.
 */
import type { BpfMap } from '../loader/index.js';
import { LostSamples, PerfBuffer } from '../perf/index.js';
import * as C from '../sys/constants.js';
import { RingBuffer } from './index.js';

export type RecordDecoder<T> = (view: DataView, offset: number, length: number) => T;

export class EventStream<T> implements AsyncIterable<T | LostSamples>, Disposable {
  private reader?: RingBuffer | PerfBuffer;

  constructor(readonly map: BpfMap, private readonly decode: RecordDecoder<T>) {}

  /** Decoded records (and, from a perf buffer, loss notices) until close(). */
  [Symbol.asyncIterator](): AsyncGenerator<T | LostSamples, void, undefined> {
    return this.open().events(this.decode);
  }

  /** Callback form: each record decoded as it arrives; perf buffer losses to `onLost`. */
  listen(onEvent: (event: T) => void, onLost?: (lost: LostSamples) => void): void {
    const r = this.open();
    if (r instanceof RingBuffer) r.listenEvents(this.decode, onEvent);
    else r.listenEvents(this.decode, onEvent, onLost);
  }

  close(): void {
    this.reader?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private open(): RingBuffer | PerfBuffer {
    this.reader ??= this.map.type === C.BPF_MAP_TYPE_RINGBUF ? new RingBuffer(this.map) : new PerfBuffer(this.map);
    return this.reader;
  }
}

export { LostSamples };
