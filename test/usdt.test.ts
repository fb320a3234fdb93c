/**
 * USDT: .note.stapsdt parsing and argument specs (pure, exact bytes), and a kernel test
 * that builds a <sys/sdt.h> binary with gcc, attaches a usdt.bpf.h program to its probes
 * and checks the arguments, hits, pid and semaphore the kernel saw.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { TsbpfError } from '../src/errors.js';
import { parseElf } from '../src/elf/index.js';
import { parseStapsdtNotes, usdtLocations } from '../src/elf/notes.js';
import { attach, encodeUsdtSpec, parseUsdtArg, parseUsdtArgs, parseUsdtTarget } from '../src/link/index.js';
import { Collection } from '../src/loader/index.js';
import { loadObjectFile } from '../src/object/index.js';
import { kernelAtLeast } from './guest.js';
import { allGone, kernelTest, liveIds } from './kernel.js';
import { ROOT } from './paths.js';
import { FakeSys } from '../src/sys/fake.js';
import { EINVAL } from '../src/sys/errors.js';
import * as C from '../src/sys/constants.js';
import type { Host } from '../src/link/index.js';

/** One stapsdt note, laid out by hand: namesz, descsz, type 3, "stapsdt\0", descriptor. */
function note(pc: bigint, base: bigint, sem: bigint, strs: string[]): Buffer {
  const desc = Buffer.concat([Buffer.alloc(24), Buffer.from(strs.map((s) => s + '\0').join(''))]);
  desc.writeBigUInt64LE(pc, 0);
  desc.writeBigUInt64LE(base, 8);
  desc.writeBigUInt64LE(sem, 16);
  const head = Buffer.alloc(12);
  head.writeUInt32LE(8, 0);
  head.writeUInt32LE(desc.length, 4);
  head.writeUInt32LE(3, 8);
  const pad = Buffer.alloc((4 - (desc.length % 4)) % 4);
  return Buffer.concat([head, Buffer.from('stapsdt\0'), desc, pad]);
}

test('parseStapsdtNotes: every field of each note, other notes skipped', () => {
  const other = Buffer.alloc(12 + 4 + 4);
  other.writeUInt32LE(4, 0);
  other.writeUInt32LE(4, 4);
  other.writeUInt32LE(1, 8);
  other.write('GNU\0', 12);
  const bytes = Buffer.concat([
    note(0x10bfn, 0x2015n, 0x402an, ['tsbpf', 'args', '-4@%eax -8@%rbx 8@%rbp']),
    other,
    note(0x1234n, 0x2015n, 0n, ['p', 'noargs', '']),
  ]);
  assert.deepEqual(parseStapsdtNotes(bytes), [
    { provider: 'tsbpf', name: 'args', pc: 0x10bfn, base: 0x2015n, semaphore: 0x402an, args: '-4@%eax -8@%rbx 8@%rbp' },
    { provider: 'p', name: 'noargs', pc: 0x1234n, base: 0x2015n, semaphore: 0n, args: '' },
  ]);
  assert.throws(() => parseStapsdtNotes(bytes.subarray(0, 40)), /runs past the section/);
});

test('parseUsdtArg: x86-64 specs -> usdt.bpf.h arg type, value offset, pt_regs offset, sign, shift', () => {
  assert.deepEqual(parseUsdtArg('-4@%eax'), { type: 1, valOff: 0n, regOff: 80, signed: true, bitshift: 32 });
  assert.deepEqual(parseUsdtArg('8@%rbp'), { type: 1, valOff: 0n, regOff: 32, signed: false, bitshift: 0 });
  assert.deepEqual(parseUsdtArg('8@-8(%rbp)'), { type: 2, valOff: 0xfffffffffffffff8n, regOff: 32, signed: false, bitshift: 0 });
  assert.deepEqual(parseUsdtArg('2@(%rdi)'), { type: 2, valOff: 0n, regOff: 112, signed: false, bitshift: 48 });
  assert.deepEqual(parseUsdtArg('-1@%r9b'), { type: 1, valOff: 0n, regOff: 64, signed: true, bitshift: 56 });
  assert.deepEqual(parseUsdtArg('-4@$5'), { type: 0, valOff: 5n, regOff: 0, signed: true, bitshift: 32 });
  assert.deepEqual(parseUsdtArg('-8@$-3'), { type: 0, valOff: 0xfffffffffffffffdn, regOff: 0, signed: true, bitshift: 0 });
  assert.throws(() => parseUsdtArg('3@%eax'), /SIZE 1, 2, 4 or 8/);
  assert.throws(() => parseUsdtArg('4@%xmm0'), /register %xmm0/);
  assert.throws(() => parseUsdtArg('8@8(%rax,%rbx,2)'), /index registers/);
  assert.equal(parseUsdtArgs('').length, 0);
  assert.throws(() => parseUsdtArgs(Array(13).fill('4@%eax').join(' ')), /at most 12/);
});

