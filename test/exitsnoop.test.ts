/**
 * exitsnoop: the seed's table byte for byte, real exits of real children, and a clean
 * kernel after every way the tool can end.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { compileDecoder, TableFormatter } from '../src/decode/index.js';
import { loadObjectFile } from '../src/object/index.js';
import { EXITSNOOP_OBJECT } from '../src/tools/exitsnoop/index.js';
import { allGone, kernelTest, liveIds } from './kernel.js';
import { CLI, ROOT } from './paths.js';

const SEED = resolve(ROOT, '..', 'shared', 'seeds', 'exitsnoop');

test("golden: the seed's sample events render byte for byte as expected-output.txt", () => {
  const spec = loadObjectFile(EXITSNOOP_OBJECT);
  const { decode, fields, size } = compileDecoder(spec.btf, spec.btf.idByName('event', 'struct')!);
  assert.equal(size, 40);
  const table = new TableFormatter(fields.map((f) => f.name));
  const samples: [number, number, string][] = [
    [42050, 42049, 'which'], [42049, 3517, 'sh'], [42052, 42051, 'ps'], [42051, 3517, 'sh'], [42055, 42054, 'sed'],
    [42056, 42054, 'cat'], [42057, 42054, 'cat'], [42058, 42054, 'cat'], [42059, 42054, 'cat'],
  ];
  // Records as the BPF side writes them: pid@0 ppid@4 exit_code@8 duration_ns@16 comm@24.
  const rows = samples.map(([pid, ppid, comm]) => {
    const rec = new DataView(new ArrayBuffer(40));
    rec.setInt32(0, pid, true);
    rec.setInt32(4, ppid, true);
    new Uint8Array(rec.buffer, 24, 16).set(Buffer.from(comm));
    const e = decode(rec, 0);
    return table.row(fields.map((f) => e[f.name]), '21:40:09');
  });
  const out = [table.header, ...rows].join('\n') + '\n';
  assert.equal(out, readFileSync(resolve(SEED, 'expected-output.txt'), 'utf8'));
});

/** Starts `tsbpf exitsnoop` and resolves once it says it is attached. */
async function startExitsnoop(args: string[] = []): Promise<{ proc: ChildProcess; out: () => string; err: () => string }> {
  const proc = spawn(process.execPath, [CLI, 'exitsnoop', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d) => (out += d));
  await new Promise<void>((resolveReady, reject) => {
    proc.stderr!.on('data', (d) => {
      err += d;
      if (err.includes('Tracing process exits')) resolveReady();
    });
    proc.on('exit', (code) => reject(new Error(`exitsnoop ended early (${code}): ${err}`)));
  });
  return { proc, out: () => out, err: () => err };
}

/** Ids of this run's program, maps and link: new since `before`. */
function runObjects(before: { prog: number[]; map: number[]; link: number[] }) {
  const prog = liveIds('prog', (i) => i.name === 'handle_exit').filter((id) => !before.prog.includes(id));
  const map = liveIds('map', (i) => i.name === 'rb' || i.name === 'exitsnoo.bss').filter((id) => !before.map.includes(id));
  const link = liveIds('link', (i) => prog.includes(i.progId!)).filter((id) => !before.link.includes(id));
  return { prog, map, link };
}

function snapshot() {
  return {
    prog: liveIds('prog', (i) => i.name === 'handle_exit'),
    map: liveIds('map', (i) => i.name === 'rb' || i.name === 'exitsnoo.bss'),
    link: liveIds('link', () => true),
  };
}

async function assertCleanAfter(objs: { prog: number[]; map: number[]; link: number[] }) {
  assert.equal(objs.prog.length, 1, 'one program while running');
  assert.equal(objs.map.length, 2, 'ring buffer and .bss while running');
  assert.equal(objs.link.length, 1, 'one link while running');
  assert.ok(await allGone('link', objs.link), 'link left attached');
  assert.ok(await allGone('prog', objs.prog), 'program left loaded');
  assert.ok(await allGone('map', objs.map), 'maps left behind');
}

