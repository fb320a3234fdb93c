/**
 * User-space CO-RE (src/btf/core.ts, LoadOptions.core / targetBtf).
 *
 * - Differential, against the kernel's own CO-RE: every committed object (and the
 *   examples, compiled), every program with CO-RE records, is loaded with core 'kernel'
 *   and again with core 'user' against the same maps and BTF; the translated
 *   instructions (BPF_OBJ_GET_INFO_BY_FD xlated) and the verdict must be identical.
 *   Objects are found by listing directories, so new ones are covered without edits.
 * - testdata/corpus/core_kinds.bpf.o: every kind clang 14 emits; the values the program
 *   computes equal what the kernel's BTF says, with either CO-RE, and with a target BTF
 *   given as a Btf, a file, or BTF_FILE_PATH.
 * - The matcher on hand-built BTF: flavours, ambiguity, missing fields (poison),
 *   bitfields, arrays, anonymous members, load size adjustment, type match rules.
 * - Fuzz: malformed records and access strings end in a TsbpfError, never a crash.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Btf, encodeBtf, kernelBtf, parseBtf, StringTable, type BtfType, type CoreRelo, type Struct } from '../src/btf/index.js';
import { applyCoreRelocations, CORE, CoreError, essentialNameLength, POISON_HELPER, typesMatch, type CoreTarget } from '../src/btf/core.js';
import { TsbpfError } from '../src/errors.js';
import { Collection, loadProgram, VerifierError } from '../src/loader/index.js';
import { belowKernelFloor, haveBtfFeature, haveKernelCoreRelos } from '../src/loader/probe.js';
import { ALL_BTF_FEATURES, sanitizeBtf } from '../src/btf/sanitize.js';
import { userCoreTarget } from '../src/loader/core.js';
import { resolveExterns } from '../src/loader/externs.js';
import { ParseError } from '../src/errors.js';
import { linkProgram, loadObjectFile, parseObject, type ObjectSpec } from '../src/object/index.js';
import { defaultSys } from '../src/sys/index.js';
import { SysError } from '../src/sys/errors.js';
import type { ProgLoadAttr, Sys } from '../src/sys/types.js';
import { bpffsPath } from '../src/loader/fs.js';
import { FakeSys } from '../src/sys/fake.js';
import { buildExample, tsbpf } from './tsbpf-cli.js';
import { kernelTest } from './kernel.js';
import { kernelHasKprobes } from './libbpf.js';
import { CLI, ROOT } from './paths.js';
import { readFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { exitcasesNamed } from './exitcases.js';
import { mulberry32 } from './prng.js';

// ---------------------------------------------------------------------------------------
// The objects of the project, found by listing

function committedObjects(): string[] {
  const out: string[] = [];
  const list = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const f of readdirSync(dir).sort()) if (f.endsWith('.bpf.o')) out.push(join(dir, f));
  };
  list(join(ROOT, 'testdata'));
  list(join(ROOT, 'testdata', 'corpus'));
  for (const t of readdirSync(join(ROOT, 'tools')).sort()) list(join(ROOT, 'tools', t));
  return out;
}

const exampleNames = () =>
  readdirSync(join(ROOT, 'examples'), { withFileTypes: true })
    // BPF examples (examples/gen holds generated bindings, no BPF C)
    .filter((d) => d.isDirectory() && readdirSync(join(ROOT, 'examples', d.name)).some((f) => f.endsWith('.bpf.c')))
    .map((d) => d.name)
    .sort();

/** The running kernel is at least major.minor (uname). */
function kernelAtLeast(major: number, minor: number): boolean {
  const [a, b] = release().split('.').map((x) => parseInt(x, 10));
  return a! > major || (a === major && b! >= minor);
}
/**
 * Kernel-side CO-RE, which the differential compares with, exists from 5.17 (distros
 * may backport it); TYPE_MATCHES in the kernel's relo_core from 6.1.
 */
const kernelCore = () => haveKernelCoreRelos(defaultSys());

const errText = (e: unknown) => (e instanceof VerifierError ? `VerifierError ${e.code}` : e instanceof Error ? `${e.name}: ${e.message}` : String(e));

/**
 * Loads `spec` with kernel-side CO-RE, then each of its programs with CO-RE records again
 * with user-space CO-RE against the same maps and object BTF (so map ids in the xlated
 * dump agree), and compares. Returns the number of programs compared.
 */
function differential(label: string, spec: ObjectSpec): number {
  const withCore = spec.programs.filter((p) => linkProgram(spec, p).coreRelos.length > 0);
  if (withCore.length === 0 || !kernelCore()) return 0; // nothing to compare with (see the libbpf test)
  const sys = defaultSys();
  let coll: Collection;
  try {
    coll = Collection.load(spec, { core: 'kernel', collectFailures: true });
  } catch (e) {
    // Not loadable at all (a map this kernel lacks...): user CO-RE must fail the same way.
    assert.throws(() => Collection.load(spec, { core: 'user', collectFailures: true }).close(), (e2: unknown) => errText(e2) === errText(e), `${label}: the same failure`);
    return 0;
  }
  try {
    const mapFds = new Map([...coll.maps].map(([n, m]) => [n, m.fd]));
    // The second load of each program gets the externs resolved as the collection's were.
    using externs = resolveExterns(sys, spec);
    for (const prog of withCore) {
      const kernel = coll.programs.get(prog.name);
      let user;
      try {
        user = loadProgram(sys, spec, prog, mapFds, coll.btfFd, { core: 'user' }, externs);
      } catch (e) {
        assert.ok(!kernel, `${label} ${prog.name}: the kernel's CO-RE loads it, user CO-RE fails: ${errText(e)}`);
        assert.equal(errText(e), errText(coll.failures.get(prog.name)), `${label} ${prog.name}: the same verdict`);
        continue;
      }
      try {
        assert.ok(kernel, `${label} ${prog.name}: user CO-RE loads it, the kernel's fails: ${errText(coll.failures.get(prog.name))}`);
        const a = sys.progXlatedInsns(kernel.fd);
        const b = sys.progXlatedInsns(user.fd);
        assert.ok(a.length > 0, `${label} ${prog.name}: xlated instructions are readable`);
        assert.deepEqual(Buffer.from(b), Buffer.from(a), `${label} ${prog.name}: xlated instructions differ`);
        assert.equal(user.info().verifiedInsns, kernel.info().verifiedInsns, `${label} ${prog.name}: verified instruction count`);
      } finally {
        user.close();
      }
    }
  } finally {
    coll.close();
  }
  return withCore.length;
}

kernelTest('kernel-side CO-RE probe: kernels >= 5.17 take core_relos; without them core \'kernel\' says so', () => {
  if (kernelAtLeast(5, 17)) assert.equal(kernelCore(), true);
  if (!kernelCore()) {
    assert.throws(() => Collection.load(kindsObject(), { core: 'kernel' }), (e: unknown) =>
      e instanceof TsbpfError && e.message === "kernel-side CO-RE (Linux >= 5.17): not supported by this kernel (object core_kinds; use core 'user' or 'auto')");
  }
});

kernelTest('differential: user CO-RE gives the kernel CO-RE\'s translated instructions, every committed object', () => {
  let compared = 0;
  const seen: string[] = [];
  for (const file of committedObjects()) {
    let spec: ObjectSpec;
    try {
      spec = loadObjectFile(file);
    } catch (e) {
      if (e instanceof ParseError) continue; // refused before load (pinbad): no CO-RE to compare
      throw e;
    }
    const n = differential(file, spec);
    compared += n;
    if (n) seen.push(file.slice(ROOT.length + 1));
  }
  if (!kernelCore()) return; // the kernel has no CO-RE to compare with; the libbpf test still runs
  // At least these carry CO-RE records; others join as they are added.
  for (const must of ['testdata/core.bpf.o', 'testdata/corpus/core_kinds.bpf.o', 'tools/exitsnoop/exitsnoop.bpf.o']) {
    assert.ok(seen.includes(must), `${must} was compared (compared: ${seen.join(', ')})`);
  }
  assert.ok(compared >= 3);
});

