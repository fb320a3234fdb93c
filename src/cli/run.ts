/**
 * tsbpf run: prints what a Runner gives, as eunomia's ecli prints it: records as the
 * seed's table (a header per struct) or JSON lines, sample maps each interval, iterator
 * output, bpf_printk lines (raw, or as JSON objects). Status lines go to stderr.
 */
import { clockTime, EventFormatter, SampleFormatter, stackText, toJson } from '../decode/index.js';
import { parseRunnable, Runner, wantsHelp, wantsVersion, type EventType, type Runnable, type RunnerOptions } from '../runner/index.js';
import { OutputWatch } from '../output.js';
import { usage } from './program-args.js';

export interface RunOptions extends RunnerOptions {
  json?: boolean;
  /** Serve the package's maps and events as Prometheus metrics at [HOST:]PORT. */
  metrics?: string;
  /** The metrics config file (JSON): event counters by field, maps read at every scrape. */
  metricsConfig?: string;
  /** Print no events or samples (metrics only). */
  quiet?: boolean;
  verbose?: boolean;
  signal?: AbortSignal;
  out?: NodeJS.WritableStream;
}

export async function run(input: Runnable, opts: RunOptions): Promise<number> {
  const out = opts.out ?? process.stdout;
  if (wantsHelp(opts.args ?? [])) {
    out.write(usage(parseRunnable(input), input.skel));
    return 0;
  }
  if (wantsVersion(opts.args ?? [])) {
    // ecli's: the object's name and the package's doc version, 0.1.0 when it has none.
    out.write(`${input.skel?.obj_name ?? input.name} ${input.skel?.doc?.version || '0.1.0'}\n`);
    return 0;
  }
  const metricsModule = opts.metrics !== undefined ? await import('../metrics/index.js') : undefined;
  const at = metricsModule?.parseListenAddress(opts.metrics!);
  const config = metricsModule && opts.metricsConfig !== undefined ? metricsModule.readRunMetricsConfig(opts.metricsConfig) : {};
  using runner = Runner.open(input, opts);
  const served = metricsModule ? await metricsModule.serveRunMetrics(runner, at!, config) : undefined;
  if (served) {
    const a = served.server.address;
    process.stderr.write(`tsbpf: metrics at http://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}/metrics\n`);
  }
  const metrics = served?.metrics;
  const quiet = !!opts.quiet;
  if (opts.verbose) {
    for (const l of runner.links) process.stderr.write(`tsbpf: attached ${l.program.name} (${l.program.section}) to ${l.target}\n`);
  }
  // A closed output (| head) ends the run quietly, as Ctrl-C does.
  const ac = new AbortController();
  const output = new OutputWatch(out, () => ac.abort());
  const write = (text: string | Uint8Array) => {
    if (text.length && !output.broken && !quiet) out.write(text);
  };
  const signal = opts.signal ? AbortSignal.any([opts.signal, ac.signal]) : ac.signal;

  // One formatter per struct (or per map with custom members); a table header each, once.
  const formats = new Map<EventType, EventFormatter>();
  let lines: string[] = [];
  let now = '';
  const flush = () => {
    if (lines.length) write(lines.join('\n') + '\n');
    lines = [];
  };
  const formatter = (type: EventType) => {
    let f = formats.get(type);
    if (!f) {
      f = new EventFormatter(runner.spec.btf, type.type, opts.json);
      formats.set(type, f);
      flush();
      write(f.header);
    }
    return f;
  };
  const samples = new Map<string, SampleFormatter>();
  const sampleFormatter = (map: string) => samples.get(map) ?? samples.set(map, new SampleFormatter(opts.json)).get(map)!;
  // The structs known before any record: their headers now, as ecli prints them at start.
  if (runner.mode === 'events') for (const st of runner.streams) if (st.known && !(st.stack && !opts.json)) formatter(st.known);

  try {
    await runner.run(
      {
        record: (r) => {
          metrics?.record(r.map, r.type.name);
          if (quiet) return;
          // A stack trace map's records print as stacks (in the table form; JSON is the struct).
          if (r.stack && !opts.json) {
            const st = runner.stackOf(r);
            flush();
            if (st) write(stackText(st, r.stack.withSymbols));
            return;
          }
          const f = formatter(r.type);
          // One clock reading per batch: the time the batch was read.
          if (!lines.length) {
            now = clockTime(new Date());
            queueMicrotask(flush);
          }
          lines.push(f.line(r.view, r.offset, now));
        },
        event: metrics && config.events?.length ? (e) => metrics.event(e) : undefined,
        sample: (s) => {
          metrics?.sample(s);
          write(sampleFormatter(s.map).text(s, clockTime(new Date())));
        },
        // A message ending in a newline leaves a blank line in trace_pipe: no JSON object for it.
        printk: quiet ? undefined : (l) => write(opts.json ? (l.text.trim() ? toJson(l.line) + '\n' : '') : l.text + '\n'),
        lost: (l) => {
          metrics?.lost(l);
          process.stderr.write(`tsbpf: lost ${l.count} samples (perf buffer ${l.map} full)\n`);
        },
        iter: (i) => write(i.bytes),
        ready: (mode) => {
          served?.server.ready();
          process.stderr.write(quiet && mode === 'printk' ? 'tsbpf: running (-q: bpf_printk output is not read). Ctrl-C to end.\n' : readyLine(runner, mode));
        },
      },
      signal,
    );
  } finally {
    flush();
    served?.server.unhealthy();
    await served?.server.close();
  }
  output.check();
  return 0;
}

function readyLine(runner: Runner, mode: Runner['mode']): string {
  switch (mode) {
    case 'samples':
      return `tsbpf: running; printing ${runner.samplers.map((s) => `map ${s.mapName} every ${s.interval} ms`).join(', ')}. Ctrl-C to end.\n`;
    case 'printk':
      return 'tsbpf: no export map: printing bpf_printk output from trace_pipe. Ctrl-C to end.\n';
    case 'idle':
      return 'tsbpf: loaded; the object has no programs, its maps stay until Ctrl-C.\n';
    default:
      return 'tsbpf: running. Ctrl-C to end.\n';
  }
}
