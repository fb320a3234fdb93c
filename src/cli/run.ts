/**
 * tsbpf run: load an object (or an eunomia package), set its global variables from the
 * command line, attach every program by its section name and print what it exports:
 * ring buffer or perf buffer events, or bpf_printk lines when it exports nothing.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Btf } from '../btf/index.js';
import { clockTime, EventFormatter } from '../decode/index.js';
import { TsbpfError } from '../errors.js';
import { attachAll, tracefsPath } from '../link/index.js';
import { Collection, setGlobal, type BpfMap } from '../loader/index.js';
import { parseObject, type ObjectSpec, type VariableSpec } from '../object/index.js';
import { PerfBuffer } from '../perf/index.js';
import { RingBuffer } from '../ringbuf/index.js';
import * as C from '../sys/constants.js';
import { defaultSys } from '../sys/index.js';

/** What `run` needs, whether it came from a .bpf.o or a package.json. */
export interface Runnable {
  objectBytes: Uint8Array;
  /** libbpf object name ("exitsnoop"). */
  name: string;
  /** BTF id of the event struct, when known (a package's export_types[0].type_id). */
  exportTypeId?: number;
}

export interface RunOptions {
  json?: boolean;
  verbose?: boolean;
  /** Program arguments: --name value, --flag, -h. */
  args: string[];
  signal?: AbortSignal;
  out?: NodeJS.WritableStream;
}

const DUMMY = /^__eunomia_dummy_(.+)_ptr$/;

/** The variables a user may set: globals of the data sections, minus ecc's dummies. */
export function programVariables(spec: ObjectSpec): VariableSpec[] {
  return spec.maps.flatMap((m) => m.data?.variables ?? []).filter((v) => v.global && !DUMMY.test(v.name));
}

export function usage(spec: ObjectSpec): string {
  const vars = programVariables(spec);
  const lines = [`Usage: tsbpf run ${spec.name} [-j|--json] [-v] [options]`, '', 'Program options (global variables, set before load):'];
  for (const v of vars) {
    const type = spec.btf.typeName(v.typeId).replace(/^((const|volatile) )+/, '');
    const flag = isBool(spec.btf, v.typeId) ? `--${v.name}` : `--${v.name} <${type}>`;
    lines.push(`  ${flag.padEnd(32)} ${type}, in ${v.section}, default ${defaultOf(spec, v)}`);
  }
  if (!vars.length) lines.push('  (none)');
  lines.push('  -h, --help'.padEnd(34) + ' this help');
  return lines.join('\n') + '\n';
}

function isBool(btf: Btf, id: number): boolean {
  const t = btf.type(btf.resolve(id));
  return t.kind === 'int' && t.name === '_Bool';
}

function defaultOf(spec: ObjectSpec, v: VariableSpec): string {
  const m = spec.maps.find((x) => x.data?.section === v.section)!;
  const bytes = m.data!.bytes;
  return bytes.subarray(v.offset, v.offset + v.size).every((b) => b === 0) ? '0' : 'set in the object';
}

/** Applies --name value pairs to the spec's globals; errors name the bad argument. */
export function applyArgs(spec: ObjectSpec, args: string[]): { help: boolean } {
  const vars = new Map(programVariables(spec).map((v) => [v.name, v]));
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-h' || a === '--help') return { help: true };
    const m = /^--([^=]+)(?:=(.*))?$/.exec(a);
    const v = m && vars.get(m[1]!);
    if (!m || !v) {
      throw new TsbpfError(`unknown program argument ${a}; this program takes: ${[...vars.keys()].map((n) => `--${n}`).join(', ') || 'none'}`);
    }
    if (isBool(spec.btf, v.typeId) && m[2] === undefined) {
      setGlobal(spec, v.name, true);
      continue;
    }
    const text = m[2] ?? args[++i];
    if (text === undefined) throw new TsbpfError(`--${v.name} needs a value (${spec.btf.typeName(v.typeId).replace(/^((const|volatile) )+/, '')})`);
    setGlobal(spec, v.name, parseValue(spec.btf, v.typeId, text));
  }
  return { help: false };
}