kernelTest('differential: the examples, built with tsbpf build', (t) => {
  let compared = 0;
  for (const name of exampleNames()) compared += differential(`examples/${name}`, loadObjectFile(buildExample(name, t).object));
  // examples/ use BPF_CORE_READ (exits, signals...): some must have been compared.
  assert.ok(compared > 0 || !kernelCore(), 'no example program has CO-RE records');
});

// ---------------------------------------------------------------------------------------
// core_kinds.bpf.o: every kind, against the kernel's BTF

const KINDS_FIELDS = [
  'pid_off', 'comm3_off', 'comm_size', 'pid_exists', 'old_state', 'new_state', 'state',
  'pid_signed', 'flags_signed', 'prec_lshift', 'prec_rshift', 'prec_size', 'freq_off',
  'precise_ip', 'inherit', 'sample_id_all', 'sample_freq',
  'local_id', 'target_id', 'task_exists', 'absent_exists', 'task_size',
  'sid_value', 'sid_exists', 'none_exists',
] as const;

/** A member by name, also inside anonymous members: its absolute bit offset and record. */
function findMember(btf: Btf, structId: number, name: string, base = 0): { bitOffset: number; m: Struct['members'][number] } | undefined {
  const t = btf.type(btf.resolve(structId)) as Struct;
  for (const m of t.members) {
    if (m.name === name) return { bitOffset: base + m.bitOffset, m };
    if (m.name === '') {
      const r = findMember(btf, m.type, name, base + m.bitOffset);
      if (r) return r;
    }
  }
  return undefined;
}

/** What core_kinds.bpf.c's comment says each field is, computed from a target BTF. */
function expectedKinds(target: Btf, local: Btf): Record<string, bigint> {
  const task = target.idByName('task_struct', 'struct')!;
  const attr = target.idByName('perf_event_attr', 'struct')!;
  const pid = findMember(target, task, 'pid')!;
  const comm = findMember(target, task, 'comm')!;
  const flags = findMember(target, task, 'flags')!;
  const prec = findMember(target, attr, 'precise_ip')!;
  const freq = findMember(target, attr, 'sample_freq')!;
  const signed = (id: number) => {
    const t = target.type(target.resolve(id));
    return t.kind === 'int' && (t.encoding & 1) ? 1n : 0n;
  };
  // The 8-byte load covering precise_ip (its u64 type), as libbpf computes it.
  const byteOff = Math.floor(prec.bitOffset / 64) * 8;
  const pidType = target.type(target.idByName('pid_type', 'enum')!);
  assert.equal(pidType.kind, 'enum');
  const sid = pidType.kind === 'enum' ? pidType.values.find((v) => v.name === 'PIDTYPE_SID')!.value : -1;
  return {
    pid_off: BigInt(pid.bitOffset / 8),
    comm3_off: BigInt(comm.bitOffset / 8 + 3),
    comm_size: BigInt(target.size(comm.m.type)),
    pid_exists: 1n,
    old_state: findMember(target, task, 'state') ? 1n : 0n,
    new_state: findMember(target, task, '__state') ? 1n : 0n,
    state: 0n,
    pid_signed: signed(pid.m.type),
    flags_signed: signed(flags.m.type),
    prec_lshift: BigInt(64 - (prec.bitOffset + prec.m.bitfieldSize - byteOff * 8)),
    prec_rshift: BigInt(64 - prec.m.bitfieldSize),
    prec_size: 8n,
    freq_off: BigInt(freq.bitOffset / 8),
    precise_ip: 2n,
    inherit: 1n,
    sample_id_all: 1n,
    sample_freq: 4000n,
    local_id: BigInt(local.idByName('task_struct', 'struct')!),
    target_id: BigInt(task),
    task_exists: 1n,
    absent_exists: 0n,
    task_size: BigInt(target.size(task)),
    sid_value: BigInt(sid),
    sid_exists: 1n,
    none_exists: 0n,
  };
}

/** A kernel struct perf_event_attr image with precise_ip = 2, inherit = 1, sample_id_all = 1, sample_freq = 4000. */
function attrImage(target: Btf): Uint8Array {
  const attr = target.idByName('perf_event_attr', 'struct')!;
  const img = new Uint8Array(136);
  const setBits = (name: string, value: number) => {
    const f = findMember(target, attr, name)!;
    for (let i = 0; i < f.m.bitfieldSize; i++) if ((value >> i) & 1) img[(f.bitOffset + i) >> 3]! |= 1 << ((f.bitOffset + i) & 7);
  };
  setBits('precise_ip', 2);
  setBits('inherit', 1);
  setBits('sample_id_all', 1);
  new DataView(img.buffer).setBigUint64(findMember(target, attr, 'sample_freq')!.bitOffset / 8, 4000n, true);
  return img;
}

const kindsObject = () => loadObjectFile(join(ROOT, 'testdata', 'corpus', 'core_kinds.bpf.o'));

function runKinds(opts: Parameters<typeof Collection.load>[1], target: Btf): Record<string, bigint> {
  using coll = Collection.load(kindsObject(), opts);
  coll.variable('attr_image').bytes().set(attrImage(target));
  assert.equal(coll.program('kinds').testRun().retval, 0);
  const b = coll.variable('out').bytes();
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return Object.fromEntries(KINDS_FIELDS.map((f, i) => [f, v.getBigUint64(i * 8, true)]));
}

kernelTest('core_kinds.bpf.o: every relocation kind equals the kernel BTF, with kernel and with user CO-RE', () => {
  const spec = kindsObject();
  const want = expectedKinds(kernelBtf('/sys/kernel/btf/vmlinux'), spec.btf);
  if (kernelCore()) assert.deepEqual(runKinds({ core: 'kernel' }, kernelBtf('/sys/kernel/btf/vmlinux')), want);
  assert.deepEqual(runKinds({ core: 'user' }, kernelBtf('/sys/kernel/btf/vmlinux')), want);
  // Sanity of the expectations themselves: task_struct.state became __state in 5.14.
  assert.deepEqual([want.old_state, want.new_state], kernelAtLeast(5, 14) ? [0n, 1n] : [1n, 0n]);
  assert.equal(want.sid_value, 3n);
  assert.equal(want.freq_off, 16n);
});

test('core_kinds.bpf.o: the kinds the object carries, and the poisoned read of the missing flavour', () => {
  const spec = kindsObject();
  const linked = linkProgram(spec, spec.programs[0]!);
  const kinds = new Set(linked.coreRelos.map((r) => r.kind));
  for (const k of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]) assert.ok(kinds.has(k), `kind ${k} present`);
  assert.ok(!kinds.has(CORE.TYPE_MATCHES), 'clang 14 cannot emit TYPE_MATCHES');
  const out = applyCoreRelocations('kinds', spec.btf, linked.coreRelos, linked.insns, [{ btf: kernelBtf('/sys/kernel/btf/vmlinux'), name: 'vmlinux' }]);
  const poisoned = out.filter((o) => o.poisoned);
  assert.deepEqual(poisoned.map((o) => o.spec), ['struct task_struct___old.state']);
  const v = new DataView(linked.insns.buffer, linked.insns.byteOffset);
  assert.equal(v.getUint8(poisoned[0]!.insn * 8), 0x85);
  assert.equal(v.getInt32(poisoned[0]!.insn * 8 + 4, true), POISON_HELPER);
  const sid = out.find((o) => o.kind === CORE.ENUMVAL_VALUE)!;
  assert.equal(sid.localValue, 7n);
  assert.equal(sid.value, 3n);
});

