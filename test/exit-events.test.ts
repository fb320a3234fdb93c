/**
 * exitsnoop as an API: exitEvents() gives typed ExitEvents and loss notices as an async
 * iterator; leaving the loop detaches everything. Exact pids, codes and signals of
 * children the test makes; with a tiny ring and a blocked event loop, the losses it
 * reports plus the exits it gives equal the processes made.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { exitEvents, ExitMonitor, type ExitEvent, type ExitItem } from '../src/tools/exitsnoop/index.js';
import { exitcases, exitcasesNamed } from './exitcases.js';
import { allGone, heldIds, kernelTest } from './kernel.js';

async function child(args: string[]): Promise<{ pid: number; code: number | null; signal: NodeJS.Signals | null }> {
  const p = spawn(exitcases(), args, { stdio: 'ignore' });
  const [code, signal] = await once(p, 'exit');
  return { pid: p.pid!, code, signal };
}

kernelTest('exitEvents(): typed exits of our children, exact pid, code and signal; leaving the loop detaches', async () => {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 10_000).unref();
  const runs: Awaited<ReturnType<typeof child>>[] = [];
  const seen: ExitEvent[] = [];
  const before = heldIds(process.pid);
  const making = (async () => {
    await new Promise((r) => setTimeout(r, 100));
    runs.push(await child(['code', '0']), await child(['code', '42']));
    const k = spawn('/bin/sleep', ['10']);
    k.kill('SIGKILL');
    await once(k, 'exit');
    runs.push({ pid: k.pid!, code: null, signal: 'SIGKILL' });
  })();
  let held: ReturnType<typeof heldIds> | undefined;
  for await (const item of exitEvents({ ppid: process.pid, signal: ac.signal })) {
    held ??= heldIds(process.pid);
    if (item.kind !== 'exit') continue;
    seen.push(item);
    // Other children of ours (a compiler building the test program) exit too: wait for the three.
    if (runs.length === 3 && runs.every((r) => seen.some((e) => e.pid === r.pid))) break;
  }
  await making;
  const mine = seen.filter((e) => runs.some((r) => r.pid === e.pid));
  assert.deepEqual(
    mine.map((e) => [e.pid, e.ppid, e.exitCode, e.signal, e.coreDumped, e.comm]),
    [
      [runs[0]!.pid, process.pid, 0, 0, false, 'tsbpf-exitcases'],
      [runs[1]!.pid, process.pid, 42, 0, false, 'tsbpf-exitcases'],
      [runs[2]!.pid, process.pid, 0, 9, false, 'sleep'],
    ],
  );
  assert.equal(typeof mine[0]!.durationNs, 'bigint');
  // Everything the iterator held is gone once the loop is left.
  const extra = { prog: held!.prog.filter((id) => !before.prog.includes(id)), link: held!.link.filter((id) => !before.link.includes(id)) };
  assert.equal(extra.prog.length, 1);
  assert.ok(await allGone('prog', extra.prog));
  assert.ok(await allGone('link', extra.link));
});

kernelTest('ExitMonitor: with a 4 KiB ring and a blocked event loop, loss notices plus exits equal the processes made', async () => {
  const comm = 'tsbpf-xlib';
  using monitor = ExitMonitor.open({ comm, ringbufSize: 4096 });
  const items: ExitItem[] = [];
  const ac = new AbortController();
  const done = (async () => {
    for await (const item of monitor.items(ac.signal)) items.push(item);
  })();
  const loop = spawn(exitcasesNamed(comm), ['forkloop', '2000'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  loop.stdout!.on('data', (d) => (out += d));
  // Block this event loop while the children exit: the 4 KiB ring (about 50 records) fills.
  const until = Date.now() + 300;
  while (Date.now() < until);
  const [code] = await once(loop, 'exit');
  assert.equal(code, 0);
  const made = Number(out.trim()) + 1; // the children and the loop itself
  await new Promise((r) => setTimeout(r, 1500)); // the last loss check runs every second
  ac.abort();
  await done;
  const exits = items.filter((i) => i.kind === 'exit').length;
  const lost = items.filter((i) => i.kind === 'lost').reduce((a, i) => a + (i.kind === 'lost' ? i.count : 0), 0);
  assert.ok(lost > 0, `nothing lost: ${exits} exits of ${made}`);
  assert.equal(exits + lost, made);
  assert.equal(monitor.totalLost(), lost);
});