test('encodeUsdtSpec: struct __bpf_usdt_spec bytes (16-byte arg specs, cookie at 192, arg_cnt at 200)', () => {
  const b = Buffer.from(encodeUsdtSpec(parseUsdtArgs('-4@%eax 8@-8(%rbp)'), 0x77n));
  assert.equal(b.length, 208);
  assert.equal(b.subarray(0, 16).toString('hex'), '0000000000000000' + '01000000' + '5000' + '01' + '20');
  assert.equal(b.subarray(16, 32).toString('hex'), 'f8ffffffffffffff' + '02000000' + '2000' + '00' + '00');
  assert.ok(b.subarray(32, 192).every((x) => x === 0));
  assert.equal(b.readBigUInt64LE(192), 0x77n);
  assert.equal(b.readInt16LE(200), 2);
});

test('parseUsdtTarget: BINARY:PROVIDER:NAME', () => {
  assert.deepEqual(parseUsdtTarget('./app:tsbpf:args'), { binary: './app', provider: 'tsbpf', name: 'args' });
  assert.throws(() => parseUsdtTarget('./app:args'), (e: Error) => e instanceof TsbpfError && /not BINARY:PROVIDER:NAME/.test(e.message));
});

function buildTarget(): { dir: string; bin: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-usdt-'));
  const bin = join(dir, 'usdt_target');
  execFileSync('gcc', ['-O2', '-o', bin, join(ROOT, 'test', 'progs', 'usdt_target.c')], { stdio: ['ignore', 'pipe', 'pipe'] });
  return { dir, bin };
}

test('usdtLocations on a gcc-built binary: the probes readelf -n lists, at their file offsets', () => {
  const { bin } = buildTarget();
  const bytes = readFileSync(bin);
  const elf = parseElf(bytes, { anyElf: true });
  const locs = usdtLocations(elf);
  // readelf is the independent account of the notes.
  const re = execFileSync('readelf', ['-n', bin], { encoding: 'utf8' });
  const listed = [...re.matchAll(/Provider: (\S+)\s+Name: (\S+)\s+Location: (0x[0-9a-f]+), Base: (0x[0-9a-f]+), Semaphore: (0x[0-9a-f]+)\s+Arguments: ([^\n]*)/g)];
  assert.equal(listed.length, 4);
  assert.deepEqual(
    locs.map((l) => [l.provider, l.name, l.pc, l.base, l.semaphore, l.args]),
    listed.map((m) => [m[1], m[2], BigInt(m[3]!), BigInt(m[4]!), BigInt(m[5]!), m[6]!.trim()]),
  );
  assert.deepEqual(locs.map((l) => l.name).sort(), ['args', 'sem', 'twice', 'twice']);
  const twice = locs.filter((l) => l.name === 'twice');
  assert.notEqual(twice[0]!.fileOffset, twice[1]!.fileOffset);
  assert.equal(twice[0]!.semaphoreOffset, twice[1]!.semaphoreOffset);
  // A probe site is a nop; the semaphores start at 0 in the file.
  for (const l of locs) {
    assert.equal(bytes[l.fileOffset], 0x90);
    assert.equal(bytes.readUInt16LE(l.semaphoreOffset), 0);
  }
});

const perfFds = (): number =>
  readdirSync('/proc/self/fd').filter((f) => {
    try {
      return readlinkSync(`/proc/self/fd/${f}`) === 'anon_inode:[perf_event]';
    } catch {
      return false;
    }
  }).length;

