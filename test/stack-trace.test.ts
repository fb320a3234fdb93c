/**
 * eunomia's stack_trace interpreter: a package whose ring buffer map says
 * `intepreter: {stack_trace: {with_symbols: true}}` (written by `tsbpf build` from a
 * `/// @intepreter` comment) prints each record as ecli does: COMM line, Kernel: and
 * Userspace: frames as `  i [<address>] symbol+0xoffset`. The user stack is a known call
 * chain of a program the test builds; the kernel frames are checked against
 * /proc/kallsyms and the user ones against the program's own symbols (nm).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stackText } from '../src/decode/index.js';
import { readPackage } from '../src/package/index.js';
import { Runner, runnableFrom, type RunItem } from '../src/runner/index.js';
import { compileC } from './compile.js';
import { kernelTest } from './kernel.js';
import { ROOT } from './paths.js';
import { buildExample, jsonLines, start, stop } from './tsbpf-cli.js';
import { test } from 'node:test';

/** The target's function symbols: name -> [start, size], from nm. */
function functions(path: string): Map<string, [bigint, bigint]> {
  const nm = spawnSync('nm', ['-S', '--defined-only', path], { encoding: 'utf8' });
  assert.equal(nm.status, 0, nm.stderr);
  const out = new Map<string, [bigint, bigint]>();
  for (const line of nm.stdout.split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) [tT] (\S+)$/.exec(line);
    if (m) out.set(m[3]!, [BigInt('0x' + m[1]), BigInt('0x' + m[2])]);
  }
  return out;
}

/** The kernel's text symbols, sorted: to check that a frame's symbol+offset is where kallsyms puts it. */
function kallsyms(): Map<string, bigint[]> {
  const out = new Map<string, bigint[]>();
  for (const line of readFileSync('/proc/kallsyms', 'utf8').split('\n')) {
    const [a, t, name] = line.split(/\s+/);
    if (!a || !name || !/[tTwW]/.test(t ?? '')) continue;
    out.set(name, [...(out.get(name) ?? []), BigInt('0x' + a)]);
  }
  return out;
}

/**
 * Runs the target until its frames have been read: it waits for stdin to close after its
 * getppid(). User frames are named through the live process's /proc/PID/maps (as ecli
 * does), so it stays alive until `printed(pid)` says its record is out (at most 10 s).
 */
