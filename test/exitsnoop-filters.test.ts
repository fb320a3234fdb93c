/**
 * exitsnoop's in-kernel filters with real processes, and its JSON lines against
 * tools/exitsnoop/event.schema.json.
 *
 * Every filter case runs the filtered exitsnoop side by side with a control run that
 * has only the isolating filters (`-c tsbpf-exitcases --ppid <this test>`, so neither
 * other machine activity nor other test files can interfere). The processes a filter
 * must exclude are shown to be in the control run with the values that would pass the
 * rest, so an exclusion is the filter's doing and not an accident of the setup.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import AjvModule from 'ajv';
import { cgroup2Mount, freshCgroup } from './cgroups.js';
import { exitcases, EXITCASES_COMM } from './exitcases.js';
import { kernelTest, UNPRIVILEGED } from './kernel.js';
import { ROOT } from './paths.js';
import { start, stop, tsbpf, withoutMountNotices, type Running } from './tsbpf-cli.js';

// ajv is CommonJS: under NodeNext the default import is module.exports, whose .default is the class.
const Ajv = AjvModule.default;

const READY = /Tracing process exits/;
const READY_LINE = 'Tracing process exits... Ctrl-C to end.\n';
const ME = String(process.pid);
/** Only this test's own children named tsbpf-exitcases. */
const BASE = ['-c', EXITCASES_COMM, '--ppid', ME];

/** The fields each kind of line has, as `tsbpf exitsnoop --help` documents them. */
const FIELDS = {
  exit: ['type', 'time', 'pid', 'tid', 'ppid', 'ns_pid', 'uid', 'comm', 'exit_code', 'signal', 'signal_name', 'core_dumped', 'status', 'duration_ns', 'cgroup_id', 'cgroup', 'container_id', 'container_runtime', 'pod_uid', 'pod_qos'],
  lost: ['type', 'time', 'lost', 'total_lost'],
  summary: ['type', 'time', 'seconds', 'exits', 'failed', 'lost', 'by_reason', 'by_comm', 'lifetime_ms_log2'],
} as const;

interface Exit {
  type: 'exit'; time: string; pid: number; tid: number; ppid: number; ns_pid: number; uid: number; comm: string;
  exit_code: number; signal: number | null; signal_name: string | null; core_dumped: boolean; status: number;
  duration_ns: number; cgroup_id: number; cgroup: string | null;
  container_id: string | null; container_runtime: string | null; pod_uid: string | null; pod_qos: string | null;
  /** cgroup_id read exactly from the line's text (it is a u64). */
  cgroupId: bigint;
}
interface Lost { type: 'lost'; time: string; lost: number; total_lost: number }
interface Summary {
  type: 'summary'; time: string; seconds: number; exits: number; failed: number; lost: number;
  by_reason: Record<string, number>; by_comm: Record<string, number>; lifetime_ms_log2: number[];
}

interface Output { args: string[]; stdout: string; exits: Exit[]; lost: Lost[]; summaries: Summary[] }

/** Every stdout line of every JSON run in this file, for the schema test. */
const allLines: { args: string[]; line: string }[] = [];

// ---- cgroup v2 -------------------------------------------------------------------------

/** This process's cgroup v2 path (relative to the mount) and id: what its children start in. */
function ownCgroup(): { path: string; id: bigint } {
  const line = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'));
  assert.ok(line, 'a cgroup v2 line (0::) in /proc/self/cgroup');
  const path = line.slice(3);
  return { path, id: statSync(join(cgroup2Mount(), path), { bigint: true }).ino };
}

// ---- processes ---------------------------------------------------------------------------

interface Ended {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  /** Wall-clock ms just before the spawn and just after the exit. */
  t0: number;
  t1: number;
}

/** Runs a command to its end. */
function run(cmd: string, args: string[]): Ended {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const t1 = Date.now();
  if (r.error) throw r.error;
  assert.equal(r.stderr, '', `${cmd} ${args.join(' ')} wrote on stderr`);
  return { pid: r.pid, code: r.status, signal: r.signal, stdout: r.stdout, t0, t1 };
}

