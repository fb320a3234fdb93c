/**
 * What `tsbpf run` does, as a library: an eunomia package (or a bare object) is parsed,
 * given its program arguments, loaded and attached; then its exported records, sample
 * maps, iterator output or bpf_printk lines arrive as values, through callbacks or an
 * async iterator, until the run is stopped. ecli's behaviour, without ecli's printing
 * (the CLI prints what arrives here).
 *
 *   using runner = Runner.open(readPackage(bytes), { args: ['--min_duration_ms', '10'] });
 *   for await (const item of runner.items(signal)) if (item.kind === 'event') use(item.value);
 */
import type { Decoded, Sample } from '../decode/index.js';
import { TsbpfError } from '../errors.js';
import { pushIterator } from '../push-iterator.js';
import { attachAll, attachesToInterface, readIterator, type AttachOptions, type LinkSet } from '../link/index.js';
import { Collection, type BpfMap, type Program } from '../loader/index.js';
import { hasElfMagic } from '../elf/index.js';
import { naming } from '../files.js';
import { objectName, parseObject, type ObjectSpec } from '../object/index.js';
import { packageAttachOptions, readPackage, type BpfSkel } from '../package/index.js';
import { PerfBuffer } from '../perf/index.js';
import { RingBuffer } from '../ringbuf/index.js';
import * as C from '../sys/constants.js';
import { applyArgs, applyValues } from './args.js';
import { exportStreams, type EventType, type ExportSource, type ExportStream } from './exports.js';
import { applyMapSizes, type MapSizes } from './map-sizes.js';
import { readTracePipe, type PrintkLine } from './printk.js';
import { MapSampler } from './sample.js';
import { stackSample, type StackSample } from './stack.js';
import { Symbolizer } from './symbols.js';

export { applyArgs, applyValues, DUMMY_VARIABLE, optionValue, programOptions, wantsHelp, wantsVersion, type ProgramOption } from './args.js';
export { addMapSize, applyMapSizes, type MapSizes } from './map-sizes.js';
export { MapSampler } from './sample.js';
export type { EventType, ExportStream } from './exports.js';
export type { PrintkLine } from './printk.js';
export { Symbolizer } from './symbols.js';
export { stackSample, type StackFrame, type StackSample } from './stack.js';

/** What a run needs, whether it came from a .bpf.o or a package.json. */
export interface Runnable extends ExportSource {
  objectBytes: Uint8Array;
  /** libbpf object name ("exitsnoop"). */
  name: string;
  /** Where it came from (a path, URL or "stdin"), named in parse errors. */
  file?: string;
  /** A package's description: option names and docs (cmdarg), sample maps, attach options. */
  skel?: BpfSkel;
}

/**
 * A runnable from a file's bytes: an ELF object, or an eunomia package.json. `file` names
 * it (a path or URL): a name ending in .o is taken as an object, so that its parse error
 * says why it is not one.
 */
export function runnableFrom(file: string, bytes: Uint8Array): Runnable {
  if (hasElfMagic(bytes) || file.endsWith('.o')) return { objectBytes: bytes, name: objectName(file), file };
  const pkg = naming(file, () => readPackage(bytes));
  return {
    objectBytes: pkg.objectBytes, name: pkg.name, file, exportTypeIds: pkg.exportTypes.map((t) => t.type_id),
    multipleExport: pkg.multipleExport, exportConfigs: pkg.exportConfigs, stackTraces: pkg.stackTraces, skel: pkg.skel,
  };
}

/** The object of a runnable, parse errors naming its file. */
export function parseRunnable(input: Runnable): ObjectSpec {
  return input.file ? naming(input.file, () => parseObject(input.objectBytes, input.name)) : parseObject(input.objectBytes, input.name);
}

export interface RunnerOptions {
  /** Program arguments as on ecli's command line: --NAME VALUE, --enable-NAME ... */
  args?: readonly string[];
  /** Program options as typed values, by option or variable name; written after `args`. */
  values?: Readonly<Record<string, unknown>>;
  /** The struct the export maps' records are, over the package's choice. */
  event?: string;
  /** The kernel's BTF as a file: CO-RE against it, in user space (LoadOptions.targetBtf). */
  btf?: string;
  /** max_entries / value sizes set before load. */
  mapSizes?: MapSizes;
  /** Attach options over the package's (interface, xdp mode, cgroup, perf frequency). */
  attach?: Partial<AttachOptions>;
}

/**
 * What the run gives: records of export maps, sample map walks, printk lines, iterator
 * output; nothing but waiting for a package of maps alone (as ecli does).
 */
export type RunMode = 'events' | 'samples' | 'printk' | 'iter' | 'idle';

/** A record in its buffer: valid only during the call that receives it. */
export interface RecordRef {
  map: string;
  type: EventType;
  view: DataView;
  offset: number;
  length: number;
  /** The map's records are stack trace samples: Runner.stackOf reads one. */
  stack?: ExportStream['stack'];
}

