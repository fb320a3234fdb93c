/**
 * The examples, built as a user builds them and run as a user runs them: each test copies
 * examples/NAME into a scratch directory, runs `tsbpf build NAME.bpf.c [NAME.h]` there
 * (against the vmlinux.h tsbpf generates from the kernel's BTF), then `tsbpf run
 * package.json` in that directory, makes real processes do what the program traces, and
 * checks the printed events exactly: JSON lines (-j) and the table, row by row.
 * Paths: ring buffer (ringbuf), perf event array (perfbuf), `const volatile` program
 * arguments (filter), bpf_printk (printk), uprobe + uretprobe (uprobe). Also run's errors.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { tracefsPath } from '../src/link/index.js';
import { defaultSys } from '../src/sys/index.js';
import { kernelTest } from './kernel.js';
import { ROOT } from './paths.js';
import { buildExample, jsonLines, start as startCli, stop, tsbpf } from './tsbpf-cli.js';

const start = (args: string[], cwd: string) => startCli(['run', ...args], undefined, { cwd });

/**
 * The row `tsbpf run` prints for `values` under `header` (the seed's table layout), with
 * the time as 00:00:00: each value starts at its column, or one space after the previous
 * value when that is too wide for it; the first value sits one column right of its header.
 */
function tableRow(header: string, values: (string | number)[]): string {
  const starts = [...header.matchAll(/\S+/g)].map((m) => m.index!).slice(1);
  assert.equal(starts.length, values.length, `header ${JSON.stringify(header)} has ${starts.length} columns`);
  let line = '00:00:00 ';
  values.forEach((v, i) => {
    line = line.length < starts[i]! ? line.padEnd(starts[i]!) : line + ' ';
    line += String(v);
  });
  return line;
}

/** The table's header and its rows with the time replaced by 00:00:00 (after checking it is HH:MM:SS). */
function table(out: string): { header: string; rows: string[] } {
  const [header, ...rows] = out.split('\n').filter(Boolean);
  assert.ok(header !== undefined, 'no table header');
  for (const r of rows) assert.match(r, /^\d\d:\d\d:\d\d /);
  return { header, rows: rows.map((r) => '00:00:00' + r.slice(8)) };
}

/** The table rows whose whitespace-separated columns (after the time) satisfy `keep`. */
const rowsWhere = (rows: string[], keep: (cols: string[]) => boolean) => rows.filter((r) => keep(r.split(/\s+/).slice(1)));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- filter: ring buffer events, filtered in the kernel by `const volatile` arguments ----

kernelTest('filter: -h lists the const volatile globals as program options', (t) => {
  const ex = buildExample('filter', t);
  const help = tsbpf(['run', 'package.json', '-h'], { cwd: ex.dir });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^Usage: tsbpf run exits_bpf /);
  assert.match(help.stdout, /\n\s+--target_ppid <int>\s+int, in \.rodata, default 0\n/);
  assert.match(help.stdout, /\n\s+--failed_only\s+bool, in \.rodata, default false\n/);
  assert.doesNotMatch(help.stdout, /__eunomia_dummy/); // ecc's dummy pointers are not options
  // ecli's -V: the object's name and the package's version (0.1.0 without a doc version).
  const version = tsbpf(['run', 'package.json', '-V'], { cwd: ex.dir });
  assert.equal(version.status, 0, version.stderr);
  assert.equal(version.stdout, 'exits_bpf 0.1.0\n');
});

kernelTest('filter: --target_ppid and --failed_only filter in the kernel (-j)', async (t) => {
  const ex = buildExample('filter', t);
  // After --, the arguments are the program's own.
  const { proc, out } = await start(['package.json', '-j', '--', '--target_ppid', String(process.pid), '--failed_only'], ex.dir);
  const codes = [0, 3, 0, 250];
  const pids = codes.map((c) => spawnSync('/bin/sh', ['-c', `exit ${c}`]).pid!);
  spawnSync('/bin/sh', ['-c', '/bin/sh -c "exit 9"; true']); // a grandchild: its parent is not us
  assert.equal(await stop(proc), 0);
  assert.deepEqual(jsonLines(out()), [
    { pid: pids[1], ppid: process.pid, exit_code: 3, comm: 'sh' },
    { pid: pids[3], ppid: process.pid, exit_code: 250, comm: 'sh' },
  ]);
});