/** The exitcases program, run to its end. */
const ends = (...args: string[]) => run(exitcases(), args);

/** sh -c SCRIPT; the script may `exec` exitcases, so the pid is the same process. */
const shell = (script: string) => run('/bin/sh', ['-c', script]);

/** What `r`'s exit event must say, before `over`rides. */
function expected(r: Ended, over: Partial<Exit> = {}): Partial<Exit> {
  const signal = r.signal ? constants.signals[r.signal] : null;
  return {
    type: 'exit', pid: r.pid, tid: r.pid, ppid: process.pid, ns_pid: r.pid, uid: 0, comm: EXITCASES_COMM,
    exit_code: r.code ?? 0, signal, signal_name: r.signal, core_dumped: false, status: signal ?? (r.code! << 8),
    cgroup: own().path, cgroupId: own().id, container_id: null, container_runtime: null, pod_uid: null, pod_qos: null, ...over,
  };
}

/** The one event for `r` in `out`, with exactly the expected values, its time and its age. */
function assertExit(out: Output, r: Ended, over: Partial<Exit> = {}): Exit {
  const mine = out.exits.filter((e) => e.pid === r.pid);
  assert.equal(mine.length, 1, `exactly one event for pid ${r.pid} with ${out.args.join(' ')}:\n${out.stdout}`);
  const e = mine[0]!;
  const want = expected(r, over);
  const got = Object.fromEntries(Object.keys(want).map((k) => [k, e[k as keyof Exit]]));
  assert.deepEqual(got, want, `pid ${r.pid} with ${out.args.join(' ')}`);
  const t = Date.parse(e.time);
  assert.ok(t >= r.t0 - 5 && t <= r.t1 + 5, `exit time ${e.time} within [${new Date(r.t0).toISOString()}, ${new Date(r.t1).toISOString()}]`);
  assert.ok(e.duration_ns > 0 && e.duration_ns <= (r.t1 - r.t0 + 5) * 1e6, `age ${e.duration_ns} ns within the run of pid ${r.pid}`);
  return e;
}

/** `out` has events for exactly these pids, one each, in this order (or in any). */
function assertPids(out: Output, pids: number[], { anyOrder = false } = {}): void {
  const got = out.exits.map((e) => e.pid);
  const order = (a: number[]) => (anyOrder ? [...a].sort((x, y) => x - y) : a);
  assert.deepEqual(order(got), order(pids), `events of exitsnoop ${out.args.join(' ')}:\n${out.stdout}`);
}

let ownCached: { path: string; id: bigint } | undefined;
/** Where this test's children start: its own cgroup. */
const own = () => (ownCached ??= ownCgroup());

// ---- exitsnoop runs ------------------------------------------------------------------------

function parse(args: string[], stdout: string): Output {
  assert.ok(stdout === '' || stdout.endsWith('\n'), `output ends with a newline: ${JSON.stringify(stdout.slice(-80))}`);
  const out: Output = { args, stdout, exits: [], lost: [], summaries: [] };
  for (const line of stdout.split('\n').filter((l) => l !== '')) {
    allLines.push({ args, line });
    const obj = JSON.parse(line) as { type: string };
    assert.deepEqual(Object.keys(obj), FIELDS[obj.type as keyof typeof FIELDS], `the documented fields, in order: ${line}`);
    if (obj.type === 'exit') {
      const id = /"cgroup_id":(\d+)[,}]/.exec(line);
      assert.ok(id, line);
      out.exits.push({ ...(obj as Exit), cgroupId: BigInt(id[1]!) });
    } else if (obj.type === 'lost') out.lost.push(obj as Lost);
    else out.summaries.push(obj as Summary);
  }
  return out;
}

/**
 * Starts `tsbpf exitsnoop --json ARGS` for each entry of `runs` (side by side), runs
 * `work` once all are attached, then stops every one that started, whatever happened.
 * Each must end with status 0 and nothing on stderr but its ready line.
 */
