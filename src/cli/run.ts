/**
 * tsbpf run: load an object (or an eunomia package), set its global variables from the
 * command line, attach every program by its section name and print what it exports:
 * ring buffer or perf buffer events, a sample map's histograms or key/values every
 * interval, or bpf_printk lines when it exports nothing.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { clockTime, EventFormatter, EventTypeChooser, parseTraceLine } from '../decode/index.js';
import { TsbpfError } from '../errors.js';
import { attachAll, attachesToInterface, readIterator, tracefsPath, type AttachOptions } from '../link/index.js';
import { Collection, type BpfMap, type Program } from '../loader/index.js';
import { parseObject, type MapSpec, type ObjectSpec } from '../object/index.js';
import { packageAttachOptions, type BpfSkel, type CustomMember, type ExportConfig } from '../package/index.js';
import { PerfBuffer } from '../perf/index.js';
import { RingBuffer } from '../ringbuf/index.js';
import * as C from '../sys/constants.js';
import { defaultSys } from '../sys/index.js';
import { applyArgs, DUMMY_VARIABLE, usage } from './program-args.js';
import { applyMapSizes, type MapSizes } from './map-sizes.js';
import { MapSampler } from './sample.js';

/** What `run` needs, whether it came from a .bpf.o or a package.json. */
export interface Runnable {
  objectBytes: Uint8Array;
  /** libbpf object name ("exitsnoop"). */
  name: string;
  /** BTF ids of the package's export types (export_types[].type_id), in order. */
  exportTypeIds?: number[];
  /** meta.enable_multiple_export_types, and each map's export_config then. */
  multipleExport?: boolean;
  exportConfigs?: Map<string, ExportConfig>;
  /** A package's description: option names and docs (cmdarg), sample maps. */
  skel?: BpfSkel;
}

export interface RunOptions {
  json?: boolean;
  /** The struct the export map's records are (--event NAME), over the package's choice. */
  event?: string;
  verbose?: boolean;
  /** The kernel's BTF as a file: CO-RE against it, in user space (LoadOptions.targetBtf). */
  btf?: string;
  /** Program arguments: --name value, --flag, -h. */
  args: string[];
  signal?: AbortSignal;
  out?: NodeJS.WritableStream;
  /** --max-entries / --value-size MAP=N, applied before load. */
  mapSizes?: MapSizes;
  /** Command-line attach options (--interface, --xdp-mode, --cgroup, --freq): over the package's. */
  attach?: Partial<AttachOptions>;
}

/**
 * One program's attach options: the package's (@ifindex, @tchook...), then the command
 * line's. tc and xdp programs that name no interface go to ifindex 1 (lo), as with ecli.
 */
function attachOptionsFor(skel: BpfSkel | undefined, cli: Partial<AttachOptions> | undefined): (p: Program) => Partial<AttachOptions> {
  return (p) => {
    const entry = skel?.progs.find((e) => e.name === p.name);
    const pkg = entry ? packageAttachOptions(entry, `package program ${p.name}`) : {};
    const o: Partial<AttachOptions> = { ...pkg, ...cli };
    if (pkg.tc || cli?.tc) o.tc = { ...pkg.tc, ...cli?.tc };
    if (o.interface === undefined && attachesToInterface(p.spec.sectionPrefix)) o.interface = 1;
    return o;
  };
}

/**
 * The structs an export map's records may be, and whether the first is the one: --event
 * NAME, else the package's export types (one: it), else the header's structs (ecc's dummy
 * variables name them), else a struct named event.
 */
function eventTypes(spec: ObjectSpec, input: Runnable, event?: string): { ids: number[]; fixed: boolean } {
  if (event !== undefined) {
    const id = spec.btf.idByName(event.replace(/^struct\s+/, ''), 'struct');
    if (!id) throw new TsbpfError(`--event ${event}: the object's BTF has no struct of that name${headerNames(spec)}`);
    return { ids: [id], fixed: true };
  }
  const given = input.exportTypeIds ?? [];
  if (given.length) return { ids: given, fixed: given.length === 1 };
  const header = headerStructIds(spec);
  if (header.length) return { ids: header, fixed: header.length === 1 };
  const id = spec.btf.idByName('event', 'struct');
  return { ids: id ? [id] : [], fixed: true };
}

function headerStructIds(spec: ObjectSpec): number[] {
  const ids: number[] = [];
  for (const m of spec.maps) {
    for (const v of m.data?.variables ?? []) {
      const d = DUMMY_VARIABLE.exec(v.name);
      const id = d && spec.btf.idByName(d[1]!, 'struct');
      if (id && !ids.includes(id)) ids.push(id);
    }
  }
  return ids;
}

function headerNames(spec: ObjectSpec): string {
  const names = headerStructIds(spec).map((id) => spec.btf.type(id).name);
  return names.length ? ` (the header's structs: ${names.join(', ')})` : '';
}

