/**
 * `tsbpf run` on the examples: program arguments from `const volatile` globals, ring
 * buffer and perf buffer events as table and JSON, bpf_printk lines, and its errors.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { compileBpf } from './compile.js';
import { kernelTest } from './kernel.js';
import { CLI, ROOT } from './paths.js';
import { start as startCli, stop } from './tsbpf-cli.js';

const start = (args: string[]) => startCli(['run', ...args]);

const example = (dir: string, file: string, keep: string[] = ['event']) =>
  compileBpf(join(ROOT, 'examples', dir, file), { keepStructs: keep });

kernelTest('const volatile arguments filter in the kernel: --target_ppid and --failed_only', async () => {
  const obj = example('filter', 'exits.bpf.c');
  const { proc, out } = await start([obj, '-j', '--target_ppid', String(process.pid), '--failed_only']);
  const codes = [0, 3, 0, 250];
  const pids = codes.map((c) => spawnSync('/bin/sh', ['-c', `exit ${c}`]).pid!);
  spawnSync('/bin/sh', ['-c', '/bin/sh -c "exit 9"; true']); // a grandchild: its parent is not us
  assert.equal(await stop(proc), 0);
  const events = out().trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.deepEqual(
    events.map((e) => [e.pid, e.ppid, e.exit_code, e.comm]),
    [[pids[1], process.pid, 3, 'sh'], [pids[3], process.pid, 250, 'sh']],
  );
});

kernelTest('the table layout, and -h listing the program options', async () => {
  const obj = example('filter', 'exits.bpf.c');
  const help = spawnSync(process.execPath, [CLI, 'run', obj, '-h'], { encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /--target_ppid <int>\s+int, in \.rodata/);
  assert.match(help.stdout, /--failed_only\s+bool, in \.rodata/);

  const { proc, out } = await start([obj, '--target_ppid', String(process.pid)]);
  const pid = spawnSync('/bin/sh', ['-c', 'exit 5']).pid!;
  await stop(proc);
  const lines = out().split('\n');
  assert.equal(lines[0], 'TIME     PID     PPID    EXIT_CODE  COMM    ');
  assert.match(lines[1]!, new RegExp(`^\\d\\d:\\d\\d:\\d\\d  ${pid} +${process.pid} +5 +sh$`));
});

kernelTest('perf event array export map: events decoded from a perf buffer', async () => {
  const obj = example('perfbuf', 'execs.bpf.c');
  const { proc, out } = await start([obj, '--json']);
  const pid = spawnSync('/bin/true').pid!;
  await stop(proc);
  const events = out().trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(events.filter((e) => e.pid === pid), [{ pid, ppid: process.pid, comm: 'true' }]);
});

kernelTest('no export map: bpf_printk lines from trace_pipe', async () => {
  const obj = example('printk', 'hello.bpf.c', []);
  const { proc, out } = await start([obj]);
  const pid = spawnSync('/bin/true').pid!;
  for (let i = 0; i < 50 && !out().includes(`exec of pid ${pid}`); i++) await new Promise((r) => setTimeout(r, 20));
  await stop(proc);
  assert.match(out(), new RegExp(`tsbpf hello: exec of pid ${pid}\\b`));
});

kernelTest('run errors: unknown argument, a value of the wrong type, a rejected program', () => {
  const obj = example('filter', 'exits.bpf.c');
  const bad = (args: string[]) => spawnSync(process.execPath, [CLI, 'run', ...args], { encoding: 'utf8' });
  let r = bad([obj, '--nosuch', '1']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /unknown program argument --nosuch; this program takes: --target_ppid, --failed_only/);
  r = bad([obj, '--target_ppid', 'abc']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /target_ppid: expected an integer, got string "abc"/);
  r = bad([obj, '--target_ppid', '99999999999']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /does not fit a signed 32-bit integer/);
  r = bad([join(ROOT, 'testdata', 'rejected.bpf.o')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /program bad_deref: the kernel rejected it \(EACCES\)/);
  assert.match(r.stderr, /invalid mem access 'map_value_or_null'/);
});