async function watch<K extends string>(runs: Record<K, string[]>, work: (procs: Record<K, ChildProcess>) => Promise<void> | void): Promise<Record<K, Output>> {
  const names = Object.keys(runs) as K[];
  const started = await Promise.allSettled(names.map((n) => start(['exitsnoop', '--json', ...runs[n]], READY)));
  const live = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  let codes: (number | null)[] = [];
  try {
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    await work(Object.fromEntries(names.map((n, i) => [n, (started[i] as PromiseFulfilledResult<Running>).value.proc])) as Record<K, ChildProcess>);
  } finally {
    codes = await Promise.all(live.map((r) => stop(r.proc)));
  }
  const outputs = {} as Record<K, Output>;
  names.forEach((n, i) => {
    const r = live[i]!;
    const args = ['--json', ...runs[n]];
    assert.equal(codes[i], 0, `exitsnoop ${args.join(' ')} ended with ${codes[i]}: ${r.err()}`);
    assert.equal(withoutMountNotices(r.err()), READY_LINE, `exitsnoop ${args.join(' ')}: nothing on stderr but the ready line`);
    outputs[n] = parse(args, r.out());
  });
  return outputs;
}

// ---- the filters -----------------------------------------------------------------------------

kernelTest('-p A,B and -p A -p B: only the listed processes, a third one not', async () => {
  // Sleepers, so their pids are known before exitsnoop starts; they end while it runs.
  const SLEEP_MS = 2000;
  const sleepers = [0, 1, 2].map(() => {
    const t0 = Date.now();
    const p = spawn(exitcases(), ['sleep', String(SLEEP_MS)], { stdio: 'ignore' });
    const done = once(p, 'exit').then(([code, signal]) => ({ code, signal, t1: Date.now() }) as { code: number | null; signal: NodeJS.Signals | null; t1: number });
    return { p, pid: p.pid!, t0, done };
  });
  const [a, b, c] = sleepers as [typeof sleepers[0], typeof sleepers[0], typeof sleepers[0]];
  const ended: Ended[] = [];
  try {
    const out = await watch(
      { comma: ['-p', `${a.pid},${b.pid}`], repeated: ['-p', String(a.pid), '-p', String(b.pid)], control: BASE },
      async () => {
        for (const s of sleepers) {
          assert.ok(s.p.exitCode === null && s.p.signalCode === null, `sleeper ${s.pid} still running once exitsnoop is attached (it took over ${SLEEP_MS} ms to start?)`);
        }
        for (const s of sleepers) {
          const d = await s.done;
          ended.push({ pid: s.pid, code: d.code, signal: d.signal, stdout: '', t0: s.t0, t1: d.t1 });
        }
      },
    );
    const [ea, eb, ec] = ended as [Ended, Ended, Ended];
    for (const o of [out.comma, out.repeated]) {
      assertPids(o, [a.pid, b.pid], { anyOrder: true });
      for (const r of [ea, eb]) assert.ok(assertExit(o, r, { exit_code: 0 }).duration_ns >= SLEEP_MS * 1e6);
    }
    // The unlisted sleeper did exit, the same way.
    assertPids(out.control, [a.pid, b.pid, c.pid], { anyOrder: true });
    for (const r of [ea, eb, ec]) assertExit(out.control, r, { exit_code: 0 });
  } finally {
    for (const s of sleepers) if (s.p.exitCode === null && s.p.signalCode === null) s.p.kill('SIGKILL');
  }
});

kernelTest('--ppid: a child of this process passes, a grandchild of the same name does not', async () => {
  let child!: Ended;
  let sh!: Ended;
  const out = await watch({ ppid: ['--ppid', ME, '-c', EXITCASES_COMM], control: ['-c', EXITCASES_COMM] }, () => {
    child = ends('code', '2');
    sh = shell(`${exitcases()} code 1 & echo $!; wait $!`);
  });
  assert.equal(child.code, 2);
  assert.equal(sh.code, 1, 'sh ends with its child\'s code');
  const grandchild: Ended = { ...sh, pid: Number(sh.stdout.trim()) };
  assert.ok(grandchild.pid > 0 && grandchild.pid !== sh.pid, `the grandchild's pid: ${sh.stdout}`);

  assertPids(out.ppid, [child.pid]);
  assertExit(out.ppid, child);
  // The grandchild ended too, with the same name; only its parent differs.
  assertExit(out.control, child);
  assertExit(out.control, grandchild, { ppid: sh.pid, exit_code: 1, status: 1 << 8 });
});

