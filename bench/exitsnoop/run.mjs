#!/usr/bin/env node
// bench/exitsnoop: process-exit monitors under a fork storm, tsbpf against libbpf and bpftrace.
//
//   node bench/exitsnoop/run.mjs [--seconds S] [--loops N] [--reps N] [--only none,tsbpf,c,bpftrace]
//   (defaults: 4 s, 2 loops, 3 reps: about 80 s)
//
// Root, a built dist/ (npx tsc -p tsconfig.json), gcc, libbpf-dev, libelf-dev, zlib1g-dev
// and bpftrace (installed with apt-get when missing and running as root).
//
// Load: --loops (default 2) copies of forkloop.c run in parallel for --seconds (default 4),
// each doing fork(); child _exit(7); waitpid() as fast as it can, and printing how many
// children it forked. Their children carry the comm "tsbpf_forkloop" and the loop's pid as
// parent pid: that is how their exits are found in a monitor's output.
//
// Monitors, one at a time, each writing to a file in a temporary directory:
//   tsbpf     node bin/tsbpf.js exitsnoop --json > file
//   c         exitsnoop_ref.c: tsbpf's own tools/exitsnoop/exitsnoop.bpf.o (same program,
//             same 256 KiB ring) loaded and attached with libbpf, ring_buffer__poll, one
//             text line per exit (pid ppid exit_code duration_ns comm), flushed once per
//             poll that returned events, as tsbpf writes once per batch
//   bpftrace  bpftrace -e 'tracepoint:sched:sched_process_exit /pid == tid/ { printf(...) }'
//             with the same fields (curtask->real_parent->tgid, exit_code >> 8, age, comm)
//   none      no monitor: the baseline fork rate (before each rep and once at the end; the
//             median is used)
//
// Per monitor (medians over --reps; captured counts are summed):
//   captured     exits of the loops' children found in the file, against children forked
//                (target: all); exit codes are checked too (all must read 7); bpftrace's
//                "Lost N events" lines are counted as reported losses
//   cpu_per_10k  the monitor's CPU seconds (utime + stime of all its threads, from
//                /proc/PID/stat, 10 ms ticks) from ready until it has written everything,
//                per 10,000 exits captured
//   slowdown     the loops' forks/s with the monitor over forks/s with none (1 = no cost)
//   startup_s    from spawn to ready: tsbpf's "Tracing process exits" stderr line, the C
//                reference's own such line, bpftrace's "Attaching 1 probe..." (which bpftrace
//                prints just before it attaches; it goes to stdout, so the file is watched)
//   drain_s      from the end of the loops until the last of their exits reached the file
//                (how far behind the monitor was; 20 ms resolution)
//   latency_*_ms exit-to-output on a quiet machine, after the load: 20 lone exits, each
//                from this process's SIGCHLD to its line in the file (1 ms polling):
//                median and max (tsbpf batches wake-ups: --batch-ms bounds it)
// After the loops end the bench reads the file as it grows until every child's exit is in
// it (or none came for 2 s), reads the monitor's CPU time, then sends SIGINT; the monitor
// must exit 0. On a 2-CPU machine the monitor competes with the two loops for CPU: that
// competition is part of what is measured, and so is the cost the kernel side adds to every
// exit (BPF program, ring or perf buffer, wake-ups). Other load on the machine shows up as
// noise in the fork rates: compare the baseline runs printed.
// Ends with one JSON line of results.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  buildDir, compileC, cpuSeconds, die, ensureTracefs, hasCommand, lastJson, median, requireDist, requireRoot, requireTools, ROOT, round, si, sleep, TOOLCHAIN,
} from '../lib.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const EXITSNOOP_OBJ = join(ROOT, 'tools', 'exitsnoop', 'exitsnoop.bpf.o');
const COMM = 'tsbpf_forkloop';
const CODE = 7;
const BPFTRACE_SCRIPT =
  'tracepoint:sched:sched_process_exit /pid == tid/ { printf("%d %d %d %llu %s\\n", pid, curtask->real_parent->tgid, ' +
  '(curtask->exit_code >> 8) & 0xff, nsecs - curtask->start_time, comm); }';

function parseOpts(argv) {
  const o = { seconds: 4, loops: 2, reps: 3, only: ['none', 'tsbpf', 'c', 'bpftrace'] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--seconds') o.seconds = Number(argv[++i]);
    else if (a === '--loops') o.loops = Number(argv[++i]);
    else if (a === '--reps') o.reps = Number(argv[++i]);
    else if (a === '--only') o.only = argv[++i].split(',');
    else if (a === '-h' || a === '--help') {
      console.log('usage: node bench/exitsnoop/run.mjs [--seconds S] [--loops N] [--reps N] [--only none,tsbpf,c,bpftrace]');
      process.exit(0);
    } else die(`unknown option ${a}`);
  }
  if (!(o.seconds > 0) || !(o.loops >= 1) || !(o.reps >= 1)) die('--seconds, --loops and --reps must be positive');
  if (!o.only.includes('none')) die('--only must include none: it is the baseline');
  return o;
}