export interface ExportedEvent {
  map: string;
  /** The struct's name (or the map's, for custom members). */
  type: string;
  value: Decoded;
  /** For a stack trace map: the sample, frames resolved when the package asks (undefined: no stack in it). */
  stack?: StackSample;
}

export interface LostRecords {
  map: string;
  /** Records lost since the last notice. */
  count: number;
}

export interface IterOutput {
  program: string;
  bytes: Uint8Array;
}

export type RunItem =
  | ({ kind: 'event' } & ExportedEvent)
  | ({ kind: 'sample' } & Sample)
  | ({ kind: 'printk' } & PrintkLine)
  | ({ kind: 'lost' } & LostRecords)
  | ({ kind: 'iter' } & IterOutput);

/** Each is optional; what a handler throws ends the run with that error. */
export interface RunHandlers {
  /** A record, undecoded (the fast path). */
  record?(r: RecordRef): void;
  /** A record decoded to an owned value. */
  event?(e: ExportedEvent): void;
  sample?(s: Sample): void;
  /** A bpf_printk line; without this handler trace_pipe is not read (a printk-mode run just waits). */
  printk?(l: PrintkLine): void;
  lost?(l: LostRecords): void;
  iter?(i: IterOutput): void;
  /** Once everything is in place: what happens from now on is reported. */
  ready?(mode: RunMode): void;
}

export class Runner implements Disposable {
  readonly mode: RunMode;
  private running = false;
  private symbolizer?: Symbolizer;

  private constructor(
    readonly spec: ObjectSpec,
    readonly collection: Collection,
    readonly links: LinkSet,
    readonly streams: ExportStream[],
    readonly samplers: MapSampler[],
  ) {
    const iters = [...links].filter((l) => l.kind === 'iter').length;
    this.mode = streams.length ? 'events' : samplers.length ? 'samples' : !collection.programs.size ? 'idle' : iters && iters === links.size ? 'iter' : 'printk';
  }

  /** Parses, applies the options, loads and attaches: errors here leave nothing behind. */
  static open(input: Runnable, opts: RunnerOptions = {}): Runner {
    const spec = parseRunnable(input);
    applyArgs(spec, opts.args ?? [], input.skel);
    if (opts.values) applyValues(spec, opts.values, input.skel);
    applyMapSizes(spec, opts.mapSizes);
    const streams = exportStreams(spec, input, opts.event);
    // Every sample map, each at its own interval (when nothing streams events).
    const samplers = streams.length ? [] : (input.skel?.maps ?? []).filter((m) => m.sample).map((m) => new MapSampler(spec, m.name, m.sample!));
    const coll = Collection.load(spec, { targetBtf: opts.btf });
    try {
      const links = attachAll(coll, {}, attachOptionsFor(input.skel, opts.attach));
      return new Runner(spec, coll, links, streams, samplers);
    } catch (e) {
      coll.close();
      throw e;
    }
  }

