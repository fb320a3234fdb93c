/**
 * Externs (.kconfig, .ksyms, kfuncs): parsing and BTF rewriting without a kernel, then
 * the corpus objects loaded into the running kernel, their outputs compared with
 * uname -r, /proc/config.gz (parsed here independently), /proc/kallsyms and the process
 * table, and with what libbpf (bpftool prog loadall) makes of the same objects.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { test } from 'node:test';
import { dumpRaw, encodeBtf, kernelBtf, parseBtf, Btf, StringTable, BTF_VAR_GLOBAL_EXTERN, BTF_FUNC_EXTERN, type Datasec } from '../src/btf/index.js';
import { Collection } from '../src/loader/index.js';
import { kernelVersion, patchExterns, resolveExterns } from '../src/loader/externs.js';
import {
  linkProgram, loadObjectFile, parseKconfig, parseU64, setKconfigValue, type KconfigExtern, type ObjectSpec,
} from '../src/object/index.js';
import { defaultSys } from '../src/sys/index.js';
import { FakeSys } from '../src/sys/fake.js';
import * as C from '../src/sys/constants.js';
import { kernelTest } from './kernel.js';
import { ROOT } from './paths.js';
import { throwsParse, throwsTsbpf } from './throws.js';

const corpus = (name: string) => join(ROOT, 'testdata', 'corpus', `${name}.bpf.o`);
const load = (name: string) => loadObjectFile(corpus(name));
const BPFTOOL = existsSync('/usr/sbin/bpftool') ? '/usr/sbin/bpftool' : 'bpftool';

// ---------------------------------------------------------------------------------------
// Parsing and BTF rewriting (no kernel)

test('kconfig.bpf.o: externs collected with libbpf\'s layout, .kconfig map read-only and mmapable', () => {
  const spec = load('kconfig');
  const kc = spec.externs.filter((e): e is KconfigExtern => e.kind === 'kconfig');
  assert.equal(kc.length, 16);
  // libbpf's order: alignment descending, then size, then name; offsets aligned.
  const byName = Object.fromEntries(kc.map((e) => [e.name, e]));
  assert.deepEqual(
    kc.map((e) => [e.name, e.offset]),
    [
      ['CONFIG_ILLEGAL_POINTER_VALUE', 0], ['CONFIG_BPF_JIT', 8], ['CONFIG_HZ', 12], ['CONFIG_MODULES', 16],
      ['CONFIG_PHYSICAL_START', 20], ['CONFIG_TSBPF_NO_SUCH_OPTION', 24], ['LINUX_KERNEL_VERSION', 28],
      ['LINUX_TSBPF_UNKNOWN', 32], ['CONFIG_BPF_EVENTS', 36], ['CONFIG_BPF_SYSCALL', 37], ['CONFIG_KPROBES', 38],
      ['CONFIG_LOG_BUF_SHIFT', 39], ['LINUX_HAS_BPF_COOKIE', 40], ['LINUX_HAS_SYSCALL_WRAPPER', 41],
      ['CONFIG_DEFAULT_HOSTNAME', 42], ['CONFIG_LOCALVERSION', 46],
    ],
  );
  assert.equal(byName.CONFIG_BPF_JIT!.type, 'tristate');
  assert.equal(byName.CONFIG_BPF_SYSCALL!.type, 'bool');
  assert.equal(byName.CONFIG_BPF_EVENTS!.type, 'char');
  assert.equal(byName.CONFIG_LOCALVERSION!.type, 'char_array');
  assert.equal(byName.CONFIG_HZ!.signed, true);
  assert.equal(byName.CONFIG_PHYSICAL_START!.signed, false);
  assert.deepEqual(kc.filter((e) => e.weak).map((e) => e.name).sort(), ['CONFIG_KPROBES', 'CONFIG_MODULES', 'CONFIG_TSBPF_NO_SUCH_OPTION', 'LINUX_TSBPF_UNKNOWN']);

  const map = spec.maps.find((m) => m.name === 'kconfig.kconfig');
  assert.ok(map, `maps: ${spec.maps.map((m) => m.name).join(', ')}`);
  assert.equal(map.valueSize, 78);
  assert.equal(map.flags, C.BPF_F_RDONLY_PROG | C.BPF_F_MMAPABLE);
  assert.equal(map.data?.readonly, true);
  const sec = spec.btf.type(map.valueTypeId) as Datasec;
  assert.equal(sec.name, '.kconfig');
  assert.equal(sec.size, 78);
  assert.deepEqual(sec.vars.map((v) => [spec.btf.type(v.type).name, v.offset, v.size]), kc.map((e) => [e.name, e.offset, e.size]));
});

test('extern BTF is rewritten for the kernel: no extern VAR or FUNC left, .ksyms as 4-byte ints', () => {
  for (const name of ['kconfig', 'ksyms', 'ksym_exists', 'ksym_typed', 'externs_unused']) {
    const spec = load(name);
    for (const t of spec.btf.types) {
      if (t.kind === 'var') assert.notEqual(t.linkage, BTF_VAR_GLOBAL_EXTERN, `${name}: VAR ${t.name}`);
      if (t.kind === 'func') assert.notEqual(t.linkage, BTF_FUNC_EXTERN, `${name}: FUNC ${t.name}`);
    }
    // What the kernel will read is what we encode.
    const again = parseBtf(encodeBtf(spec.btf));
    assert.equal(again.count, spec.btf.count);
  }
  const spec = load('ksyms');
  const ksyms = spec.btf.type(spec.btf.idByName('.ksyms', 'datasec')!) as Datasec;
  const dummy = spec.btf.idByName('dummy_ksym', 'var')!;
  assert.ok(dummy);
  assert.equal(ksyms.size, ksyms.vars.length * 4);
  assert.deepEqual(ksyms.vars.map((v, i) => [v.offset, v.size]), ksyms.vars.map((_, i) => [i * 4, 4]));
  // kfuncs' slots hold the dummy VAR, variables keep their own VAR (now an int).
  assert.equal(ksyms.vars.filter((v) => v.type === dummy).length, 4);
  assert.deepEqual(
    spec.externs.map((e) => [e.name, e.kind === 'ksym' ? e.ksym : e.type, e.weak]),
    [
      ['bpf_rcu_read_lock', 'func', false], ['bpf_rcu_read_unlock', 'func', false], ['bpf_task_from_pid', 'func', false],
      ['bpf_task_release', 'func', false], ['schedule', 'typeless', false], ['tsbpf_no_such_symbol', 'typeless', true],
    ],
  );
});

test('an extern without BTF, or in another section, is a one-line ParseError', () => {
  const spec = load('externs_unused');
  assert.equal(spec.externs.length, 2);
  // Drop the extern VAR from BTF: the ELF symbol no longer has a declaration.
  const bytes = readFileSync(corpus('externs_unused'));
  const idx = bytes.indexOf(Buffer.from('CONFIG_TSBPF_NEVER_SET\0'), bytes.indexOf(Buffer.from([0x9f, 0xeb])));
  const mutated = Buffer.from(bytes);
  mutated.write('X', idx); // the BTF name becomes XONFIG_..., the ELF symbol stays
  throwsParse(() => loadObjectFileFrom(mutated, 'externs_unused'), /extern CONFIG_TSBPF_NEVER_SET has no extern VAR or FUNC in BTF/);
  // Rename the DATASEC: externs only live in .kconfig and .ksyms.
  const sec = Buffer.from(bytes);
  sec.write('.kconfiX', sec.indexOf(Buffer.from('.kconfig\0'), bytes.indexOf(Buffer.from([0x9f, 0xeb]))));
  throwsParse(() => loadObjectFileFrom(sec, 'externs_unused'), /extern CONFIG_TSBPF_\w+ is in section \.kconfiX: only \.kconfig and \.ksyms externs exist/);
});

function loadObjectFileFrom(bytes: Uint8Array, name: string): ObjectSpec {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-ext-'));
  try {
    const p = join(dir, `${name}.bpf.o`);
    writeFileSync(p, bytes);
    return loadObjectFile(p);
  } finally {
    rmSync(dir, { recursive: true });
  }
}

const kext = (type: KconfigExtern['type'], size: number, signed = false): KconfigExtern =>
  ({ kind: 'kconfig', name: 'CONFIG_T', weak: false, btfId: 1, type, typeId: 1, size, align: Math.min(size, 8), signed, offset: 0 });

function store(e: KconfigExtern, value: string): string | number | bigint {
  const buf = new Uint8Array(e.size).fill(0xaa);
  const why = setKconfigValue(e, value, new DataView(buf.buffer));
  if (why) return why;
  const v = new DataView(buf.buffer);
  if (e.type === 'char_array') return Buffer.from(buf).toString('latin1');
  return e.size === 8 ? v.getBigUint64(0, true) : e.size === 4 ? v.getUint32(0, true) : e.size === 2 ? v.getUint16(0, true) : v.getUint8(0);
}

test('config values are stored as libbpf stores them, with its range checks', () => {
  assert.equal(store(kext('bool', 1), 'y'), 1);
  assert.equal(store(kext('bool', 1), 'n'), 0);
  assert.match(String(store(kext('bool', 1), 'm')), /implies tristate or char/);
  assert.equal(store(kext('bool', 1), '1'), "value '1' implies an integer type, not bool");
  assert.equal(store(kext('tristate', 4), 'y'), 1);
  assert.equal(store(kext('tristate', 4), 'm'), 2);
  assert.equal(store(kext('tristate', 4), 'n'), 0);
  assert.equal(store(kext('char', 1), 'm'), 'm'.charCodeAt(0));
  assert.equal(store(kext('char', 1), '65'), 65);
  assert.match(String(store(kext('int', 4), 'y')), /implies bool, tristate or char/);
  assert.equal(store(kext('int', 4, true), '250'), 250);
  assert.equal(store(kext('int', 4, true), '-1'), 0xffffffff);
  assert.equal(store(kext('int', 4, true), '0x7fffffff'), 0x7fffffff);
  assert.match(String(store(kext('int', 4, true), '0x80000000')), /does not fit in 4 signed bytes/);
  assert.equal(store(kext('int', 4), '0xffffffff'), 0xffffffff);
  assert.match(String(store(kext('int', 4), '0x100000000')), /does not fit in 4 bytes/);
  assert.match(String(store(kext('int', 4), '-1')), /does not fit/);
  assert.equal(store(kext('char', 1, true), '-128'), 0x80);
  assert.match(String(store(kext('char', 1, true), '-129')), /does not fit/);
  assert.match(String(store(kext('char', 1, false), '256')), /does not fit in 1 bytes/);
  assert.equal(store(kext('int', 2), '010'), 8); // octal, as strtoull base 0
  assert.equal(store(kext('int', 8), '0xdead000000000000'), 0xdead000000000000n);
  assert.match(String(store(kext('int', 8), '0x1dead000000000000')), /not a valid integer/);
  assert.match(String(store(kext('int', 4), '12abc')), /not a valid integer/);
  assert.equal(store(kext('char_array', 8), '"-fc-v669"'), '-fc-v66\0');
  assert.equal(store(kext('char_array', 16), '"ab"'), `ab${'\0'.repeat(14)}`);
  assert.match(String(store(kext('char_array', 8), '"unterminated')), /invalid string value/);
  assert.match(String(store(kext('int', 4), '"str"')), /implies a char array/);
  assert.equal(parseU64('  42'), 42n);
  assert.equal(parseU64('18446744073709551616'), undefined);
});

test('config files: CONFIG_ lines only, comments skipped, malformed lines are errors', () => {
  const m = parseKconfig('# comment\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C="x y"\nCONFIG_A=n\nOTHER=1\n\n');
  assert.deepEqual([...m], [['CONFIG_A', 'y'], ['CONFIG_C', '"x y"']]);
  throwsParse(() => parseKconfig('CONFIG_A=y\nCONFIG_B\n', '/boot/config-x'), /\/boot\/config-x: line 2: "CONFIG_B" has no "="/);
  throwsParse(() => parseKconfig('CONFIG_A=\n'), /line 1: "CONFIG_A=" has no value/);
});

test('LINUX_KERNEL_VERSION is KERNEL_VERSION(a, b, c) with c capped at 255', () => {
  if (existsSync('/proc/version_signature')) return; // Ubuntu takes its version from there
  assert.equal(kernelVersion('6.18.44-fc-v669'), (6 << 16) + (18 << 8) + 44);
  assert.equal(kernelVersion('5.4.300-generic'), (5 << 16) + (4 << 8) + 255);
  assert.equal(kernelVersion('6.18'), 0);
});

// A split BTF made by hand: base [1] int, [2] struct base_s {int a;}; split [3..7].
function splitFixture(): { base: Uint8Array; split: Uint8Array } {
  const baseBtf = new Btf(
    [
      { kind: 'void', name: '' },
      { kind: 'int', name: 'int', size: 4, encoding: 1, bitOffset: 0, bits: 32 },
      { kind: 'struct', name: 'base_s', size: 4, kflag: false, members: [{ name: 'a', type: 1, bitOffset: 0, bitfieldSize: 0 }] },
    ],
    StringTable.empty(),
  );
  const base = encodeBtf(baseBtf);
  const baseStrLen = baseBtf.strings.encode().byteLength;
  const strs = ['', 'split_t', 'x', 'split_fn', 'split_s', 'b', 'p'];
  const off: Record<string, number> = {};
  let at = 0;
  for (const s of strs) {
    off[s] = baseStrLen + at;
    at += Buffer.byteLength(s) + 1;
  }
  const strBytes = Buffer.concat(strs.map((s) => Buffer.from(`${s}\0`)));
  const info = (kind: number, vlen = 0) => ((kind << 24) | vlen) >>> 0;
  const words = [
    0, info(2), 2, // [3] ptr -> struct base_s
    off.split_t!, info(8), 3, // [4] typedef split_t -> [3]
    0, info(13, 1), 1, off.x!, 1, // [5] func_proto int (int x)
    off.split_fn!, info(12, 1), 5, // [6] FUNC split_fn global
    off.split_s!, info(4, 2), 16, off.b!, 2, 0, off.p!, 4, 64, // [7] struct split_s {base_s b; split_t p;}
  ];
  const split = new Uint8Array(24 + words.length * 4 + strBytes.byteLength);
  const v = new DataView(split.buffer);
  v.setUint16(0, 0xeb9f, true);
  v.setUint8(2, 1);
  v.setUint32(4, 24, true);
  v.setUint32(8, 0, true);
  v.setUint32(12, words.length * 4, true);
  v.setUint32(16, words.length * 4, true);
  v.setUint32(20, strBytes.byteLength, true);
  words.forEach((w, i) => v.setUint32(24 + i * 4, w, true));
  split.set(strBytes, 24 + words.length * 4);
  return { base, split };
}

test('split BTF (a module\'s) parses on its base as bpftool reads it', (t) => {
  const { base, split } = splitFixture();
  const b = parseBtf(base);
  const s = parseBtf(split, { base: b });
  assert.equal(s.baseCount, 3);
  assert.equal(s.count, 8);
  assert.deepEqual(s.ownIdsByName('split_s', 'struct'), [7]);
  assert.deepEqual(s.ownIdsByName('base_s', 'struct'), []);
  assert.equal(s.idByName('base_s', 'struct'), 2);
  assert.equal(s.typeName(4), 'split_t');
  assert.equal(s.size(7), 16);
  throwsParse(() => parseBtf(split), /refers to missing type|outside the string section/);
  throwsParse(() => encodeBtf(s), /split BTF/);

  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-split-'));
  try {
    writeFileSync(join(dir, 'base'), base);
    writeFileSync(join(dir, 'split'), split);
    const r = spawnSync(BPFTOOL, ['-B', join(dir, 'base'), 'btf', 'dump', 'file', join(dir, 'split')], { encoding: 'utf8' });
    if (r.error) {
      if (process.env.CI === 'true') assert.fail('bpftool is not installed, and CI=true forbids skipping (bash scripts/setup.sh --test installs it)');
      t.skip('bpftool is not installed');
      return;
    }
    assert.equal(r.status, 0, r.stderr);
    const ours = dumpRaw(s).split('\n[').filter((block, i) => i > 0 && Number(block.slice(0, block.indexOf(']'))) >= 3).map((x) => `[${x}`);
    assert.deepEqual(ours.join('\n').trim().split('\n'), r.stdout.trim().split('\n'));
  } finally {
    rmSync(dir, { recursive: true });
  }
});

/** vmlinux [1] int; a module's split BTF: [2] void(void) proto, [3] FUNC tsbpf_no_such_kfunc. */
function moduleFixture(): { baseBytes: Uint8Array; split: Uint8Array } {
  const base = new Btf([{ kind: 'void', name: '' }, { kind: 'int', name: 'int', size: 4, encoding: 1, bitOffset: 0, bits: 32 }], StringTable.empty());
  const baseBytes = encodeBtf(base);
  const baseStrLen = base.strings.encode().byteLength;
  const name = Buffer.from('\0tsbpf_no_such_kfunc\0');
  const words = [0, (13 << 24) >>> 0, 0, baseStrLen + 1, ((12 << 24) | 1) >>> 0, 2]; // [2] proto void(void), [3] FUNC
  const split = new Uint8Array(24 + words.length * 4 + name.byteLength);
  const v = new DataView(split.buffer);
  v.setUint16(0, 0xeb9f, true);
  v.setUint8(2, 1);
  v.setUint32(4, 24, true);
  v.setUint32(12, words.length * 4, true);
  v.setUint32(16, words.length * 4, true);
  v.setUint32(20, name.byteLength, true);
  words.forEach((w, i) => v.setUint32(24 + i * 4, w, true));
  split.set(name, 24 + words.length * 4);

  return { baseBytes, split };
}