kernelTest('filter: the table, every child of ours with its exit code', async (t) => {
  const ex = buildExample('filter', t);
  const { proc, out } = await start(['package.json', '--target_ppid', String(process.pid)], ex.dir);
  const a = spawnSync('/bin/sh', ['-c', 'exit 5']).pid!;
  const b = spawnSync('/bin/true').pid!;
  assert.equal(await stop(proc), 0);
  const { header, rows } = table(out());
  assert.equal(header, 'TIME     PID     PPID    EXIT_CODE  COMM    ');
  assert.deepEqual(rows, [tableRow(header, [a, process.pid, 5, 'sh']), tableRow(header, [b, process.pid, 0, 'true'])]);
});

// ---- ringbuf: signals through a ring buffer ----

/**
 * Signals with a fixed outcome: `kill -s WINCH` to a sleep (ignored: its default action is
 * to ignore), kill's own SIGCHLD to us when it exits (delivered), our SIGTERM to the
 * sleep, and its SIGCHLD to us. Each follows the previous one, so their order is fixed.
 */
async function signalScenario() {
  const target = spawn('sleep', ['30'], { stdio: 'ignore' });
  await once(target, 'spawn');
  const S = target.pid!;
  for (let i = 0; i < 100 && readFileSync(`/proc/${S}/comm`, 'utf8').trim() !== 'sleep'; i++) await sleep(10);
  const killer = spawnSync('kill', ['-s', 'WINCH', String(S)]);
  assert.equal(killer.status, 0, String(killer.stderr));
  const K = killer.pid!;
  const exited = once(target, 'exit');
  process.kill(S, 'SIGTERM');
  await exited;
  const P = process.pid;
  const comm = readFileSync('/proc/self/comm', 'utf8').trim(); // our main thread's, who sends SIGTERM
  const expected = [
    { pid: K, tpid: S, sig: 28, result: 1, comm: 'kill' },
    { pid: K, tpid: P, sig: 17, result: 0, comm: 'kill' },
    { pid: P, tpid: S, sig: 15, result: 0, comm },
    { pid: S, tpid: P, sig: 17, result: 0, comm: 'sleep' },
  ];
  return { ours: [K, S], expected };
}

kernelTest('ringbuf: signals sent by and to our processes, exactly (-j)', async (t) => {
  const ex = buildExample('ringbuf', t);
  const { proc, out } = await start(['package.json', '-j'], ex.dir);
  const { ours, expected } = await signalScenario();
  assert.equal(await stop(proc), 0);
  const events = jsonLines(out()).filter((e) => ours.includes(e.pid as number) || ours.includes(e.tpid as number));
  assert.deepEqual(events, expected);
});

kernelTest('ringbuf: the same signals as table rows', async (t) => {
  const ex = buildExample('ringbuf', t);
  const { proc, out } = await start(['package.json'], ex.dir);
  const { ours, expected } = await signalScenario();
  assert.equal(await stop(proc), 0);
  const { header, rows } = table(out());
  assert.equal(header, 'TIME     PID     TPID    SIG     RESULT  COMM    ');
  const mine = rowsWhere(rows, ([pid, tpid]) => ours.includes(Number(pid)) || ours.includes(Number(tpid)));
  assert.deepEqual(mine, expected.map((e) => tableRow(header, [e.pid, e.tpid, e.sig, e.result, e.comm])));
});