kernelTest('target BTF: a Btf, a file, or BTF_FILE_PATH is what user CO-RE relocates against', () => {
  // A copy of vmlinux BTF in which PIDTYPE_SID is 5: only the target BTF can say 5.
  const real = kernelBtf('/sys/kernel/btf/vmlinux');
  const fake = real.clone();
  const pidType = fake.type(fake.idByName('pid_type', 'enum')!);
  assert.ok(pidType.kind === 'enum');
  pidType.values.find((v) => v.name === 'PIDTYPE_SID')!.value = 5;
  const want = { ...expectedKinds(real, kindsObject().btf), sid_value: 5n };

  assert.deepEqual(runKinds({ targetBtf: fake }, real), want);
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-btf-'));
  try {
    const file = join(dir, 'vmlinux-sid5.btf');
    writeFileSync(file, encodeBtf(fake));
    assert.deepEqual(runKinds({ targetBtf: file }, real), want);
    const saved = process.env.BTF_FILE_PATH;
    process.env.BTF_FILE_PATH = file;
    try {
      // 'auto' with BTF_FILE_PATH: user space, against the file, although the kernel could.
      assert.deepEqual(runKinds({}, real), want);
      if (kernelCore()) assert.deepEqual(runKinds({ core: 'kernel' }, real), { ...want, sid_value: 3n });
    } finally {
      if (saved === undefined) delete process.env.BTF_FILE_PATH;
      else process.env.BTF_FILE_PATH = saved;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => Collection.load(kindsObject(), { core: 'kernel', targetBtf: fake }), /core 'kernel' cannot use a target BTF/);
  assert.throws(() => Collection.load(kindsObject(), { targetBtf: '/nonexistent/vmlinux' }), /kernel BTF not found at \/nonexistent\/vmlinux/);
});

test('auto mode falls back to user CO-RE when the kernel refuses core_relos (E2BIG, < 5.17)', () => {
  const sys = new FakeSys();
  sys.failNext('progLoad', 7 /* E2BIG */);
  const target: CoreTarget | undefined = userCoreTarget(sys, {}, 'p');
  assert.equal(target?.name, process.env.BTF_FILE_PATH || 'vmlinux');
  const sys2 = new FakeSys();
  assert.equal(userCoreTarget(sys2, {}, 'p'), undefined); // the probe loads: the kernel does it
  const sys3 = new FakeSys();
  sys3.failNext('progLoad', 7);
  assert.throws(() => userCoreTarget(sys3, { core: 'kernel' }, 'program p'), /kernel-side CO-RE \(Linux >= 5.17\): not supported by this kernel \(program p; use core 'user' or 'auto'\)/);
});

test('the core records are not sent to the kernel when tsbpf applied them', () => {
  const spec = loadObjectFile(join(ROOT, 'testdata', 'core.bpf.o'));
  const sent = (core: 'user' | 'kernel') => {
    const sys = new FakeSys();
    // The object's own BTF as the target: every type matches itself, no vmlinux needed.
    Collection.load(spec, { sys, core, ...(core === 'user' ? { targetBtf: spec.btf } : {}) }).close();
    return sys.callsOf('progLoad').map(([a]) => a).filter((a) => a.progName === 'read_task');
  };
  const user = sent('user');
  assert.equal(user.length, 1);
  assert.equal(user[0]!.coreReloCnt, undefined);
  assert.equal(user[0]!.coreRelos, undefined);
  assert.ok(user[0]!.funcInfoCnt! > 0, 'func_info still goes');
  assert.equal(sent('kernel')[0]!.coreReloCnt, linkProgram(spec, spec.programs[0]!).coreRelos.length);
});

// ---------------------------------------------------------------------------------------
// The matcher on hand-built BTF

/** A tiny BTF builder: types by id, strings appended. */
class B {
  readonly btf = new Btf([{ kind: 'void', name: '' }], StringTable.empty());
  add(t: BtfType): number {
    return this.btf.add(t);
  }
  int(name = 'int', size = 4, signed = true): number {
    return this.add({ kind: 'int', name, size, encoding: signed ? 1 : 0, bitOffset: 0, bits: size * 8 });
  }
  struct(name: string, size: number, members: [string, number, number, number?][], kind: 'struct' | 'union' = 'struct'): number {
    return this.add({ kind, name, size, kflag: members.some((m) => m[3]), members: members.map(([n, type, bitOffset, bf]) => ({ name: n, type, bitOffset, bitfieldSize: bf ?? 0 })) });
  }
  relo(insn: number, typeId: number, access: string, kind: number): CoreRelo {
    return { insnOff: insn, typeId, accessStrOff: this.btf.strings.add(access), kind };
  }
}

/** Instructions: `mov r1, imm` for each value (ALU64 | K). */
function movs(...imms: number[]): Uint8Array {
  const b = new Uint8Array(imms.length * 8);
  const v = new DataView(b.buffer);
  imms.forEach((imm, i) => {
    v.setUint8(i * 8, 0xb7);
    v.setUint8(i * 8 + 1, 1);
    v.setInt32(i * 8 + 4, imm, true);
  });
  return b;
}
const imm = (insns: Uint8Array, i: number) => new DataView(insns.buffer, insns.byteOffset).getInt32(i * 8 + 4, true);
const code = (insns: Uint8Array, i: number) => insns[i * 8]!;
const target = (b: B): CoreTarget[] => [{ btf: b.btf, name: 'target' }];

test('matcher: flavours match by essential name; field offsets and sizes', () => {
  assert.equal(essentialNameLength('task_struct___old'), 11);
  assert.equal(essentialNameLength('a___b___c'), 5); // up to the last separator: 'a___b'
  assert.equal(essentialNameLength('____x'), 5); // no non-underscore before ___
  assert.equal(essentialNameLength('x___'), 4);

  const l = new B();
  const li = l.int();
  const lfoo = l.struct('foo___v1', 8, [['a', li, 0], ['b', li, 32]]);
  const t = new B();
  const ti = t.int();
  const tl = t.int('long', 8);
  t.struct('foo', 24, [['x', tl, 0], ['a', ti, 64], ['pad', ti, 96], ['b', tl, 128]]);
  t.struct('bar', 4, [['b', ti, 0]]);
  const insns = movs(4, 4, 1, 4);
  const out = applyCoreRelocations('p', l.btf, [
    l.relo(0, lfoo, '0:1', CORE.FIELD_BYTE_OFFSET),
    l.relo(1, lfoo, '0:1', CORE.FIELD_BYTE_SIZE),
    l.relo(2, lfoo, '0:1', CORE.FIELD_EXISTS),
    l.relo(3, lfoo, '0:1', CORE.FIELD_BYTE_SIZE),
  ], insns, target(t));
  assert.deepEqual([imm(insns, 0), imm(insns, 1), imm(insns, 2), imm(insns, 3)], [16, 8, 1, 8]);
  assert.equal(out[0]!.spec, 'struct foo___v1.b');
  assert.deepEqual(out[0]!.target, { btf: 'target', typeId: 3 });
});

test('matcher: module BTFs are searched only for types vmlinux lacks, and only then read', () => {
  const l = new B();
  const li = l.int();
  const lconn = l.struct('nf_conn', 8, [['mark', li, 32]]);
  const ltask = l.struct('task_struct', 4, [['pid', li, 0]]);
  const vm = new B();
  const vi = vm.int();
  vm.struct('task_struct', 16, [['state', vi, 0], ['pid', vi, 64]]);
  // A module's split BTF: vmlinux's types first, its own from startId on (as the kernel numbers them).
  const own = vm.btf.count;
  const mod = new Btf([...vm.btf.types, { kind: 'struct', name: 'nf_conn', size: 64, kflag: false, members: [{ name: 'mark', type: vi, bitOffset: 320, bitfieldSize: 0 }] }], vm.btf.strings, own);
  let reads = 0;
  const more = () => {
    reads++;
    return [{ btf: mod, name: 'nf_conntrack', startId: own }];
  };
  const task = movs(0);
  applyCoreRelocations('p', l.btf, [l.relo(0, ltask, '0:0', CORE.FIELD_BYTE_OFFSET)], task, [{ btf: vm.btf, name: 'vmlinux' }], { moreTargets: more });
  assert.equal(imm(task, 0), 8);
  assert.equal(reads, 0, 'vmlinux had task_struct: no module BTF was read');

  const conn = movs(4, 1);
  const out = applyCoreRelocations('p', l.btf, [
    l.relo(0, lconn, '0:0', CORE.FIELD_BYTE_OFFSET),
    l.relo(1, lconn, '0:0', CORE.FIELD_EXISTS),
  ], conn, [{ btf: vm.btf, name: 'vmlinux' }], { moreTargets: more });
  assert.deepEqual([imm(conn, 0), imm(conn, 1)], [40, 1]);
  assert.deepEqual(out[0]!.target, { btf: 'nf_conntrack', typeId: own });

  // Without the modules the type is missing: existence reads 0 and the offset is poisoned.
  const none = movs(4, 1);
  const miss = applyCoreRelocations('p', l.btf, [
    l.relo(0, lconn, '0:0', CORE.FIELD_BYTE_OFFSET),
    l.relo(1, lconn, '0:0', CORE.FIELD_EXISTS),
  ], none, [{ btf: vm.btf, name: 'vmlinux' }]);
  assert.equal(miss[0]!.poisoned, true);
  assert.equal(imm(none, 1), 0);
});

test('matcher: ambiguous candidates are an error; agreeing ones are fine', () => {
  const l = new B();
  const li = l.int();
  const lfoo = l.struct('foo', 4, [['b', li, 0]]);
  const t = new B();
  const ti = t.int();
  t.struct('foo', 8, [['a', ti, 0], ['b', ti, 32]]);
  t.struct('foo___2', 8, [['b', ti, 0]]);
  assert.throws(
    () => applyCoreRelocations('prog1', l.btf, [l.relo(0, lfoo, '0:0', CORE.FIELD_BYTE_OFFSET)], movs(0), target(t)),
    (e: unknown) => e instanceof CoreError && /^program prog1: CO-RE relocation #0 \(byte_off\) at insn 0: struct foo\.b is ambiguous/.test(e.message) && !e.message.includes('\n'),
  );
  const t2 = new B();
  const t2i = t2.int();
  t2.struct('foo', 8, [['b', t2i, 32]]);
  t2.struct('foo___2', 8, [['b', t2i, 32], ['c', t2i, 0]]);
  const insns = movs(0);
  applyCoreRelocations('p', l.btf, [l.relo(0, lfoo, '0:0', CORE.FIELD_BYTE_OFFSET)], insns, target(t2));
  assert.equal(imm(insns, 0), 4);
  // A same-named member of an incompatible kind does not match: struct vs int.
  const t3 = new B();
  const t3i = t3.int();
  const inner = t3.struct('inner', 4, [['z', t3i, 0]]);
  t3.struct('foo', 8, [['b', inner, 0]]);
  const ins3 = movs(0, 1);
  const o3 = applyCoreRelocations('p', l.btf, [l.relo(0, lfoo, '0:0', CORE.FIELD_BYTE_OFFSET), l.relo(1, lfoo, '0:0', CORE.FIELD_EXISTS)], ins3, target(t3));
  assert.equal(o3[0]!.poisoned, true);
  assert.equal(imm(ins3, 1), 0);
});

test('matcher: a missing field poisons its instruction (ld_imm64: both halves); existence reads 0', () => {
  const l = new B();
  const li = l.int();
  const lfoo = l.struct('foo', 8, [['a', li, 0], ['gone', li, 32]]);
  const t = new B();
  t.struct('foo', 4, [['a', t.int(), 0]]);
  const insns = new Uint8Array(8 * 5);
  insns.set(movs(4, 1), 0);
  // ld_imm64 r2 = 4 (2 slots), then ldx r3 = *(u32 *)(r1 + 4)
  const v = new DataView(insns.buffer);
  v.setUint8(16, 0x18); v.setUint8(17, 2); v.setInt32(20, 4, true);
  v.setUint8(32, 0x61); v.setUint8(33, 0x13); v.setInt16(34, 4, true);
  const out = applyCoreRelocations('p', l.btf, [
    l.relo(0, lfoo, '0:1', CORE.FIELD_BYTE_OFFSET),
    l.relo(1, lfoo, '0:1', CORE.FIELD_EXISTS),
    l.relo(2, lfoo, '0:1', CORE.FIELD_BYTE_OFFSET),
    l.relo(4, lfoo, '0:1', CORE.FIELD_BYTE_OFFSET),
  ], insns, target(t));
  assert.deepEqual(out.map((o) => o.poisoned), [true, false, true, true]);
  assert.deepEqual(out.map((o) => o.poisonReason), ['no-match', undefined, 'no-match', 'no-match']);
  for (const i of [0, 2, 3, 4]) {
    assert.equal(code(insns, i), 0x85, `insn ${i} is a call`);
    assert.equal(imm(insns, i), POISON_HELPER);
  }
  assert.equal(imm(insns, 1), 0);
  // No candidate at all: the same.
  const empty = new B();
  empty.int();
  const ins2 = movs(4, 1);
  applyCoreRelocations('p', l.btf, [l.relo(0, lfoo, '0:1', CORE.FIELD_BYTE_OFFSET), l.relo(1, lfoo, '0:1', CORE.FIELD_EXISTS)], ins2, target(empty));
  assert.equal(imm(ins2, 0), POISON_HELPER);
  assert.equal(imm(ins2, 1), 0);
});

test('matcher: bitfields: byte offset, size, shifts, signedness', () => {
  const l = new B();
  const lu = l.int('unsigned int', 4, false);
  const ls = l.int('int', 4, true);
  const lfoo = l.struct('bits', 4, [['x', lu, 0, 3], ['y', ls, 3, 5]]);
  const t = new B();
  const tu = t.int('unsigned int', 4, false);
  const ts = t.int('int', 4, true);
  const tl = t.int('long long unsigned int', 8, false);
  // y moved to bits 30..34 of a u32 field: it straddles, so an 8-byte load is needed.
  t.struct('bits', 16, [['pad', tl, 0], ['x', tu, 64, 3], ['y', ts, 94, 5]]);
  // local: x: byte 0, size 4, lshift 64-(0+3-0)=61, rshift 61; y: lshift 64-(3+5)=56, rshift 59
  const insns = movs(0, 4, 56, 59, 1, 0, 61, 61);
  applyCoreRelocations('p', l.btf, [
    l.relo(0, lfoo, '0:1', CORE.FIELD_BYTE_OFFSET),
    l.relo(1, lfoo, '0:1', CORE.FIELD_BYTE_SIZE),
    l.relo(2, lfoo, '0:1', CORE.FIELD_LSHIFT_U64),
    l.relo(3, lfoo, '0:1', CORE.FIELD_RSHIFT_U64),
    l.relo(4, lfoo, '0:1', CORE.FIELD_SIGNED),
    l.relo(5, lfoo, '0:0', CORE.FIELD_SIGNED),
    l.relo(6, lfoo, '0:0', CORE.FIELD_LSHIFT_U64),
    l.relo(7, lfoo, '0:0', CORE.FIELD_RSHIFT_U64),
  ], insns, target(t));
  // y: bits 94..98; 4-byte load at byte 8 covers 64..95 only: 8-byte load at byte 8 covers 64..127.
  assert.equal(imm(insns, 0), 8);
  assert.equal(imm(insns, 1), 8);
  assert.equal(imm(insns, 2), 64 - (94 + 5 - 64));
  assert.equal(imm(insns, 3), 59);
  assert.equal(imm(insns, 4), 1);
  assert.equal(imm(insns, 5), 0);
  assert.equal(imm(insns, 6), 64 - (64 + 3 - 64));
  assert.equal(imm(insns, 7), 61);
});

test('matcher: arrays (index bounds, element offsets) and anonymous members', () => {
  const l = new B();
  const li = l.int();
  const larr = l.add({ kind: 'array', name: '', type: li, indexType: li, nelems: 4 });
  const lfoo = l.struct('foo', 20, [['n', li, 0], ['arr', larr, 32]]);
  const t = new B();
  const ti = t.int();
  const tarr = t.add({ kind: 'array', name: '', type: ti, indexType: ti, nelems: 3 });
  const anon = t.struct('', 12, [['arr', tarr, 0]], 'union');
  t.struct('foo', 40, [['pad', ti, 0], ['n', ti, 32], ['', anon, 64]]);
  const insns = movs(12, 16, 0, 4);
  const out = applyCoreRelocations('p', l.btf, [
    l.relo(0, lfoo, '0:1:2', CORE.FIELD_BYTE_OFFSET), // arr[2]: 8 + 2*4 = 16
    l.relo(1, lfoo, '0:1:3', CORE.FIELD_BYTE_OFFSET), // arr[3]: out of the target's 3
    l.relo(2, lfoo, '0:0', CORE.FIELD_BYTE_OFFSET), // n: 4
    l.relo(3, lfoo, '0:1:1', CORE.FIELD_BYTE_SIZE), // one element: 4
  ], insns, target(t));
  assert.equal(imm(insns, 0), 16);
  assert.equal(out[1]!.poisoned, true);
  assert.equal(imm(insns, 2), 4);
  assert.equal(imm(insns, 3), 4);
  assert.equal(out[0]!.spec, 'struct foo.arr[2]');
  // Root index: &p[1].n is 1 * sizeof(foo) + 4.
  const ins2 = movs(20);
  applyCoreRelocations('p', l.btf, [l.relo(0, lfoo, '1:0', CORE.FIELD_BYTE_OFFSET)], ins2, target(t));
  assert.equal(imm(ins2, 0), 44);
  // A local index beyond the local array is a malformed record.
  assert.throws(() => applyCoreRelocations('p', l.btf, [l.relo(0, lfoo, '0:1:9', CORE.FIELD_BYTE_OFFSET)], movs(0), target(t)), /index 9 is out of int\[4\]/);
});

test('matcher: loads change size for unsigned ints and pointers, and are poisoned for signed ones', () => {
  const l = new B();
  const lu = l.int('unsigned int', 4, false);
  const ls = l.int('int', 4, true);
  const lfoo = l.struct('foo', 8, [['u', lu, 0], ['s', ls, 32]]);
  const t = new B();
  const tu = t.int('long unsigned int', 8, false);
  const ts = t.int('long', 8, true);
  t.struct('foo', 16, [['u', tu, 0], ['s', ts, 64]]);
  const insns = new Uint8Array(16);
  const v = new DataView(insns.buffer);
  v.setUint8(0, 0x61); v.setUint8(1, 0x21); v.setInt16(2, 0, true); // r1 = *(u32 *)(r2 + 0)
  v.setUint8(8, 0x61); v.setUint8(9, 0x21); v.setInt16(10, 4, true); // r1 = *(u32 *)(r2 + 4)
  const out = applyCoreRelocations('p', l.btf, [l.relo(0, lfoo, '0:0', CORE.FIELD_BYTE_OFFSET), l.relo(1, lfoo, '0:1', CORE.FIELD_BYTE_OFFSET)], insns, target(t));
  assert.equal(code(insns, 0), 0x79); // BPF_LDX | BPF_MEM | BPF_DW
  assert.equal(v.getInt16(2, true), 0);
  assert.equal(out[1]!.poisoned, true);
  assert.equal(out[1]!.poisonReason, 'size');
  assert.equal(code(insns, 1), 0x85);
  // An instruction not holding the local value is refused, naming it.
  assert.throws(
    () => applyCoreRelocations('p', l.btf, [l.relo(0, lfoo, '0:1', CORE.FIELD_BYTE_OFFSET)], movs(5), target(t)),
    /^CoreError: program p: CO-RE relocation #0 \(byte_off\) at insn 0: struct foo\.s: instruction holds 5, expected the local value 4$/,
  );
});

test('matcher: type-based and enum relocations, TYPE_MATCHES rules', () => {
  const l = new B();
  const li = l.int();
  const lfoo = l.struct('foo', 4, [['a', li, 0]]);
  const lenum = l.add({ kind: 'enum', name: 'color', size: 4, signed: false, values: [{ name: 'RED', value: 0 }, { name: 'BLUE___x', value: 9 }, { name: 'GONE', value: 5 }] });
  const lmissing = l.struct('missing', 4, [['a', li, 0]]);
  const t = new B();
  const ti = t.int();
  t.struct('pad', 4, [['a', ti, 0]]);
  const tfoo = t.struct('foo', 16, [['a', ti, 0], ['b', t.int('long', 8), 64]]);
  t.add({ kind: 'enum', name: 'color', size: 4, signed: false, values: [{ name: 'RED', value: 0 }, { name: 'BLUE', value: 0xffffff00 }] });
  const insns = movs(lfoo, 0, 1, 4, 1, 9, 1, 1);
  const out = applyCoreRelocations('p', l.btf, [
    l.relo(0, lfoo, '0', CORE.TYPE_ID_LOCAL),
    l.relo(1, lfoo, '0', CORE.TYPE_ID_TARGET),
    l.relo(2, lfoo, '0', CORE.TYPE_EXISTS),
    l.relo(3, lfoo, '0', CORE.TYPE_SIZE),
    l.relo(4, lfoo, '0', CORE.TYPE_MATCHES),
    l.relo(5, lenum, '1', CORE.ENUMVAL_VALUE),
    l.relo(6, lenum, '2', CORE.ENUMVAL_EXISTS),
    l.relo(7, lmissing, '0', CORE.TYPE_EXISTS),
  ], insns, target(t));
  assert.equal(imm(insns, 0), lfoo);
  assert.equal(imm(insns, 1), tfoo);
  assert.equal(imm(insns, 2), 1);
  assert.equal(imm(insns, 3), 16);
  assert.equal(imm(insns, 4), 1);
  assert.equal(imm(insns, 5) >>> 0, 0xffffff00);
  assert.equal(out[5]!.value, 0xffffffffffffff00n); // an enum value is an s32, sign-extended (libbpf)
  assert.equal(imm(insns, 6), 0);
  assert.equal(imm(insns, 7), 0);
  // TYPE_MATCHES: an int member does not match a char one, nor a struct without it.
  const t2 = new B();
  t2.struct('foo', 1, [['a', t2.int('char', 1, true), 0]]);
  assert.equal(typesMatch(l.btf, lfoo, t2.btf, 2), false);
  const t3 = new B();
  const t3i = t3.int();
  const t3foo = t3.struct('foo', 4, [['a', t3i, 0]]);
  assert.equal(typesMatch(l.btf, lfoo, t3.btf, t3foo), true);
  // Behind a pointer, a struct matches a forward declaration.
  const l4 = new B();
  const l4s = l4.struct('s', 4, [['a', l4.int(), 0]]);
  const l4p = l4.add({ kind: 'ptr', name: '', type: l4s });
  const t4 = new B();
  const t4f = t4.add({ kind: 'fwd', name: 's', union: false });
  const t4p = t4.add({ kind: 'ptr', name: '', type: t4f });
  assert.equal(typesMatch(l4.btf, l4p, t4.btf, t4p), true);
  assert.equal(typesMatch(l4.btf, l4s, t4.btf, t4f), false);
  const t5 = new B();
  const t5foo = t5.struct('foo', 0, []);
  assert.equal(typesMatch(l.btf, lfoo, t5.btf, t5foo), false);
  void ti;
});

// ---------------------------------------------------------------------------------------
// Fuzz


test('fuzz: corrupt records, access strings and type ids give a TsbpfError, never a crash', () => {
  const spec = parseObject(readFileSync(join(ROOT, 'testdata', 'core.bpf.o')), 'core');
  const linked = linkProgram(spec, spec.programs[0]!);
  const kinds = kindsObject();
  const klinked = linkProgram(kinds, kinds.programs[0]!);
  // Targets: the object's own BTF (always there), and the other object's.
  const targets: CoreTarget[][] = [[{ btf: spec.btf, name: 'self' }], [{ btf: kinds.btf, name: 'kinds' }]];
  const accessPool = ['0', '0:0', '0:1:2', ':0', '0:', '', 'x', '0:99999999999', '1:2:3:4:5:6:7:8:9:10', '0::1', '-1', '0:4294967295', '0'.repeat(2000), Array(70).fill('0').join(':')];
  const rnd = mulberry32(Number(process.env.FUZZ_SEED ?? 0x6c0be) >>> 0);
  const pick = <T>(a: readonly T[]) => a[Math.floor(rnd() * a.length)]!;
  let ok = 0, failed = 0;
  for (let n = 0; n < Number(process.env.FUZZ_CASES ?? 3000); n++) {
    const [btf, base] = rnd() < 0.5 ? [spec.btf, linked] : [kinds.btf, klinked];
    const insns = base.insns.slice();
    if (rnd() < 0.3) for (let k = 0; k < 4; k++) insns[Math.floor(rnd() * insns.length)] = Math.floor(rnd() * 256);
    const relos = base.coreRelos.map((r) => ({ ...r }));
    const m = Math.floor(rnd() * 4) + 1;
    for (let k = 0; k < m && relos.length; k++) {
      const r = pick(relos);
      switch (Math.floor(rnd() * 5)) {
        case 0: r.kind = Math.floor(rnd() * 16); break;
        case 1: r.typeId = rnd() < 0.5 ? Math.floor(rnd() * btf.count * 1.2) : 0xffffffff; break;
        case 2: r.accessStrOff = rnd() < 0.5 ? btf.strings.add(pick(accessPool)) : Math.floor(rnd() * 200000); break;
        case 3: r.insnOff = rnd() < 0.5 ? Math.floor(rnd() * (insns.length / 8) * 1.2) : -1; break;
        default: r.accessStrOff = btf.strings.add(`${Math.floor(rnd() * 3)}:${Math.floor(rnd() * 30)}:${Math.floor(rnd() * 20)}`);
      }
    }
    try {
      applyCoreRelocations('fuzz', btf, relos, insns, pick(targets));
      ok++;
    } catch (e) {
      if (!(e instanceof TsbpfError)) throw new Error(`case ${n}: ${(e as Error).stack}`);
      assert.ok(!e.message.includes('\n'), `case ${n}: one line: ${e.message}`);
      failed++;
    }
  }
  assert.ok(ok > 0 && failed > 0, `both outcomes happen (${ok} ok, ${failed} errors)`);
});

// ---------------------------------------------------------------------------------------
// The command line, and the kernel floor

kernelTest('tsbpf check/exitsnoop/run --btf FILE: CO-RE against the file; a poisoned read names itself in the verifier log', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-btf-cli-'));
  try {
    const good = join(dir, 'vmlinux.btf');
    writeFileSync(good, encodeBtf(kernelBtf('/sys/kernel/btf/vmlinux')));
    // A kernel whose task_struct has no `pid`: core.bpf.o's read of task->pid cannot be
    // relocated, is poisoned, and is reachable, so the verifier refuses the call.
    const noPid = kernelBtf('/sys/kernel/btf/vmlinux').clone();
    const task = noPid.type(noPid.idByName('task_struct', 'struct')!) as Struct;
    task.members.find((m) => m.name === 'pid')!.name = 'pid_renamed';
    const bad = join(dir, 'nopid.btf');
    writeFileSync(bad, encodeBtf(noPid));
    const core = join(ROOT, 'testdata', 'core.bpf.o');

    const ok = tsbpf(['check', '--btf', good, core]);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /1 program accepted, 0 rejected/);
    const rejected = tsbpf(['check', '--btf', bad, core]);
    assert.equal(rejected.status, 1);
    assert.match(rejected.stdout, /read_task .* REJECTED/);
    assert.match(rejected.stderr, /invalid func unknown#195896080/);
    // The one line that says why, before the log: which relocation, which field, which BTF.
    assert.match(rejected.stderr, new RegExp(`^--- program read_task rejected \\(EINVAL\\): CO-RE relocation #\\d+ \\(byte_off struct task_struct\\.pid\\) at insn \\d+ has no match in ${bad.replace(/[.]/g, '\\.')}, and that instruction is reached; verifier log:$`, 'm'));
    const missing = tsbpf(['check', '--btf', join(dir, 'nope'), core]);
    assert.equal(missing.status, 1);
    assert.equal(missing.stderr, `tsbpf: kernel BTF not found at ${join(dir, 'nope')} (the target BTF file): no such file\n`);
    const notBtf = tsbpf(['check', '--btf', core, core]);
    assert.equal(notBtf.stderr, `tsbpf: ${core}: BTF: bad magic 0x457f (expected 0xeb9f)\n`);

    const snoop = tsbpf(['exitsnoop', '--btf', good, '--duration', '300ms']);
    assert.equal(snoop.status, 0, snoop.stderr);
    assert.match(snoop.stdout, /^TIME +PID/);
    const snoopBad = tsbpf(['exitsnoop', '--btf', join(dir, 'nope'), '--duration', '300ms']);
    assert.equal(snoopBad.status, 1);
    assert.match(snoopBad.stderr, /^tsbpf: kernel BTF not found at .*nope \(the target BTF file\): no such file\n$/);
    const runBad = tsbpf(['run', core, '--btf', join(dir, 'nope')]);
    assert.equal(runBad.status, 1);
    assert.match(runBad.stderr, /^tsbpf: kernel BTF not found at .*nope \(the target BTF file\): no such file\n$/);
    const runBad2 = tsbpf(['run', '--btf', bad, core]);
    assert.equal(runBad2.status, 1);
    assert.match(runBad2.stderr, /^tsbpf: program read_task: the kernel rejected it \(EINVAL\): CO-RE relocation #\d+ \(byte_off struct task_struct\.pid\) at insn \d+ has no match in .*nopid\.btf, and that instruction is reached; verifier log:\n/);
    assert.match(runBad2.stderr, /invalid func unknown#195896080/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kernel floor: below 5.8 without a ring buffer, loading says so in one line', () => {
  assert.equal(belowKernelFloor('5.4.0-150-generic'), true);
  assert.equal(belowKernelFloor('4.18.0-553.el8_10.x86_64'), true);
  assert.equal(belowKernelFloor('5.8.0'), false);
  assert.equal(belowKernelFloor('5.15.0-91-generic'), false);
  assert.equal(belowKernelFloor('6.1.0-18-amd64'), false);
  assert.equal(belowKernelFloor('weird'), false);
  const spec = loadObjectFile(join(ROOT, 'testdata', 'maps.bpf.o'));
  const old = new FakeSys({ kernelRelease: '5.4.0-150-generic' });
  old.failNext('mapCreate', 22 /* EINVAL: no BPF_MAP_TYPE_RINGBUF */);
  assert.throws(() => Collection.load(spec, { sys: old }), (e: unknown) =>
    e instanceof TsbpfError && e.message === 'the BPF ring buffer (Linux >= 5.8), which tsbpf needs: not supported by this kernel (running Linux 5.4.0-150-generic; tsbpf supports Linux 5.8 and later)');
  assert.equal(old.openFds.size, 0);
  // RHEL 8 says 4.18 but has the ring buffer backported: allowed.
  const rhel = new FakeSys({ kernelRelease: '4.18.0-553.el8_10.x86_64' });
  Collection.load(spec, { sys: rhel }).close();
});

kernelTest('TYPE_MATCHES against the kernel: core_kinds\' TYPE_EXISTS records turned into TYPE_MATCHES, kernel and user CO-RE agree', () => {
  // clang 14 cannot emit TYPE_MATCHES; the records are rewritten in the spec instead
  // (both kinds expect 1 in the instruction, so the compiler's values still hold).
  const mutate = () => {
    const spec = kindsObject();
    let n = 0;
    const task = spec.btf.idByName('task_struct', 'struct');
    for (const r of spec.programs[0]!.coreRelos) {
      if (r.kind !== CORE.TYPE_EXISTS) continue;
      r.kind = CORE.TYPE_MATCHES;
      // bpf/include/vmlinux.h's task_struct does not match the kernel's (clang names
      // u64's int "unsigned long long" where pahole says "long long unsigned int", and
      // its char is signed); the one-member flavour ___new does.
      if (r.typeId === task) r.typeId = spec.btf.idByName('task_struct___new', 'struct')!;
      n++;
    }
    assert.equal(n, 2);
    return spec;
  };
  const kernelMatches = kernelCore() && kernelAtLeast(6, 1);
  if (kernelMatches) assert.equal(differential('core_kinds (TYPE_MATCHES)', mutate()), 1);
  const results = (kernelMatches ? (['kernel', 'user'] as const) : (['user', 'user'] as const)).map((core) => {
    using coll = Collection.load(mutate(), { core });
    coll.program('kinds').testRun();
    const b = coll.variable('out').bytes();
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    return [v.getBigUint64(KINDS_FIELDS.indexOf('task_exists') * 8, true), v.getBigUint64(KINDS_FIELDS.indexOf('absent_exists') * 8, true)];
  });
  assert.deepEqual(results, [[1n, 0n], [1n, 0n]]);
  const spec = kindsObject();
  const k = kernelBtf('/sys/kernel/btf/vmlinux');
  assert.equal(typesMatch(spec.btf, spec.btf.idByName('task_struct', 'struct')!, k, k.idByName('task_struct', 'struct')!), false);
});

test('matcher: cyclic BTF (an anonymous member containing itself, typedef loops) ends in an error, not a stack overflow', () => {
  const l = new B();
  const li = l.int();
  const lfoo = l.struct('foo', 4, [['a', li, 0]]);
  const t = new B();
  // [1] struct foo { <anon [2]> }; [2] anon struct { <anon [2]> } (refers to itself)
  t.add({ kind: 'struct', name: 'foo', size: 4, kflag: false, members: [{ name: '', type: 2, bitOffset: 0, bitfieldSize: 0 }] });
  t.add({ kind: 'struct', name: '', size: 4, kflag: false, members: [{ name: '', type: 2, bitOffset: 0, bitfieldSize: 0 }] });
  assert.throws(() => applyCoreRelocations('p', l.btf, [l.relo(0, lfoo, '0:0', CORE.FIELD_BYTE_OFFSET)], movs(0), target(t)), CoreError);
  const t2 = new B();
  t2.add({ kind: 'typedef', name: 'foo', type: 2 });
  t2.add({ kind: 'typedef', name: 'bar', type: 1 });
  const l2 = new B();
  const l2t = l2.add({ kind: 'typedef', name: 'foo', type: l2.int() });
  assert.throws(() => applyCoreRelocations('p', l2.btf, [l2.relo(0, l2t, '0', CORE.TYPE_EXISTS)], movs(1), target(t2)), CoreError);
  assert.throws(() => applyCoreRelocations('p', l2.btf, [l2.relo(0, l2t, '0', CORE.TYPE_MATCHES)], movs(1), target(t2)), CoreError);
});

kernelTest('exitsnoop with user-space CO-RE (--btf): the exits it reports are right', async () => {
  const comm = 'tsbpf-coreuser';
  const prog = exitcasesNamed(comm);
  const child = spawn(process.execPath, [CLI, 'exitsnoop', '--btf', '/sys/kernel/btf/vmlinux', '--json', '-c', comm, '--duration', '20s'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  try {
    for (let i = 0; i < 200 && !err.includes('Tracing process exits'); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(err, /Tracing process exits/);
    const runs = [spawnSync(prog, ['code', '7']), spawnSync(prog, ['code', '0']), spawnSync(prog, ['code', '42'])];
    assert.deepEqual(runs.map((r) => r.status), [7, 0, 42]);
    const pids = runs.map((r) => r.pid);
    for (let i = 0; i < 100 && out.split('\n').filter(Boolean).length < 3; i++) await new Promise((r) => setTimeout(r, 50));
    const events = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.type === 'exit');
    assert.deepEqual(events.map((e) => [e.pid, e.comm, e.exit_code, e.signal]), [[pids[0], comm, 7, null], [pids[1], comm, 0, null], [pids[2], comm, 42, null]]);
    for (const e of events) assert.equal(e.ppid, process.pid);
  } finally {
    child.kill('SIGINT');
    await once(child, 'exit');
  }
});

// ---------------------------------------------------------------------------------------
// Against libbpf: bpftool prog loadall relocates CO-RE in user space with libbpf 1.1

/** Map references in an xlated dump hold map ids, which differ between two loads: zeroed. */
function withoutMapIds(insns: Uint8Array): Buffer {
  const b = Buffer.from(insns);
  for (let i = 0; i + 16 <= b.length; i += 8) {
    const src = b[i + 1]! >> 4;
    if (b[i] === 0x18 && (src === 1 || src === 2)) b.writeInt32LE(0, i + 4);
    if (b[i] === 0x18) i += 8;
  }
  return b;
}

kernelTest('against libbpf: user CO-RE gives the instructions libbpf 1.1 (bpftool prog loadall) gives, every committed object', () => {
  const sys = defaultSys();
  const pinRoot = join(bpffsPath(sys), `tsbpf-core-user-${process.pid}`);
  const compared: string[] = [];
  mkdirSync(pinRoot);
  const scratch = mkdtempSync(join(tmpdir(), 'tsbpf-xlated-'));
  try {
    for (const file of committedObjects()) {
      let spec: ObjectSpec;
      try {
        spec = loadObjectFile(file);
      } catch (e) {
        // An object refused before load (the corpus's pinbad) has no CO-RE to compare.
        if (e instanceof ParseError) continue;
        throw e;
      }
      const withCore = spec.programs.filter((p) => linkProgram(spec, p).coreRelos.length > 0);
      if (!withCore.length) continue;
      const dir = join(pinRoot, String(compared.length + withCore.length));
      // libbpf decides what it can load; a program it cannot load tells nothing here.
      const load = spawnSync('bpftool', ['prog', 'loadall', file, dir], { encoding: 'utf8' });
      if (load.error) throw new Error(`bpftool is needed for this test: ${load.error.message}`);
      if (load.status !== 0) continue;
      let loaded: Collection;
      try {
        loaded = Collection.load(spec, { core: 'user', collectFailures: true });
      } catch (e) {
        if (e instanceof CoreError) throw e;
        continue; // a map or construct tsbpf does not create yet: another part's business
      }
      using coll = loaded;
      for (const prog of withCore) {
        const pin = join(dir, prog.name);
        if (!existsSync(pin)) continue;
        const out = join(scratch, `${compared.length}.xlated`);
        assert.equal(spawnSync('bpftool', ['prog', 'dump', 'xlated', 'pinned', pin, 'file', out]).status, 0);
        const mine = coll.programs.get(prog.name);
        const failure = coll.failures.get(prog.name);
        // A construct tsbpf does not load yet (another part of the loader) is not this test's
        // business; a CO-RE error or a verifier rejection is.
        if (!mine && !(failure instanceof CoreError) && !(failure instanceof VerifierError)) continue;
        assert.ok(mine, `${file} ${prog.name}: libbpf loads it, tsbpf with user CO-RE does not: ${errText(failure)}`);
        // libbpf 1.1 decides LINUX_HAS_SYSCALL_WRAPPER with a kprobe: without kprobes it says 0
        // where tsbpf (kallsyms) says 1, and the verifier keeps the other branch (not CO-RE's doing).
        if (!kernelHasKprobes() && spec.externs.some((e) => e.name === 'LINUX_HAS_SYSCALL_WRAPPER')) continue;
        assert.deepEqual(withoutMapIds(sys.progXlatedInsns(mine.fd)), withoutMapIds(readFileSync(out)), `${file} ${prog.name}: xlated instructions differ from libbpf's`);
        compared.push(`${file.slice(ROOT.length + 1)}:${prog.name}`);
      }
    }
  } finally {
    rmSync(pinRoot, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  }
  for (const must of ['testdata/core.bpf.o:read_task', 'testdata/corpus/core_kinds.bpf.o:kinds', 'tools/exitsnoop/exitsnoop.bpf.o:handle_exit']) {
    assert.ok(compared.includes(must), `${must} was compared with libbpf (compared: ${compared.join(', ')})`);
  }
});

kernelTest('auto on a kernel that refuses core_relos (as < 5.17 does, E2BIG): tsbpf relocates, the program computes the right values', () => {
  const real = defaultSys();
  const calls: ProgLoadAttr[] = [];
  // The real kernel, except that BPF_PROG_LOAD with core_relo fields fails as on 5.16.
  const old: Sys = Object.create(real);
  old.progLoad = (a: ProgLoadAttr) => {
    calls.push(a);
    if (a.coreReloRecSize || a.coreReloCnt) throw new SysError('bpf', 7 /* E2BIG */, 'BPF_PROG_LOAD');
    return real.progLoad(a);
  };
  const vmlinux = kernelBtf('/sys/kernel/btf/vmlinux');
  assert.deepEqual(runKinds({ sys: old }, vmlinux), expectedKinds(vmlinux, kindsObject().btf));
  // The probe asked once; the program went without records.
  assert.equal(calls.filter((a) => a.coreReloRecSize).length, 1);
  assert.deepEqual(calls.filter((a) => a.progName === 'kinds').map((a) => a.coreReloCnt), [undefined]);
});

// ---------------------------------------------------------------------------------------
// BTF for kernels older than the compiler (the 5.8..5.16 range)

test('sanitizeBtf: float, decl_tag, type_tag, enum64 and signed enums become kinds old kernels know, ids kept', () => {
  const b = new B();
  const i = b.int();
  const f = b.add({ kind: 'float', name: 'float', size: 8 });
  const s = b.struct('s', 4, [['a', i, 0]]);
  const dt = b.add({ kind: 'decl_tag', name: 'tag', type: s, componentIdx: 0 });
  const tt = b.add({ kind: 'type_tag', name: 'user', type: i });
  const p = b.add({ kind: 'ptr', name: '', type: tt });
  const e64 = b.add({ kind: 'enum64', name: 'big', size: 8, signed: false, values: [{ name: 'X', value: 1n << 40n }, { name: 'Y', value: 2n }] });
  const se = b.add({ kind: 'enum', name: 'sgn', size: 4, signed: true, values: [{ name: 'M', value: -1 }] });
  assert.equal(sanitizeBtf(b.btf, ALL_BTF_FEATURES), b.btf, 'nothing to do: the same BTF');
  const out = sanitizeBtf(b.btf, { float: false, declTag: false, typeTag: false, enum64: false });
  assert.notEqual(out, b.btf);
  assert.deepEqual(out.type(f), { kind: 'struct', name: '', size: 8, members: [], kflag: false });
  assert.deepEqual(out.type(dt), { kind: 'int', name: 'tag', size: 1, encoding: 0, bitOffset: 0, bits: 8 });
  assert.deepEqual(out.type(tt), { kind: 'const', name: '', type: i });
  assert.deepEqual(out.type(p), { kind: 'ptr', name: '', type: tt });
  const u = out.type(e64);
  assert.equal(u.kind, 'union');
  assert.deepEqual(u.kind === 'union' && [u.size, u.members.map((m) => [m.name, out.type(m.type).kind, out.size(m.type)])], [8, [['X', 'int', 1], ['Y', 'int', 1]]]);
  assert.deepEqual(out.type(se), { kind: 'enum', name: 'sgn', size: 4, signed: false, values: [{ name: 'M', value: -1 }] });
  assert.equal(out.count, b.btf.count + 1, 'one placeholder int added at the end');
  assert.equal(b.btf.type(f).kind, 'float', 'the original is untouched');
  // Only what the kernel lacks changes.
  const some = sanitizeBtf(b.btf, { float: true, declTag: true, typeTag: false, enum64: true });
  assert.deepEqual([some.type(f).kind, some.type(dt).kind, some.type(tt).kind, some.type(e64).kind], ['float', 'decl_tag', 'const', 'enum64']);
});

kernelTest('BTF features: this kernel takes float, decl_tag, type_tag and enum64; the sanitized forms load too', () => {
  const sys = defaultSys();
  const since = { float: [5, 13], declTag: [5, 16], typeTag: [5, 17], enum64: [6, 0] } as const;
  for (const f of ['float', 'declTag', 'typeTag', 'enum64'] as const) {
    if (kernelAtLeast(since[f][0], since[f][1])) assert.equal(haveBtfFeature(sys, f), true, f);
  }
  // The rewritten BTF of the corpus object is well-formed for the kernel itself.
  const spec = loadObjectFile(join(ROOT, 'testdata', 'corpus', 'btf_kinds.bpf.o'));
  const fd = sys.btfLoad({ btf: encodeBtf(sanitizeBtf(spec.btf, { float: false, declTag: false, typeTag: false, enum64: false })) });
  sys.close(fd);
});

kernelTest('btf_kinds.bpf.o on a kernel that refuses float, decl_tag and type_tag (as 5.12 does): it loads and returns 42', () => {
  const real = defaultSys();
  const refused = new Set(['float', 'decl_tag', 'type_tag', 'enum64']);
  const loaded: Btf[] = [];
  const old: Sys = Object.create(real);
  old.btfLoad = (a) => {
    const btf = parseBtf(a.btf);
    if (btf.types.some((t) => refused.has(t.kind))) throw new SysError('bpf', 22 /* EINVAL */, 'BPF_BTF_LOAD');
    loaded.push(btf);
    return real.btfLoad(a);
  };
  const spec = loadObjectFile(join(ROOT, 'testdata', 'corpus', 'btf_kinds.bpf.o'));
  assert.deepEqual(['float', 'decl_tag', 'type_tag'].map((k) => spec.btf.types.some((t) => t.kind === k)), [true, true, true]);
  // The real kernel takes the object as it is.
  using plain = Collection.load(spec);
  assert.equal(plain.program('sum').testRun().retval, 42);
  using coll = Collection.load(spec, { sys: old });
  assert.equal(coll.program('sum').testRun().retval, 42);
  assert.equal(coll.variable('tagged').get() !== undefined, true);
  assert.equal(loaded.length, 1);
  assert.deepEqual(loaded[0]!.types.filter((t) => refused.has(t.kind)), []);
  assert.equal(loaded[0]!.count, spec.btf.count, 'type ids kept');
});
