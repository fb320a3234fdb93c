/**
 * Loader logic against FakeSys: no root needed. What reaches the kernel (patched map
 * fds, func/line/CO-RE records, frozen .rodata) and the error paths (retries, verifier
 * log, not-supported, cleanup) are checked call by call.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { NotSupportedError } from '../src/errors.js';
import { Collection, VerifierError } from '../src/loader/index.js';
import { loadObjectFile } from '../src/object/index.js';
import * as C from '../src/sys/constants.js';
import { EACCES, EINVAL, ENOSPC } from '../src/sys/errors.js';
import { FakeSys } from '../src/sys/fake.js';
import { ROOT } from './paths.js';

const fixture = (name: string) => loadObjectFile(join(ROOT, 'testdata', `${name}.bpf.o`));

test('map fds and global data addresses are patched into ld_imm64', () => {
  const sys = new FakeSys();
  const spec = fixture('globals');
  const coll = Collection.load(spec, { sys });
  const prog = coll.program('compute');
  const insns = sys.progAttr(prog.fd).insns;
  const v = new DataView(insns.buffer, insns.byteOffset, insns.byteLength);
  for (const ref of spec.programs[0]!.references) {
    assert.ok(ref.kind === 'map_value');
    const o = ref.insn * 8;
    assert.equal(v.getUint8(o + 1) >> 4, C.BPF_PSEUDO_MAP_VALUE);
    assert.equal(v.getInt32(o + 4, true), coll.map(ref.map).fd);
    assert.equal(v.getInt32(o + 12, true), ref.offset);
  }
  // `negate` sits at offset 4 of .rodata.
  assert.ok(spec.programs[0]!.references.some((r) => r.kind === 'map_value' && r.map === 'globals.rodata' && r.offset === 4));
  coll.close();
  assert.equal(sys.openFds.size, 0);
});

test('.rodata is written then frozen before programs load; .bss is left zero', () => {
  const sys = new FakeSys();
  using coll = Collection.load(fixture('globals'), { sys });
  const order = sys.calls.map((c) => c.method);
  const rodata = coll.map('globals.rodata').fd;
  const freezeAt = sys.calls.findIndex((c) => c.method === 'mapFreeze' && c.args[0] === rodata);
  assert.ok(freezeAt > 0 && freezeAt < order.indexOf('progLoad'));
  const updates = sys.callsOf('mapUpdateElem').map(([fd, , value]) => [fd, [...value]]);
  assert.deepEqual(updates, [
    [rodata, [2, 0, 0, 0, 0]],
    [coll.map('globals.data').fd, [7, 0, 0, 0]],
    [coll.map('.data.custom').fd, [11, 0, 0, 0]],
    [coll.map('.rodata.limits').fd, [0xe8, 3, 0, 0]],
  ]);
  assert.equal(sys.mapAttr(rodata).mapFlags, C.BPF_F_RDONLY_PROG | C.BPF_F_MMAPABLE);
  assert.equal(sys.mapAttr(rodata).btfValueTypeId, coll.spec.btf.idByName('.rodata', 'datasec'));
});

test('func_info, line_info and CO-RE records reach BPF_PROG_LOAD with the right units', () => {
  const sys = new FakeSys();
  using coll = Collection.load(fixture('core'), { sys });
  const a = sys.progAttr(coll.program('read_task').fd);
  assert.equal(a.progBtfFd, coll.btfFd);
  assert.equal(a.funcInfoCnt, 1);
  assert.equal(a.funcInfoRecSize, 8);
  assert.equal(a.coreReloCnt, 7);
  assert.equal(a.coreReloRecSize, 16);
  const spec = coll.spec.programs[0]!;
  const relos = new DataView(a.coreRelos!.buffer, a.coreRelos!.byteOffset, a.coreRelos!.byteLength);
  // The kernel wants CO-RE insn_off in bytes, line/func info in instructions.
  assert.deepEqual(
    Array.from({ length: 7 }, (_, i) => relos.getUint32(i * 16, true)),
    spec.coreRelos.map((r) => r.insnOff * 8),
  );
  const lines = new DataView(a.lineInfo!.buffer, a.lineInfo!.byteOffset, a.lineInfo!.byteLength);
  assert.deepEqual(
    Array.from({ length: a.lineInfoCnt! }, (_, i) => lines.getUint32(i * 16, true)),
    spec.lineInfo.map((r) => r.insnOff),
  );
});

test('subprograms: each function start has func_info, calls point at the right function', () => {
  const sys = new FakeSys();
  using coll = Collection.load(fixture('subprog'), { sys });
  const a = sys.progAttr(coll.program('calls').fd);
  const fi = new DataView(a.funcInfo!.buffer, a.funcInfo!.byteOffset, a.funcInfo!.byteLength);
  assert.deepEqual(Array.from({ length: a.funcInfoCnt! }, (_, i) => fi.getUint32(i * 8, true)), [0, 10, 13, 16]);
  const btf = coll.spec.btf;
  assert.deepEqual(
    Array.from({ length: a.funcInfoCnt! }, (_, i) => btf.type(fi.getUint32(i * 8 + 4, true)).name),
    ['calls', 'add3', 'mul2', 'sq_plus'],
  );
});

test('a map the kernel refuses with BTF is created again without it', () => {
  const sys = new FakeSys().failNext('mapCreate', EINVAL);
  using coll = Collection.load(fixture('maps'), { sys });
  const [first, second] = sys.callsOf('mapCreate');
  assert.equal(first![0].mapName, 'counts');
  assert.equal(first![0].btfKeyTypeId, coll.map('counts').spec.keyTypeId);
  assert.equal(second![0].mapName, 'counts');
  assert.equal(second![0].btfFd, undefined);
  assert.equal(second![0].btfKeyTypeId, undefined);
});

test('a rejected program: log retried with a growing buffer, VerifierError, nothing left open', () => {
  const sys = new FakeSys()
    .failNext('progLoad', EACCES)
    .failNext('progLoad', ENOSPC, 'partial log')
    .failNext('progLoad', EACCES, '0: (b7) r0 = 0\nR1 invalid mem access\n');
  assert.throws(
    () => Collection.load(fixture('maps'), { sys }),
    (e: unknown) => e instanceof VerifierError && e.program === 'count' && e.code === 'EACCES' && e.log === '0: (b7) r0 = 0\nR1 invalid mem access\n',
  );
  const loads = sys.callsOf('progLoad').map(([a]) => [a.logLevel ?? 0, a.logBuf?.length ?? 0]);
  assert.deepEqual(loads, [[0, 0], [1, 1 << 20], [1, 4 << 20]]);
  assert.equal(sys.openFds.size, 0, 'maps and BTF closed after the failure');
});

test('collectFailures keeps the other programs', () => {
  const sys = new FakeSys().failNext('progLoad', EACCES).failNext('progLoad', EACCES, 'bad');
  using coll = Collection.load(fixture('subprog'), { sys, collectFailures: true });
  assert.deepEqual([...coll.failures.keys()], ['calls']);
  assert.deepEqual([...coll.programs.keys()], ['second', 'loop_sum']);
});

test('a map type the kernel lacks is reported as not supported', () => {
  // The ring buffer is refused, and so is the probe that asks whether ring buffers exist.
  const sys = new FakeSys().failNext('mapCreate', EINVAL).failNext('mapCreate', EINVAL);
  assert.throws(
    () => Collection.load(fixture('tracepoint'), { sys }),
    (e: unknown) => e instanceof NotSupportedError && /^BPF_MAP_TYPE_RINGBUF maps: not supported by this kernel \(map events\)$/.test(e.message),
  );
  assert.equal(sys.openFds.size, 0);
});