kernelTest('ringbuf: a closed output (| head) ends the run quietly, status 0, no stack trace', async (t) => {
  const ex = buildExample('ringbuf', t);
  const { proc, err } = await start(['package.json', '-j'], ex.dir);
  proc.stdout!.destroy(); // the reader went away
  const exited = once(proc, 'exit');
  await signalScenario(); // events to write into the closed pipe
  const [code] = await exited;
  assert.equal(code, 0, err());
  assert.doesNotMatch(err(), /EPIPE|Error|at /);
});

// ---- perfbuf: execs through a perf event array ----

kernelTest('perfbuf: exec events decoded from a perf buffer (-j and table)', async (t) => {
  const ex = buildExample('perfbuf', t);
  // "running" comes once the perf buffer is in the map: an exec right after it is seen.
  let { proc, out } = await start(['package.json', '--json'], ex.dir);
  let pid = spawnSync('/bin/true').pid!;
  assert.equal(await stop(proc), 0);
  assert.deepEqual(jsonLines(out()).filter((e) => e.pid === pid), [{ pid, ppid: process.pid, comm: 'true' }]);

  ({ proc, out } = await start(['package.json'], ex.dir));
  pid = spawnSync('/bin/true').pid!;
  assert.equal(await stop(proc), 0);
  const { header, rows } = table(out());
  assert.equal(header, 'TIME     PID     PPID    COMM    ');
  assert.deepEqual(rowsWhere(rows, ([p]) => Number(p) === pid), [tableRow(header, [pid, process.pid, 'true'])]);
});

// ---- printk: no export map ----

kernelTest('printk: built without a header, it exports nothing; bpf_printk lines come from trace_pipe', async (t) => {
  const ex = buildExample('printk', t);
  const pkg = JSON.parse(readFileSync(ex.package, 'utf8'));
  assert.deepEqual(pkg.meta.export_types, []);
  const { proc, out } = await start(['package.json'], ex.dir);
  // trace_pipe is consumed by whoever reads it first: another reader on the machine (a
  // second run of these tests) can take a line, so exec until one of ours comes through.
  const line = (pid: number) => new RegExp(`^ *true-${pid} +\\[\\d+\\] .*: bpf_trace_printk: tsbpf hello: exec of pid ${pid}$`, 'm');
  const pids: number[] = [];
  for (let tries = 0; tries < 10 && !pids.some((p) => line(p).test(out())); tries++) {
    pids.push(spawnSync('/bin/true').pid!);
    for (let i = 0; i < 25 && !line(pids.at(-1)!).test(out()); i++) await sleep(20);
  }
  assert.equal(await stop(proc), 0);
  assert.ok(pids.some((p) => line(p).test(out())), `no trace_pipe line for pids ${pids.join(', ')} in:\n${out()}`);
});

kernelTest('printk -j: each trace_pipe line is a JSON object: time, task, pid, cpu, message', async (t) => {
  const ex = buildExample('printk', t);
  const { proc, out } = await start(['package.json', '-j'], ex.dir);
  const ours = (pid: number) => jsonLines(out()).find((l) => l.pid === pid);
  const pids: number[] = [];
  for (let tries = 0; tries < 10 && !pids.some(ours); tries++) {
    pids.push(spawnSync('/bin/true').pid!);
    for (let i = 0; i < 25 && !ours(pids.at(-1)!); i++) await sleep(20);
  }
  assert.equal(await stop(proc), 0);
  const pid = pids.find(ours);
  assert.ok(pid, `no JSON line for pids ${pids.join(', ')} in:\n${out()}`);
  const line = ours(pid)!;
  assert.deepEqual(Object.keys(line), ['time', 'task', 'pid', 'cpu', 'message']);
  assert.deepEqual({ ...line, time: 0, cpu: 0 }, { time: 0, task: 'true', pid, cpu: 0, message: `tsbpf hello: exec of pid ${pid}` });
  // The message ends in a newline, which leaves a blank line in trace_pipe: no object for it.
  assert.deepEqual(jsonLines(out()).filter((l) => !l.message), []);
  assert.equal(typeof line.time, 'number');
  assert.ok(Number.isInteger(line.cpu) && (line.cpu as number) >= 0);
});

