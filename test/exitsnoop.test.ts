/**
 * exitsnoop with real processes: exit codes, signals and core dumps, the status of
 * multi-threaded exits, pid namespaces, threads mode, exact loss accounting, every output
 * format, and a clean kernel after every way the tool can end. Filters and the JSON schema:
 * exitsnoop-filters.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { ExitFormatter, kernelHasGroupDead } from '../src/tools/exitsnoop/index.js';
import { exitcases, EXITCASES_COMM, exitcasesNamed } from './exitcases.js';
import { kernelAtLeast } from './guest.js';
import { allGone, heldIds, kernelTest } from './kernel.js';
import { CLI, SEED } from './paths.js';
import { start, stop, tsbpf } from './tsbpf-cli.js';


test("golden: --format seed renders the seed's sample events byte for byte as expected-output.txt", () => {
  const format = new ExitFormatter('seed');
  const samples: [number, number, string][] = [
    [42050, 42049, 'which'], [42049, 3517, 'sh'], [42052, 42051, 'ps'], [42051, 3517, 'sh'], [42055, 42054, 'sed'],
    [42056, 42054, 'cat'], [42057, 42054, 'cat'], [42058, 42054, 'cat'], [42059, 42054, 'cat'],
  ];
  const timeMs = new Date(2026, 0, 1, 21, 40, 9).getTime(); // local time, as the seed printed
  const rows = samples.map(([pid, ppid, comm]) => format.line({
    timeMs, pid, tid: pid, ppid, nsPid: pid, uid: 0, comm, status: 0, exitCode: 0, signal: 0, coreDumped: false, durationNs: 0n, cgroupId: 1n,
  }));
  assert.equal(format.header + rows.join('\n') + '\n', readFileSync(resolve(SEED, 'expected-output.txt'), 'utf8'));
});

/** Starts `tsbpf exitsnoop` and resolves once it says it is attached. */
const startExitsnoop = (args: string[] = []) => start(['exitsnoop', ...args], /Tracing process exits/);

const MAPS = ['events', 'lost', 'pids', 'cgroup', 'exitsnoo.rodata', 'exitsnoo.bss'];

/** The run's program, maps and link, while it runs (exact: other tests load their own). */
async function assertCleanAfter(objs: { prog: number[]; map: number[]; link: number[] }) {
  assert.equal(objs.prog.length, 1, 'one program while running');
  assert.equal(objs.map.length, MAPS.length, 'its maps while running');
  // Before 5.15 (BPF_LINK_TYPE_PERF_EVENT) a tracepoint is attached by ioctl, with no link.
  assert.equal(objs.link.length, kernelAtLeast(5, 15) ? 1 : 0, 'one link while running, where the kernel has perf links');
  assert.ok(await allGone('link', objs.link), 'link left attached');
  assert.ok(await allGone('prog', objs.prog), 'program left loaded');
  assert.ok(await allGone('map', objs.map), 'maps left behind');
}

interface Exit {
  type: 'exit'; time: string; pid: number; tid: number; ppid: number; ns_pid: number; uid: number; comm: string;
  exit_code: number; signal: number | null; signal_name: string | null; core_dumped: boolean; status: number;
  duration_ns: number; cgroup_id: number; cgroup: string | null;
}
interface Lost { type: 'lost'; lost: number; total_lost: number }

/** Runs exitsnoop with `args` around `work`, then stops it; returns its JSON lines. */
async function around(args: string[], work: () => Promise<void> | void): Promise<{ exits: Exit[]; lost: Lost[]; stdout: string; stderr: string }> {
  const run = await startExitsnoop(args);
  try {
    await work();
  } finally {
    assert.equal(await stop(run.proc), 0, run.err());
  }
  const lines = run.out().trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Exit | Lost);
  return { exits: lines.filter((l): l is Exit => l.type === 'exit'), lost: lines.filter((l): l is Lost => l.type === 'lost'), stdout: run.out(), stderr: run.err() };
}