function parseValue(btf: Btf, id: number, text: string): unknown {
  const t = btf.type(btf.resolve(id));
  if (t.kind === 'int' && t.name === '_Bool') {
    if (text === 'true' || text === '1') return true;
    if (text === 'false' || text === '0') return false;
  }
  if (t.kind === 'array' || t.kind === 'enum' || t.kind === 'enum64') return text; // strings, enumerator names
  if (t.kind === 'float') return Number(text);
  return text; // integers are parsed (and range-checked) by the codec
}

/** The struct events are decoded with: the export type, else the header structs ecc kept. */
function eventType(spec: ObjectSpec, given?: number): number | undefined {
  if (given) return given;
  for (const m of spec.maps) {
    for (const v of m.data?.variables ?? []) {
      const d = DUMMY.exec(v.name);
      const id = d && spec.btf.idByName(d[1]!, 'struct');
      if (id) return id;
    }
  }
  return spec.btf.idByName('event', 'struct');
}

export async function run(input: Runnable, opts: RunOptions): Promise<number> {
  const out = opts.out ?? process.stdout;
  const spec = parseObject(input.objectBytes, input.name);
  if (applyArgs(spec, opts.args).help) {
    out.write(usage(spec));
    return 0;
  }
  const exportMap = spec.maps.find((m) => m.type === C.BPF_MAP_TYPE_RINGBUF || m.type === C.BPF_MAP_TYPE_PERF_EVENT_ARRAY);
  const typeId = eventType(spec, input.exportTypeId);
  if (exportMap && typeId === undefined) {
    throw new TsbpfError(`Export map named \`${exportMap.name}\` found, but no export type is provided`);
  }

  using coll = Collection.load(spec);
  using links = attachAll(coll);
  if (opts.verbose) {
    for (const l of links) process.stderr.write(`tsbpf: attached ${l.program.name} (${l.program.section})\n`);
  }
  const stopped = new Promise<void>((resolve) => {
    if (opts.signal?.aborted) resolve();
    opts.signal?.addEventListener('abort', () => resolve(), { once: true });
  });

  if (!exportMap) {
    process.stderr.write('tsbpf: no export map: printing bpf_printk output from trace_pipe. Ctrl-C to end.\n');
    await pipeTracePipe(out, stopped);
    return 0;
  }

  const format = new EventFormatter(spec.btf, typeId!, opts.json);
  out.write(format.header);
  process.stderr.write('tsbpf: running. Ctrl-C to end.\n');
  let lines: string[] = [];
  let now = '';
  const emit = (view: DataView, offset: number) => {
    lines.push(format.line(view, offset, now));
  };
  const flush = () => {
    if (lines.length) out.write(lines.join('\n') + '\n');
    lines = [];
  };
  const map: BpfMap = coll.map(exportMap.name);
  if (map.type === C.BPF_MAP_TYPE_RINGBUF) {
    using ring = new RingBuffer(map);
    void stopped.then(() => ring.close());
    let done = false;
    void stopped.then(() => (done = true));
    while (!done) {
      await ring.wait();
      if (done) break;
      now = clockTime(new Date());
      ring.drain(emit);
      flush();
    }
  } else {
    using perf = new PerfBuffer(map);
    let reported = 0;
    perf.listen((sample) => {
      now = clockTime(new Date());
      emit(new DataView(sample.buffer, sample.byteOffset, sample.byteLength), 0);
      // Batch the writes of one wake-up.
      if (lines.length === 1) queueMicrotask(flush);
      if (perf.totalLost > reported) {
        process.stderr.write(`tsbpf: lost ${perf.totalLost - reported} samples (perf buffer full)\n`);
        reported = perf.totalLost;
      }
    });
    await stopped;
    flush();
  }
  return 0;
}

/**
 * trace_pipe blocks on read; a child `cat` does the blocking, so stopping is a kill and
 * no read is left pending in this process.
 */
async function pipeTracePipe(out: NodeJS.WritableStream, stopped: Promise<void>): Promise<void> {
  const path = join(tracefsPath(defaultSys()), 'trace_pipe');
  const cat = spawn('cat', [path], { stdio: ['ignore', 'pipe', 'inherit'] });
  cat.stdout.pipe(out, { end: false });
  const ended = new Promise<void>((resolve, reject) => {
    cat.on('error', reject);
    cat.on('exit', () => resolve());
  });
  await Promise.race([stopped, ended]);
  cat.kill();
}