kernelTest('exitsnoop reports exactly one event per child with pid, ppid, code, comm and age', async () => {
  const before = snapshot();
  const { proc, out } = await startExitsnoop(['--json']);
  const objs = runObjects(before);
  const plan = [
    { code: 0, sleep: 0.1 },
    { code: 1, sleep: 0.2 },
    { code: 42, sleep: 0.3 },
    { code: 255, sleep: 0.15 },
  ];
  const children = await Promise.all(
    plan.map(async ({ code, sleep }) => {
      const c = spawn('/bin/sh', ['-c', `sleep ${sleep}; exit ${code}`]);
      const [status] = await once(c, 'exit');
      assert.equal(status, code);
      return { pid: c.pid!, code, sleep };
    }),
  );
  // Let the last records reach user space, then stop it as a user would.
  await new Promise((r) => setTimeout(r, 300));
  proc.kill('SIGINT');
  const [status] = await once(proc, 'exit');
  assert.equal(status, 0);

  const events = out().trim().split('\n').map((l) => JSON.parse(l) as Record<string, number | string>);
  for (const c of children) {
    const mine = events.filter((e) => e.pid === c.pid);
    assert.equal(mine.length, 1, `exactly one event for pid ${c.pid}: ${JSON.stringify(mine)}`);
    const e = mine[0]!;
    assert.equal(e.ppid, process.pid);
    assert.equal(e.exit_code, c.code);
    assert.equal(e.comm, 'sh');
    assert.ok(Number(e.duration_ns) >= c.sleep * 1e9, `age ${e.duration_ns} ns covers the ${c.sleep}s sleep`);
    assert.ok(Number(e.duration_ns) < (c.sleep + 5) * 1e9);
  }
  await assertCleanAfter(objs);
});

kernelTest('the table: header first, then rows in the seed layout', async () => {
  const { proc, out } = await startExitsnoop();
  const c = spawnSync('/bin/sh', ['-c', 'exit 7']);
  assert.equal(c.status, 7);
  await new Promise((r) => setTimeout(r, 300));
  proc.kill('SIGINT');
  await once(proc, 'exit');
  const lines = out().split('\n');
  assert.equal(lines[0], 'TIME     PID     PPID    EXIT_CODE  DURATION_NS  COMM    ');
  const row = lines.find((l) => new RegExp(`^\\d\\d:\\d\\d:\\d\\d  ${c.pid} +${process.pid} +7 +\\d+ +sh$`).test(l));
  assert.ok(row, `a row for pid ${c.pid} in:\n${out()}`);
  assert.equal(row!.indexOf(String(c.pid)), 10); // one column right of its header, as in the seed
});

kernelTest('nothing of the run stays in the kernel after SIGTERM', async () => {
  const before = snapshot();
  const { proc } = await startExitsnoop();
  const objs = runObjects(before);
  proc.kill('SIGTERM');
  const [status] = await once(proc, 'exit');
  assert.equal(status, 0);
  await assertCleanAfter(objs);
});

kernelTest('nothing stays after the output closes (| head) or the process is killed', async () => {
  const before = snapshot();
  const { proc } = await startExitsnoop();
  const objs = runObjects(before);
  proc.stdout!.destroy(); // the reader went away
  spawnSync('/bin/true');
  spawnSync('/bin/true');
  const [status] = await once(proc, 'exit');
  assert.equal(status, 0);
  await assertCleanAfter(objs);

  // SIGKILL: no handler runs at all; the kernel still drops everything with the fds.
  const before2 = snapshot();
  const second = await startExitsnoop();
  const objs2 = runObjects(before2);
  second.proc.kill('SIGKILL');
  await once(second.proc, 'exit');
  await assertCleanAfter(objs2);
});