async function runTarget(target: string, printed: (pid: number) => boolean): Promise<number> {
  const p = spawn(target, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  await once(p.stdout, 'data');
  for (let i = 0; i < 500 && !printed(p.pid!); i++) await new Promise((r) => setTimeout(r, 20));
  p.stdin.end();
  const [code] = await once(p, 'exit');
  assert.equal(code, 0);
  return p.pid!;
}

function build(t: { after: (fn: () => void) => void }) {
  const ex = buildExample('test/progs/stack_trace', t);
  const target = compileC(join(ROOT, 'test', 'progs', 'stack_target.c'), 'stack-target', ['-O0', '-fno-omit-frame-pointer']);
  return { ex, target };
}

kernelTest('stack_trace interpreter: kernel and user frames of a known call chain, with symbols, as ecli prints them', async (t) => {
  const { ex, target } = build(t);
  const pkg = readPackage(readFileSync(ex.package));
  assert.deepEqual(pkg.json.meta.bpf_skel.maps.find((m) => m.name === 'events')?.intepreter, { stack_trace: { with_symbols: true } });

  const run = await start(['run', 'package.json'], /running/, { cwd: ex.dir });
  const r = { pid: await runTarget(target, (pid) => run.out().includes(`COMM: stack-target (pid=${pid}) @ CPU `)) };
  assert.equal(await stop(run.proc), 0);
  // No table header: the records print as stacks.
  assert.doesNotMatch(run.out(), /^TIME/m);
  const blocks = run.out().split('\n\n').filter((b) => b.startsWith(`COMM: stack-target (pid=${r.pid}) @ CPU `));
  assert.equal(blocks.length, 1, run.out().slice(0, 2000));
  const lines = blocks[0]!.split('\n');
  assert.match(lines[0]!, new RegExp(`^COMM: stack-target \\(pid=${r.pid}\\) @ CPU \\d+$`));
  const k = lines.indexOf('Kernel:');
  const u = lines.indexOf('Userspace:');
  assert.ok(k === 1 && u > k + 1, blocks[0]);
  const frame = /^ {2}(\d+) \[<([0-9a-f]{16})>\](?: (\S+)\+0x([0-9a-f]+))?$/;
  const parse = (l: string) => {
    const m = frame.exec(l);
    assert.ok(m, `not a frame line: ${JSON.stringify(l)}`);
    return { i: Number(m[1]), addr: BigInt('0x' + m[2]), name: m[3], offset: m[4] === undefined ? undefined : BigInt('0x' + m[4]) };
  };
  const kernel = lines.slice(k + 1, u).map(parse);
  const user = lines.slice(u + 1).filter(Boolean).map(parse);
  kernel.forEach((f, i) => assert.equal(f.i, i));
  user.forEach((f, i) => assert.equal(f.i, i));

  // Kernel: every frame named, and name+offset is the address by /proc/kallsyms.
  const ksyms = kallsyms();
  for (const f of kernel) {
    assert.ok(f.name, `kernel frame ${f.i} has no symbol`);
    assert.ok(ksyms.get(f.name)!.some((a) => a + f.offset! === f.addr), `kernel frame ${f.i}: ${f.name}+0x${f.offset!.toString(16)} is not ${f.addr.toString(16)}`);
  }
  assert.ok(kernel.some((f) => f.name === 'do_syscall_64'), kernel.map((f) => f.name).join(' '));

  // User: leaf (in the syscall), then its callers, each inside the function nm gives.
  const fns = functions(target);
  assert.deepEqual(user.slice(0, 4).map((f) => f.name), ['leaf', 'middle', 'outer', 'main']);
  // A PIE is loaded at some base: the same one for every frame (address - offset - nm's start).
  const bases = new Set<bigint>();
  for (const f of user.slice(0, 4)) {
    const [start, size] = fns.get(f.name!)!;
    bases.add(f.addr - f.offset! - start);
    assert.ok(f.offset! > 0n && f.offset! < size, `${f.name}+0x${f.offset!.toString(16)} lies outside its ${size} bytes`);
  }
  assert.equal(bases.size, 1, `frames at different load bases: ${[...bases].map((b) => b.toString(16)).join(', ')}`);
});

kernelTest('stack_trace interpreter: -j prints the struct, and the library gives the sample with resolved frames', async (t) => {
  const { ex, target } = build(t);
  const run = await start(['run', 'package.json', '-j'], /running/, { cwd: ex.dir });
  const r = { pid: await runTarget(target, (pid) => run.out().includes(`"pid":${pid},`)) };
  assert.equal(await stop(run.proc), 0);
  const mine = jsonLines(run.out()).filter((e) => e.pid === r.pid);
  assert.equal(mine.length, 1);
  assert.equal(mine[0]!.comm, 'stack-target');
  // bpf_get_stack() returns bytes: a multiple of 8, at least the 4 frames of the chain.
  assert.equal((mine[0]!.ustack_sz as number) % 8, 0);
  assert.ok((mine[0]!.ustack_sz as number) >= 32);
  assert.equal((mine[0]!.ustack as number[]).length, 128);

  using runner = Runner.open(runnableFrom(ex.package, readFileSync(ex.package)));
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 5000).unref();
  let pid = 0;
  const p = spawn(target, [], { stdio: ['pipe', 'ignore', 'inherit'] });
  pid = p.pid!;
  t.after(() => p.stdin.end());
  let found: RunItem | undefined;
  for await (const item of runner.items(ac.signal)) {
    if (item.kind === 'event' && item.value.pid === pid && pid) {
      found = item;
      break;
    }
  }
  assert.ok(found?.kind === 'event' && found.stack, 'no sample for the target');
  assert.equal(found.stack.pid, pid);
  assert.deepEqual(found.stack.user!.slice(0, 4).map((f) => f.symbol), ['leaf', 'middle', 'outer', 'main']);
  assert.ok(found.stack.kernel!.length > 0 && found.stack.kernel!.every((f) => f.symbol));
});

test('stack text: ecli\'s layouts with and without symbols, the missing stacks named', () => {
  const sample = { pid: 4660, cpu: 22136, comm: 'test-comm', kernel: [{ addr: 0x10000n, symbol: 'f', offset: 16 }, { addr: 0xffffffff81000000n }], user: undefined };
  assert.equal(stackText(sample, true), 'COMM: test-comm (pid=4660) @ CPU 22136\nKernel:\n  0 [<0000000000010000>] f+0x10\n  1 [<ffffffff81000000>]\nNo Userspace Stack\n\n');
  assert.equal(stackText(sample, false), 'COMM: test-comm (pid=4660) @ CPU 22136\nKernel:\n0000000000010000\nffffffff81000000\nNo Userspace Stack\n\n');
});