/** Runs the exitcases program to its end; returns its pid and how it ended. */
async function ends(args: string[], opts: { cwd?: string; bin?: string } = {}): Promise<{ pid: number; code: number | null; signal: NodeJS.Signals | null; t0: number; t1: number }> {
  const t0 = Date.now();
  const p = spawn(opts.bin ?? exitcases(), args, { stdio: 'ignore', cwd: opts.cwd });
  const [code, signal] = (await once(p, 'exit')) as [number | null, NodeJS.Signals | null];
  return { pid: p.pid!, code, signal, t0, t1: Date.now() };
}

const only = (exits: Exit[], pid: number) => exits.filter((e) => e.pid === pid);
const MINE = ['--json', '-c', EXITCASES_COMM];

kernelTest('exit codes 0..255: one event each, exact pid, ppid, code, comm, uid, and the kernel time of the exit', async () => {
  const runs: Awaited<ReturnType<typeof ends>>[] = [];
  const { exits } = await around(MINE, async () => {
    for (let code = 0; code < 256; code++) runs.push(await ends(['code', String(code)]));
  });
  for (const [code, r] of runs.entries()) {
    assert.equal(r.code, code);
    const mine = only(exits, r.pid);
    assert.equal(mine.length, 1, `one event for exit ${code}: ${JSON.stringify(mine)}`);
    const e = mine[0]!;
    assert.deepEqual(
      [e.tid, e.ppid, e.ns_pid, e.uid, e.comm, e.exit_code, e.signal, e.signal_name, e.core_dumped, e.status],
      [r.pid, process.pid, r.pid, 0, EXITCASES_COMM, code, null, null, false, code << 8],
    );
    const t = Date.parse(e.time);
    assert.ok(t >= r.t0 - 5 && t <= r.t1 + 5, `exit time ${e.time} within the run [${new Date(r.t0).toISOString()}, ${new Date(r.t1).toISOString()}]`);
    assert.ok(e.duration_ns > 0 && e.duration_ns <= (r.t1 - r.t0 + 5) * 1e6, `age ${e.duration_ns} ns within the run`);
  }
  assert.equal(exits.filter((e) => e.ppid === process.pid).length, 256);
});

kernelTest('signals: SIGSEGV with a core dump allowed and forbidden, SIGKILL, SIGTERM', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-core-'));
  const pattern = readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim();
  const runs: Record<string, Awaited<ReturnType<typeof ends>>> = {};
  const { exits } = await around(MINE, async () => {
    runs.core = await ends(['signal', '11', 'core'], { cwd: dir });
    runs.nocore = await ends(['signal', '11', 'nocore'], { cwd: dir });
    runs.kill = await ends(['signal', '9', 'nocore']);
    runs.term = await ends(['signal', '15', 'core']); // SIGTERM never dumps a core
  });
  const expect: Record<string, [number, string, boolean]> = {
    core: [11, 'SIGSEGV', true], nocore: [11, 'SIGSEGV', false], kill: [9, 'SIGKILL', false], term: [15, 'SIGTERM', false],
  };
  for (const [name, [sig, sigName, core]] of Object.entries(expect)) {
    const r = runs[name]!;
    assert.equal(r.signal, sigName, `${name} ended by ${sigName}`);
    const mine = only(exits, r.pid);
    assert.equal(mine.length, 1, name);
    const e = mine[0]!;
    if (name === 'core') assert.ok(/^core/.test(pattern) ? readdirSync(dir).some((f) => f.startsWith('core')) : true, `a core file in ${dir} (core_pattern ${pattern})`);
    assert.deepEqual([e.exit_code, e.signal, e.signal_name, e.core_dumped, e.status], [0, sig, sigName, core, sig | (core ? 0x80 : 0)], name);
  }
  rmSync(dir, { recursive: true, force: true });
});