export async function run(input: Runnable, opts: RunOptions): Promise<number> {
  const out = opts.out ?? process.stdout;
  const spec = parseObject(input.objectBytes, input.name);
  if (applyArgs(spec, opts.args, input.skel).help) {
    out.write(usage(spec, input.skel));
    return 0;
  }
  applyMapSizes(spec, opts.mapSizes);
  const types = eventTypes(spec, input, opts.event);
  const streams = exportStreams(spec, input, types);
  const exportMap = streams[0]?.map;
  // Every sample map, each at its own interval (when nothing streams events).
  const sampled = exportMap ? [] : (input.skel?.maps ?? []).filter((m) => m.sample);
  const samplers = sampled.map((m) => new MapSampler(spec, m.name, m.sample!));

  using coll = Collection.load(spec, { targetBtf: opts.btf });
  using links = attachAll(coll, {}, attachOptionsFor(input.skel, opts.attach));
  if (opts.verbose) {
    for (const l of links) process.stderr.write(`tsbpf: attached ${l.program.name} (${l.program.section}) to ${l.target}\n`);
  }
  // Iterators print once, at start: what they walk is the kernel's state now.
  const iters = [...links].filter((l) => l.kind === 'iter');
  for (const l of iters) out.write(Buffer.from(readIterator(l)));
  if (iters.length && iters.length === links.size && !exportMap && !samplers.length) return 0;
  let stop = () => {};
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
    if (opts.signal?.aborted) resolve();
    opts.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  // A closed output (| head) ends the run quietly, as Ctrl-C does.
  let broken = false;
  out.on?.('error', () => {
    broken = true;
    stop();
  });
  const write = (text: string) => {
    if (text && !broken) out.write(text);
  };

  if (samplers.length) {
    const what = sampled.map((m) => `map ${m.name} every ${m.sample!.interval} ms`).join(', ');
    process.stderr.write(`tsbpf: running; printing ${what}. Ctrl-C to end.\n`);
    await Promise.all(samplers.map((sm) => sm.run(coll.map(sm.mapName), { write }, { json: opts.json, stopped })));
    return 0;
  }
  if (!exportMap) {
    process.stderr.write('tsbpf: no export map: printing bpf_printk output from trace_pipe. Ctrl-C to end.\n');
    await pipeTracePipe(out, stopped, opts.json ?? false);
    return 0;
  }

  // One formatter per struct (or per map with custom members); a table header each, once.
  const formats = new Map<string, EventFormatter>();
  const formatter = (key: string, type: number | CustomMember[]) => {
    let f = formats.get(key);
    if (!f) {
      f = new EventFormatter(spec.btf, type, opts.json);
      formats.set(key, f);
      flush();
      write(f.header);
    }
    return f;
  };
  let lines: string[] = [];
  let now = '';
  let failed: unknown;
  const flush = () => {
    if (lines.length) write(lines.join('\n') + '\n');
    lines = [];
  };
  const emit = (stream: ExportStream, view: DataView, offset: number, length: number) => {
    if (failed) return;
    let format: EventFormatter;
    try {
      format = stream.format(length, formatter);
    } catch (e) {
      failed = e; // a record of the wrong size: end the run with the error
      stop();
      return;
    }
    // One clock reading per batch: the time the batch was read.
    if (!lines.length) now = clockTime(new Date());
    lines.push(format.line(view, offset, now));
    if (lines.length === 1) queueMicrotask(flush);
  };
  // The structs known before any record: their headers now, as ecli prints them at start.
  for (const st of streams) st.known?.(formatter);

  const readers: { drain: () => void; close: () => void }[] = [];
  try {
    for (const st of streams) {
      const map: BpfMap = coll.map(st.map.name);
      if (map.type === C.BPF_MAP_TYPE_RINGBUF) {
        const ring = new RingBuffer(map);
        readers.push({ drain: () => ring.drain((v, o, l) => emit(st, v, o, l)), close: () => ring.close() });
        ring.listenBatch((v, o, l) => emit(st, v, o, l));
      } else {
        const perf = new PerfBuffer(map);
        let reported = 0;
        const onSample = (sample: Uint8Array) => {
          emit(st, new DataView(sample.buffer, sample.byteOffset, sample.byteLength), 0, sample.byteLength);
          if (perf.totalLost > reported) {
            process.stderr.write(`tsbpf: lost ${perf.totalLost - reported} samples (perf buffer ${map.name} full)\n`);
            reported = perf.totalLost;
          }
        };
        readers.push({ drain: () => perf.drain(onSample), close: () => perf.close() });
        // The perf event fds go into the map here: events before this have nowhere to go.
        perf.listen(onSample);
      }
    }
    // Said only once the readers are in place: what happens from here on is printed.
    process.stderr.write('tsbpf: running. Ctrl-C to end.\n');
    await stopped;
    // What was written before the stop.
    for (const r of readers) if (!broken && !failed) r.drain();
  } finally {
    for (const r of readers) r.close();
  }
  flush();
  if (failed) throw failed;
  return 0;
}

