/**
 * iter/ and perf_event programs on the real kernel: a task iterator lists exactly the
 * processes /proc lists, and a sampling program counts samples on every CPU while
 * attached and none after close.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { attach, bpffsPath, readIterator } from '../src/link/index.js';
import { Collection } from '../src/loader/index.js';
import { loadObjectFile } from '../src/object/index.js';
import { FakeSys } from '../src/sys/fake.js';
import { defaultSys } from '../src/sys/index.js';
import { compileBpf } from './compile.js';
import { kernelAtLeast } from './guest.js';
import { allGone, kernelTest, liveIds } from './kernel.js';
import { ROOT } from './paths.js';
import { tsbpf } from './tsbpf-cli.js';

const pids = () => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number);

/** The same object's iterator run by bpftool (iter pin, then read the pinned file). */
function bpftoolIter(program: { spec: { name: string } }): Map<number, string> {
  const obj = compileBpf(join(ROOT, 'test', 'progs', 'iter_task.bpf.c'));
  const pin = `${bpffsPath(defaultSys())}/tsbpf-test-iter-${process.pid}`;
  execFileSync('bpftool', ['iter', 'pin', obj, pin]);
  try {
    return parseLines(readFileSync(pin, 'utf8'));
  } finally {
    rmSync(pin);
  }
  void program;
}

function parseLines(text: string): Map<number, string> {
  return new Map(text.trim().split('\n').map((l) => {
    const sp = l.indexOf(' ');
    return [Number(l.slice(0, sp)), l.slice(sp + 1)] as const;
  }));
}

const prog = (name: string) => loadObjectFile(compileBpf(join(ROOT, 'test', 'progs', `${name}.bpf.c`)));

kernelTest('iter/task: the iterator lists each process as bpftool running it does (pid and comm)', async () => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    using coll = Collection.load(prog('iter_task'));
    using link = attach(coll.program('list_tasks'));
    assert.equal(link.kind, 'iter');
    assert.equal(link.target, 'task');
    const text = new TextDecoder().decode(readIterator(link));
    const listed = parseLines(text);
    assert.equal(listed.get(child.pid!), 'sleep');
    assert.equal(listed.get(process.pid), readFileSync('/proc/self/comm', 'utf8').trim());
    // bpftool runs the same object's iterator: every process alive throughout is listed
    // alike by both (the kernel's walk, not /proc, decides: it skips the sandbox's pid 1).
    const before = pids();
    const viaBpftool = bpftoolIter(link.program);
    const throughout = before.filter((p) => pids().includes(p));
    for (const p of throughout) assert.equal(listed.get(p), viaBpftool.get(p), `pid ${p}`);
    assert.ok(throughout.filter((p) => listed.has(p)).length > 10, 'many processes compared');
    // A second read runs the program again: the same child is there again.
    assert.match(new TextDecoder().decode(readIterator(link)), new RegExp(`^${child.pid} sleep$`, 'm'));
  } finally {
    child.kill();
  }
});

test('iter: a map iterator without a map is one clear line', () => {
  const sys = new FakeSys();
  const spec = prog('iter_task');
  spec.programs[0]!.attachTarget = 'bpf_map_elem';
  using coll = Collection.load(spec, { sys });
  assert.throws(() => attach(coll.program('list_tasks'), { sys }), /program list_tasks \(section iter\/task\): a bpf_map_elem iterator walks one map; pass \{ iterMapFd \}/);
});

kernelTest('perf_event: samples every online CPU while attached, none after close', async () => {
  const sys = defaultSys();
  using coll = Collection.load(prog('perf_sample'));
  const samples = coll.map('samples');
  const cpus = readFileSync('/sys/devices/system/cpu/online', 'utf8').trim();
  const count = () => {
    let n = 0n;
    for (let cpu = 0; cpu < 64; cpu++) n += samples.lookup(cpu) as bigint;
    return n;
  };
  const link = attach(coll.program('on_sample'), { perfEvent: { frequency: 200 } });
  // One BPF perf link per CPU where the kernel has them (5.15), else ioctl-attached events.
  assert.equal(link.bpfLink, kernelAtLeast(5, 15));
  const linkId = link.bpfLink ? link.info().id : 0;
  let closed = false;
  try {
    assert.equal(link.kind, 'perf_event');
    assert.match(link.target, new RegExp(`^cpu-(cycles|clock) at 200 Hz on CPUs `));
    // Busy for 500 ms: at 200 Hz the busy CPU alone takes ~100 samples.
    const end = Date.now() + 500;
    while (Date.now() < end);
    const n = count();
    assert.ok(n >= 40n && n <= 2000n, `${n} samples in 500 ms at 200 Hz on CPUs ${cpus}`);
    link.close();
    closed = true;
    if (linkId) assert.ok(await allGone('link', [linkId]), 'the link is gone after close');
    const after = count();
    const end2 = Date.now() + 200;
    while (Date.now() < end2);
    assert.equal(count(), after, 'no samples after close');
    assert.ok(!liveIds('link', (i) => i.progId === coll.program('on_sample').info().id).length);
  } finally {
    if (!closed) link.close();
  }
  void sys;
});

kernelTest('tsbpf run on an iterator object prints what it walks and exits 0', async () => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    const obj = compileBpf(join(ROOT, 'test', 'progs', 'iter_task.bpf.c'));
    const r = tsbpf(['run', obj]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^${child.pid} sleep$`, 'm'));
    assert.equal(parseLines(r.stdout).get(process.pid), readFileSync('/proc/self/comm', 'utf8').trim());
  } finally {
    child.kill();
  }
});
