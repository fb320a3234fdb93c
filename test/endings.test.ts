/**
 * Every way a tracing run can end, for each kind of reader: exitsnoop, and `tsbpf run` of
 * a ring buffer, a perf buffer and a bpf_printk package. Whatever the ending (a signal
 * that stops it cleanly, one that kills it outright, a crash, the reader of its output
 * going away, a full disk), the kernel holds none of its programs, maps or links after,
 * it never had a child process, and the next run gets events again.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { tracefsPath } from '../src/link/index.js';
import { defaultSys } from '../src/sys/index.js';
import { allGone, heldIds, kernelTest } from './kernel.js';
import { CLI } from './paths.js';
import { buildExample } from './tsbpf-cli.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Tool {
  name: string;
  /** The command line after `tsbpf`, and where it runs. */
  args: string[];
  cwd?: string;
  /** Makes one event happen; returns the pid the event names. */
  trigger: () => number;
  /** Whether `out` holds the event of `pid`. */
  saw: (out: string, pid: number) => boolean;
}

const exec = () => spawnSync('/bin/true').pid!;
const jsonPid = (out: string, pid: number, key = 'pid') => out.split('\n').some((l) => l.includes(`"${key}":${pid}`));

function tools(t: { after: (fn: () => void) => void }): Tool[] {
  const ring = buildExample('ringbuf', t);
  const perf = buildExample('perfbuf', t);
  const printk = buildExample('printk', t);
  return [
    { name: 'exitsnoop', args: ['exitsnoop', '--json', '--ppid', String(process.pid)], trigger: exec, saw: jsonPid },
    // A shell that signals itself: the record's sender and target are its pid.
    { name: 'run (ring buffer)', args: ['run', 'package.json', '-j'], cwd: ring.dir, trigger: () => spawnSync('/bin/sh', ['-c', 'kill -TERM $$']).pid!, saw: (o, p) => jsonPid(o, p, 'tpid') },
    { name: 'run (perf buffer)', args: ['run', 'package.json', '-j'], cwd: perf.dir, trigger: exec, saw: jsonPid },
    { name: 'run (bpf_printk)', args: ['run', 'package.json', '-j'], cwd: printk.dir, trigger: exec, saw: jsonPid },
  ];
}

type Ending = 'SIGINT' | 'SIGTERM' | 'SIGHUP' | 'SIGKILL' | 'crash (SIGSEGV)' | 'closed pipe' | 'ENOSPC';
const ENDINGS: Ending[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGKILL', 'crash (SIGSEGV)', 'closed pipe', 'ENOSPC'];

interface Started {
  proc: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

async function start(tool: Tool, stdout: 'pipe' | number): Promise<Started> {
  const proc = spawn(process.execPath, [CLI, ...tool.args], { cwd: tool.cwd, stdio: ['ignore', stdout, 'pipe'] });
  const exited = once(proc, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  let out = '';
  let err = '';
  proc.stdout?.setEncoding('utf8').on('data', (d) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d) => (err += d));
  // Each says it is ready once its hook is attached and its reader open.
  for (let i = 0; i < 400 && !/running|bpf_printk output|Tracing process exits/.test(err) && proc.exitCode === null; i++) await sleep(25);
  assert.equal(proc.exitCode, null, `${tool.name} ended at start: ${err}`);
  return { proc, out: () => out, err: () => err, exited };
}

/** Pids whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Pids holding trace_pipe open. */
function tracePipeHolders(): number[] {
  const pipe = join(tracefsPath(defaultSys()), 'trace_pipe');
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
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
    })
    .map(Number);
}

async function end(tool: Tool, ending: Ending): Promise<void> {
  const what = `${tool.name}, ${ending}`;
  let full: number | undefined;
  if (ending === 'ENOSPC') full = openSync('/dev/full', 'w');
  const run = await start(tool, full ?? 'pipe');
  if (full !== undefined) closeSync(full);
  const pid = run.proc.pid!;
  const objs = heldIds(pid);
  assert.ok(objs.prog.length >= 1 && objs.map.length >= 1, `${what}: it holds its program and maps while running`);
  assert.deepEqual(childrenOf(pid), [], `${what}: no child process while running`);
  if (tool.name.includes('printk')) assert.deepEqual(tracePipeHolders(), [pid], `${what}: it reads trace_pipe itself`);

  const expect: [number | null, NodeJS.Signals | null] =
    ending === 'SIGKILL' ? [null, 'SIGKILL'] : ending === 'crash (SIGSEGV)' ? [null, 'SIGSEGV'] : ending === 'ENOSPC' ? [1, null] : [0, null];
  if (ending.startsWith('SIG')) run.proc.kill(ending as NodeJS.Signals);
  else if (ending.startsWith('crash')) run.proc.kill('SIGSEGV');
  else {
    if (ending === 'closed pipe') run.proc.stdout!.destroy(); // the reader went away (| head)
    // Events until a write fails and ends it.
    for (let i = 0; i < 200 && run.proc.exitCode === null && run.proc.signalCode === null; i++) {
      tool.trigger();
      await sleep(25);
    }
  }
  const [code, signal] = await run.exited;
  assert.deepEqual([code, signal], expect, `${what}: ${run.err()}`);
  if (ending === 'ENOSPC') assert.match(run.err(), /^tsbpf: cannot write the output: ENOSPC \(no space left on the device\)$/m, what);
  if (ending === 'closed pipe') assert.doesNotMatch(run.err(), /EPIPE|error/i, `${what}: a closed pipe is a normal end`);
  assert.doesNotMatch(run.err(), /\n\s+at /, `${what}: no stack trace`);
  assert.ok(await allGone('link', objs.link), `${what}: link left attached`);
  assert.ok(await allGone('prog', objs.prog), `${what}: program left loaded`);
  assert.ok(await allGone('map', objs.map), `${what}: maps left behind`);
  if (tool.name.includes('printk')) assert.deepEqual(tracePipeHolders(), [], `${what}: nothing reads trace_pipe after`);
}

/** A fresh run sees a fresh event: whatever ended before left nothing in its way. */
async function nextRunWorks(tool: Tool): Promise<void> {
  const run = await start(tool, 'pipe');
  const pids: number[] = [];
  for (let i = 0; i < 40 && !pids.some((p) => tool.saw(run.out(), p)); i++) {
    pids.push(tool.trigger());
    await sleep(50);
  }
  run.proc.kill('SIGINT');
  const [code] = await run.exited;
  assert.equal(code, 0, run.err());
  assert.ok(pids.some((p) => tool.saw(run.out(), p)), `${tool.name}: the next run saw none of pids ${pids.join(', ')}:\n${run.out().slice(-2000)}`);
}

kernelTest(`every ending (${ENDINGS.join(', ')}) of exitsnoop and of run with a ring buffer, a perf buffer and bpf_printk leaves no BPF object and no child, and the next run works`, async (t) => {
  for (const tool of tools(t)) {
    for (const ending of ENDINGS) {
      await end(tool, ending);
      await nextRunWorks(tool);
    }
  }
});