// ---------------------------------------------------------------- output parsers
// Each returns { pid, ppid, code, comm } or null for a line that is not an exit.

function parseJson(line) {
  if (!line.startsWith('{')) return null;
  const e = JSON.parse(line);
  if (e.type !== 'exit') return null;
  return { pid: e.pid, ppid: e.ppid, code: e.exit_code, comm: e.comm };
}

function parseText(line) {
  const m = /^(\d+) (\d+) (\d+) (\d+) (.*)$/.exec(line);
  if (!m) return null;
  return { pid: Number(m[1]), ppid: Number(m[2]), code: Number(m[3]), comm: m[5] };
}

/** Tallies one output line of monitor `m`: children of the loops (by parent pid and comm). */
function countLine(m, line, pids, tally) {
  const lost = /^Lost (\d+) events/.exec(line);
  if (lost) {
    tally.lost += Number(lost[1]);
    return;
  }
  const e = m.parse(line);
  if (!e) return;
  if (e.pid === tally.watch) tally.seen = true;
  tally.lines++;
  if (!pids.has(e.ppid) || e.comm !== COMM) return;
  tally.captured++;
  if (e.code !== CODE) tally.wrongCode++;
}

/** Reads the complete lines appended to `path` since the last poll. */
function lineReader(path, onLine) {
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(1 << 20);
  let pos = 0;
  let partial = '';
  return {
    poll(final = false) {
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, pos);
        if (n <= 0) break;
        pos += n;
        const text = partial + buf.toString('utf8', 0, n);
        const lines = text.split('\n');
        partial = lines.pop();
        for (const l of lines) if (l) onLine(l);
      }
      if (final) {
        if (partial) onLine(partial);
        partial = '';
        closeSync(fd);
      }
    },
  };
}

// ---------------------------------------------------------------- running things

function runForkloops(bin, o) {
  return Promise.all(Array.from({ length: o.loops }, () => new Promise((resolve, reject) => {
    const p = spawn(bin, [String(o.seconds), String(CODE)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d) => (out += d));
    p.on('error', reject);
    p.on('close', (code) => {
      const r = lastJson(out);
      if (code !== 0 || !r) reject(new Error(`forkloop failed (exit ${code}): ${out}`));
      else resolve(r);
    });
  })));
}

function fileHead(path, n = 4096) {
  try {
    const fd = openSync(path, 'r');
    try {
      const buf = Buffer.alloc(n);
      const got = readSync(fd, buf, 0, n, 0);
      return buf.toString('utf8', 0, got);
    } finally {
      closeSync(fd);
    }
  } catch {
    return '';
  }
}

/** Spawns a monitor writing to `outFile`; resolves once it says it is ready. */
async function startMonitor(m, outFile) {
  const fd = openSync(outFile, 'w');
  const t0 = performance.now();
  const child = spawn(m.cmd[0], m.cmd.slice(1), { stdio: ['ignore', fd, 'pipe'] });
  closeSync(fd);
  let stderr = '';
  let exited = null;
  const exit = new Promise((resolve) => child.on('close', (code, signal) => resolve((exited = { code, signal }))));
  child.on('error', (e) => die(`${m.name}: ${e.message}`));
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  for (;;) {
    const text = m.readyIn === 'file' ? fileHead(outFile) : stderr;
    if (m.ready.test(text)) break;
    if (exited) die(`${m.name} exited (${exited.code ?? exited.signal}) before it was ready:\n${stderr}`);
    if (performance.now() - t0 > 60_000) die(`${m.name} not ready after 60 s:\n${stderr}`);
    await sleep(2);
  }
  const startup = (performance.now() - t0) / 1e3;
  return { child, exit, startup, stderr: () => stderr, exited: () => exited };
}