kernelTest('-u: a uid 65534 process passes -u 65534 and -u <its name>, a root one passes only -u 0', async () => {
  const entry = readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[2] === '65534');
  assert.ok(entry, 'a user with uid 65534 in /etc/passwd (nobody)');
  const name = entry[0]!;
  const [setpriv, ...privArgs] = UNPRIVILEGED as [string, ...string[]];
  let nobody!: Ended;
  let root!: Ended;
  const out = await watch(
    { byId: ['-u', '65534', ...BASE], byName: ['-u', name, ...BASE], root: ['-u', '0', ...BASE], control: BASE },
    () => {
      nobody = run(setpriv, [...privArgs, exitcases(), 'code', '6']); // setpriv execs: same pid
      root = ends('code', '6');
    },
  );
  assert.equal(nobody.code, 6);
  assert.equal(root.code, 6);
  for (const o of [out.byId, out.byName]) {
    assertPids(o, [nobody.pid]);
    assertExit(o, nobody, { uid: 65534 });
  }
  assertPids(out.root, [root.pid]);
  assertExit(out.root, root, { uid: 0 });
  assertPids(out.control, [nobody.pid, root.pid]);
  assertExit(out.control, nobody, { uid: 65534 });
  assertExit(out.control, root, { uid: 0 });
});