  /**
   * Delivers what the run gives to `handlers` until `signal` aborts (or, for iterators,
   * once their output is read), then what was written before the stop.
   */
  async run(handlers: RunHandlers, signal?: AbortSignal): Promise<void> {
    if (this.running) throw new TsbpfError('this runner is already running');
    this.running = true;
    let stop = () => {};
    let failed: { error: unknown } | undefined;
    const stopped = new Promise<void>((resolve) => {
      stop = resolve;
      if (signal?.aborted) resolve();
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    const guard = <A>(fn: ((a: A) => void) | undefined) =>
      fn &&
      ((a: A) => {
        if (failed) return;
        try {
          fn(a);
        } catch (error) {
          failed = { error };
          stop();
        }
      });
    const h = { record: guard(handlers.record), event: guard(handlers.event), sample: guard(handlers.sample), printk: guard(handlers.printk), lost: guard(handlers.lost), iter: guard(handlers.iter) };

    // Iterators give their output once, at start: what they walk is the kernel's state now.
    for (const l of this.links) if (l.kind === 'iter') h.iter?.({ program: l.program.name, bytes: readIterator(l) });
    if (this.mode === 'iter') return rethrow(failed);
    if (this.mode === 'samples') {
      handlers.ready?.(this.mode);
      await Promise.all(this.samplers.map((s) => this.sampleLoop(s, h.sample, stopped)));
    } else if (this.mode === 'printk' && handlers.printk) {
      await readTracePipe((l) => h.printk?.(l), stopped, () => handlers.ready?.(this.mode));
    } else if (this.mode === 'idle' || this.mode === 'printk') {
      // (printk with no handler: nobody wants the lines, so trace_pipe is left to others.)
      handlers.ready?.(this.mode);
      // Nothing else keeps the event loop alive while the maps wait.
      const alive = setInterval(() => {}, 1 << 30);
      await stopped.finally(() => clearInterval(alive));
    } else {
      await this.readStreams(h, () => handlers.ready?.(this.mode), stopped, () => failed !== undefined, (error) => {
        failed ??= { error };
        stop();
      });
    }
    rethrow(failed);
  }

  /** The run as an async iterator of owned values; leaving the loop stops the run. */
  items(signal?: AbortSignal): AsyncGenerator<RunItem, void, undefined> {
    return pushIterator<RunItem>(
      (push, _wake, stop) =>
        this.run(
          {
            event: (e) => push({ kind: 'event', ...e }),
            sample: (s) => push({ kind: 'sample', ...s }),
            printk: (l) => push({ kind: 'printk', ...l }),
            lost: (l) => push({ kind: 'lost', ...l }),
            iter: (i) => push({ kind: 'iter', ...i }),
          },
          stop,
        ),
      signal,
    );
  }

  /** The stack trace sample of a record of a stack trace map (undefined: it holds no stack). */
  stackOf(r: RecordRef): StackSample | undefined {
    if (!r.stack) return undefined;
    const symbols = r.stack.withSymbols ? (this.symbolizer ??= new Symbolizer()) : undefined;
    return stackSample(r.type.decode(r.view, r.offset), r.stack, symbols);
  }

  close(): void {
    this.links.close();
    this.collection.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** A sample map walked every interval until `stopped`, then once more. */
  private async sampleLoop(s: MapSampler, onSample: ((s: Sample) => void) | undefined, stopped: Promise<void>): Promise<void> {
    const map = this.collection.map(s.mapName);
    let done = false;
    void stopped.then(() => (done = true));
    while (!done) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([stopped, new Promise<void>((r) => (timer = setTimeout(r, s.interval)))]);
      clearTimeout(timer);
      onSample?.(s.read(map));
    }
  }

  private async readStreams(
    h: { record?: (r: RecordRef) => void; event?: (e: ExportedEvent) => void; lost?: (l: LostRecords) => void },
    ready: () => void,
    stopped: Promise<void>,
    hasFailed: () => boolean,
    fail: (e: unknown) => void,
  ): Promise<void> {
    const ref: RecordRef = { map: '', type: undefined as unknown as EventType, view: undefined as unknown as DataView, offset: 0, length: 0 };
    const deliver = (st: ExportStream, view: DataView, offset: number, length: number) => {
      if (hasFailed()) return;
      // Whatever fails here (a record of the wrong size, a decoder, a handler) ends the
      // run with that error: nothing throws into the reader's event-loop callback.
      try {
        const type = st.typeOf(length);
        ref.map = st.map.name;
        ref.type = type;
        ref.view = view;
        ref.offset = offset;
        ref.length = length;
        ref.stack = st.stack;
        h.record?.(ref);
        if (h.event) {
          const e: ExportedEvent = { map: st.map.name, type: type.name, value: type.decode(view, offset) };
          if (st.stack) e.stack = this.stackOf(ref);
          h.event(e);
        }
      } catch (e) {
        fail(e);
      }
    };
    const readers: { drain: () => void; close: () => void }[] = [];
    try {
      for (const st of this.streams) {
        const map: BpfMap = this.collection.map(st.map.name);
        if (map.type === C.BPF_MAP_TYPE_RINGBUF) {
          const ring = new RingBuffer(map);
          readers.push({ drain: () => ring.drain((v, o, l) => deliver(st, v, o, l)), close: () => ring.close() });
          ring.listenBatch((v, o, l) => deliver(st, v, o, l));
        } else {
          const perf = new PerfBuffer(map);
          let reported = 0;
          const onSample = (sample: Uint8Array) => {
            deliver(st, new DataView(sample.buffer, sample.byteOffset, sample.byteLength), 0, sample.byteLength);
            if (perf.totalLost > reported) {
              h.lost?.({ map: map.name, count: perf.totalLost - reported });
              reported = perf.totalLost;
            }
          };
          readers.push({ drain: () => perf.drain(onSample), close: () => perf.close() });
          // The perf event fds go into the map here: events before this have nowhere to go.
          perf.listen(onSample);
        }
      }
      ready();
      await stopped;
      // What was written before the stop.
      for (const r of readers) if (!hasFailed()) r.drain();
    } finally {
      for (const r of readers) r.close();
    }
  }
}

function rethrow(failed: { error: unknown } | undefined): void {
  if (failed) throw failed.error;
}

/**
 * One program's attach options: the package's (@ifindex, @tchook...), then the caller's.
 * tc and xdp programs that name no interface go to ifindex 1 (lo), as with ecli.
 */
function attachOptionsFor(skel: BpfSkel | undefined, given: Partial<AttachOptions> | undefined): (p: Program) => Partial<AttachOptions> {
  return (p) => {
    const entry = skel?.progs.find((e) => e.name === p.name);
    const pkg = entry ? packageAttachOptions(entry, `package program ${p.name}`) : {};
    const o: Partial<AttachOptions> = { ...pkg, ...given };
    if (pkg.tc || given?.tc) o.tc = { ...pkg.tc, ...given?.tc };
    if (o.interface === undefined && attachesToInterface(p.spec.sectionPrefix)) o.interface = 1;
    return o;
  };
}
