/**
 * The tsbpf command line. Events and results go to stdout, diagnostics to stderr;
 * a diagnosed failure exits 1 with a one-line reason (plus the verifier log when
 * there is one), never a stack trace.
 */
import { Command, CommanderError } from 'commander';
import { TsbpfError } from '../errors.js';
import { messageText } from '../text.js';
import type { AttachOptions } from '../link/index.js';
import { VerifierError, BtfLoadError } from '../loader/index.js';
import { registerBuild } from './build.js';
import { registerBtfCommand } from './btf.js';
import { registerExitsnoop } from './exitsnoop.js';
import { registerGen } from './gen.js';
import type { RunCommandOptions } from './run-command.js';
// Commands load their modules when they run: `tsbpf exitsnoop` starts without build, gen or run.
import { addMapSize, type MapSizes } from '../runner/map-sizes.js';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('tsbpf')
    .description('eBPF toolkit for Node.js: load, check and run BPF programs without libbpf')
    .exitOverride()
    .enablePositionalOptions()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  let status = 0;
  registerBuild(program);
  registerBtfCommand(program);
  registerGen(program);
  program
    .command('check')
    .description('load every program of a BPF object into the kernel (without attaching), report what the verifier says, unload')
    .argument('<object>', 'a clang-compiled BPF object (.bpf.o)')
    .option('--log-level <n>', 'verifier log level to request even on success (1: instructions, 2: states, 4: stats)', parseLevel, 0)
    .option('-v, --verbose', 'print the verifier log of accepted programs too (same as --log-level 1)')
    .option('--max-entries <map=n>', "set a map's max_entries before load (repeatable)", (v: string, p?: MapSizes) => addMapSize('--max-entries', v, p))
    .option('--value-size <map=n>', "set a map's value size before load, e.g. a STACK_TRACE map's (repeatable)", (v: string, p?: MapSizes) => addMapSize('--value-size', v, p))
    .option('--btf <file>', BTF_OPTION_HELP)
    .addHelpText('after', '\nExample:\n  tsbpf check exitsnoop.bpf.o\n\nExit status: 0 when every program is accepted, 1 otherwise (the verifier log goes to stderr).')
    .action(async (object: string, opts: { logLevel: number; verbose?: boolean; maxEntries?: MapSizes; valueSize?: MapSizes; btf?: string }) => {
      const { checkCommand } = await import('./check.js');
      status = checkCommand(object, { logLevel: opts.verbose && !opts.logLevel ? 1 : opts.logLevel, mapSizes: mergeSizes(opts.maxEntries, opts.valueSize), btf: opts.btf });
    });

  registerExitsnoop(program);

  program
    .command('run')
    .description('load a BPF object or eunomia package, attach its programs by section name and print its events')
    .argument('<file>', 'package.json (eunomia format) or a .bpf.o object: a path, - (standard input) or an http(s) URL')
    .argument('[args...]', "the program's own options: --NAME VALUE for its global variables (-h lists them)")
    .option('-j, --json', 'one JSON object per event')
    .option('--event <struct>', "the struct the export map's records are (default: the package's export type, else the header struct of the records' size)")
    .option('-v, --verbose', 'say what is attached')
    .option('--max-entries <map=n>', "set a map's max_entries before load (repeatable)", (v: string, p?: MapSizes) => addMapSize('--max-entries', v, p))
    .option('--value-size <map=n>', "set a map's value size before load, e.g. a STACK_TRACE map's (repeatable)", (v: string, p?: MapSizes) => addMapSize('--value-size', v, p))
    .option('--btf <file>', BTF_OPTION_HELP)
    .option('--interface <name|index>', 'network interface of xdp and tc programs (default: the package\'s @ifindex/@tchook, else 1, lo)')
    .option('--xdp-mode <mode>', 'xdp attach mode: generic or driver (default: driver where the driver has it)')
    .option('--cgroup <path>', 'cgroup v2 directory of cgroup programs (default: the cgroup2 root)')
    .option('--freq <hz>', 'samples per second on each CPU for perf_event programs (default 1)')
    .option('--metrics <[host:]port>', 'serve the sample maps and export maps as Prometheus metrics at http://HOST:PORT/metrics')
    .option('--metrics-config <file>', 'JSON: counters of events by field values, maps read at every scrape, label names (README)')
    .option('-q, --quiet', 'print no events or samples (with --metrics: metrics only)')
    .allowUnknownOption()
    .passThroughOptions()
    .addHelpText('after', '\nExamples:\n  tsbpf run package.json\n  tsbpf run execs.bpf.o -j | jq .comm\n  tsbpf run package.json -- --min_duration_ms 10')
    .action(async (file: string, args: string[], opts: RunFlags & { json?: boolean; event?: string; verbose?: boolean; maxEntries?: MapSizes; valueSize?: MapSizes; btf?: string; metrics?: string; metricsConfig?: string; quiet?: boolean }) => {
      // Options after FILE pass through untouched; take ours out, leave the program's.
      const own: RunCommandOptions = {
        json: opts.json, event: opts.event, verbose: opts.verbose, mapSizes: mergeSizes(opts.maxEntries, opts.valueSize), btf: opts.btf,
        metrics: opts.metrics, metricsConfig: opts.metricsConfig, quiet: opts.quiet,
      };
      const flags: RunFlags = { interface: opts.interface, xdpMode: opts.xdpMode, cgroup: opts.cgroup, freq: opts.freq };
      const rest: string[] = [];
      for (let i = 0; i < args.length; i++) {
        const a = args[i]!;
        // After --, everything is the program's own (its options may share our names).
        if (a === '--') {
          rest.push(...args.slice(i + 1));
          break;
        }
        if (a === '-j' || a === '--json') own.json = true;
        else if (a === '-q' || a === '--quiet') own.quiet = true;
        else if (a === '--metrics' || a === '--metrics-config') {
          if (i + 1 >= args.length) throw new TsbpfError(`${a} needs a value`);
          own[a === '--metrics' ? 'metrics' : 'metricsConfig'] = args[++i];
        }
        else if (a === '-v' || a === '--verbose') own.verbose = true;
        else if (a === '--max-entries' || a === '--value-size') {
          if (i + 1 >= args.length) throw new TsbpfError(`${a} needs MAP=N`);
          own.mapSizes = addMapSize(a, args[++i]!, own.mapSizes);
        } else if (a === '--btf') {
          if (i + 1 >= args.length) throw new TsbpfError('--btf needs a file');
          own.btf = args[++i];
        } else if (a.startsWith('--btf=')) own.btf = a.slice('--btf='.length);
        else if (a === '--event') {
          if (i + 1 >= args.length) throw new TsbpfError('--event needs a struct name');
          own.event = args[++i];
        } else if (a.startsWith('--event=')) own.event = a.slice('--event='.length);
        else if (RUN_FLAGS[a]) {
          if (i + 1 >= args.length) throw new TsbpfError(`${a} needs a value`);
          flags[RUN_FLAGS[a]] = args[++i];
        } else rest.push(a);
      }
      own.attach = runAttachOptions(flags);
      const { runCommand } = await import('./run-command.js');
      status = await runCommand(file, rest, own);
    });

  try {
    await program.parseAsync(argv);
    return status;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    return reportError(e, argv.includes('-v') || argv.includes('--verbose'));
  }
}