kernelTest('-c: exact name; a longer name counts by its first 15 characters; a shorter one is no prefix match', async () => {
  // The same program under a 14-character name (a prefix of tsbpf-exitcases): its comm.
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-comm-'));
  try {
    const shortName = EXITCASES_COMM.slice(0, -1);
    const shortExe = join(dir, shortName);
    symlinkSync(exitcases(), shortExe);
    let full!: Ended;
    let short!: Ended;
    const out = await watch(
      {
        exact: ['-c', EXITCASES_COMM, '--ppid', ME],
        longer: ['-c', `${EXITCASES_COMM}-and-more`, '--ppid', ME],
        shorter: ['-c', shortName, '--ppid', ME],
        control: ['--ppid', ME],
      },
      () => {
        full = ends('code', '3');
        short = run(shortExe, ['code', '3']);
      },
    );
    for (const o of [out.exact, out.longer]) {
      assertPids(o, [full.pid]);
      assertExit(o, full);
    }
    assertPids(out.shorter, [short.pid]);
    assertExit(out.shorter, short, { comm: shortName });
    assertPids(out.control, [full.pid, short.pid]);
    assertExit(out.control, full);
    assertExit(out.control, short, { comm: shortName });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

kernelTest('--cgroup: a process in the cgroup and one in a cgroup below it pass, one outside does not', async (t) => {
  const cg = freshCgroup(t, ['kid']);
  const kid = join(cg.dir, 'kid');
  let inside!: Ended;
  let below!: Ended;
  let outside!: Ended;
  const out = await watch(
    { relative: ['--cgroup', cg.name, ...BASE], absolute: ['--cgroup', cg.dir, ...BASE], control: BASE },
    () => {
      inside = shell(`echo $$ > ${cg.dir}/cgroup.procs && exec ${exitcases()} code 7`);
      below = shell(`echo $$ > ${kid}/cgroup.procs && exec ${exitcases()} code 8`);
      outside = ends('code', '9');
    },
  );
  assert.deepEqual([inside.code, below.code, outside.code], [7, 8, 9]);
  const want = {
    inside: { cgroup: `/${cg.name}`, cgroupId: cg.id(cg.dir) },
    below: { cgroup: `/${cg.name}/kid`, cgroupId: cg.id(kid) },
  };
  for (const o of [out.relative, out.absolute]) {
    assertPids(o, [inside.pid, below.pid]);
    assertExit(o, inside, want.inside);
    assertExit(o, below, want.below);
  }
  assertPids(out.control, [inside.pid, below.pid, outside.pid]);
  assertExit(out.control, inside, want.inside);
  assertExit(out.control, below, want.below);
  assertExit(out.control, outside);
  assert.notEqual(own().id, want.inside.cgroupId);
});

kernelTest('containers: cgroups named as docker and a Kubernetes pod name them give the id, runtime, pod UID and QoS; --container and --pod pass only theirs', async (t) => {
  const dockerId = 'd0c4e7'.padEnd(64, '1');
  const criId = 'c41e0'.padEnd(64, '2');
  const uid = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
  const docker = `docker-${dockerId}.scope`;
  const pod = `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid.replace(/-/g, '_')}.slice`;
  const parts = pod.split('/');
  const cg = freshCgroup(t, [docker, ...parts.map((_, i) => parts.slice(0, i + 1).join('/')), `${pod}/cri-containerd-${criId}.scope`]);
  const inDocker = join(cg.dir, docker);
  const inPod = join(cg.dir, pod, `cri-containerd-${criId}.scope`);
  let a!: Ended;
  let b!: Ended;
  let c!: Ended;
  const out = await watch(
    { container: ['--container', dockerId.slice(0, 12), ...BASE], pod: ['--pod', uid, ...BASE], control: BASE },
    () => {
      a = shell(`echo $$ > ${inDocker}/cgroup.procs && exec ${exitcases()} code 3`);
      b = shell(`echo $$ > ${inPod}/cgroup.procs && exec ${exitcases()} code 4`);
      c = ends('code', '5');
    },
  );
  assert.deepEqual([a.code, b.code, c.code], [3, 4, 5]);
  const want = {
    a: { cgroup: `/${cg.name}/${docker}`, cgroupId: cg.id(inDocker), container_id: dockerId, container_runtime: 'docker', pod_uid: null, pod_qos: null },
    b: { cgroup: `/${cg.name}/${pod}/cri-containerd-${criId}.scope`, cgroupId: cg.id(inPod), container_id: criId, container_runtime: 'containerd', pod_uid: uid, pod_qos: 'burstable' },
  };
  assertPids(out.container, [a.pid]);
  assertExit(out.container, a, want.a);
  assertPids(out.pod, [b.pid]);
  assertExit(out.pod, b, want.b);
  assertPids(out.control, [a.pid, b.pid, c.pid]);
  assertExit(out.control, a, want.a);
  assertExit(out.control, b, want.b);
  assertExit(out.control, c);
});

test('--container and --pod: a container or pod with no cgroup, a malformed id, or two cgroup filters are one-line errors', () => {
  const cases: [string[], RegExp][] = [
    [['--container', 'abcdef123456'], /^tsbpf: --container abcdef123456: no cgroup of that container under \S+ \(is it running\?\)\n$/],
    [['--pod', '0f1e2d3c-4b5a-6978-8796-000000000000'], /^tsbpf: --pod 0f1e2d3c-4b5a-6978-8796-000000000000: no cgroup of that pod under \S+ \(is it running on this node\?\)\n$/],
    [['--container', 'xyz'], /^tsbpf: --container "xyz": a container id is hex digits\n$/],
    [['--pod', 'nope'], /^tsbpf: --pod "nope": a pod UID looks like /],
    [['--container', 'abc', '--cgroup', '/'], /^tsbpf: --cgroup and --container: give one/],
  ];
  for (const [args, re] of cases) {
    const r = tsbpf(['exitsnoop', '--json', ...args]);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, re);
  }
});

test('--cgroup: a path that is not a cgroup under the mount is an error, before anything runs', () => {
  for (const path of ['/nonexistent', `tsbpf-no-such-cgroup-${process.pid}`]) {
    const r = tsbpf(['exitsnoop', '--json', '--cgroup', path]);
    assert.equal(r.status, 1, `--cgroup ${path}: ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^tsbpf: --cgroup: [^\n]*\n$/, 'one line that names the option');
    assert.ok(r.stderr.includes(path), `the message names ${path}: ${r.stderr}`);
  }
});

kernelTest('-x: exit code 0 excluded; exit code 1 and SIGTERM included', async () => {
  let ok!: Ended;
  let one!: Ended;
  let term!: Ended;
  const out = await watch({ failed: ['-x', ...BASE], control: BASE }, () => {
    ok = ends('code', '0');
    one = ends('code', '1');
    term = ends('signal', '15', 'nocore');
  });
  assert.deepEqual([ok.code, one.code, term.signal], [0, 1, 'SIGTERM']);
  assertPids(out.failed, [one.pid, term.pid]);
  assertExit(out.failed, one, { exit_code: 1, status: 1 << 8, signal: null });
  assertExit(out.failed, term, { exit_code: 0, signal: 15, signal_name: 'SIGTERM', core_dumped: false, status: 15 });
  assertPids(out.control, [ok.pid, one.pid, term.pid]);
  assertExit(out.control, ok, { exit_code: 0, status: 0 });
});

kernelTest('--min-age 200ms: a process of 400 ms passes, a short one does not', async () => {
  let old!: Ended;
  let young!: Ended;
  const out = await watch({ aged: ['--min-age', '200ms', ...BASE], control: BASE }, () => {
    old = ends('sleep', '400');
    young = ends('code', '0');
  });
  assertPids(out.aged, [old.pid]);
  const e = assertExit(out.aged, old, { exit_code: 0 });
  assert.ok(e.duration_ns >= 400e6, `age ${e.duration_ns} ns covers the 400 ms sleep`);
  assertPids(out.control, [old.pid, young.pid]);
  const y = assertExit(out.control, young, { exit_code: 0 });
  assert.ok(y.duration_ns < 200e6, `the short one (${y.duration_ns} ns) is under the limit`);
});

// ---- bad values --------------------------------------------------------------------------------

test('bad values: non-zero status, one clear line on stderr naming the value, nothing on stdout', () => {
  const cases: [string[], RegExp][] = [
    [['--pid', 'abc'], /"abc" is not a process id/],
    [['-p', '12,abc'], /"abc" is not a process id/],
    [['--ppid', '0'], /"0" is not a process id/],
    [['--min-age', '5parsecs'], /"5parsecs" is not a duration/],
    [['--ringbuf-size', '5000'], /--ringbuf-size.*5000 is not a power of two from 4K to 1G/],
    [['-u', 'nosuchuser'], /no user named "nosuchuser"/],
  ];
  for (const [args, message] of cases) {
    const r = tsbpf(['exitsnoop', '--json', ...args]);
    const what = `exitsnoop ${args.join(' ')}`;
    assert.ok(r.status !== 0 && r.status !== null, `${what}: status ${r.status}`);
    assert.equal(r.stdout, '', `${what}: nothing on stdout`);
    assert.match(r.stderr, /^[^\n]+\n$/, `${what}: one line on stderr: ${JSON.stringify(r.stderr)}`);
    assert.match(r.stderr, message, what);
    assert.doesNotMatch(r.stderr, /internal error|    at /, what);
  }
});

// ---- --summary, and the schema -----------------------------------------------------------------

kernelTest('--summary --json: one summary line with exits, failures, reasons, names and lifetimes', async () => {
  const runs: Ended[] = [];
  const out = await watch({ summary: ['--summary', ...BASE], events: BASE }, () => {
    runs.push(ends('code', '0'), ends('code', '0'), ends('code', '3'), ends('signal', '9', 'nocore'));
  });
  assert.deepEqual(runs.map((r) => r.code ?? r.signal), [0, 0, 3, 'SIGKILL']);
  assert.deepEqual([out.summary.exits, out.summary.lost], [[], []], 'no event lines with --summary');
  assert.equal(out.summary.summaries.length, 1, out.summary.stdout);
  assert.equal(out.summary.stdout.split('\n').length, 2, 'the summary is the only line');
  const s = out.summary.summaries[0]!;
  assert.deepEqual(
    { exits: s.exits, failed: s.failed, lost: s.lost, by_reason: s.by_reason, by_comm: s.by_comm },
    { exits: 4, failed: 2, lost: 0, by_reason: { 'exit 0': 2, 'exit 3': 1, SIGKILL: 1 }, by_comm: { [EXITCASES_COMM]: 4 } },
  );
  assert.equal(s.lifetime_ms_log2.reduce((a, b) => a + b, 0), 4, `lifetimes ${JSON.stringify(s.lifetime_ms_log2)}`);
  assert.ok(s.seconds > 0 && s.seconds < 60, `seconds ${s.seconds}`);
  // The events the summary counted.
  assertPids(out.events, runs.map((r) => r.pid));
  for (const r of runs) assertExit(out.events, r);
});

/** Waits until `pid` is stopped (state T in /proc/PID/stat). */
async function stopped(pid: number): Promise<void> {
  for (let i = 0; i < 250; i++) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/^\d+ \(.*\) T /s.test(stat)) return;
    await new Promise((r) => setTimeout(r, 4));
  }
  throw new Error(`pid ${pid} did not stop`);
}

kernelTest('every JSON line of this file, summaries and loss notices included, validates against event.schema.json', async (t) => {
  // Loss notices, deterministically: a one-page ring, its reader stopped (SIGSTOP) while
  // a fork loop makes 201 exits in a fresh cgroup (only those count).
  const cg = freshCgroup(t);
  let loop!: Ended;
  const out = await watch({ events: ['--cgroup', cg.dir, '--ringbuf-size', '4096'], summary: ['--summary', '--cgroup', cg.dir, '--ringbuf-size', '4096'] }, async (procs) => {
    const ps = Object.values(procs) as ChildProcess[];
    try {
      for (const p of ps) p.kill('SIGSTOP');
      for (const p of ps) await stopped(p.pid!);
      loop = shell(`echo $$ > ${cg.dir}/cgroup.procs && exec ${exitcases()} forkloop 200`);
    } finally {
      for (const p of ps) p.kill('SIGCONT');
    }
  });
  assert.equal(loop.code, 0);
  assert.equal(loop.stdout, '200\n');
  const made = 201;
  const lost = out.events.lost.reduce((a, l) => a + l.lost, 0);
  assert.ok(lost > 0, `a stopped reader of a 4 KiB ring loses exits:\n${out.events.stdout}`);
  assert.equal(out.events.lost.at(-1)!.total_lost, lost);
  assert.equal(out.events.exits.length + lost, made, `captured ${out.events.exits.length} + lost ${lost}`);
  const s = out.summary.summaries[0]!;
  assert.ok(s.lost > 0);
  assert.deepEqual([s.exits + s.lost, s.failed, s.by_comm], [made, 0, { [EXITCASES_COMM]: s.exits }]);

  const schemaPath = join(ROOT, 'tools', 'exitsnoop', 'event.schema.json');
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
  const validate = ajv.compile(JSON.parse(readFileSync(schemaPath, 'utf8')) as object);
  const kinds = new Map<string, number>();
  for (const { args, line } of allLines) {
    const obj = JSON.parse(line) as { type: string };
    kinds.set(obj.type, (kinds.get(obj.type) ?? 0) + 1);
    assert.ok(validate(obj), `exitsnoop ${args.join(' ')} printed a line the schema rejects:\n${line}\n${ajv.errorsText(validate.errors, { separator: '\n' })}`);
  }
  for (const kind of Object.keys(FIELDS)) assert.ok(kinds.get(kind), `at least one "${kind}" line was checked: ${JSON.stringify([...kinds])}`);

  // Not vacuous: for a real line of each kind, an extra field or any missing field fails.
  for (const [kind, fields] of Object.entries(FIELDS)) {
    const sample = JSON.parse(allLines.find((l) => JSON.parse(l.line).type === kind)!.line) as Record<string, unknown>;
    assert.ok(validate(sample));
    assert.equal(validate({ ...sample, extra: 1 }), false, `${kind} with an extra field must fail`);
    for (const f of fields) {
      const { [f]: _, ...missing } = sample;
      assert.equal(validate(missing), false, `${kind} without ${f} must fail`);
    }
  }
});