kernelTest('usdt: args, hits, pid and semaphore through usdt.bpf.h; nothing left after close', async () => {
  const { dir, bin } = buildTarget();
  const src = join(dir, 'usdt_args.bpf.c');
  writeFileSync(src, readFileSync(join(ROOT, 'test', 'progs', 'usdt_args.bpf.c'), 'utf8').replace('@BINARY@', bin));
  const obj = join(dir, 'usdt_args.bpf.o');
  // usdt.bpf.h includes <linux/errno.h>, whose <asm/errno.h> lives in the multiarch dir.
  const multiarch = execFileSync('gcc', ['-print-multiarch'], { encoding: 'utf8' }).trim();
  execFileSync('clang', ['-g', '-O2', '-target', 'bpf', '-D__TARGET_ARCH_x86', `-I${join(ROOT, 'bpf', 'include')}`, '-idirafter', `/usr/include/${multiarch}`, '-c', src, '-o', obj], { stdio: ['ignore', 'pipe', 'pipe'] });
  const coll = Collection.load(loadObjectFile(obj));
  try {
    assert.throws(
      () => attach(coll.program('on_sem'), { target: `${bin}:tsbpf:sem` }),
      (e: Error) => e instanceof TsbpfError && e.message === 'cannot attach program on_sem (section usdt): USDT needs the program\'s collection (its __bpf_usdt_specs map): attach with attachAll() or AttachOptions.collection',
    );
    assert.throws(
      () => attach(coll.program('on_sem'), { collection: coll, target: `${bin}:tsbpf:nosuch` }),
      (e: Error) => e instanceof TsbpfError && e.message === `cannot attach program on_sem (section usdt): ${bin} has no USDT probe tsbpf:nosuch`,
    );
    // Without BPF cookies (before 5.15) usdt.bpf.h finds a spec by the probe's address,
    // which only a pid makes known: attach to a target that waits for a line first.
    const cookies = kernelAtLeast(5, 15);
    let waiting: ReturnType<typeof spawn> | undefined;
    if (!cookies) {
      assert.throws(
        () => attach(coll.program('on_args'), { collection: coll }),
        (e: Error) => e instanceof TsbpfError && e.message === `cannot attach program on_args (section ${coll.program('on_args').spec.section}): this kernel has no BPF cookies (Linux < 5.15), so USDT needs a pid (AttachOptions.pid) to key specs by address`,
      );
      waiting = spawn(bin, ['3', 'wait'], { stdio: ['pipe', 'pipe', 'inherit'] });
    }
    const pid = waiting ? { pid: waiting.pid! } : {};
    const perfBefore = perfFds();
    const onArgs = attach(coll.program('on_args'), { collection: coll, ...pid });
    const onSem = attach(coll.program('on_sem'), { collection: coll, target: `${bin}:tsbpf:sem`, ...pid });
    const onTwice = attach(coll.program('on_twice'), { collection: coll, target: `${bin}:tsbpf:twice`, ...pid });
    assert.equal(onArgs.kind, 'usdt');
    assert.equal(onTwice.target, `${bin}:tsbpf:twice (2 locations)`);
    assert.equal(perfFds(), perfBefore + 4);
    const run = (n: number) => execFileSync(bin, [String(n)], { encoding: 'utf8' });
    let child: { pid: number; status: number | null; stdout: string };
    if (waiting) {
      let stdout = '';
      waiting.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      waiting.stdin!.end('go\n');
      const [status] = (await once(waiting, 'exit')) as [number | null];
      child = { pid: waiting.pid!, status, stdout };
    } else {
      const r = spawnSync(bin, ['3'], { encoding: 'utf8' });
      child = { pid: r.pid!, status: r.status, stdout: r.stdout };
    }
    assert.equal(child.status, 0);
    // The kernel's ref counter set both semaphores in the process while attached.
    assert.equal(child.stdout, 'sem=1\nsem=1\nsem=1\n');
    const u32 = (n: number) => {
      const k = Buffer.alloc(4);
      k.writeUInt32LE(n);
      return k;
    };
    const hits = coll.map('hits');
    const count = (i: number) => Buffer.from(hits.lookupBytes(u32(i))!).readBigUInt64LE(0);
    assert.equal(count(0), 3n);
    assert.equal(count(1), 3n);
    // Each round hits both locations once: 1000+i and 2000+i, summed.
    assert.equal(count(2), (1000n + 2000n) * 3n + 2n * (0n + 1n + 2n));
    const recs = coll.map('recs');
    for (let i = 0; i < 3; i++) {
      const r = Buffer.from(recs.lookupBytes(u32(i))!);
      assert.equal(r.readUInt32LE(0), child.pid);
      assert.equal(r.readInt32LE(4), i - 7);
      assert.equal(r.readBigInt64LE(8), -(1n << 40n) + BigInt(i));
      assert.equal(r.subarray(16, 32).toString('latin1').replace(/\0+$/, ''), `tsbpf-${i}`);
    }
    const semv = coll.map('semv');
    assert.deepEqual([0, 1, 2].map((i) => Buffer.from(semv.lookupBytes(u32(i))!).readBigInt64LE(0)), [100n, 101n, 102n]);
    const progIds = ['on_args', 'on_sem', 'on_twice'].map((n) => coll.program(n).info().id);
    const links = liveIds('link', (l) => progIds.includes(l.progId ?? -1));
    assert.equal(links.length, cookies ? 4 : 0, 'one BPF perf link per location, where the kernel has them');
    onArgs.close();
    onSem.close();
    onTwice.close();
    assert.equal(perfFds(), perfBefore);
    assert.ok(await allGone('link', links));
    // Detached: the semaphores stay 0 and no more hits are counted.
    assert.equal(run(2), 'sem=0\nsem=0\n');
    assert.equal(count(0), 3n);
    assert.equal(count(1), 3n);
    assert.equal(count(2), 9006n);
  } finally {
    coll.close();
  }
});

