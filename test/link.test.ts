/**
 * link/: attaching by section name.
 *
 * Unit tests (anywhere) drive the tracefs/bpffs decisions and the perf-link fallback
 * through FakeSys and a described host. Kernel tests (root) attach the fixtures for real,
 * spawn processes and check the kernel's own account: counters the programs keep, link
 * info naming the program, links gone after close. The uprobe tests build a small C
 * program with gcc and probe it with a hand-assembled counting program.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { NotSupportedError, TsbpfError } from '../src/errors.js';
import {
  AttachError,
  attach,
  attachAll,
  bpffsPath,
  findFunction,
  parseMounts,
  parseUprobeTarget,
  readBinary,
  resolveBinary,
  resolveUprobe,
  tracefsPath,
  type Host,
} from '../src/link/index.js';
import { Collection, Program } from '../src/loader/index.js';
import { loadObjectFile, type ProgramSpec } from '../src/object/index.js';
import * as C from '../src/sys/constants.js';
import { EINVAL, EPERM } from '../src/sys/errors.js';
import { FakeSys } from '../src/sys/fake.js';
import { defaultSys } from '../src/sys/index.js';
import type { Sys } from '../src/sys/types.js';
import { kernelAtLeast } from './guest.js';
import { kernelTest } from './kernel.js';
import { ROOT } from './paths.js';

const fixture = (name: string) => loadObjectFile(join(ROOT, 'testdata', `${name}.bpf.o`));

/** A described machine: files by path, the mount table, privilege; notices are recorded. */
function fakeHost(files: Record<string, string>, root = true): Host & { notices: string[]; reads: string[] } {
  const notices: string[] = [];
  const reads: string[] = [];
  return {
    notices,
    reads,
    readFile(path) {
      reads.push(path);
      const f = files[path];
      if (f === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
      return f;
    },
    exists: (path) => path in files || Object.keys(files).some((f) => f.startsWith(`${path}/`)),
    isRoot: () => root,
    notice: (m) => void notices.push(m),
  };
}

const BASE_MOUNTS = 'proc /proc proc rw 0 0\nsysfs /sys sysfs rw 0 0\n';
const TRACEFS_LINE = 'tracefs /sys/kernel/tracing tracefs rw,nosuid,nodev,noexec,relatime 0 0\n';

/** A copy of `program` that claims another section (same fd: never close it). */
function withSpec(program: Program, sys: Sys, patch: Partial<ProgramSpec>): Program {
  return new Program(sys, program.fd, { ...program.spec, ...patch }, program.insnCount);
}

// ---------------------------------------------------------------------------------------
// unit: mounts

test('parseMounts reads the fstab format and undoes octal escapes', () => {
  assert.deepEqual(parseMounts('nodev /sys/kernel/tracing tracefs rw,relatime 0 0\n/dev/sda1 /mnt/my\\040disk ext4 rw 0 0\n\n'), [
    { source: 'nodev', target: '/sys/kernel/tracing', fstype: 'tracefs', options: 'rw,relatime' },
    { source: '/dev/sda1', target: '/mnt/my disk', fstype: 'ext4', options: 'rw' },
  ]);
});

test('tracefs: an existing mount is used, /sys/kernel/tracing preferred, and memoised', () => {
  const both =
    BASE_MOUNTS + 'tracefs /sys/kernel/debug/tracing tracefs rw 0 0\n' + TRACEFS_LINE;
  const sys = new FakeSys();
  const host = fakeHost({ '/proc/self/mounts': both });
  assert.equal(tracefsPath(sys, host), '/sys/kernel/tracing');
  assert.equal(tracefsPath(sys, host), '/sys/kernel/tracing');
  assert.equal(host.reads.length, 1, 'the mount table is read once per Sys');
  assert.deepEqual(sys.mounts, []);
  assert.deepEqual(host.notices, []);

  const debugOnly = fakeHost({ '/proc/self/mounts': BASE_MOUNTS + 'tracefs /sys/kernel/debug/tracing tracefs rw 0 0\n' });
  assert.equal(tracefsPath(new FakeSys(), debugOnly), '/sys/kernel/debug/tracing');
  // Only debugfs: its tracing automount is used when it has events.
  const debugfs = fakeHost({
    '/proc/self/mounts': BASE_MOUNTS + 'debugfs /sys/kernel/debug debugfs rw 0 0\n',
    '/sys/kernel/debug/tracing/events/sched/sched_switch/id': '300\n',
  });
  const s2 = new FakeSys();
  assert.equal(tracefsPath(s2, debugfs), '/sys/kernel/debug/tracing');
  assert.deepEqual(s2.mounts, []);
});

test('tracefs not mounted: root mounts it at /sys/kernel/tracing and says so once', () => {
  const sys = new FakeSys();
  const host = fakeHost({ '/proc/self/mounts': BASE_MOUNTS, '/sys/kernel/tracing/events/header_page': '' });
  assert.equal(tracefsPath(sys, host), '/sys/kernel/tracing');
  assert.equal(tracefsPath(sys, host), '/sys/kernel/tracing');
  assert.deepEqual(sys.mounts, [
    { source: 'nodev', target: '/sys/kernel/tracing', fstype: 'tracefs', flags: C.MS_NOSUID | C.MS_NODEV | C.MS_NOEXEC },
  ]);
  assert.deepEqual(host.notices, ['tsbpf: tracefs was not mounted: mounted it at /sys/kernel/tracing']);
});

test('tracefs not mounted and not root, or the mount refused: the error says what to run', () => {
  assert.throws(
    () => tracefsPath(new FakeSys(), fakeHost({ '/proc/self/mounts': BASE_MOUNTS }, false)),
    (e: unknown) =>
      e instanceof TsbpfError &&
      e.message === 'tracefs is not mounted, and tsbpf is not root so it cannot mount it: run `sudo mount -t tracefs nodev /sys/kernel/tracing`',
  );
  const sys = new FakeSys().failNext('mount', EPERM);
  const host = fakeHost({ '/proc/self/mounts': BASE_MOUNTS });
  assert.throws(
    () => tracefsPath(sys, host),
    (e: unknown) =>
      e instanceof TsbpfError &&
      e.message.startsWith('tracefs is not mounted, and mounting it at /sys/kernel/tracing failed: mount failed: EPERM (Operation not permitted)') &&
      e.message.endsWith('mount it yourself (`mount -t tracefs nodev /sys/kernel/tracing`) or at another place'),
  );
  assert.deepEqual(host.notices, []);
  // A failure is not memoised: the next call tries again (and here succeeds).
  host.exists = () => true;
  assert.equal(tracefsPath(sys, host), '/sys/kernel/tracing');
  assert.equal(sys.mounts.length, 1);
});

test('bpffs: found, or mounted at /sys/fs/bpf with type "bpf"', () => {
  const mounted = fakeHost({ '/proc/self/mounts': BASE_MOUNTS + 'bpf /sys/fs/bpf bpf rw,relatime,mode=700 0 0\n' });
  assert.equal(bpffsPath(new FakeSys(), mounted), '/sys/fs/bpf');
  const sys = new FakeSys();
  const host = fakeHost({ '/proc/self/mounts': BASE_MOUNTS });
  assert.equal(bpffsPath(sys, host), '/sys/fs/bpf');
  assert.deepEqual(sys.mounts.map((m) => [m.source, m.target, m.fstype]), [['bpf', '/sys/fs/bpf', 'bpf']]);
  assert.deepEqual(host.notices, ['tsbpf: bpffs was not mounted: mounted it at /sys/fs/bpf']);
  assert.throws(() => bpffsPath(new FakeSys(), fakeHost({ '/proc/self/mounts': BASE_MOUNTS }, false)), /run `sudo mount -t bpf bpf \/sys\/fs\/bpf`/);
});

// ---------------------------------------------------------------------------------------
// unit: attach on FakeSys

const tpHost = () =>
  fakeHost({
    '/proc/self/mounts': BASE_MOUNTS + TRACEFS_LINE,
    '/sys/kernel/tracing/events/sched/sched_process_exec/id': '317\n',
  });

test('tracepoint: perf event on the tracefs id, then a BPF_PERF_EVENT link; close closes both fds', () => {
  const sys = new FakeSys();
  using coll = Collection.load(fixture('tracepoint'), { sys });
  const prog = coll.program('on_exec');
  const before = new Set(sys.openFds);
  const link = attach(prog, { sys, host: tpHost() });
  assert.equal(link.kind, 'tracepoint');
  assert.equal(link.target, 'sched/sched_process_exec');
  assert.equal(link.bpfLink, true);
  const [attr, pid, cpu, group, flags] = sys.callsOf('perfEventOpen')[0]!;
  assert.deepEqual(attr, { type: C.PERF_TYPE_TRACEPOINT, config: 317n, samplePeriod: 1n, wakeupEvents: 1 });
  assert.deepEqual([pid, cpu, group, flags], [-1, 0, -1, C.PERF_FLAG_FD_CLOEXEC]);
  assert.deepEqual(sys.callsOf('linkCreate'), [[{ progFd: prog.fd, targetFd: link.perfFd, attachType: C.BPF_PERF_EVENT }]]);
  assert.deepEqual(sys.callsOf('ioctl'), [[link.perfFd, C.PERF_EVENT_IOC_ENABLE, 0]]);
  assert.deepEqual(link.info(), { type: C.BPF_LINK_TYPE_PERF_EVENT, id: link.info().id, progId: prog.info().id });
  assert.equal(sys.openFds.size, before.size + 2);
  link.close();
  link.close();
  assert.deepEqual(sys.openFds, before);
  assert.throws(() => link.info(), /closed/);
});

test('tracepoint on a kernel without perf links (EINVAL): ioctl SET_BPF + ENABLE on the perf fd', () => {
  const sys = new FakeSys();
  using coll = Collection.load(fixture('tracepoint'), { sys });
  const prog = coll.program('on_exec');
  const before = new Set(sys.openFds);
  sys.failNext('linkCreate', EINVAL);
  const link = attach(prog, { sys, host: tpHost() });
  assert.equal(link.bpfLink, false);
  assert.equal(link.fd, link.perfFd);
  assert.deepEqual(sys.callsOf('ioctl'), [
    [link.fd, C.PERF_EVENT_IOC_SET_BPF, prog.fd],
    [link.fd, C.PERF_EVENT_IOC_ENABLE, 0],
  ]);
  assert.throws(() => link.info(), /PERF_EVENT_IOC_SET_BPF/);
  link.close();
  assert.deepEqual(sys.openFds, before);

  // Any other failure is reported, naming program and target, and leaks no fd.
  sys.failNext('linkCreate', EPERM);
  assert.throws(
    () => attach(prog, { sys, host: tpHost() }),
    (e: unknown) =>
      e instanceof AttachError &&
      e.code === 'EPERM' &&
      e.message.startsWith('cannot attach program on_exec (section tp/sched/sched_process_exec) to tracepoint sched/sched_process_exec: bpf(BPF_LINK_CREATE) failed: EPERM'),
  );
  assert.deepEqual(sys.openFds, before);
});

test('raw_tp, tp_btf, fentry, lsm: BPF_RAW_TRACEPOINT_OPEN with the name, or NULL for BTF-typed programs', () => {
  const sys = new FakeSys();
  using coll = Collection.load(fixture('subprog'), { sys });
  const prog = coll.program('second');
  const raw = attach(prog, { sys });
  assert.equal(raw.kind, 'raw_tracepoint');
  assert.equal(raw.target, 'sys_exit');
  assert.equal(raw.info().type, C.BPF_LINK_TYPE_RAW_TRACEPOINT);
  raw.close();
  const other = attach(prog, { sys, target: 'sched_switch' });
  other.close();
  for (const [sectionPrefix, kind] of [['tp_btf', 'tp_btf'], ['fentry', 'tracing'], ['fexit', 'tracing'], ['fmod_ret', 'tracing'], ['lsm', 'lsm']] as const) {
    const l = attach(withSpec(prog, sys, { sectionPrefix, section: `${sectionPrefix}/x`, attachTarget: 'x' }), { sys });
    assert.equal(l.kind, kind);
    l.close();
  }
  assert.deepEqual(sys.callsOf('rawTracepointOpen'), [
    ['sys_exit', prog.fd], ['sched_switch', prog.fd], [null, prog.fd], [null, prog.fd], [null, prog.fd], [null, prog.fd], [null, prog.fd],
  ]);
  assert.throws(
    () => attach(withSpec(prog, sys, { sectionPrefix: 'fentry', section: 'fentry/a', attachTarget: 'a' }), { sys, target: 'b' }),
    /attaches where it was loaded for \(a\)/,
  );
  assert.throws(
    () => attach(withSpec(prog, sys, { sectionPrefix: 'raw_tp', section: 'raw_tp', attachTarget: '' }), { sys }),
    /section raw_tp names no attach target; pass \{ target \}/,
  );
  assert.throws(
    () => attach(withSpec(prog, sys, { sectionPrefix: 'sk_msg', section: 'sk_msg' }), { sys }),
    (e: unknown) => e instanceof TsbpfError && e.message === 'cannot attach program second: section sk_msg (sk_msg) is not supported by tsbpf attach yet',
  );
});

test('attachAll attaches every program; when one fails it detaches those already attached', () => {
  class FailThird extends FakeSys {
    n = 0;
    override rawTracepointOpen(name: string | null, progFd: number): number {
      if (++this.n === 3) this.failNext('rawTracepointOpen', EPERM);
      return super.rawTracepointOpen(name, progFd);
    }
  }
  const ok = new FakeSys();
  {
    using coll = Collection.load(fixture('subprog'), { sys: ok });
    const before = new Set(ok.openFds);
    const links = attachAll(coll, { sys: ok });
    assert.equal(links.size, 3);
    assert.deepEqual([...links].map((l) => [l.program.name, l.target]), [['calls', 'sys_enter'], ['second', 'sys_exit'], ['loop_sum', 'sched_switch']]);
    assert.equal(links.get('second').kind, 'raw_tracepoint');
    links.close();
    assert.deepEqual(ok.openFds, before);
  }
  const sys = new FailThird();
  using coll = Collection.load(fixture('subprog'), { sys });
  const before = new Set(sys.openFds);
  assert.throws(() => attachAll(coll, { sys }), (e: unknown) => e instanceof AttachError && /program loop_sum/.test(e.message));
  assert.deepEqual(sys.openFds, before, 'the two links made before the failure are closed');
});

test('kprobe: NotSupportedError without the kprobe PMU; with it, a perf event on the function', () => {
  const sys = new FakeSys();
  using coll = Collection.load(fixture('subprog'), { sys });
  const prog = coll.program('second');
  const kp = withSpec(prog, sys, { sectionPrefix: 'kprobe', section: 'kprobe/do_unlinkat', attachTarget: 'do_unlinkat' });
  assert.throws(
    () => attach(kp, { sys, host: fakeHost({}) }),
    (e: unknown) => e instanceof NotSupportedError &&
      e.message === 'cannot attach program second (section kprobe/do_unlinkat): kprobes: not supported by this kernel (kernel built without CONFIG_KPROBES)',
  );
  const host = fakeHost({
    '/sys/bus/event_source/devices/kprobe/type': '6\n',
    '/sys/bus/event_source/devices/kprobe/format/retprobe': 'config:0\n',
  });
  const l = attach(kp, { sys, host, target: 'do_unlinkat+0x10' });
  assert.equal(l.kind, 'kprobe');
  const kret = withSpec(prog, sys, { sectionPrefix: 'kretsyscall', section: 'kretsyscall/openat', attachTarget: 'openat' });
  const r = attach(kret, { sys, host });
  assert.equal(r.kind, 'kretprobe');
  const attrs = sys.callsOf('perfEventOpen').map(([a]) => a);
  const prefix = process.arch === 'arm64' ? '__arm64_sys_' : '__x64_sys_';
  assert.deepEqual(attrs, [
    { type: 6, config: 0n, path: 'do_unlinkat', config2: 0x10n },
    { type: 6, config: 1n, path: `${prefix}openat`, config2: 0n },
  ]);
  l.close();
  r.close();
});

// ---------------------------------------------------------------------------------------
// uprobe target resolution (pure, on binaries gcc builds here)

const PROBE_C = `
#include <stdlib.h>
__attribute__((noinline)) int tsbpf_probe_target(int x) { return x * 3 + 1; }
int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 0;
  long sum = 0;
  for (int i = 0; i < n; i++) sum += tsbpf_probe_target(i);
  return (int)(sum & 0x7f);
}
`;

const LIB_C = `
__attribute__((noinline)) int tsbpf_lib_fn(int x) { return x + 7; }
int tsbpf_lib_other(int x) { return tsbpf_lib_fn(x) * 2; }
`;

interface Built {
  dir: string;
  pie: string;
  nopie: string;
  lib: string;
}

let built: Built | undefined;
function build(): Built {
  if (built) return built;
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-uprobe-'));
  writeFileSync(join(dir, 'probe.c'), PROBE_C);
  writeFileSync(join(dir, 'lib.c'), LIB_C);
  const gcc = (args: string[]) => execFileSync('gcc', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  gcc(['-O0', '-g0', '-fPIE', '-pie', '-o', 'probe_pie', 'probe.c']);
  gcc(['-O0', '-g0', '-fno-pie', '-no-pie', '-o', 'probe_nopie', 'probe.c']);
  gcc(['-O0', '-shared', '-fPIC', '-o', 'libtsbpf.so', 'lib.c']);
  // Only .dynsym is left: the lookup must fall back to it.
  execFileSync('strip', ['--strip-all', join(dir, 'libtsbpf.so')]);
  built = { dir, pie: join(dir, 'probe_pie'), nopie: join(dir, 'probe_nopie'), lib: join(dir, 'libtsbpf.so') };
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return built;
}

/** The file offset of `name` as binutils sees it: st_value - sh_addr + sh_offset of its section. */
function binutilsOffset(path: string, name: string, dynamic = false): { value: number; offset: number } {
  const syms = execFileSync('readelf', ['-W', dynamic ? '--dyn-syms' : '-s', path], { encoding: 'utf8' });
  // Num: Value Size Type Bind Vis Ndx Name
  const row = syms
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .find((f) => f[7] === name && f[3] === 'FUNC' && f[6] !== 'UND');
  assert.ok(row, `readelf lists ${name} in ${path}`);
  const value = parseInt(row[1]!, 16);
  const ndx = Number(row[6]);
  const shdrs = execFileSync('readelf', ['-W', '-S', path], { encoding: 'utf8' });
  const m = new RegExp(`\\[\\s*${ndx}\\]\\s+\\S+\\s+\\S+\\s+([0-9a-f]+)\\s+([0-9a-f]+)`).exec(shdrs);
  assert.ok(m, `readelf shows section #${ndx}`);
  if (!dynamic) {
    const nm = execFileSync('nm', [path], { encoding: 'utf8' }).split('\n').find((l) => l.endsWith(` T ${name}`));
    assert.equal(parseInt(nm!.split(' ')[0]!, 16), value, 'nm and readelf agree');
  }
  return { value, offset: value - parseInt(m[1]!, 16) + parseInt(m[2]!, 16) };
}

const haveGcc = spawnSync('gcc', ['--version']).status === 0;

test('parseUprobeTarget: BINARY:FUNCTION[+OFFSET] and BINARY:0xOFFSET', () => {
  assert.deepEqual(parseUprobeTarget('/usr/bin/bash:readline'), { binary: '/usr/bin/bash', func: 'readline', offset: 0 });
  assert.deepEqual(parseUprobeTarget('libc.so.6:malloc+0x10'), { binary: 'libc.so.6', func: 'malloc', offset: 16 });
  assert.deepEqual(parseUprobeTarget('/a:b:0x1234'), { binary: '/a:b', func: '', offset: 0x1234 });
  assert.deepEqual(parseUprobeTarget('bash:12'), { binary: 'bash', func: '', offset: 12 });
  for (const bad of ['bash', ':readline', 'bash:', 'bash:f+x', 'bash:+4']) assert.throws(() => parseUprobeTarget(bad), TsbpfError, bad);
});

test('uprobe resolution finds the same file offset as readelf and nm (PIE, non-PIE, stripped .so)', { skip: !haveGcc && 'gcc is not installed' }, () => {
  const b = build();
  for (const path of [b.pie, b.nopie]) {
    const expected = binutilsOffset(path, 'tsbpf_probe_target');
    const elf = readBinary(path);
    const found = findFunction(elf, 'tsbpf_probe_target', path);
    assert.equal(found.table, '.symtab');
    assert.equal(found.symbol.value, expected.value);
    assert.equal(found.fileOffset, expected.offset);
    assert.deepEqual(resolveUprobe(`${path}:tsbpf_probe_target`), { path, offset: expected.offset, func: 'tsbpf_probe_target' });
    assert.deepEqual(resolveUprobe(`${path}:tsbpf_probe_target+4`), { path, offset: expected.offset + 4, func: 'tsbpf_probe_target' });
  }
  // Non-PIE: the address is far from the file offset, so the section arithmetic matters.
  const np = binutilsOffset(b.nopie, 'tsbpf_probe_target');
  assert.ok(np.value - np.offset >= 0x400000, `non-PIE value 0x${np.value.toString(16)} vs offset 0x${np.offset.toString(16)}`);

  const lib = readBinary(b.lib);
  assert.equal(lib.symbols.length, 0, 'stripped');
  const fn = findFunction(lib, 'tsbpf_lib_fn', b.lib);
  assert.equal(fn.table, '.dynsym');
  assert.equal(fn.fileOffset, binutilsOffset(b.lib, 'tsbpf_lib_fn', true).offset);
  // Versioned names in libc's .dynsym match their base name.
  const libc = resolveBinary('libc.so.6');
  assert.ok(resolveUprobe(`${libc}:malloc`).offset > 0);
});

test('uprobe errors: missing binary, bare name not in PATH, missing symbol, non-ELF file', { skip: !haveGcc && 'gcc is not installed' }, () => {
  const b = build();
  assert.throws(() => resolveUprobe('/nonexistent/tsbpf-nobin:main'), (e: unknown) =>
    e instanceof TsbpfError && e.message === 'uprobe binary /nonexistent/tsbpf-nobin does not exist (or is not a regular file)');
  assert.throws(() => resolveUprobe('tsbpf-no-such-program:main', { PATH: '/usr/bin:/bin' }), (e: unknown) =>
    e instanceof TsbpfError && e.message === 'uprobe binary tsbpf-no-such-program was not found in PATH (/usr/bin:/bin): give its absolute path');
  assert.equal(resolveBinary('true', { PATH: '/nonexistent:/usr/bin:/bin' }), '/usr/bin/true');
  assert.throws(() => resolveUprobe(`${b.pie}:tsbpf_no_such_function`), (e: unknown) =>
    e instanceof TsbpfError && e.message === `function tsbpf_no_such_function is not defined in uprobe binary ${b.pie}`);
  assert.throws(() => resolveUprobe(`${b.lib}:tsbpf_no_such_function`), /not defined in uprobe binary .*libtsbpf\.so \(the binary has no \.symtab: it is stripped/);
  const script = join(b.dir, 'script.sh');
  writeFileSync(script, '#!/bin/sh\necho hi\n');
  chmodSync(script, 0o755);
  assert.throws(() => resolveUprobe(`${script}:main`), (e: unknown) =>
    e instanceof TsbpfError && e.message === `uprobe binary ${script} is not a usable ELF file: ELF: not an ELF file (bad magic)`);
  const obj = join(b.dir, 'probe.o');
  execFileSync('gcc', ['-c', '-O0', '-o', obj, join(b.dir, 'probe.c')]);
  assert.throws(() => resolveUprobe(`${obj}:tsbpf_probe_target`), /is not an executable or shared library \(ELF type 1\)/);
});

// ---------------------------------------------------------------------------------------
// kernel

/** Every link id the kernel knows. */
function linkIds(sys: Sys): number[] {
  const ids: number[] = [];
  for (let id = sys.linkGetNextId(0); id !== null; id = sys.linkGetNextId(id)) ids.push(id);
  return ids;
}

/** Link infos of the links that hold program `progId`. */
function linksOfProgram(sys: Sys, progId: number) {
  const out = [];
  for (const id of linkIds(sys)) {
    let fd: number;
    try {
      fd = sys.linkGetFdById(id);
    } catch {
      continue; // freed meanwhile
    }
    try {
      const info = sys.linkGetInfo(fd);
      if (info.progId === progId) out.push(info);
    } finally {
      sys.close(fd);
    }
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `cond` holds (link freeing is RCU-delayed); fails after `ms`. */
async function eventually(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`${what}: still not true after ${ms} ms`);
    await sleep(20);
  }
}

const tracefsMounts = () => parseMounts(readFileSync('/proc/self/mounts', 'utf8')).filter((m) => m.fstype === 'tracefs').map((m) => m.target);

function spawnTrue(n: number): void {
  for (let i = 0; i < n; i++) {
    const r = spawnSync('/bin/true');
    assert.equal(r.status, 0);
  }
}

kernelTest('tracepoint: on_exec counts real execs while attached, and not after close; tracefs gets mounted', async () => {
  const sys = defaultSys();
  const mountedBefore = tracefsMounts();
  using coll = Collection.load(fixture('tracepoint'));
  const prog = coll.program('on_exec');
  const link = attach(prog);
  let closed = false;
  try {
    // tracefs is mounted now, where attach found (or put) it.
    const at = tracefsPath(sys);
    assert.ok(tracefsMounts().includes(at), `tracefs mounted at ${at}`);
    if (mountedBefore.length === 0) assert.equal(at, '/sys/kernel/tracing');

    assert.equal(link.kind, 'tracepoint');
    assert.equal(link.target, 'sched/sched_process_exec');
    // BPF perf links came in 5.15; before, the program is set on the perf event by ioctl.
    assert.equal(link.bpfLink, kernelAtLeast(5, 15), 'a BPF perf link where the kernel has them');
    const info = link.bpfLink ? link.info() : undefined;
    if (info) {
      assert.equal(info.type, C.BPF_LINK_TYPE_PERF_EVENT);
      assert.equal(info.progId, prog.info().id);
      assert.ok(linkIds(sys).includes(info.id));
      // The kernel takes a program once per tracepoint.
      assert.throws(() => attach(prog), (e: unknown) =>
        e instanceof AttachError && e.code === 'EEXIST' && /: the program is already attached there/.test(e.message));
    }

    const execs = coll.variable('execs');
    const before = execs.get() as bigint;
    spawnTrue(3);
    const during = execs.get() as bigint;
    assert.ok(during - before >= 3n, `execs went from ${before} to ${during} over 3 spawns`);

    link.close();
    closed = true;
    if (info) await eventually('link id gone from BPF_LINK_GET_NEXT_ID', () => !linkIds(sys).includes(info.id));
    const after = execs.get() as bigint;
    spawnTrue(3);
    assert.equal(execs.get(), after, 'no exec is counted after close');
  } finally {
    if (!closed) link.close();
  }
});

kernelTest('tracepoint errors: a missing tracepoint is named with the tracefs path', () => {
  const sys = defaultSys();
  using coll = Collection.load(fixture('tracepoint'));
  const prog = coll.program('on_exec');
  const tracefs = tracefsPath(sys);
  const missing = `tracepoint nosuch/event does not exist in this kernel (no ${tracefs}/events/nosuch/event/id)`;
  const expected = `cannot attach program on_exec (section ${prog.spec.section}): ${missing}`;
  assert.throws(() => attach(prog, { target: 'nosuch/event' }), (e: unknown) => e instanceof TsbpfError && e.message === expected);
  const copy = withSpec(prog, sys, { attachTarget: 'nosuch/event' });
  assert.throws(() => attach(copy), (e: unknown) => e instanceof TsbpfError && e.message === expected);
  assert.throws(() => attach(prog, { target: 'sched_process_exec' }), /is not "category\/name"/);
  assert.deepEqual(linksOfProgram(sys, prog.info().id), [], 'nothing left attached');
});

kernelTest('raw_tp: links exist for the program ids while attached and are gone after close', async () => {
  const sys = defaultSys();
  using coll = Collection.load(fixture('subprog'), { programs: ['calls', 'second'] });
  const second = coll.program('second');
  const calls = coll.program('calls');
  const l1 = attach(second);
  const l2 = attach(calls);
  const ids = { second: second.info().id, calls: calls.info().id };
  try {
    assert.equal(l1.kind, 'raw_tracepoint');
    assert.equal(l1.target, 'sys_exit');
    assert.equal(l2.target, 'sys_enter');
    for (const [l, progId] of [[l1, ids.second], [l2, ids.calls]] as const) {
      const found = linksOfProgram(sys, progId);
      assert.equal(found.length, 1);
      assert.deepEqual(found[0], { type: C.BPF_LINK_TYPE_RAW_TRACEPOINT, id: l.info().id, progId });
    }
  } finally {
    l1.close();
  }
  await eventually('second\'s raw tracepoint link is gone', () => linksOfProgram(sys, ids.second).length === 0);
  assert.equal(linksOfProgram(sys, ids.calls).length, 1, 'calls is still attached');
  l2.close();
  await eventually('calls\' raw tracepoint link is gone', () => linksOfProgram(sys, ids.calls).length === 0);

  // attachAll: every program, then all gone again.
  const all = attachAll(coll);
  assert.deepEqual([...all].map((l) => l.target).sort(), ['sys_enter', 'sys_exit']);
  assert.equal(linksOfProgram(sys, ids.second).length + linksOfProgram(sys, ids.calls).length, 2);
  all.close();
  await eventually('attachAll links are gone', () => linksOfProgram(sys, ids.second).length + linksOfProgram(sys, ids.calls).length === 0);
});

// A uprobe program, assembled by hand (no fixture has one): counts[0] += 1 on each hit.
function insn(code: number, dst: number, src: number, off: number, imm: number): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint8(0, code);
  v.setUint8(1, (src << 4) | dst);
  v.setInt16(2, off, true);
  v.setInt32(4, imm, true);
  return b;
}
const BPF_FUNC_map_lookup_elem = 1;
function counterProgram(mapFd: number): Uint8Array {
  return new Uint8Array(Buffer.concat([
    insn(C.BPF_ST | C.BPF_MEM | C.BPF_W, 10, 0, -4, 0), // *(u32 *)(r10 - 4) = 0
    insn(C.BPF_ALU64 | C.BPF_MOV | C.BPF_X, 2, 10, 0, 0), // r2 = r10
    insn(C.BPF_ALU64 | C.BPF_ADD | C.BPF_K, 2, 0, 0, -4), // r2 += -4
    insn(C.BPF_LD | C.BPF_DW | C.BPF_IMM, 1, C.BPF_PSEUDO_MAP_FD, 0, mapFd), // r1 = map ll
    insn(0, 0, 0, 0, 0),
    insn(C.BPF_JMP | C.BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),
    insn(C.BPF_JMP | C.BPF_JEQ | C.BPF_K, 0, 0, 2, 0), // if r0 == 0 goto +2
    insn(C.BPF_ALU64 | C.BPF_MOV | C.BPF_K, 1, 0, 0, 1), // r1 = 1
    insn(C.BPF_STX | C.BPF_ATOMIC | C.BPF_DW, 0, 1, 0, C.BPF_ADD), // lock *(u64 *)(r0 + 0) += r1
    insn(C.BPF_ALU64 | C.BPF_MOV | C.BPF_K, 0, 0, 0, 0), // r0 = 0
    insn(C.BPF_JMP | C.BPF_EXIT, 0, 0, 0, 0),
  ]));
}

function uprobeProgram(sys: Sys, prefix: 'uprobe' | 'uretprobe', target: string) {
  const mapFd = sys.mapCreate({ mapType: C.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 8, maxEntries: 1, mapName: 'tsbpf_hits' });
  const insns = counterProgram(mapFd);
  const fd = sys.progLoad({ progType: C.BPF_PROG_TYPE_KPROBE, insns, license: 'GPL', progName: 'tsbpf_hits' });
  const spec: ProgramSpec = {
    name: 'tsbpf_hits', section: `${prefix}/${target}`, insns, references: [], funcInfo: [], lineInfo: [], coreRelos: [],
    progType: C.BPF_PROG_TYPE_KPROBE, expectedAttachType: 0, attachTarget: target, sectionPrefix: prefix, flags: 0,
  };
  const program = new Program(sys, fd, spec, insns.length / 8);
  const hits = (): bigint => {
    const v = new Uint8Array(8);
    assert.ok(sys.mapLookupElem(mapFd, new Uint8Array(4), v));
    return new DataView(v.buffer).getBigUint64(0, true);
  };
  return { program, hits, [Symbol.dispose]: () => { program.close(); sys.close(mapFd); } };
}

kernelTest('uprobe and uretprobe: attached at the resolved offset, they fire once per call of the function', async () => {
  const sys = defaultSys();
  const b = build();
  for (const bin of [b.pie, b.nopie]) {
    for (const prefix of ['uprobe', 'uretprobe'] as const) {
      using p = uprobeProgram(sys, prefix, `${bin}:tsbpf_probe_target`);
      const link = attach(p.program);
      let progId = 0;
      try {
        assert.equal(link.kind, prefix);
        progId = p.program.info().id;
        assert.equal(link.bpfLink, kernelAtLeast(5, 15), 'a BPF perf link where the kernel has them (5.15)');
        if (link.bpfLink) {
          const info = link.info();
          assert.deepEqual(info, { type: C.BPF_LINK_TYPE_PERF_EVENT, id: info.id, progId });
        }
        assert.equal(spawnSync(bin, ['7']).status, (3 * 21 + 7) & 0x7f, 'the program ran');
        assert.equal(p.hits(), 7n, `${prefix} on ${bin}: 7 calls`);
        assert.equal(spawnSync(bin, ['0']).status, 0);
        assert.equal(p.hits(), 7n, 'no call, no hit');
      } finally {
        link.close();
      }
      spawnSync(bin, ['5']);
      assert.equal(p.hits(), 7n, 'detached on close');
      await eventually('uprobe link gone', () => linksOfProgram(sys, progId).length === 0);
    }
  }
});

kernelTest('uprobe PMU: a program-less perf event opens at the resolved offset; the retprobe bit comes from sysfs', () => {
  const sys = defaultSys();
  const b = build();
  const loc = resolveUprobe(`${b.pie}:tsbpf_probe_target`);
  const dev = '/sys/bus/event_source/devices/uprobe';
  const type = Number(readFileSync(`${dev}/type`, 'utf8'));
  const bit = Number(/^config:(\d+)$/.exec(readFileSync(`${dev}/format/retprobe`, 'utf8').trim())![1]);
  for (const config of [0n, 1n << BigInt(bit)]) {
    const fd = sys.perfEventOpen({ type, config, path: loc.path, config2: BigInt(loc.offset) }, -1, 0, -1, C.PERF_FLAG_FD_CLOEXEC);
    assert.ok(fd > 2);
    sys.close(fd);
  }
});

kernelTest('attach errors on this kernel: uprobe binary and symbol, kprobes', () => {
  const sys = defaultSys();
  const b = build();
  using coll = Collection.load(fixture('subprog'), { programs: ['second'] });
  const prog = coll.program('second');
  const asUprobe = (target: string) => withSpec(prog, sys, { sectionPrefix: 'uprobe', section: `uprobe/${target}`, attachTarget: target });
  assert.throws(() => attach(asUprobe('/nonexistent/tsbpf-nobin:main')), /uprobe binary \/nonexistent\/tsbpf-nobin does not exist/);
  assert.throws(() => attach(asUprobe(`${b.pie}:tsbpf_nope`)), (e: unknown) =>
    e instanceof TsbpfError && e.message === `cannot attach program second (section uprobe/${b.pie}:tsbpf_nope): function tsbpf_nope is not defined in uprobe binary ${b.pie}`);
  // A raw_tp program at a real uprobe: the kernel refuses the link, and attach says who and where.
  assert.throws(() => attach(asUprobe(`${b.pie}:tsbpf_probe_target`)), (e: unknown) =>
    e instanceof AttachError && e.message.startsWith(`cannot attach program second (section uprobe/${b.pie}:tsbpf_probe_target) to uprobe ${b.pie}:tsbpf_probe_target (file offset 0x`));

  const kp = withSpec(prog, sys, { sectionPrefix: 'kprobe', section: 'kprobe/do_unlinkat', attachTarget: 'do_unlinkat' });
  let kprobes = true;
  try {
    readFileSync('/sys/bus/event_source/devices/kprobe/type');
  } catch {
    kprobes = false;
  }
  if (kprobes) {
    // A kernel with kprobes refuses a function it does not have.
    assert.throws(() => attach(kp, { target: 'tsbpf_no_such_kernel_function' }), AttachError);
  } else {
    assert.throws(() => attach(kp), (e: unknown) =>
      e instanceof NotSupportedError &&
      e.message === 'cannot attach program second (section kprobe/do_unlinkat): kprobes: not supported by this kernel (kernel built without CONFIG_KPROBES)');
  }
});