async function runScenario(m, bins, o, dir, rep) {
  const outFile = join(dir, `${m.name}-${rep}.out`);
  let mon;
  let cpuReady = 0;
  if (m.cmd) {
    mon = await startMonitor(m, outFile);
    await sleep(200); // let start-up work (JIT, GC of the loader's garbage) settle
    cpuReady = cpuSeconds(mon.child.pid);
  }
  const loops = await runForkloops(bins.forkloop, o);
  const tEnd = performance.now();
  const forked = loops.reduce((s, l) => s + l.forked, 0);
  const seconds = loops.reduce((s, l) => s + l.seconds, 0) / loops.length;
  const badStatus = loops.reduce((s, l) => s + l.bad_status, 0);
  const res = { monitor: m.name, forked, forks_per_s: forked / seconds, loop_seconds: seconds, bad_wait_status: badStatus };
  if (!mon) return res;

  // Wait until every child's exit is in the file, or none has arrived for 2 s (lost ones),
  // reading the file as it grows; then take the CPU time and stop the monitor.
  const pids = new Set(loops.map((l) => l.pid));
  const tally = { captured: 0, wrongCode: 0, lines: 0, lost: 0 };
  const reader = lineReader(outFile, (line) => countLine(m, line, pids, tally));
  let lastCapture = tEnd;
  for (;;) {
    const before = tally.captured;
    reader.poll();
    const t = performance.now();
    if (tally.captured !== before) lastCapture = t;
    if (tally.captured >= forked || t - lastCapture > 2000 || t - tEnd > 60_000 || mon.exited()) break;
    await sleep(20);
  }
  const drain = Math.max(0, (lastCapture - tEnd) / 1e3);
  const cpu = cpuSeconds(mon.child.pid);
  if (mon.exited()) die(`${m.name} exited early (${JSON.stringify(mon.exited())}):\n${mon.stderr()}`);
  const latency = await exitLatency(m, reader, tally);
  mon.child.kill('SIGINT');
  const killer = setTimeout(() => mon.child.kill('SIGKILL'), 15_000);
  const st = await mon.exit;
  clearTimeout(killer);
  if (st.code !== 0) die(`${m.name} did not end cleanly on SIGINT (${st.code ?? st.signal}):\n${mon.stderr()}`);
  reader.poll(true); // what it wrote on the way out
  const { captured, wrongCode, lines, lost } = tally;
  const monCpu = cpu - cpuReady;
  return {
    ...res,
    captured,
    captured_ratio: captured / forked,
    wrong_exit_code: wrongCode,
    lines,
    lost_reported: lost,
    cpu_s: monCpu,
    cpu_per_10k: captured ? (monCpu / captured) * 1e4 : NaN,
    startup_s: mon.startup,
    startup_cpu_s: cpuReady,
    drain_s: drain,
    latency_median_ms: median(latency),
    latency_max_ms: Math.max(...latency),
  };
}

/**
 * Exit-to-output latency on a quiet machine: LATENCY_SAMPLES lone exits, each timed from
 * the moment this process sees its child end (SIGCHLD, just after the kernel's exit) to the
 * moment its line is in the monitor's file (polled every millisecond).
 */
const LATENCY_SAMPLES = 20;
async function exitLatency(m, reader, tally) {
  const out = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const p = spawn('/bin/true');
    await new Promise((r) => p.on('exit', r));
    const t0 = performance.now();
    tally.watch = p.pid;
    tally.seen = false;
    while (!tally.seen && performance.now() - t0 < 2000) {
      reader.poll();
      if (!tally.seen) await sleep(1);
    }
    out.push(Math.max(0, performance.now() - t0));
    await sleep(20);
  }
  return out;
}