kernelTest('printk: a trace_pipe another process holds is one clear error and exit 1, nothing left attached', async (t) => {
  const ex = buildExample('printk', t);
  const pipe = join(tracefsPath(defaultSys()), 'trace_pipe'); // mounts tracefs where it is not yet
  const holder = spawn('cat', [pipe], { stdio: 'ignore' });
  t.after(() => holder.kill());
  await sleep(200);
  const r = tsbpf(['run', 'package.json'], { cwd: ex.dir });
  assert.equal(r.status, 1, r.stderr);
  assert.equal(
    r.stderr.split('\n').filter((l) => l.startsWith('tsbpf: ') && !/running|no export map|mounted/.test(l)).join('\n'),
    `tsbpf: ${pipe} is busy (EBUSY): another process reads it (another tsbpf run, cat, bpftool prog tracelog); stop it and run again`,
  );
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

kernelTest('printk: a run killed with SIGKILL leaves no reader of trace_pipe behind (it reads in-process), and the next run gets lines', async (t) => {
  const ex = buildExample('printk', t);
  const pipe = join(tracefsPath(defaultSys()), 'trace_pipe');
  const holders = () => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return readdirSync(`/proc/${p}/fd`).some((fd) => {
        try {
          return readlinkSync(`/proc/${p}/fd/${fd}`) === pipe;
        } catch {
          return false;
        }
      });
    } catch {
      return false;
    }
  });
  const first = await start(['package.json'], ex.dir);
  t.after(() => first.proc.kill('SIGKILL'));
  // "printing" is said once the pipe is open (the runner's ready callback comes after it).
  assert.deepEqual(holders(), [String(first.proc.pid)], 'only tsbpf itself holds trace_pipe: no child reader');
  first.proc.kill('SIGKILL');
  await once(first.proc, 'exit');
  assert.deepEqual(holders(), [], 'nothing reads trace_pipe after the kill');
  const second = await start(['package.json'], ex.dir);
  t.after(() => second.proc.kill('SIGKILL'));
  const line = (pid: number) => new RegExp(`true-${pid} .*tsbpf hello: exec of pid ${pid}$`, 'm');
  const pids: number[] = [];
  for (let tries = 0; tries < 10 && !pids.some((p) => line(p).test(second.out())); tries++) {
    pids.push(spawnSync('/bin/true').pid!);
    for (let i = 0; i < 25 && !line(pids.at(-1)!).test(second.out()); i++) await sleep(20);
  }
  assert.equal(await stop(second.proc), 0);
  assert.ok(pids.some((p) => line(p).test(second.out())), `the next run reads lines again:\n${second.out()}`);
});

// ---- the event struct: a header with two structs ----

kernelTest('two structs in the header: the records are the one of their size, in the table and -j, enums as ecli prints them; --event of the wrong one names both sizes', async (t) => {
  const ex = buildExample('test/progs/two_structs', t);
  const pkg = JSON.parse(readFileSync(ex.package, 'utf8'));
  assert.deepEqual(pkg.meta.export_types.map((e: { name: string }) => e.name), ['other', 'event'], 'ecc lists every header struct');
  for (const json of [true, false]) {
    const { proc, out, err } = await start(['package.json', ...(json ? ['-j'] : [])], ex.dir);
    const pid = spawnSync('/bin/true').pid!;
    const seen = () => (json ? jsonLines(out()).some((l) => l.pid === pid) : new RegExp(`\\b${pid}\\s+43981\\s+true\\s+EV_EXEC\\(1\\)$`, 'm').test(out()));
    for (let i = 0; i < 100 && !seen(); i++) await sleep(20);
    assert.equal(await stop(proc), 0, err());
    if (json) assert.deepEqual(jsonLines(out()).find((l) => l.pid === pid), { pid, magic: 0xabcd, comm: 'true', kind: 'EV_EXEC(1)' });
    else {
      assert.match(out(), /^TIME +PID +MAGIC +COMM +KIND *$/m);
      assert.ok(seen(), out());
    }
  }
  const wrong = await start(['package.json', '--event', 'other'], ex.dir);
  spawnSync('/bin/true');
  const [status] = await once(wrong.proc, 'exit');
  assert.equal(status, 1);
  assert.match(wrong.err(), /^tsbpf: map rb: a record of 28 bytes is not struct other \(8 bytes\): the program sends another struct; choose it with --event NAME$/m);
  const none = tsbpf(['run', 'package.json', '--event', 'nope'], { cwd: ex.dir });
  assert.equal(none.status, 1);
  assert.equal(none.stderr, "tsbpf: --event nope: the object's BTF has no struct of that name (the header's structs: other, event)\n");
});

