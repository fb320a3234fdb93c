/**
 * The runner as a library: a program runs a package with typed options and receives its
 * events, sample walks and printk lines as values, through the async iterator or
 * callbacks, with no CLI in between. The packages are the examples, built by `tsbpf build`.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Runner, runnableFrom, type ExportedEvent, type RunItem } from '../src/runner/index.js';
import { compileBpf } from './compile.js';
import { allGone, heldIds, kernelTest } from './kernel.js';
import { buildExample, start, stop } from './tsbpf-cli.js';
import { throwsTsbpf } from './throws.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `sh -c 'exit CODE'` and resolves with its pid once it has ended. */
async function exitWith(code: number): Promise<number> {
  const p = spawn('/bin/sh', ['-c', `exit ${code}`]);
  await once(p, 'exit');
  return p.pid!;
}

/** Items until `until` holds for one (or 5 s pass), then leaves the loop. */
async function collect(runner: Runner, until: (i: RunItem) => boolean, act: () => Promise<void>): Promise<RunItem[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 5000);
  const items: RunItem[] = [];
  const acting = act();
  for await (const item of runner.items(ac.signal)) {
    items.push(item);
    if (until(item)) break;
  }
  clearTimeout(timer);
  await acting;
  return items;
}

kernelTest('events as values: the async iterator gives decoded records, typed options filter in the kernel', async (t) => {
  const ex = buildExample('filter', t);
  const input = runnableFrom(ex.package, readFileSync(ex.package));
  // Typed values, by the variables' names: only our children, only failures.
  using runner = Runner.open(input, { values: { target_ppid: process.pid, failed_only: true } });
  assert.equal(runner.mode, 'events');
  assert.deepEqual(runner.streams.map((s) => [s.map.name, s.known?.name]), [['events', 'event']]);
  const pids: number[] = [];
  const items = await collect(runner, (i) => i.kind === 'event' && i.value.pid === pids[1], async () => {
    await sleep(50);
    pids.push(await exitWith(0), await exitWith(7));
  });
  const events = items.filter((i): i is RunItem & ExportedEvent => i.kind === 'event');
  // The exit 0 is filtered out by failed_only; the exit 7 arrives, decoded.
  assert.deepEqual(events.map((e) => ({ ...e })), [
    { kind: 'event', map: 'events', type: 'event', value: { pid: pids[1], ppid: process.pid, exit_code: 7, comm: 'sh' } },
  ]);
});

kernelTest('events by callback: the same records, undecoded (record) and decoded (event); a throwing handler ends the run with its error', async (t) => {
  const ex = buildExample('filter', t);
  const input = runnableFrom(ex.package, readFileSync(ex.package));
  using runner = Runner.open(input, { args: ['--target_ppid', String(process.pid)] });
  const ac = new AbortController();
  const seen: { length: number; pid: number; value: unknown }[] = [];
  const done = runner.run(
    {
      record: (r) => seen.push({ length: r.length, pid: r.view.getInt32(r.offset, true), value: undefined }),
      event: (e) => {
        seen.at(-1)!.value = e.value;
        if (e.value.exit_code === 4) throw new Error('handler failed on purpose');
      },
      ready: (mode) => assert.equal(mode, 'events'),
    },
    ac.signal,
  );
  const ended = done.then(() => 'ended without the error', (e: Error) => e.message);
  await sleep(50);
  const first = await exitWith(3);
  const target = await exitWith(4);
  assert.equal(await ended, 'handler failed on purpose');
  const ours = seen.filter((s) => s.pid === first || s.pid === target);
  assert.deepEqual(ours, [
    { length: 28, pid: first, value: { pid: first, ppid: process.pid, exit_code: 3, comm: 'sh' } },
    { length: 28, pid: target, value: { pid: target, ppid: process.pid, exit_code: 4, comm: 'sh' } },
  ]);
  await assert.rejects(runner.run({}), /already running/);
});

kernelTest('sample walks as values: the histogram example gives each key with its slots and members', async (t) => {
  const ex = buildExample('histogram', t);
  using runner = Runner.open(runnableFrom(ex.package, readFileSync(ex.package)));
  assert.equal(runner.mode, 'samples');
  let pid = 0;
  const items = await collect(runner, (i) => i.kind === 'sample' && i.entries.some((e) => e.key === pid), async () => {
    const p = spawn('/bin/sleep', ['0.045']);
    pid = p.pid!;
    await once(p, 'exit');
  });
  const last = items.at(-1)!;
  assert.equal(last.kind, 'sample');
  if (last.kind !== 'sample') return;
  assert.equal(last.map, 'hists');
  assert.equal(last.type, 'log2_hist');
  assert.equal(last.unit, 'usecs');
  // 45 ms is in bucket 15 (32768..65535 us).
  assert.deepEqual(last.entries.find((e) => e.key === pid)?.value, { slots: Array.from({ length: 27 }, (_, i) => (i === 15 ? 1 : 0)), comm: 'sleep' });
});

kernelTest('printk lines as values: each trace_pipe line with its task, pid and message', async (t) => {
  const ex = buildExample('printk', t);
  using runner = Runner.open(runnableFrom(ex.package, readFileSync(ex.package)));
  assert.equal(runner.mode, 'printk');
  const pids: number[] = [];
  const ours = (i: RunItem) => i.kind === 'printk' && i.line.pid !== null && pids.includes(i.line.pid);
  const items = await collect(runner, ours, async () => {
    // trace_pipe goes to whoever reads first: exec until one of ours comes through.
    for (let tries = 0; tries < 10; tries++) {
      await sleep(100);
      pids.push(spawnSync('/bin/true').pid!);
    }
  });
  const line = items.find(ours);
  assert.ok(line && line.kind === 'printk', `no printk line for ${pids.join(', ')}`);
  assert.equal(line.line.task, 'true');
  assert.equal(line.line.message, `tsbpf hello: exec of pid ${line.line.pid}`);
  assert.match(line.text, new RegExp(`true-${line.line.pid} .*bpf_trace_printk: tsbpf hello`));
});

kernelTest('errors before anything is loaded: an unknown typed option names what the program takes', (t) => {
  const ex = buildExample('filter', t);
  const input = runnableFrom(ex.package, readFileSync(ex.package));
  throwsTsbpf(() => Runner.open(input, { values: { target: 1 } }), /no program option or global variable named target; this program takes: target_ppid, failed_only/);
});

const MAPS_ONLY = `
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
char LICENSE[] SEC("license") = "GPL";
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, u32);
	__type(value, u64);
} shared SEC(".maps");
`;

kernelTest('a package of maps and no programs loads and waits, as ecli does; its map lives until the stop', async (t) => {
  const obj = compileBpf(writeSource('maps_only.bpf.c', MAPS_ONLY, t));
  using runner = Runner.open(runnableFrom(obj, readFileSync(obj)));
  assert.equal(runner.mode, 'idle');
  const ac = new AbortController();
  const done = runner.run({}, ac.signal);
  assert.equal(runner.collection.map('shared').info().id > 0, true);
  ac.abort();
  await done;

  // And from the command line: loaded, waiting, exit 0 on SIGINT, the map gone after.
  const run = await start(['run', obj], /loaded/);
  const held = heldIds(run.proc.pid!);
  assert.equal(held.map.length, 1);
  assert.equal(await stop(run.proc), 0);
  assert.match(run.err(), /the object has no programs, its maps stay until Ctrl-C/);
  assert.ok(await allGone('map', held.map));
});

function writeSource(name: string, text: string, t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-runner-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