async function main() {
  const o = parseOpts(process.argv.slice(2));
  requireRoot();
  requireDist('cli/main.js', 'tools/exitsnoop/index.js');
  if (!existsSync(EXITSNOOP_OBJ)) die(`${EXITSNOOP_OBJ} is missing (it is committed; restore it or run node scripts/build-bpf.mjs)`);
  const need = TOOLCHAIN.filter((r) => !['clang', 'llvm-strip'].includes(r.what));
  if (o.only.includes('bpftrace')) need.push({ what: 'bpftrace', check: () => hasCommand('bpftrace'), pkg: 'bpftrace' });
  requireTools(need);
  ensureTracefs();

  const dir = buildDir('exitsnoop');
  const bins = {
    forkloop: compileC(join(HERE, 'forkloop.c'), join(dir, 'forkloop'), { libs: [] }),
    // struct event comes from the tool's own header
    ref: compileC(join(HERE, 'exitsnoop_ref.c'), join(dir, 'exitsnoop_ref'), { includes: [join(ROOT, 'tools', 'exitsnoop')] }),
  };
  const monitors = {
    none: { name: 'none' },
    tsbpf: { name: 'tsbpf', cmd: [process.execPath, join(ROOT, 'bin', 'tsbpf.js'), 'exitsnoop', '--json'], ready: /Tracing process exits/, readyIn: 'stderr', parse: parseJson },
    c: { name: 'c', cmd: [bins.ref, EXITSNOOP_OBJ], ready: /Tracing process exits/, readyIn: 'stderr', parse: parseText },
    bpftrace: { name: 'bpftrace', cmd: ['bpftrace', '-e', BPFTRACE_SCRIPT], ready: /Attaching \d+ probe/, readyIn: 'file', parse: parseText },
  };
  const bt = o.only.includes('bpftrace') ? spawnSync('bpftrace', ['--version'], { encoding: 'utf8' }).stdout.trim() : 'not run';
  const libbpf = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'libbpf-dev'], { encoding: 'utf8' }).stdout || 'unknown';
  console.log(`exitsnoop bench: ${o.loops} fork loops x ${o.seconds} s per monitor, ${o.reps} rep(s); node ${process.version}, libbpf-dev ${libbpf}, ${bt}`);

  // Interleaved, so drifting load on the machine touches every monitor alike; one more
  // baseline at the very end.
  const monitorsRun = o.only.filter((n) => n !== 'none');
  const runs = {};
  for (let rep = 0; rep <= o.reps; rep++) {
    for (const name of rep < o.reps ? ['none', ...monitorsRun] : ['none']) {
      const r = await runScenario(monitors[name], bins, o, dir, rep);
      (runs[name] ??= []).push(r);
      let line = `  ${name.padEnd(8)} rep ${rep + 1}: ${si(r.forks_per_s).padStart(7)} forks/s (${r.forked} forked)`;
      if (name !== 'none') {
        line += `  captured ${r.captured}/${r.forked}${r.wrong_exit_code ? ` (${r.wrong_exit_code} wrong exit codes)` : ''}` +
          `${r.lost_reported ? `, ${r.lost_reported} reported lost` : ''}  cpu ${r.cpu_s.toFixed(2)} s` +
          `  start-up ${r.startup_s.toFixed(3)} s  drain ${r.drain_s.toFixed(2)} s  latency ${r.latency_median_ms.toFixed(1)}/${r.latency_max_ms.toFixed(1)} ms`;
      }
      console.log(line);
    }
  }

  const baseline = median(runs.none.map((r) => r.forks_per_s));
  const summary = {};
  console.log(`\nbaseline (no monitor): ${si(baseline)} forks/s (median of ${runs.none.length} runs)`);
  console.log('monitor    captured (of forked)      CPU s / 10k exits   fork slowdown   start-up   drain after load   exit-to-output ms (median/max)');
  for (const name of o.only.filter((n) => n !== 'none')) {
    const rs = runs[name];
    const captured = rs.reduce((s, r) => s + r.captured, 0);
    const forked = rs.reduce((s, r) => s + r.forked, 0);
    const s = {
      captured,
      forked,
      captured_ratio: round(captured / forked, 5),
      all_captured: captured === forked,
      wrong_exit_code: rs.reduce((t, r) => t + r.wrong_exit_code, 0),
      lost_reported: rs.reduce((t, r) => t + r.lost_reported, 0),
      cpu_per_10k: round(median(rs.map((r) => r.cpu_per_10k))),
      forks_per_s: Math.round(median(rs.map((r) => r.forks_per_s))),
      slowdown: round(median(rs.map((r) => r.forks_per_s)) / baseline),
      startup_s: round(median(rs.map((r) => r.startup_s))),
      startup_cpu_s: round(median(rs.map((r) => r.startup_cpu_s))),
      drain_s: round(median(rs.map((r) => r.drain_s)), 2),
      latency_median_ms: round(median(rs.map((r) => r.latency_median_ms)), 2),
      latency_max_ms: round(Math.max(...rs.map((r) => r.latency_max_ms)), 2),
    };
    summary[name] = s;
    console.log(`${name.padEnd(10)} ${`${captured}/${forked} (${(100 * captured / forked).toFixed(2)}%)`.padEnd(25)} ${s.cpu_per_10k.toFixed(3).padStart(8)}            ` +
      `${s.slowdown.toFixed(3)}x          ${s.startup_s.toFixed(3)} s    ${s.drain_s.toFixed(2)} s             ${s.latency_median_ms.toFixed(1)} / ${s.latency_max_ms.toFixed(1)}`);
  }
  const t = summary.tsbpf;
  const c = summary.c;
  if (t && c) {
    console.log(`\ntsbpf vs C reference: CPU per exit ${(t.cpu_per_10k / c.cpu_per_10k).toFixed(2)}x, fork rate ${(t.slowdown / c.slowdown).toFixed(3)}x, ` +
      `start-up ${(t.startup_s / c.startup_s).toFixed(1)}x; tsbpf captured ${t.all_captured ? 'every exit' : `${t.forked - t.captured} exits fewer than forked`}`);
  }
  console.log(JSON.stringify({
    bench: 'exitsnoop',
    seconds: o.seconds,
    loops: o.loops,
    reps: o.reps,
    baseline_forks_per_s: Math.round(baseline),
    baseline_runs: runs.none.map((r) => Math.round(r.forks_per_s)),
    ...Object.fromEntries(Object.entries(summary).map(([k, v]) => [k, v])),
    tsbpf_cpu_ratio: t && c ? round(t.cpu_per_10k / c.cpu_per_10k) : null,
    node: process.version,
    libbpf,
    bpftrace_version: bt,
  }));
}

await main();