// ---- uprobe: a function of a binary the test builds ----

/** Builds examples/uprobe/target.c as ./uprobe-target in the example's scratch directory. */
function buildTarget(dir: string): void {
  const cc = spawnSync(process.env.CC || 'cc', ['-O0', '-Wall', '-o', 'uprobe-target', 'target.c'], { cwd: dir, encoding: 'utf8' });
  if (cc.error) throw new Error(`a C compiler is needed to build the uprobe target (apt-get install gcc): ${cc.error.message}`);
  assert.equal(cc.status, 0, cc.stderr);
}

kernelTest('uprobe: arguments and return value of compute() in ./uprobe-target, exactly (-j and table)', async (t) => {
  const ex = buildExample('uprobe', t);
  buildTarget(ex.dir);
  const pairs = [[6, 7], [-3, 5], [0, 123456789]] as const;
  const args = pairs.flat().map(String);
  const results = pairs.map(([a, b]) => a * b + 1);

  let { proc, out } = await start(['package.json', '-j'], ex.dir);
  let r = spawnSync('./uprobe-target', args, { cwd: ex.dir, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, results.map((x) => `${x}\n`).join(''));
  assert.equal(await stop(proc), 0);
  assert.deepEqual(
    jsonLines(out()),
    pairs.map(([a, b], i) => ({ pid: r.pid, a, b, result: results[i], comm: 'uprobe-target' })),
  );

  ({ proc, out } = await start(['package.json'], ex.dir));
  r = spawnSync('./uprobe-target', ['-9', '9'], { cwd: ex.dir, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(await stop(proc), 0);
  const { header, rows } = table(out());
  assert.equal(header, 'TIME     PID     A       B       RESULT  COMM    ');
  assert.deepEqual(rows, [tableRow(header, [r.pid!, -9, 9, -80, 'uprobe-target'])]);
});

kernelTest('uprobe: without ./uprobe-target in the working directory, run says which file is missing', (t) => {
  const ex = buildExample('uprobe', t);
  const r = tsbpf(['run', 'package.json'], { cwd: ex.dir });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /uprobe binary \/\S+\/uprobe-target does not exist/);
});

// ---- errors ----

kernelTest('run errors: unknown argument, a value of the wrong type, a rejected program', (t) => {
  const ex = buildExample('filter', t);
  const bad = (args: string[]) => tsbpf(['run', ...args], { cwd: ex.dir });
  let r = bad(['package.json', '--nosuch', '1']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /unknown program argument --nosuch; this program takes: --target_ppid, --failed_only/);
  r = bad(['package.json', '--target_ppid', 'abc']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /target_ppid: expected an integer, got string "abc"/);
  r = bad(['package.json', '--target_ppid', '99999999999']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /does not fit a signed 32-bit integer/);
  r = bad([join(ROOT, 'testdata', 'rejected.bpf.o')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /program bad_deref: the kernel rejected it \(EACCES\)/);
  assert.match(r.stderr, /invalid mem access 'map_value_or_null'/);
});
