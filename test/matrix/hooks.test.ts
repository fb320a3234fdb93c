/**
 * The kernel matrix: attach types the host's 6.18 cannot run (lsm, fmod_ret, ksyscall,
 * kretsyscall, kprobe through the PMU and through tracefs kprobe_events, kprobe.multi) and
 * tp_btf, which every kernel of the matrix has,
 * from test/progs/matrix_hooks.bpf.c, triggered for real and checked for exact values. Where
 * the running kernel lacks the hook, the exact one-line error instead. What the kernel has
 * is told from the kernel (its release, its config, sysfs), not from tsbpf.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attach, type Link } from '../../src/link/index.js';
import { Collection } from '../../src/loader/index.js';
import { realHost, type Host } from '../../src/loader/fs.js';
import { loadObjectFile, type ObjectSpec } from '../../src/object/index.js';
import { compileBpf, compileC } from '../compile.js';
import { hasKprobes, kernelAtLeast, kernelConfig, trampolinesRefused } from '../guest.js';
import { allGone, heldIds, kernelTest } from '../kernel.js';
import { ROOT } from '../paths.js';
import { throwsTsbpf } from '../throws.js';

/** fn throws a TsbpfError of one line that holds `text`. */
function refuses(fn: () => unknown, text: string): void {
  const e = throwsTsbpf(fn);
  assert.ok(e.message.includes(text), `${e.message}\n  does not hold: ${text}`);
  assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
}

