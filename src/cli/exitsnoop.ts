/**
 * `tsbpf exitsnoop`: options, their parsing and their help. The work is in tools/exitsnoop.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { DEFAULT_BATCH_MS, DEFAULT_RINGBUF_SIZE, exitsnoop, type ExitsnoopOptions, type OutputFormat } from '../tools/exitsnoop/index.js';
import { BTF_OPTION_HELP } from './main.js';
import { DEFAULT_MAX_LABEL_SETS, EXIT_LABELS, type ExitLabel } from '../metrics/labels.js';
import { after, untilStopped } from './stop.js';

const HELP = `
What is reported:
  One line per process, when the whole process has ended: the last of its threads,
  which the kernel's sched_process_exit tells by group_dead (Linux 6.18 has it). On
  kernels without group_dead the main thread's exit stands in for the process, which
  is early when the main thread calls pthread_exit() while others run on; exitsnoop
  says so on stderr when it starts. --threads reports every thread instead.
  EXIT_CODE is the code the parent's wait() sees (the exit_group code, or the code of
  the last thread); SIGNAL is the fatal signal, "(core)" when a core was dumped.
  DURATION_NS is the process's age: exit time minus its start time. TIME is when the
  process exited (the kernel's timestamp), not when the line was printed.
  Filters run in the kernel, before anything is copied out. Events the ring buffer
  has no room for are counted and reported as "N events lost".

Examples:
  tsbpf exitsnoop                          every exit, as the seed's table plus TID and SIGNAL
  tsbpf exitsnoop --format seed            exactly the seed's five columns
  tsbpf exitsnoop -x -t ms                 failures only, times with milliseconds
  tsbpf exitsnoop -t iso --utc             full UTC timestamps
  tsbpf exitsnoop -x --summary --duration 60
                                           failures in the next minute, summed up
  tsbpf exitsnoop -p 1234,1240 --threads   every thread of two processes
  tsbpf exitsnoop --ppid 1 -c sshd         sshd processes whose parent is pid 1
  tsbpf exitsnoop -u 1000 --min-age 5s     uid 1000's processes that lived 5 s or more
  tsbpf exitsnoop --cgroup system.slice/docker-abc.scope --json
                                           one container, with cgroup and in-container pid
  tsbpf exitsnoop --json | jq -c 'select(.signal_name == "SIGKILL") | {pid, comm}'
  tsbpf exitsnoop --ringbuf-size 16M       more room for bursts of exits
  tsbpf exitsnoop --container 3f2a9c1b7d4e --json
                                           one container's exits (id or its first digits)
  tsbpf exitsnoop --metrics :9464 -q --metrics-labels comm,container
                                           Prometheus metrics at :9464/metrics, no event output

JSON fields (one object per line; "type" says which kind):
  exit:    time (ISO 8601, UTC), pid, tid, ppid, ns_pid, uid, comm, exit_code, signal,
           signal_name, core_dumped, status, duration_ns, cgroup_id, cgroup,
           container_id, container_runtime, pod_uid, pod_qos
  lost:    time, lost, total_lost
  summary: time, seconds, exits, failed, lost, by_reason, by_comm, lifetime_ms_log2
  Schema: tools/exitsnoop/event.schema.json`;

export function registerExitsnoop(program: Command): void {
  program
    .command('exitsnoop')
    .description('trace every process exit on the machine: pid, parent, exit code or signal, age and name (root)')
    .addOption(new Option('-f, --format <format>', 'table, seed or json').choices(['table', 'seed', 'json']).default('table'))
    .option('-j, --json', 'one JSON object per line (same as --format json)')
    .addOption(new Option('-t, --time <style>', 'TIME column: clock (HH:MM:SS), ms (HH:MM:SS.mmm) or iso (date, ms and zone)').choices(['clock', 'ms', 'iso']).default('clock'))
    .option('--utc', 'times in UTC instead of local time')
    .option('-p, --pid <pids>', 'only these processes (comma-separated; repeatable)', pidList, [] as number[])
    .option('--ppid <pid>', 'only children of this process', pidArg)
    .option('-u, --uid <user>', 'only processes of this real user (id or name)', (text: string) => uidArg(text))
    .option('-c, --comm <name>', 'only processes of this name (its first 15 characters, as the kernel keeps)')
    .option('--cgroup <path>', 'only processes in this cgroup v2 or below it (a directory, or a path under the cgroup2 mount)')
    .option('--container <id>', 'only processes of this running container (its id, or the first 12 or more digits)')
    .option('--pod <uid>', 'only processes of this Kubernetes pod (its UID), on this node')
    .option('-x, --failed', 'only failures: a non-zero exit code or any signal')
    .option('--min-age <duration>', 'only processes at least this old: 500ms, 2s, 1.5m, 1h', durationNs)
    .option('--threads', 'one line per thread (with its tid), not per process')
    .option('--summary', 'print no events; when the run ends, print exits by name and reason, failures, losses and a lifetime histogram')
    .option('--duration <duration>', 'stop after this long (default: until Ctrl-C)', durationNs)
    .option('--ringbuf-size <bytes>', `ring buffer size, a power of two (default ${DEFAULT_RINGBUF_SIZE >> 20}M)`, sizeArg)
    .option('--batch-ms <ms>', `the longest an exit waits in the ring: wake-ups are batched to this (default ${DEFAULT_BATCH_MS}; 0: one per exit)`, batchArg)
    .option('--btf <file>', BTF_OPTION_HELP)
    .option('--metrics <[host:]port>', 'serve Prometheus metrics at http://HOST:PORT/metrics (and /healthz), beside the events')
    .option('--metrics-labels <labels>', 'add these labels to the exit metrics: comm, container, pod (comma-separated)', labelList)
    .option('--metrics-max-label-sets <n>', `distinct label sets kept before the rest count as "other" (default ${DEFAULT_MAX_LABEL_SETS})`, countArg)
    .option('-q, --quiet', 'print no events (loss notices go to stderr): with --metrics, metrics only')
    .addHelpText('after', HELP)
    .action(async (o: CliOptions) => {
      await untilStopped(async (stopSignal) => {
        const ac = new AbortController();
        stopSignal.addEventListener('abort', () => ac.abort(), { once: true });
        const cancel = o.duration !== undefined ? after(Number(o.duration / 1_000_000n), () => ac.abort()) : undefined;
        try {
          if (o.metrics === undefined) await exitsnoop({ ...toOptions(o), signal: ac.signal, onReady });
          else {
            const { exitsnoopWithMetrics, parseListenAddress } = await import('../metrics/index.js');
            await exitsnoopWithMetrics({
              ...toOptions(o),
              signal: ac.signal,
              onReady,
              metrics: parseListenAddress(o.metrics),
              labels: o.metricsLabels,
              maxLabelSets: o.metricsMaxLabelSets,
              onListening: (at) => process.stderr.write(`Metrics at http://${at.host.includes(':') ? `[${at.host}]` : at.host}:${at.port}/metrics\n`),
            });
          }
        } finally {
          cancel?.();
        }
      });
    });
}

interface CliOptions {
  format: OutputFormat;
  json?: boolean;
  time: 'clock' | 'ms' | 'iso';
  utc?: boolean;
  pid: number[];
  ppid?: number;
  uid?: number;
  comm?: string;
  cgroup?: string;
  container?: string;
  pod?: string;
  metrics?: string;
  metricsLabels?: ExitLabel[];
  metricsMaxLabelSets?: number;
  quiet?: boolean;
  failed?: boolean;
  minAge?: bigint;
  threads?: boolean;
  summary?: boolean;
  duration?: bigint;
  ringbufSize?: number;
  batchMs?: number;
  btf?: string;
}

function toOptions(o: CliOptions): ExitsnoopOptions {
  return {
    format: o.json ? 'json' : o.format,
    time: { style: o.time, utc: !!o.utc },
    threads: o.threads,
    pids: o.pid,
    ppid: o.ppid,
    uid: o.uid,
    comm: o.comm,
    cgroup: o.cgroup,
    container: o.container,
    pod: o.pod,
    quiet: o.quiet,
    failedOnly: o.failed,
    minAgeNs: o.minAge,
    ringbufSize: o.ringbufSize,
    batchMs: o.batchMs,
    summary: o.summary,
    btf: o.btf,
  };
}

function onReady({ groupDead }: { groupDead: boolean }): void {
  if (!groupDead) {
    process.stderr.write(
      'tsbpf: this kernel\'s sched_process_exit has no group_dead: each process is reported when its main thread exits\n',
    );
  }
  process.stderr.write('Tracing process exits... Ctrl-C to end.\n');
}

export function pidArg(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n <= 0 || n > 0x7fffffff) throw new InvalidArgumentError(`"${text}" is not a process id`);
  return n;
}

function pidList(text: string, prev: number[]): number[] {
  return [...prev, ...text.split(',').map((s) => pidArg(s.trim()))];
}

/** A uid, or a user name looked up in /etc/passwd. */
export function uidArg(text: string, passwd = '/etc/passwd'): number {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n > 0xfffffffe) throw new InvalidArgumentError(`"${text}" is not a user id`);
    return n;
  }
  let lines: string[] = [];
  try {
    lines = readFileSync(passwd, 'utf8').split('\n');
  } catch {
    // no passwd file: only numeric ids
  }
  for (const line of lines) {
    const f = line.split(':');
    if (f[0] === text && /^\d+$/.test(f[2] ?? '')) return Number(f[2]);
  }
  throw new InvalidArgumentError(`no user named "${text}" in ${passwd}; give a numeric uid`);
}