test('a kfunc found in a module\'s split BTF: fd_array slot 1 holds the module BTF fd, the call names it (fake kernel)', () => {
  // This machine has no modules with BTF: a fake kernel lists one, its BTF a split file.
  const { baseBytes, split } = moduleFixture();
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-modbtf-'));
  try {
    writeFileSync(join(dir, 'tsbpf_mod'), split);
    const sys = new FakeSys();
    sys.addKernelBtf('vmlinux', baseBytes);
    const modId = sys.addKernelBtf('tsbpf_mod', split);
    const spec = load('ksym_exists');
    const vmlinux = parseBtf(baseBytes);
    const ext = resolveExterns(sys, spec, { kernelBtf: () => vmlinux, kernelBtfDir: dir });
    const r = ext.values.get('tsbpf_no_such_kfunc');
    assert.equal(r?.kind, 'btf');
    assert.equal(ext.fdArray.length, 2);
    assert.equal(ext.fdArray[0], 0);
    assert.equal(sys.btfGetInfo(ext.fdArray[1]!).id, modId);
    assert.deepEqual(r, { kind: 'btf', id: 3, objFd: ext.fdArray[1], fdIndex: 1 });
    // bpf_rcu_read_lock is in neither BTF: weak, so absent.
    assert.deepEqual(ext.values.get('bpf_rcu_read_lock'), { kind: 'zero' });
    // Patch without the kallsyms-dependent symbols: only the kfunc's call and address.
    const linked = linkProgram(spec, spec.programs[0]!);
    const onlyKfuncs = { ...linked, externRefs: linked.externRefs.filter((x) => x.symbol.endsWith('kfunc') || x.symbol.startsWith('bpf_rcu')) };
    patchExterns(onlyKfuncs, ext, 'probe');
    const iv = new DataView(linked.insns.buffer);
    const calls = onlyKfuncs.externRefs.filter((x) => iv.getUint8(x.insn * 8) === (C.BPF_JMP | C.BPF_CALL));
    const kcall = calls.find((x) => x.symbol === 'tsbpf_no_such_kfunc')!;
    assert.equal(iv.getUint8(kcall.insn * 8 + 1) >> 4, C.BPF_PSEUDO_KFUNC_CALL);
    assert.equal(iv.getInt16(kcall.insn * 8 + 2, true), 1);
    assert.equal(iv.getInt32(kcall.insn * 8 + 4, true), 3);
    // The missing weak kfunc's call is poisoned as libbpf poisons it: helper id 2002000000 + extern index.
    const lock = calls.find((x) => x.symbol === 'bpf_rcu_read_lock')!;
    const index = spec.externs.findIndex((e) => e.name === 'bpf_rcu_read_lock');
    assert.deepEqual([iv.getUint8(lock.insn * 8 + 1), iv.getInt16(lock.insn * 8 + 2, true), iv.getInt32(lock.insn * 8 + 4, true)], [0, 0, 2002000000 + index]);
    // An address of a module kfunc is BPF_PSEUDO_BTF_ID with the module BTF fd.
    const addr = onlyKfuncs.externRefs.find((x) => x.symbol === 'tsbpf_no_such_kfunc' && iv.getUint8(x.insn * 8) === 0x18)!;
    assert.deepEqual([iv.getUint8(addr.insn * 8 + 1) >> 4, iv.getInt32(addr.insn * 8 + 4, true), iv.getInt32(addr.insn * 8 + 12, true)], [C.BPF_PSEUDO_BTF_ID, 3, ext.fdArray[1]]);
    ext.close();
    assert.equal(sys.openFds.size, 0);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('Collection.load passes fd_array to BPF_PROG_LOAD for a module kfunc (fake kernel)', () => {
  const { baseBytes, split } = moduleFixture();
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-modbtf-'));
  try {
    writeFileSync(join(dir, 'tsbpf_mod'), split);
    const sys = new FakeSys();
    sys.addKernelBtf('vmlinux', baseBytes);
    const modId = sys.addKernelBtf('tsbpf_mod', split);
    const vmlinux = parseBtf(baseBytes);
    const coll = Collection.load(load('ksym_unguarded'), { sys, kernelBtf: () => vmlinux, kernelBtfDir: dir });
    const [attr] = sys.callsOf('progLoad').at(-1)!;
    assert.equal(attr.fdArray?.length, 2);
    assert.equal(attr.fdArray![0], 0);
    // The module BTF fd was open during the load, and is closed after it.
    assert.equal(sys.calls.some((c) => c.method === 'btfGetInfo' && c.args[0] === attr.fdArray![1]), true);
    const iv = new DataView(attr.insns.buffer, attr.insns.byteOffset);
    assert.deepEqual([iv.getUint8(1) >> 4, iv.getInt16(2, true), iv.getInt32(4, true)], [C.BPF_PSEUDO_KFUNC_CALL, 1, 3]);
    coll.close();
    assert.equal(sys.openFds.size, 0);
    void modId;
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('typed ksyms are checked against the kernel\'s type as libbpf checks them', () => {
  const spec = load('ksym_typed');
  const sys = new FakeSys();
  const kernel = (varType: 'int' | 'struct') => {
    const types: Btf['types'] = [
      { kind: 'void', name: '' },
      { kind: 'int', name: 'int', size: 4, encoding: 1, bitOffset: 0, bits: 32 },
      { kind: 'struct', name: 'rq', size: 8, kflag: false, members: [{ name: 'nr_running', type: 1, bitOffset: 0, bitfieldSize: 0 }, { name: 'cpu', type: 1, bitOffset: 32, bitfieldSize: 0 }] },
      { kind: 'var', name: 'runqueues', type: varType === 'int' ? 1 : 2, linkage: 1 },
    ];
    return new Btf(types, StringTable.empty());
  };
  const ok = resolveExterns(sys, spec, { kernelBtf: () => kernel('struct') });
  assert.deepEqual(ok.values.get('runqueues'), { kind: 'btf', id: 3, objFd: 0, fdIndex: 0 });
  const bad = resolveExterns(sys, spec, { kernelBtf: () => kernel('int') });
  assert.equal(bad.failures.get('runqueues'), "does not match the kernel's type: object has struct rq, kernel has int ([3])");
  const linked = linkProgram(spec, spec.programs[0]!);
  throwsTsbpf(() => patchExterns(linked, bad, 'read_rq'), /^program read_rq: extern runqueues \(\.ksyms\) does not match the kernel's type: object has struct rq, kernel has int \(\[3\]\)$/);
  const none = resolveExterns(sys, spec, { kernelBtf: () => new Btf([{ kind: 'void', name: '' }], StringTable.empty()) });
  throwsTsbpf(() => patchExterns(linked, none, 'read_rq'), /extern runqueues \(\.ksyms\) is not a kernel variable in the kernel's BTF \(vmlinux\); declare it __weak/);
});

// ---------------------------------------------------------------------------------------
// Against the kernel

/** /proc/config.gz or /boot/config-R, as plain name -> value (parsed here, simply). */
function systemConfig(): Map<string, string> {
  const boot = `/boot/config-${release()}`;
  const text = existsSync(boot) ? readFileSync(boot, 'utf8') : gunzipSync(readFileSync('/proc/config.gz')).toString('utf8');
  const m = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [k, ...rest] = line.split('=');
    if (k!.startsWith('CONFIG_') && rest.length) m.set(k!, rest.join('='));
  }
  return m;
}

function kallsyms(name: string): bigint[] {
  const out: bigint[] = [];
  for (const line of readFileSync('/proc/kallsyms', 'utf8').split('\n')) {
    const [addr, , sym] = line.split(/\s+/);
    if (sym === name) out.push(BigInt(`0x${addr}`));
  }
  return out;
}

/** bpftool prog loadall (libbpf 1.1): the programs it loaded with their xlated sizes, and its debug output. */
function libbpfLoad(name: string): { progs: Map<string, number>; log: string; ok: boolean } {
  if (!existsSync('/sys/fs/bpf/')) throw new Error('no /sys/fs/bpf');
  if (spawnSync('mountpoint', ['-q', '/sys/fs/bpf']).status !== 0) spawnSync('mount', ['-t', 'bpf', 'bpf', '/sys/fs/bpf']);
  const pin = join('/sys/fs/bpf', `tsbpf_externs_${process.pid}_${name}`);
  const r = spawnSync(BPFTOOL, ['-d', 'prog', 'loadall', corpus(name), pin], { encoding: 'utf8' });
  const progs = new Map<string, number>();
  try {
    if (r.status === 0) {
      const show = spawnSync(BPFTOOL, ['-j', 'prog', 'show'], { encoding: 'utf8' });
      const all = JSON.parse(show.stdout) as { name: string; bytes_xlated: number; pinned?: string[] }[];
      for (const f of spawnSync('ls', [pin], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean)) {
        const info = JSON.parse(spawnSync(BPFTOOL, ['-j', 'prog', 'show', 'pinned', join(pin, f)], { encoding: 'utf8' }).stdout) as { name: string; bytes_xlated: number };
        progs.set(info.name, info.bytes_xlated);
      }
      void all;
    }
  } finally {
    rmSync(pin, { recursive: true, force: true });
  }
  return { progs, log: r.stderr, ok: r.status === 0 };
}

kernelTest('kconfig.bpf.o: every value is what uname -r and the kernel config say; libbpf agrees', () => {
  const config = systemConfig();
  using coll = Collection.load(load('kconfig'));
  assert.equal(coll.program('read_kconfig').testRun({ ctxIn: new Uint8Array(16) }).retval, 0);
  const out = coll.variable('out').get() as Record<string, unknown>;

  const [a, b, c] = release().split(/[.-]/).map(Number) as [number, number, number];
  assert.equal(out.version, (a << 16) + (b << 8) + Math.min(c, 255));
  const wrapperSym = { x64: '__x64_sys_bpf', arm64: '__arm64_sys_bpf' }[process.arch as 'x64'];
  assert.equal(out.wrapper, wrapperSym && kallsyms(wrapperSym).length ? 1 : 0);
  assert.equal(out.cookie, a > 5 || (a === 5 && b >= 15) ? 1 : 0); // bpf_get_attach_cookie: 5.15
  const tri = (v: string | undefined) => (v === 'y' ? 1 : v === 'm' ? 2 : 0);
  assert.equal(out.bpf_syscall, config.get('CONFIG_BPF_SYSCALL') === 'y' ? 1 : 0);
  assert.equal(out.bpf_jit, tri(config.get('CONFIG_BPF_JIT')));
  assert.equal(out.modules, tri(config.get('CONFIG_MODULES')));
  assert.equal(out.kprobes, config.get('CONFIG_KPROBES') === 'y' ? 1 : 0);
  assert.equal(out.bpf_events, config.get('CONFIG_BPF_EVENTS')!.charCodeAt(0));
  assert.equal(out.hz, Number(config.get('CONFIG_HZ')));
  assert.equal(out.log_buf_shift, Number(config.get('CONFIG_LOG_BUF_SHIFT')));
  assert.equal(out.illegal_pointer_value, BigInt(config.get('CONFIG_ILLEGAL_POINTER_VALUE')!));
  assert.equal(out.physical_start, Number(config.get('CONFIG_PHYSICAL_START')));
  assert.equal(out.localversion, JSON.parse(config.get('CONFIG_LOCALVERSION')!));
  assert.equal(out.hostname, (JSON.parse(config.get('CONFIG_DEFAULT_HOSTNAME')!) as string).slice(0, 3));
  assert.equal(out.no_such_option, 0);
  assert.equal(out.unknown_linux, 0);

  // The values are also readable as variables of the frozen .kconfig map.
  assert.equal(coll.variable('CONFIG_HZ').get(), Number(config.get('CONFIG_HZ')));
  assert.equal(coll.variable('CONFIG_LOCALVERSION').get(), JSON.parse(config.get('CONFIG_LOCALVERSION')!));
  const kmap = coll.map('kconfig.kconfig');
  throwsTsbpf(() => kmap.update(0, new Uint8Array(78)), /EPERM/);

  // libbpf lays the .kconfig map out the same way and loads the same instructions.
  const lib = libbpfLoad('kconfig');
  assert.ok(lib.ok, lib.log);
  const offsets = [...lib.log.matchAll(/extern \(kcfg\) #\d+: symbol \d+, off (\d+), name (\w+)/g)].map((m) => [m[2], Number(m[1])]);
  assert.deepEqual(offsets, coll.spec.externs.map((e) => [e.name, (e as KconfigExtern).offset]));
  assert.equal(lib.progs.get('read_kconfig'), coll.program('read_kconfig').info().xlatedProgLen);
  // libbpf's values for the LINUX_ externs, and which CONFIG_ ones it found or defaulted.
  const libSet = new Map([...lib.log.matchAll(/extern \(kcfg\) '(\w+)': set to (\S+)/g)].map((m) => [m[1]!, m[2]!]));
  const libZero = [...lib.log.matchAll(/extern '(\w+)' \(weak\): not resolved, defaulting to zero/g)].map((m) => m[1]);
  assert.equal(BigInt(libSet.get('LINUX_KERNEL_VERSION')!), BigInt(out.version as number));
  assert.equal(BigInt(libSet.get('LINUX_HAS_BPF_COOKIE')!), BigInt(out.cookie as number));
  assert.equal(BigInt(libSet.get('LINUX_TSBPF_UNKNOWN')!), 0n);
  // libbpf 1.1 decides LINUX_HAS_SYSCALL_WRAPPER by creating a kprobe on __x64_sys_bpf:
  // without CONFIG_KPROBES it says 0 although the wrappers exist; tsbpf looks the
  // symbol up instead (a documented difference).
  if (config.get('CONFIG_KPROBES') === 'y') assert.equal(BigInt(libSet.get('LINUX_HAS_SYSCALL_WRAPPER')!), BigInt(out.wrapper as number));
  else assert.equal(libSet.get('LINUX_HAS_SYSCALL_WRAPPER'), '0x0');
  assert.deepEqual(libZero.sort(), ['CONFIG_KPROBES', 'CONFIG_MODULES', 'CONFIG_TSBPF_NO_SUCH_OPTION']);
  assert.deepEqual(
    [...libSet.keys()].filter((k) => k.startsWith('CONFIG_')).sort(),
    coll.spec.externs.map((e) => e.name).filter((n) => n.startsWith('CONFIG_') && !libZero.includes(n)).sort(),
  );
});

kernelTest('ksyms.bpf.o: typeless ksym = /proc/kallsyms, kfuncs bpf_task_from_pid/release and rcu lock run', () => {
  using coll = Collection.load(load('ksyms'));
  const ctx = new Uint8Array(new Int32Array([process.pid, 0]).buffer);
  assert.equal(coll.program('run_ksyms').testRun({ ctxIn: ctx }).retval, 0);
  const out = coll.variable('out').get() as Record<string, unknown>;
  assert.deepEqual(kallsyms('schedule'), [out.schedule_addr]);
  assert.equal(out.missing_addr, 0n);
  assert.equal(out.task_pid, process.pid);
  assert.equal(out.task_tgid, process.pid);
  assert.equal(out.locked, 1);
  // Another process: the task of a child we spawn; a pid beyond pid_max has none.
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    coll.program('run_ksyms').testRun({ ctxIn: new Uint8Array(new Int32Array([child.pid!, 0]).buffer) });
    const o = coll.variable('out').get() as Record<string, unknown>;
    assert.deepEqual([o.task_pid, o.task_tgid], [child.pid, child.pid]);
  } finally {
    child.kill();
  }
  coll.program('run_ksyms').testRun({ ctxIn: new Uint8Array(new Int32Array([0x3fffffff, 0]).buffer) });
  assert.equal((coll.variable('out').get() as Record<string, unknown>).task_pid, -1);

  const lib = libbpfLoad('ksyms');
  assert.ok(lib.ok, lib.log);
  assert.equal(lib.progs.get('run_ksyms'), coll.program('run_ksyms').info().xlatedProgLen);
});

kernelTest('ksym_exists.bpf.o: bpf_ksym_exists() is 1 for present, 0 for missing weak kfuncs and ksyms; dead call dropped', () => {
  using coll = Collection.load(load('ksym_exists'));
  assert.equal(coll.program('probe').testRun({}).retval, 7);
  assert.deepEqual(coll.variable('out').get(), { kfunc: 1, missing_kfunc: 0, sym: 1, missing_sym: 0, missing_var: 0, called: 0 });
  const lib = libbpfLoad('ksym_exists');
  assert.ok(lib.ok, lib.log);
  assert.equal(lib.progs.get('probe'), coll.program('probe').info().xlatedProgLen);
});

kernelTest('ksym_typed.bpf.o: runqueues becomes BPF_PSEUDO_BTF_ID of the kernel VAR; read when kallsyms lists it', () => {
  const spec = load('ksym_typed');
  const sys = defaultSys();
  // The instruction carries the VAR's id in vmlinux, as libbpf resolves it.
  const ext = resolveExterns(sys, spec);
  const linked = linkProgram(spec, spec.programs[0]!);
  patchExterns(linked, ext, 'read_rq');
  const v = new DataView(linked.insns.buffer);
  const at = linked.externRefs[0]!.insn * 8;
  assert.equal(v.getUint8(at + 1) >> 4, C.BPF_PSEUDO_BTF_ID);
  const varId = kernelBtf().idByName('runqueues', 'var');
  assert.equal(v.getInt32(at + 4, true), varId);
  assert.equal(v.getInt32(at + 12, true), 0); // vmlinux: no module BTF fd

  const lib = libbpfLoad('ksym_typed');
  assert.match(lib.log, new RegExp(`extern \\(var ksym\\) 'runqueues': resolved to \\[${varId}\\]`));
  const kallsymsAll = systemConfig().get('CONFIG_KALLSYMS_ALL') === 'y';
  if (!kallsymsAll) {
    // The kernel finds the address by name in kallsyms, which lacks data symbols here:
    // it rejects the program for libbpf and for tsbpf alike.
    assert.equal(lib.ok, false);
    assert.match(lib.log, /failed to find the address for kernel symbol 'runqueues'/);
    throwsTsbpf(() => Collection.load(spec), /ENOENT/, /failed to find the address for kernel symbol 'runqueues'/);
    return;
  }
  using coll = Collection.load(spec);
  coll.program('read_rq').testRun({ ctxIn: new Uint8Array(new Int32Array([1]).buffer) });
  const out = coll.variable('out').get() as Record<string, number>;
  assert.equal(out.rq_cpu, 1);
  assert.equal(out.this_rq_cpu, out.smp_id);
  assert.equal(lib.progs.get('read_rq'), coll.program('read_rq').info().xlatedProgLen);
});

kernelTest('externs_unused.bpf.o: an unresolvable extern blocks only the programs that use it', () => {
  const spec = load('externs_unused');
  {
    using coll = Collection.load(spec, { programs: ['ok'] });
    assert.equal(coll.program('ok').testRun({ ctxIn: new Uint8Array(16) }).retval, 42);
  }
  const err = throwsTsbpf(() => Collection.load(spec), /^program strong: extern CONFIG_TSBPF_ALSO_NEVER_SET \(\.kconfig\) is not set in \/proc\/config\.gz|\/boot\/config/);
  assert.ok(!err.message.includes('\n'), err.message);
  {
    using coll = Collection.load(spec, { collectFailures: true });
    assert.deepEqual([...coll.programs.keys()], ['ok']);
    assert.match(coll.failures.get('strong')!.message, /CONFIG_TSBPF_ALSO_NEVER_SET/);
  }
  // The kconfig option supplies (and overrides) values, as libbpf's does.
  {
    using coll = Collection.load(spec, { kconfig: 'CONFIG_TSBPF_ALSO_NEVER_SET=0x2a\n' });
    assert.equal(coll.program('strong').testRun({ ctxIn: new Uint8Array(16) }).retval, 42);
  }
  throwsTsbpf(() => Collection.load(spec, { kconfig: 'CONFIG_TSBPF_ALSO_NEVER_SET=y\n' }), /CONFIG_TSBPF_ALSO_NEVER_SET=y: value 'y' implies bool, tristate or char type/);
  // libbpf refuses the whole object.
  const lib = libbpfLoad('externs_unused');
  assert.equal(lib.ok, false);
  assert.match(lib.log, /extern 'CONFIG_TSBPF_(ALSO_)?NEVER_SET' \(strong\): not resolved/);
});

kernelTest('ksym_unguarded.bpf.o: a reachable call to a missing weak kfunc is one line naming it; libbpf rejects it too', () => {
  const err = throwsTsbpf(() => Collection.load(load('ksym_unguarded')), /^program call_missing: calls kfunc tsbpf_no_such_kfunc, which this kernel lacks/);
  assert.ok(!err.message.includes('\n'), err.message);
  const lib = libbpfLoad('ksym_unguarded');
  assert.equal(lib.ok, false);
  assert.match(lib.log, /extern 'tsbpf_no_such_kfunc' \(weak\): not resolved, defaulting to zero/);
});