let spec: ObjectSpec | undefined;
const hooks = () => (spec ??= loadObjectFile(compileBpf(join(ROOT, 'test', 'progs', 'matrix_hooks.bpf.c'))));
let calls: string | undefined;
/** kill(2147483600, SIG), then N 1-ms nanosleeps; returns its pid and the kill's errno. */
function runCalls(sig: number, n: number): { pid: number; errno: number } {
  calls ??= compileC(join(ROOT, 'test', 'progs', 'matrix_calls.c'), 'tsbpf-mx-calls');
  const r = spawnSync(calls, [String(sig), String(n)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return { pid: r.pid!, errno: Number(r.stdout.trim()) };
}

const NO_KPROBES = 'kprobes: not supported by this kernel (kernel built without CONFIG_KPROBES)';

/** Loads only `programs` of the object, so that one type the kernel refuses does not hide another. */
const load = (...programs: string[]) => Collection.load(hooks(), { programs });

/** The links are gone: from the kernel's id walk and from bpftool's listing. */
async function assertLinksGone(ids: number[], what: string): Promise<void> {
  assert.ok(await allGone('link', ids), `${what}: link left attached`);
  const listed = (JSON.parse(execFileSync('bpftool', ['-j', 'link', 'show'], { encoding: 'utf8' }) || '[]') as { id: number }[]).map((l) => l.id);
  assert.deepEqual(ids.filter((id) => listed.includes(id)), [], `${what}: bpftool still lists the links`);
}

function closeAll(links: Link[]): number[] {
  const ids = links.flatMap((l) => (l.bpfLink ? [l.info().id] : []));
  for (const l of links) l.close();
  return ids;
}

/** Ends with nothing of the test held by this process: no program, map or link fd. */
function assertNothingHeld(what: string): void {
  const held = heldIds(process.pid);
  assert.deepEqual(held, { prog: [], map: [], link: [] }, `${what}: BPF objects still held`);
}

/** rm copied under the name the programs deny (its comm), and a plain rm. */
function rmPair(): { denied: (f: string) => ReturnType<typeof spawnSync>; file: (name: string) => string } {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-mx-rm-'));
  const deniedRm = join(dir, 'tsbpf-deny-rm');
  copyFileSync(spawnSync('sh', ['-c', 'command -v rm'], { encoding: 'utf8' }).stdout.trim(), deniedRm);
  spawnSync('chmod', ['755', deniedRm]);
  return {
    denied: (f) => spawnSync(deniedRm, [f], { encoding: 'utf8' }),
    file: (name) => {
      const f = join(dir, name);
      writeFileSync(f, 'x');
      return f;
    },
  };
}

for (const [program, section, errno, text] of [
  ['deny_lsm', 'lsm/path_unlink', 'EPERM', 'Operation not permitted'],
  ['deny_fmod', 'fmod_ret/security_path_unlink', 'ENOTEMPTY', 'Directory not empty'],
] as const) {
  kernelTest(`matrix: ${section} fails the unlink of one process name with ${errno}, and only while attached`, async () => {
    if (trampolinesRefused) {
      refuses(() => load(program), `program ${program}: the kernel rejected it (EPERM) and gave no log`);
      assertNothingHeld(section);
      return;
    }
    const rm = rmPair();
    const kept = rm.file('kept');
    let ids: number[];
    {
      using coll = load(program);
      const link = attach(coll.program(program));
      try {
        const r = rm.denied(kept);
        assert.equal(r.status, 1, `${section}: the denied rm must fail (lsm=...,bpf on the kernel command line for lsm/): ${r.stderr}`);
        assert.match(String(r.stderr), new RegExp(`cannot remove '${kept}': ${text}`));
        assert.ok(existsSync(kept));
        // Another process name is left alone.
        const other = rm.file('other');
        assert.equal(spawnSync('rm', [other]).status, 0);
        assert.ok(!existsSync(other));
      } finally {
        ids = closeAll([link]);
      }
    }
    await assertLinksGone(ids, section);
    const r = rm.denied(kept);
    assert.equal(r.status, 0, `after close the unlink goes through: ${r.stderr}`);
    assert.ok(!existsSync(kept));
    assertNothingHeld(section);
  });
}

kernelTest('matrix: ksyscall/kill and kretsyscall/kill see the caller, the signal and -ESRCH', async () => {
  using coll = load('enter_kill', 'exit_kill');
  if (!hasKprobes) {
    refuses(() => attach(coll.program('enter_kill')), `cannot attach program enter_kill (section ksyscall/kill): ${NO_KPROBES}`);
    return;
  }
  const links = [attach(coll.program('enter_kill')), attach(coll.program('exit_kill'))];
  let child: { pid: number; errno: number };
  let ids: number[];
  try {
    child = runCalls(10, 0);
  } finally {
    ids = closeAll(links);
  }
  assert.equal(child.errno, 3, 'ESRCH');
  assert.equal(coll.variable('kill_caller').get(), child.pid);
  assert.equal(coll.variable('kill_sig').get(), 10);
  assert.equal(coll.variable('kill_ret').get(), -3n);
  await assertLinksGone(ids, 'ksyscall');
});

/** Hides the kprobe PMU, as on kernels where only tracefs kprobe_events exist. */
const legacyHost: Host = { ...realHost, exists: (p) => !p.startsWith('/sys/bus/event_source/devices/kprobe') && realHost.exists(p) };

function kprobeEvents(): string[] {
  const f = '/sys/kernel/tracing/kprobe_events';
  return existsSync(f) ? readFileSync(f, 'utf8').split('\n').filter((l) => l.includes(`tsbpf_${process.pid}_`)) : [];
}

for (const legacy of [false, true]) {
  const how = legacy ? 'tracefs kprobe_events (the legacy path)' : 'the kprobe PMU';
  kernelTest(`matrix: kprobe/do_nanosleep through ${how} counts exactly the child's nanosleeps; nothing left after close`, async () => {
    using coll = load('enter_kill', 'count_kprobe');
    const opts = legacy ? { host: legacyHost } : {};
    if (!hasKprobes) {
      refuses(() => attach(coll.program('count_kprobe'), opts), `cannot attach program count_kprobe (section kprobe/do_nanosleep): ${NO_KPROBES}`);
      return;
    }
    const links = [attach(coll.program('enter_kill'), opts), attach(coll.program('count_kprobe'), opts)];
    let ids: number[];
    let pid: number;
    try {
      if (legacy) {
        // One probe event per program, named for this process, while attached.
        const events = kprobeEvents();
        assert.equal(events.length, 2, events.join('\n'));
        assert.ok(events.some((e) => /^p:kprobes\/tsbpf_\d+_\d+ do_nanosleep$/.test(e)), events.join('\n'));
      }
      pid = runCalls(0, 7).pid;
    } finally {
      ids = closeAll(links);
    }
    assert.equal(coll.variable('kill_caller').get(), pid);
    assert.equal(coll.variable('kprobe_hits').get(), 7n);
    assert.deepEqual(kprobeEvents(), [], 'no tsbpf probe event stays in kprobe_events');
    await assertLinksGone(ids, how);
  });
}

kernelTest('matrix: kprobe.multi/do_nanosleep* counts exactly through one link where the kernel has fprobe, else one clear line', async () => {
  using coll = load('enter_kill', 'count_multi');
  const hasMulti = kernelAtLeast(5, 18) && kernelConfig('FPROBE') === 'y';
  if (!hasMulti) {
    const e = throwsTsbpf(() => attach(coll.program('count_multi')));
    assert.match(e.message, /^cannot attach program count_multi \(section kprobe\.multi\/do_nanosleep\*\): kprobe\.multi: not supported by this kernel \(/);
    assert.deepEqual(heldIds(process.pid).link, []);
    return;
  }
  const links = [attach(coll.program('enter_kill')), attach(coll.program('count_multi'))];
  let ids: number[];
  let pid: number;
  try {
    assert.equal(links[1]!.kind, 'kprobe_multi');
    pid = runCalls(0, 5).pid;
  } finally {
    ids = closeAll(links);
  }
  assert.equal(coll.variable('kill_caller').get(), pid);
  assert.equal(coll.variable('multi_hits').get(), 5n);
  await assertLinksGone(ids, 'kprobe.multi');
});

kernelTest('matrix: tp_btf/sched_process_exec counts exactly the execs of one program and sees their pid', async () => {
  using coll = load('count_exec');
  const link = attach(coll.program('count_exec'));
  let pids: number[];
  let ids: number[];
  try {
    assert.equal(link.kind, 'tp_btf');
    pids = [runCalls(0, 0).pid, runCalls(0, 0).pid, runCalls(0, 0).pid];
  } finally {
    ids = closeAll([link]);
  }
  assert.equal(coll.variable('exec_hits').get(), 3n);
  assert.equal(coll.variable('exec_old_pid').get(), pids.at(-1));
  runCalls(0, 0);
  assert.equal(coll.variable('exec_hits').get(), 3n, 'none counted after close');
  await assertLinksGone(ids, 'tp_btf');
});