const DURATION_UNITS: Record<string, bigint> = { ns: 1n, us: 1_000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n };

/** "500ms", "2s", "1.5m", "1h"; a bare number is seconds. */
export function durationNs(text: string): bigint {
  const m = /^(\d+(?:\.\d+)?)\s*(ns|us|ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`"${text}" is not a duration (examples: 500ms, 2s, 1.5m, 1h)`);
  const [whole, frac = ''] = m[1]!.split('.');
  const unit = DURATION_UNITS[m[2] ?? 's']!;
  // Exact decimal arithmetic: 1.5m is 90 s to the nanosecond.
  const scale = 10n ** BigInt(frac.length);
  return (BigInt(whole! + frac) * unit) / scale;
}

function labelList(text: string): ExitLabel[] {
  const labels = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const l of labels) if (!(EXIT_LABELS as readonly string[]).includes(l)) throw new InvalidArgumentError(`"${l.slice(0, 40)}" is not a metrics label: choose from ${EXIT_LABELS.join(', ')}`);
  return labels as ExitLabel[];
}

function countArg(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 100_000) throw new InvalidArgumentError(`"${text}" is not a whole number from 1 to 100000`);
  return n;
}

/** "4096", "256K", "4M", "1G" (powers of 1024). */
function batchArg(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 10_000) throw new InvalidArgumentError(`"${text}" is not a whole number of ms from 0 to 10000`);
  return n;
}

export function sizeArg(text: string): number {
  const m = /^(\d+)\s*([KMG])?i?B?$/i.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`"${text}" is not a size (examples: 65536, 256K, 4M)`);
  const mult = { K: 1 << 10, M: 1 << 20, G: 1 << 30 }[(m[2] ?? '').toUpperCase() as 'K' | 'M' | 'G'] ?? 1;
  const n = Number(m[1]) * mult;
  if (n < 4096 || n > 1 << 30 || (n & (n - 1)) !== 0) throw new InvalidArgumentError(`${text} is not a power of two from 4K to 1G`);
  return n;
}