/** An export map and how its records become lines. */
interface ExportStream {
  map: MapSpec;
  /** The formatter of a record of `length` bytes; throws when its size fits no struct. */
  format(length: number, formatter: (key: string, type: number | CustomMember[]) => EventFormatter): EventFormatter;
  /** Makes the formatter of a struct known before any record (its header prints at start). */
  known?: (formatter: (key: string, type: number | CustomMember[]) => EventFormatter) => void;
}

/**
 * The maps whose records are printed: in multiple-export mode each map its export_config
 * names; else every ring buffer and perf event array (ecli reads only one), each decoded
 * as the export type, or the struct of its records' size.
 */
function exportStreams(spec: ObjectSpec, input: Runnable, types: { ids: number[]; fixed: boolean }): ExportStream[] {
  const isStream = (m: MapSpec) => m.type === C.BPF_MAP_TYPE_RINGBUF || m.type === C.BPF_MAP_TYPE_PERF_EVENT_ARRAY;
  const byStruct = (map: MapSpec, ids: number[], fixed: boolean): ExportStream => {
    if (!ids.length) throw new TsbpfError(`Export map named \`${map.name}\` found, but no export type is provided`);
    const chooser = new EventTypeChooser(spec.btf, ids, { map: map.name, padded: map.type === C.BPF_MAP_TYPE_PERF_EVENT_ARRAY, fixed });
    // The last struct's formatter, so a record costs the size check and no lookup.
    let lastId = -1;
    let last: EventFormatter | undefined;
    return {
      map,
      format: (length, formatter) => {
        const id = chooser.forRecord(length);
        if (id !== lastId) {
          last = formatter(`type ${id}`, id);
          lastId = id;
        }
        return last!;
      },
      known: (formatter) => {
        if (chooser.typeId !== undefined) formatter(`type ${chooser.typeId}`, chooser.typeId);
      },
    };
  };
  const custom = (map: MapSpec, members: CustomMember[]): ExportStream => {
    const end = (m: CustomMember) => m.offset + m.size;
    const last = members.reduce((a, b) => (end(b) > end(a) ? b : a));
    let format: EventFormatter | undefined;
    return {
      map,
      format: (length, formatter) => {
        if (length < end(last))
          throw new TsbpfError(`map ${map.name}: a record of ${length} bytes ends before custom member ${last.name} (bytes ${last.offset}..${end(last) - 1})`);
        return (format ??= formatter(`map ${map.name}`, members));
      },
      known: (formatter) => void formatter(`map ${map.name}`, members),
    };
  };
  if (!input.multipleExport) return spec.maps.filter(isStream).map((m) => byStruct(m, types.ids, types.fixed));
  const streams: ExportStream[] = [];
  for (const map of spec.maps) {
    const config = input.exportConfigs?.get(map.name) ?? { kind: 'none' };
    if (config.kind === 'none') continue;
    if (!isStream(map)) throw new TsbpfError(`map ${map.name}: export_config ${config.kind} on a map that is neither a ring buffer nor a perf event array`);
    if (config.kind === 'default') streams.push(byStruct(map, types.ids, types.fixed));
    else if (config.kind === 'type') streams.push(byStruct(map, [config.typeId], true));
    else streams.push(custom(map, config.members));
  }
  return streams;
}

/**
 * trace_pipe blocks on read; a child `cat` does the blocking, so stopping is a kill and
 * no read is left pending in this process. The kernel gives trace_pipe to one reader at a
 * time: a second one fails with EBUSY, which is an error, not the end of the run. With
 * `json`, each line becomes a TraceLine object.
 */
async function pipeTracePipe(out: NodeJS.WritableStream, stopped: Promise<void>, json: boolean): Promise<void> {
  const path = join(tracefsPath(defaultSys()), 'trace_pipe');
  const cat = spawn('cat', [path], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  cat.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  if (json) {
    const lines = createInterface({ input: cat.stdout, crlfDelay: Infinity });
    lines.on('line', (line) => out.write(JSON.stringify(parseTraceLine(line)) + '\n'));
  } else {
    cat.stdout.pipe(out, { end: false });
  }
  let stopping = false;
  const ended = new Promise<void>((resolve, reject) => {
    cat.on('error', (e) => reject(new TsbpfError(`cannot read ${path}: ${e.message}`)));
    cat.on('exit', (code) => {
      if (stopping || code === 0) return resolve();
      const why = stderr.trim().split('\n')[0] ?? '';
      reject(
        new TsbpfError(
          /busy/i.test(why)
            ? `${path} is busy (EBUSY): another process reads it (another tsbpf run, cat, bpftool prog tracelog); stop it and run again`
            : `reading ${path} failed: ${why || `cat exited with ${code}`}`,
        ),
      );
    });
  });
  try {
    await Promise.race([stopped, ended]);
  } finally {
    stopping = true;
    cat.kill();
  }
}