const uprobeHost: Host = {
  readFile: (path) => {
    if (path === '/sys/bus/event_source/devices/uprobe/type') return '9\n';
    throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  },
  exists: (path) => path.startsWith('/sys/bus/event_source/devices/uprobe'),
  isRoot: () => true,
  notice: () => {},
};

test('usdt on FakeSys: a uprobe per location at its file offset with ref_ctr_offset, spec id as cookie, spec written', () => {
  const { bin } = buildTarget();
  const locs = usdtLocations(parseElf(readFileSync(bin), { anyElf: true }));
  const sys = new FakeSys();
  using coll = Collection.load(loadObjectFile(join(ROOT, 'testdata', 'corpus', 'usdt.bpf.o')), { sys });
  const prog = coll.program('on_probe');
  const before = new Set(sys.openFds);
  const a = attach(prog, { sys, host: uprobeHost, collection: coll, target: `${bin}:tsbpf:args` });
  const b = attach(prog, { sys, host: uprobeHost, collection: coll, target: `${bin}:tsbpf:sem` });
  // One Link for both locations of tsbpf:twice: two perf events, two BPF links, ids 2 and 3.
  const two = attach(coll.program('on_probe'), { sys, host: uprobeHost, collection: coll, target: `${bin}:tsbpf:twice` });
  assert.equal(two.target, `${bin}:tsbpf:twice (2 locations)`);
  assert.equal(sys.callsOf('perfEventOpen').length, 4);
  assert.deepEqual(sys.callsOf('linkCreate').slice(2).map(([l]) => l.bpfCookie), [2n, 3n]);
  two.close();
  const opens = sys.callsOf('perfEventOpen').slice(0, 2);
  assert.deepEqual(
    opens.map(([attr, pid, cpu]) => [attr.type, attr.config, attr.path, attr.config2, pid, cpu]),
    locs.filter((l) => l.name !== 'twice').map((l) => [9, BigInt(l.semaphoreOffset) << 32n, bin, BigInt(l.fileOffset), -1, 0]),
  );
  assert.deepEqual(sys.callsOf('linkCreate').slice(0, 2).map(([l]) => [l.attachType, l.bpfCookie]), [
    [C.BPF_PERF_EVENT, 0n],
    [C.BPF_PERF_EVENT, 1n],
  ]);
  const key = (n: number) => Buffer.from(new Uint32Array([n]).buffer);
  const specs = coll.map('__bpf_usdt_specs');
  assert.deepEqual(Buffer.from(specs.lookupBytes(key(0))!), Buffer.from(encodeUsdtSpec(parseUsdtArgs(locs.find((l) => l.name === 'args')!.args))));
  assert.deepEqual(Buffer.from(specs.lookupBytes(key(1))!), Buffer.from(encodeUsdtSpec(parseUsdtArgs(locs.find((l) => l.name === 'sem')!.args))));
  // The three specs gcc wrote for tsbpf:args: an int, a long and a pointer, in registers.
  assert.match(locs.find((l) => l.name === 'args')!.args, /^-4@%\w+ -8@%\w+ 8@%\w+$/);
  a.close();
  b.close();
  assert.deepEqual(sys.openFds, before);

  // Without perf links there are no cookies: only a pid makes the probe's IP known.
  sys.failNext('linkCreate', EINVAL);
  assert.throws(
    () => attach(prog, { sys, host: uprobeHost, collection: coll, target: `${bin}:tsbpf:args` }),
    (e: Error) =>
      e.message ===
      'cannot attach program on_probe (section usdt): this kernel has no BPF cookies (Linux < 5.15), so USDT needs a pid (AttachOptions.pid) to key specs by address',
  );
  assert.deepEqual(sys.openFds, before);
  // The failed attach gave its spec id back: the next one gets id 0 again.
  attach(prog, { sys, host: uprobeHost, collection: coll, target: `${bin}:tsbpf:args` }).close();
  assert.equal(sys.callsOf('linkCreate').at(-1)![0].bpfCookie, 0n);
});