interface RunFlags {
  interface?: string;
  xdpMode?: string;
  cgroup?: string;
  freq?: string;
}

/** run's attach flags as they may also come after FILE. */
const RUN_FLAGS: Record<string, keyof RunFlags> = { '--interface': 'interface', '--xdp-mode': 'xdpMode', '--cgroup': 'cgroup', '--freq': 'freq' };

function runAttachOptions(f: RunFlags): Partial<AttachOptions> {
  const o: Partial<AttachOptions> = {};
  if (f.interface !== undefined) o.interface = /^\d+$/.test(f.interface) ? Number(f.interface) : f.interface;
  if (f.xdpMode !== undefined) {
    if (f.xdpMode !== 'generic' && f.xdpMode !== 'driver') throw new TsbpfError(`--xdp-mode is generic or driver, not "${f.xdpMode}"`);
    o.xdpMode = f.xdpMode;
  }
  if (f.cgroup !== undefined) o.cgroup = f.cgroup;
  if (f.freq !== undefined) {
    if (!/^\d+$/.test(f.freq) || Number(f.freq) < 1) throw new TsbpfError(`--freq is a whole number of samples per second >= 1, not "${f.freq}"`);
    o.perfEvent = { frequency: Number(f.freq) };
  }
  return o;
}

/** check's two size options, each a MapSizes of its own, as one. */
function mergeSizes(a?: MapSizes, b?: MapSizes): MapSizes | undefined {
  if (!a || !b) return a ?? b;
  for (const [name, s] of b) a.set(name, { ...a.get(name), ...s });
  return a;
}

export const BTF_OPTION_HELP =
  "the running kernel's BTF as a file, for kernels without /sys/kernel/btf/vmlinux; tsbpf then does CO-RE itself (default: $BTF_FILE_PATH)";

/** Lines of a kernel log shown without -v: its end, where the verifier and BTF checker say why. */
const LOG_TAIL = 20;

export function reportError(e: unknown, verbose = false): number {
  if (e instanceof VerifierError || e instanceof BtfLoadError) {
    const lines = e.log.trimEnd().split('\n');
    const shown = verbose ? lines : lines.slice(-LOG_TAIL);
    const note = shown.length < lines.length ? `(the last ${shown.length} of the kernel's ${lines.length} log lines, where it says why; -v shows them all)\n` : '';
    process.stderr.write(`tsbpf: ${messageText(e.message.split('\n')[0]!)}\n${note}${messageText(shown.join('\n'))}\n`);
  } else if (e instanceof TsbpfError) {
    // Messages quote names from input: a hostile one must not drive the terminal.
    process.stderr.write(`tsbpf: ${messageText(e.message)}\n`);
  } else {
    process.stderr.write(`tsbpf: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 70;
  }
  return 1;
}

function parseLevel(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 7) throw new TsbpfError(`--log-level: ${v} is not a number from 0 to 7`);
  return n;
}