kernelTest('the status the parent sees: exit_group from a second thread; pthread_exit of the main thread then a later exit(3)', async () => {
  let group!: Awaited<ReturnType<typeof ends>>;
  let late!: Awaited<ReturnType<typeof ends>>;
  const { exits, stderr } = await around(MINE, async () => {
    group = await ends(['group-exit', '9']);
    late = await ends(['pthread-exit', '3', '300']);
  });
  assert.equal(group.code, 9);
  assert.equal(only(exits, group.pid).length, 1);
  assert.equal(only(exits, group.pid)[0]!.exit_code, 9);
  assert.equal(late.code, 3);
  const mine = only(exits, late.pid);
  assert.equal(mine.length, 1, JSON.stringify(mine));
  if (kernelHasGroupDead()) {
    // The main thread's early exit is not the process's: exactly one event, when the last
    // thread ends, with its code, and an age that covers the later exit.
    assert.doesNotMatch(stderr, /no group_dead/);
    assert.equal(mine[0]!.exit_code, 3);
    assert.notEqual(mine[0]!.tid, late.pid, 'the last thread, not the main one, ended the process');
    assert.ok(mine[0]!.duration_ns >= 300e6, `age ${mine[0]!.duration_ns} covers the 300 ms`);
  } else {
    // The documented fallback (README): the main thread's exit stands for the process, so
    // a main thread that calls pthread_exit() is reported at once, with code 0, and the
    // real exit(3) 300 ms later is not seen. The known limit, asserted as it is.
    assert.match(stderr, /this kernel's sched_process_exit has no group_dead: each process is reported when its main thread exits/);
    assert.equal(mine[0]!.tid, late.pid, 'the main thread');
    assert.equal(mine[0]!.exit_code, 0);
    assert.ok(mine[0]!.duration_ns < 300e6, `age ${mine[0]!.duration_ns}: before the late exit`);
  }
});

kernelTest('--threads: one event per thread, each with its tid; without it, one per process', async () => {
  let r!: Awaited<ReturnType<typeof ends>>;
  const { exits } = await around([...MINE, '--threads'], async () => {
    r = await ends(['threads', '3']);
  });
  const mine = only(exits, r.pid);
  assert.equal(mine.length, 4, JSON.stringify(mine));
  assert.equal(new Set(mine.map((e) => e.tid)).size, 4);
  // Not "the main thread's event comes last": pthread_join returns before the joined
  // thread's sched_process_exit fires, so the order can differ (seen in a 6.1 guest).
  assert.ok(mine.some((e) => e.tid === r.pid), 'the main thread has its event');
  assert.ok(mine.every((e) => e.ppid === process.pid && e.exit_code === 0));

  const perProcess = await around(MINE, async () => {
    r = await ends(['threads', '3']);
  });
  assert.deepEqual(only(perProcess.exits, r.pid).map((e) => e.tid), [r.pid]);
});

kernelTest('a process in a new pid namespace (unshare -fp): ns_pid is 1, pid is the host pid', async () => {
  let unshare!: { pid: number; code: number | null };
  const { exits } = await around(MINE, async () => {
    const p = spawn('unshare', ['-fp', exitcases(), 'code', '5'], { stdio: 'ignore' });
    const [code] = await once(p, 'exit');
    unshare = { pid: p.pid!, code: code as number };
  });
  assert.equal(unshare.code, 5);
  const inner = exits.filter((e) => e.ppid === unshare.pid);
  assert.equal(inner.length, 1, JSON.stringify(exits));
  assert.equal(inner[0]!.ns_pid, 1);
  assert.notEqual(inner[0]!.pid, 1);
  assert.equal(inner[0]!.exit_code, 5);
});

/** Comms of their own, for the tests that count every exit of a comm. */
const LOSS_COMM = 'tsbpf-xloss';
const OUT_COMM = 'tsbpf-xout';
const SUMMARY_COMM = 'tsbpf-xsummary';

/** Two fork/exit loops at full speed, in parallel: how many exits they made in all. */
async function forkLoops(n: number): Promise<number> {
  const loops = [0, 1].map(() => spawn(exitcasesNamed(LOSS_COMM), ['forkloop', String(n)], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const outs = await Promise.all(loops.map(async (p) => {
    let out = '';
    p.stdout!.on('data', (d) => (out += d));
    const [code] = await once(p, 'exit');
    assert.equal(code, 0);
    return Number(out.trim());
  }));
  return outs.reduce((a, b) => a + b, 0) + loops.length; // the children, and the loops themselves
}

/** Runs exitsnoop with a 4 KiB ring around two fork loops, stopping its reader (SIGSTOP) for a while. */
async function overflow(args: string[]): Promise<{ made: number; out: string }> {
  // A 4 KiB ring holds about 50 records. The reader mostly keeps up with two loops even
  // so; stopping it in the middle is what a busy machine does to a reader.
  const run = await startExitsnoop([...args, '-c', LOSS_COMM, '--ringbuf-size', '4096']);
  let made = 0;
  try {
    const loops = forkLoops(3000);
    await new Promise((r) => setTimeout(r, 50));
    run.proc.kill('SIGSTOP');
    await new Promise((r) => setTimeout(r, 200));
    run.proc.kill('SIGCONT');
    made = await loops;
  } finally {
    run.proc.kill('SIGCONT');
    assert.equal(await stop(run.proc), 0, run.err());
  }
  return { made, out: run.out() };
}

kernelTest('no silent loss: with a tiny ring, lost == made - captured exactly, in JSON, the table and the summary', async () => {
  let { made, out } = await overflow(['--json']);
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Exit | Lost);
  const exits = lines.filter((l) => l.type === 'exit');
  const notices = lines.filter((l): l is Lost => l.type === 'lost');
  let lost = notices.reduce((a, l) => a + l.lost, 0);
  assert.ok(lost > 0, `a 4 KiB ring overflows (captured ${exits.length} of ${made})`);
  assert.equal(notices.at(-1)!.total_lost, lost, 'total_lost is the sum of the notices');
  assert.equal(exits.length + lost, made, `captured ${exits.length} + lost ${lost} = made ${made}`);

  ({ made, out } = await overflow([]));
  const rows = out.split('\n').filter((l) => l.endsWith(' -') && l.includes(` ${LOSS_COMM} `));
  const lostRows = [...out.matchAll(/^\d\d:\d\d:\d\d (\d+) events lost \(ring buffer full; (\d+) in all\)$/gm)];
  lost = lostRows.reduce((a, m) => a + Number(m[1]), 0);
  assert.ok(lost > 0);
  assert.equal(Number(lostRows.at(-1)![2]), lost);
  assert.equal(rows.length + lost, made, `table: ${rows.length} rows + ${lost} lost = made ${made}`);

  ({ made, out } = await overflow(['--summary']));
  const m = /^\n(\d+) exits in [\d.]+ s: 0 failed, (\d+) events lost\n/.exec(out);
  assert.ok(m, out);
  assert.ok(Number(m[2]) > 0);
  assert.equal(Number(m[1]) + Number(m[2]), made, `summary: ${m[1]} exits + ${m[2]} lost = made ${made}`);
});

kernelTest('no loss with the default ring under two fork loops at full speed', async () => {
  let made = 0;
  const full = await around(['--json', '-c', LOSS_COMM], async () => {
    made = await forkLoops(3000);
  });
  assert.deepEqual(full.lost, []);
  assert.equal(full.exits.length, made);
});

kernelTest('outputs: the table adds TID and SIGNAL; --format seed is the seed; -t ms, -t iso --utc', async () => {
  let r!: Awaited<ReturnType<typeof ends>>;
  const bin = exitcasesNamed(OUT_COMM);
  const table = await startExitsnoop(['-c', OUT_COMM]);
  r = await ends(['signal', '9', 'nocore'], { bin });
  await stop(table.proc);
  let lines = table.out().split('\n');
  assert.equal(lines[0], 'TIME     PID     PPID    EXIT_CODE  DURATION_NS  COMM    TID     SIGNAL  ');
  assert.match(lines[1]!, new RegExp(`^\\d\\d:\\d\\d:\\d\\d  ${r.pid} +${process.pid} +0 +\\d+ +${OUT_COMM} ${r.pid} +SIGKILL$`));

  const seed = await startExitsnoop(['--format', 'seed', '-c', OUT_COMM]);
  r = await ends(['code', '4'], { bin });
  await stop(seed.proc);
  lines = seed.out().split('\n');
  assert.equal(lines[0], readFileSync(resolve(SEED, 'expected-output.txt'), 'utf8').split('\n')[0]);
  assert.match(lines[1]!, new RegExp(`^\\d\\d:\\d\\d:\\d\\d  ${r.pid} +${process.pid} +4 +\\d+ +${OUT_COMM}$`));

  const ms = await startExitsnoop(['-t', 'ms', '-c', OUT_COMM]);
  r = await ends(['code', '0'], { bin });
  await stop(ms.proc);
  lines = ms.out().split('\n');
  assert.equal(lines[0]!.slice(0, 21), 'TIME         PID     ');
  assert.match(lines[1]!, new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3}  ${r.pid} `));

  const iso = await startExitsnoop(['-t', 'iso', '--utc', '-c', OUT_COMM]);
  r = await ends(['code', '0'], { bin });
  await stop(iso.proc);
  const row = iso.out().split('\n')[1]!;
  const stamp = row.split(' ')[0]!;
  assert.match(stamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.ok(Math.abs(Date.parse(stamp) - r.t1) < 1000, `${stamp} is the exit's time`);
});

kernelTest('--summary: no event lines; exits by reason and name, failures, losses and lifetimes at the end', async () => {
  const run = await startExitsnoop(['--summary', '-c', SUMMARY_COMM]);
  const bin = exitcasesNamed(SUMMARY_COMM);
  await ends(['code', '0'], { bin });
  await ends(['code', '2'], { bin });
  await ends(['signal', '9', 'nocore'], { bin });
  await stop(run.proc);
  const text = run.out();
  assert.match(text, /^\n3 exits in \d+\.\d s: 2 failed, 0 events lost\n/);
  assert.match(text, /By reason:\n {2}SIGKILL +1\n {2}exit 0 +1\n {2}exit 2 +1\n/);
  assert.match(text, new RegExp(`By name:\\n  ${SUMMARY_COMM} +3\\n`));
  assert.match(text, /Lifetimes:\n {5}msecs {15}: count {4}distribution\n/);
});

kernelTest('nothing of the run stays in the kernel after SIGTERM', async () => {
  const { proc } = await startExitsnoop();
  const objs = heldIds(proc.pid!);
  proc.kill('SIGTERM');
  const [status] = await once(proc, 'exit');
  assert.equal(status, 0);
  await assertCleanAfter(objs);
});

kernelTest('Ctrl-C twice (or three times) in quick succession stops it as once does: exit 0, nothing left', async () => {
  for (const times of [2, 3]) {
    const { proc, err } = await startExitsnoop();
    const objs = heldIds(proc.pid!);
    for (let i = 0; i < times; i++) proc.kill('SIGINT');
    const [status, signal] = await once(proc, 'exit');
    assert.deepEqual([status, signal], [0, null], `after ${times} SIGINTs: ${err()}`);
    assert.doesNotMatch(err(), /forced/);
    await assertCleanAfter(objs);
  }
});

kernelTest('nothing stays after the output closes (| head) or the process is killed', async () => {
  const { proc } = await startExitsnoop();
  const objs = heldIds(proc.pid!);
  proc.stdout!.destroy(); // the reader went away
  spawnSync('/bin/true');
  spawnSync('/bin/true');
  const [status] = await once(proc, 'exit');
  assert.equal(status, 0);
  await assertCleanAfter(objs);

  // SIGKILL: no handler runs at all; the kernel still drops everything with the fds.
  const second = await startExitsnoop();
  const objs2 = heldIds(second.proc.pid!);
  second.proc.kill('SIGKILL');
  await once(second.proc, 'exit');
  await assertCleanAfter(objs2);
});

kernelTest('SIGHUP (a closed terminal) stops it as SIGTERM does: the summary printed, exit 0, nothing left', async () => {
  const run = await startExitsnoop(['--summary', '-c', EXITCASES_COMM, '--ppid', String(process.pid)]);
  const objs = heldIds(run.proc.pid!);
  await ends(['code', '4']);
  await new Promise((r) => setTimeout(r, 300));
  run.proc.kill('SIGHUP');
  const [status, signal] = await once(run.proc, 'exit');
  assert.deepEqual([status, signal], [0, null], run.err());
  assert.match(run.out(), /^\n1 exits in \d+\.\d s: 1 failed, 0 events lost\n/);
  await assertCleanAfter(objs);
});

kernelTest('--duration beyond what one timer holds (597h) keeps running instead of stopping at once', async () => {
  const run = await startExitsnoop(['--duration', '597h', '-c', EXITCASES_COMM, '--ppid', String(process.pid)]);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(run.proc.exitCode, null, `still running after 1 s: ${run.err()}`);
  assert.equal(await stop(run.proc, 0), 0);
});

kernelTest('-c with a non-ASCII name matches the kernel\'s bytes of it', async () => {
  const name = 'tsbpf-exité';
  const bin = exitcasesNamed(name);
  const { exits } = await around(['--json', '-c', name, '--ppid', String(process.pid)], async () => {
    await ends(['code', '6'], { bin });
  });
  assert.deepEqual(exits.map((e) => [e.comm, e.exit_code]), [[name, 6]]);
});

kernelTest('-p with more pids than the filter holds is one clear line, not E2BIG', () => {
  const pids = Array.from({ length: 1025 }, (_, i) => String(i + 1)).join(',');
  const r = tsbpf(['exitsnoop', '-p', pids]);
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr, 'tsbpf: -p: 1025 processes are more than the 1024 the filter holds; filter by --ppid, --cgroup or -u instead, or run several exitsnoops\n');
});

kernelTest('a process named with terminal escapes prints them as \\xNN in the table and the summary; JSON keeps them as JSON escapes', async () => {
  const evil = 'ev\x1b[31mil\x07';
  // python3 renames itself (prctl PR_SET_NAME), then exits 3.
  const script = `import ctypes, sys; ctypes.CDLL(None).prctl(15, ${JSON.stringify(evil).replace(/\\u001b/g, '\\x1b').replace(/\\u0007/g, '\\x07')}.encode(), 0, 0, 0); sys.exit(3)`;
  for (const args of [[], ['--summary'], ['--json']]) {
    const run = await startExitsnoop([...args, '--ppid', String(process.pid), '-c', evil]);
    const p = spawn('python3', ['-c', script], { stdio: 'ignore' });
    await once(p, 'exit');
    assert.equal(await stop(run.proc), 0, run.err());
    const out = run.out();
    if (args[0] === '--json') {
      assert.equal((JSON.parse(out.trim()) as { comm: string }).comm, evil);
    } else {
      assert.ok(out.includes('ev\\x1b[31mil\\x07'), `escaped in ${args.join(' ') || 'the table'}: ${JSON.stringify(out)}`);
      assert.ok(!/[\x00-\x09\x0b-\x1f\x7f]/.test(out), `no raw control characters: ${JSON.stringify(out)}`);
    }
  }
});

kernelTest('a full disk (ENOSPC: stdout on /dev/full) ends the run with the error and exit 1, not a silent exit 0; nothing left', async () => {
  const full = openSync('/dev/full', 'w');
  // JSON: no header, so the first write (the one that fails) is the first exit's line.
  const proc = spawn(process.execPath, [CLI, 'exitsnoop', '--json', '--ppid', String(process.pid)], { stdio: ['ignore', full, 'pipe'] });
  closeSync(full);
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d) => (err += d));
  for (let i = 0; i < 200 && !/Tracing process exits/.test(err); i++) await new Promise((r) => setTimeout(r, 25));
  const objs = heldIds(proc.pid!);
  await ends(['code', '1']);
  const [status] = await once(proc, 'exit');
  assert.equal(status, 1, err);
  assert.match(err, /^tsbpf: cannot write the output: ENOSPC \(no space left on the device\)$/m);
  await assertCleanAfter(objs);
});
