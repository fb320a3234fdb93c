/**
 * BTF reader/encoder, .BTF.ext and the string table: the running kernel's BTF and the
 * fixtures round-trip byte for byte; exact types of the fixtures (see `bpftool btf dump
 * file testdata/NAME.bpf.o`); malformed BTF gives ParseError, never a RangeError or a
 * huge allocation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseElf } from '../src/elf/index.js';
import {
  Btf, BTF_KIND, encodeBtf, parseBtf, parseBtfExt, StringTable, structOf, VMLINUX_BTF_PATH, type BtfType,
} from '../src/btf/index.js';
import { INT, INT_STR, info, rawBtf } from './btf-bytes.js';
import { throwsParse } from './throws.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURES = ['maps', 'globals', 'subprog', 'core', 'rejected', 'tracepoint'];

function section(name: string, sec: string): Uint8Array {
  const elf = parseElf(new Uint8Array(readFileSync(resolve(ROOT, 'testdata', `${name}.bpf.o`))));
  return elf.sectionByName(sec)!.data;
}
const fixtureBtf = (name: string) => parseBtf(section(name, '.BTF'));



test('kernel BTF: parses, re-encodes byte for byte, and has task_struct with pid', { skip: !existsSync(VMLINUX_BTF_PATH) && `no ${VMLINUX_BTF_PATH}` }, () => {
  const bytes = new Uint8Array(readFileSync(VMLINUX_BTF_PATH));
  const btf = parseBtf(bytes);
  assert.ok(btf.count > 10000, `only ${btf.count} types`);
  const encoded = encodeBtf(btf);
  assert.equal(encoded.byteLength, bytes.byteLength);
  assert.ok(Buffer.from(encoded).equals(Buffer.from(bytes)), 'encodeBtf(parseBtf(vmlinux)) differs from vmlinux');

  const id = btf.idByName('task_struct', 'struct');
  assert.ok(id !== undefined, 'no struct task_struct');
  const ts = structOf(btf, id);
  assert.ok(ts.size > 1000);
  const pid = ts.members.find((m) => m.name === 'pid');
  assert.ok(pid, 'task_struct has no pid');
  assert.equal(btf.typeName(pid.type), 'pid_t');
  assert.equal(btf.size(pid.type), 4);
  assert.equal(pid.bitOffset % 8, 0);
  const comm = ts.members.find((m) => m.name === 'comm')!;
  assert.equal(btf.typeName(comm.type), 'char[16]');
  assert.equal(btf.size(comm.type), 16);
});

test('fixtures: encodeBtf(parseBtf(.BTF)) is byte-identical', () => {
  for (const name of FIXTURES) {
    const bytes = section(name, '.BTF');
    assert.ok(Buffer.from(encodeBtf(parseBtf(bytes))).equals(Buffer.from(bytes)), `${name}.bpf.o`);
  }
});

test('maps.bpf.o: struct slot { __u64 sum; __u32 hits; __u32 last; } and the map definitions', () => {
  const btf = fixtureBtf('maps');
  assert.equal(btf.count, 33);
  const id = btf.idByName('slot', 'struct');
  assert.equal(id, 20);
  const slot = structOf(btf, id!);
  assert.equal(slot.size, 16);
  assert.equal(btf.size(id!), 16);
  assert.equal(slot.kflag, false);
  assert.deepEqual(
    slot.members.map((m) => [m.name, m.bitOffset, m.bitfieldSize, btf.typeName(m.type), btf.size(m.type)]),
    [['sum', 0, 0, '__u64', 8], ['hits', 64, 0, '__u32', 4], ['last', 96, 0, '__u32', 4]],
  );
  assert.equal(btf.typeName(20), 'struct slot');
  // __u32 -> unsigned int
  assert.deepEqual(btf.type(btf.resolve(8)), { kind: 'int', name: 'unsigned int', size: 4, encoding: 0, bitOffset: 0, bits: 32 });
  // The anonymous map definition of counts: __uint(type, 1) is `int (*type)[1]`.
  const def = structOf(btf, 13);
  assert.equal(btf.typeName(13), 'struct (anon)');
  assert.deepEqual(def.members.map((m) => [m.name, btf.typeName(m.type)]), [
    ['type', 'int[1] *'], ['max_entries', 'int[64] *'], ['key', '__u32 *'], ['value', '__u64 *'],
  ]);
  const datasec = btf.type(btf.idByName('.maps', 'datasec')!);
  assert.deepEqual(datasec, { kind: 'datasec', name: '.maps', size: 0, vars: [{ type: 14, offset: 0, size: 32 }, { type: 22, offset: 0, size: 32 }] });
  assert.deepEqual(btf.idsByName('__u32'), [8]);
  assert.deepEqual(btf.idsByName('int'), [2]);
  assert.deepEqual(btf.idsByName('int', 'struct'), []);
});

test('type names, sizes and resolve across kinds (core.bpf.o, globals.bpf.o)', () => {
  const core = fixtureBtf('core');
  const ts = structOf(core, core.idByName('task_struct', 'struct')!);
  assert.equal(ts.size, 128);
  const member = (n: string) => ts.members.find((m) => m.name === n)!;
  assert.equal(core.typeName(member('comm').type), 'char[16]');
  assert.equal(core.size(member('comm').type), 16);
  assert.equal(member('comm').bitOffset, 704);
  assert.equal(core.typeName(member('real_parent').type), 'struct task_struct *');
  assert.equal(core.size(member('real_parent').type), 8);
  assert.equal(core.typeName(member('thread_pid').type), 'struct pid *');
  assert.equal(core.typeName(member('pid').type), 'pid_t');
  assert.equal(core.typeName(member('real_cred').type), 'const struct cred *');
  assert.equal(core.typeName(0), 'void');
  assert.equal(core.typeName(7), 'function');
  assert.equal(core.typeName(9), 'read_task');
  assert.equal(core.type(9).kind, 'func');
  // pid_t -> __kernel_pid_t -> int
  assert.equal(core.resolve(member('pid').type), 8);
  assert.equal(core.size(member('pid').type), 4);
  // __u64 args[0]: a flexible array has size 0.
  assert.equal(core.typeName(5), '__u64[0]');
  assert.equal(core.size(5), 0);
  throwsParse(() => core.size(7), /type 7 \(func_proto\) has no size/);
  throwsParse(() => core.type(1000), /type id 1000 does not exist \(37 types\)/);

  const globals = fixtureBtf('globals');
  const multiplier = globals.type(globals.idByName('multiplier', 'var')!);
  assert.equal(multiplier.kind, 'var');
  if (multiplier.kind !== 'var') return;
  assert.equal(globals.typeName(multiplier.type), 'const volatile __u32');
  assert.equal(globals.resolve(multiplier.type), 16);
  assert.equal(globals.typeName(globals.resolve(multiplier.type)), 'unsigned int');
  const negate = globals.type(globals.idByName('negate', 'var')!) as { type: number };
  assert.equal(globals.typeName(negate.type), 'const volatile bool');
  assert.deepEqual(globals.type(globals.resolve(negate.type)), { kind: 'int', name: '_Bool', size: 1, encoding: 4, bitOffset: 0, bits: 8 });
});

test('.BTF.ext of core.bpf.o: 7 CO-RE relocations for raw_tp/sys_enter', () => {
  const btf = fixtureBtf('core');
  const ext = parseBtfExt(section('core', '.BTF.ext'), btf.strings);
  assert.deepEqual([...ext.coreRelos.keys()], ['raw_tp/sys_enter']);
  const relos = ext.coreRelos.get('raw_tp/sys_enter')!;
  assert.equal(relos.length, 7);
  // insnOff stays in bytes, as on disk; kind 0 = FIELD_BYTE_OFFSET, 2 = FIELD_EXISTS.
  assert.deepEqual(
    relos.map((r) => [r.insnOff, btf.type(r.typeId).name, btf.strings.get(r.accessStrOff), r.kind]),
    [
      [56, 'task_struct', '0:4', 0],
      [144, 'task_struct', '0:5', 0],
      [216, 'task_struct', '0:6', 0],
      [336, 'task_struct', '0:4', 2],
      [352, 'task_struct___fake', '0:0', 2],
      [368, 'task_struct', '0:10', 0],
      [440, 'task_struct', '0:14', 0],
    ],
  );
  assert.deepEqual(ext.funcInfo.get('raw_tp/sys_enter'), [{ insnOff: 0, typeId: 9 }]);
  const lines = ext.lineInfo.get('raw_tp/sys_enter')!;
  assert.equal(lines.length, 93);
  assert.equal(btf.strings.get(lines[0]!.fileNameOff), './core.bpf.c');
  assert.ok(lines.every((l) => l.insnOff % 8 === 0));
});

test('.BTF.ext of subprog.bpf.o: func_info of every section, none CO-RE', () => {
  const btf = fixtureBtf('subprog');
  const ext = parseBtfExt(section('subprog', '.BTF.ext'), btf.strings);
  const funcs = Object.fromEntries([...ext.funcInfo].map(([sec, l]) => [sec, l.map((r) => `${r.insnOff}:${btf.type(r.typeId).name}`)]));
  assert.deepEqual(funcs, {
    '.text': ['0:mul2', '24:add3', '48:sq_plus', '96:sum_cb'],
    'raw_tp/sys_enter': ['0:calls'],
    'raw_tp/sys_exit': ['0:second'],
    'raw_tp/sched_switch': ['0:loop_sum'],
  });
  assert.deepEqual(Object.fromEntries([...ext.lineInfo].map(([s, l]) => [s, l.length])), {
    '.text': 14, 'raw_tp/sys_enter': 6, 'raw_tp/sys_exit': 4, 'raw_tp/sched_switch': 7,
  });
  assert.equal(ext.coreRelos.size, 0);
});

test('StringTable.add appends new strings and keeps every old offset', () => {
  const btf = fixtureBtf('maps');
  const strings = btf.strings;
  const before = strings.bytes.byteLength;
  const offsets = new Map<string, number>();
  btf.types.forEach((t) => { if (t.name) offsets.set(t.name, strings.add(t.name)); });
  // Existing names map to existing offsets; nothing was appended.
  for (const [name, off] of offsets) assert.equal(strings.get(off), name);
  assert.equal(strings.encode().byteLength, before);
  assert.equal(strings.add(''), 0);

  const a = strings.add('brand_new');
  const b = strings.add('another_one');
  assert.equal(a, before);
  assert.equal(b, before + 'brand_new'.length + 1);
  assert.equal(strings.add('brand_new'), a, 'adding twice gives the same offset');
  assert.equal(strings.get(a), 'brand_new');
  assert.equal(strings.get(b), 'another_one');
  const enc = strings.encode();
  assert.equal(enc.byteLength, before + 10 + 12);
  assert.ok(Buffer.from(enc.subarray(0, before)).equals(Buffer.from(strings.bytes)), 'the original bytes are a prefix');
  assert.equal(Buffer.from(enc.subarray(before)).toString('latin1'), 'brand_new\0another_one\0');
  for (const [name, off] of offsets) assert.equal(new StringTable(enc).get(off), name);
  throwsParse(() => strings.get(a + 3), /points into the middle of a string/);
  throwsParse(() => strings.get(enc.byteLength), /outside the string section/);

  const fresh = StringTable.empty();
  assert.equal(fresh.add('x'), 1);
  assert.equal(fresh.add('yz'), 3);
  assert.deepEqual([...fresh.encode()], [0, 0x78, 0, 0x79, 0x7a, 0]);
});

test('Btf built in code encodes and parses back to the same types', () => {
  const strings = StringTable.empty();
  const types: BtfType[] = [
    { kind: 'void', name: '' },
    { kind: 'int', name: 'int', size: 4, encoding: 1, bitOffset: 0, bits: 32 },
    { kind: 'struct', name: 'pair', size: 8, kflag: false, members: [{ name: 'a', type: 1, bitOffset: 0, bitfieldSize: 0 }, { name: 'b', type: 1, bitOffset: 32, bitfieldSize: 0 }] },
    { kind: 'array', name: '', type: 2, indexType: 1, nelems: 3 },
    { kind: 'enum64', name: 'big', size: 8, signed: true, values: [{ name: 'MINUS', value: -5n }, { name: 'HUGE', value: 1n << 40n }] },
  ];
  const btf = new Btf(types, strings);
  assert.equal(btf.add({ kind: 'ptr', name: '', type: 3 }), 5);
  const again = parseBtf(encodeBtf(btf));
  assert.deepEqual(again.types, btf.types);
  assert.equal(again.typeName(5), 'struct pair[3] *');
  assert.equal(again.size(3), 24);
  assert.equal(again.strings.get(again.strings.add('pair')), 'pair');
  const copy = btf.clone();
  (copy.types[2] as { size: number }).size = 99;
  assert.equal((btf.types[2] as { size: number }).size, 8, 'clone is deep');
});

test('errors: header, magic, version, and sections past the end', () => {
  throwsParse(() => parseBtf(new Uint8Array(10)), /^BTF: 10 bytes is too short for a BTF header$/);
  const good = rawBtf(INT, INT_STR);
  const bad = (patch: (dv: DataView) => void) => {
    const b = good.slice();
    patch(new DataView(b.buffer));
    return b;
  };
  throwsParse(() => parseBtf(bad((dv) => dv.setUint16(0, 0x1234, true))), /bad magic 0x1234 \(expected 0xeb9f\)/);
  throwsParse(() => parseBtf(bad((dv) => dv.setUint16(0, 0x9feb, true))), /big-endian BTF is not supported/);
  throwsParse(() => parseBtf(bad((dv) => dv.setUint8(2, 2))), /unsupported BTF version 2/);
  throwsParse(() => parseBtf(bad((dv) => dv.setUint32(4, 8, true))), /header length 8 is shorter than 24/);
  throwsParse(() => parseBtf(bad((dv) => dv.setUint32(12, 0x7fffffff, true))), /type section: 2147483647 bytes at offset 24 run past the end/);
  throwsParse(() => parseBtf(bad((dv) => dv.setUint32(16, 0xffffffff, true))), /string section/);
  throwsParse(() => parseBtf(good.subarray(0, good.byteLength - 2)), /string section/);
  // The string section must start with the empty string.
  throwsParse(() => parseBtf(rawBtf(INT, 'x\0int\0')), /string section does not start with an empty string/);
});

test('errors: corrupt type records are rejected before anything is allocated', () => {
  // vlen 0xffff members (786 KB) after a 12-byte record: checked against the bytes first.
  throwsParse(() => parseBtf(rawBtf([...INT, 0, info('struct', 0xffff), 8], INT_STR)), /type 2 members: 786420 bytes at offset 28 run past the end \(28 bytes\)/);
  throwsParse(() => parseBtf(rawBtf([...INT, 0, info('enum', 0xffff), 4], INT_STR)), /type 2 enumerators/);
  throwsParse(() => parseBtf(rawBtf([...INT, 0, info('func_proto', 0xffff), 1], INT_STR)), /type 2 params/);
  throwsParse(() => parseBtf(rawBtf([...INT, 0, info('datasec', 0xffff), 0], INT_STR)), /type 2 variables/);
  // A record cut short.
  throwsParse(() => parseBtf(rawBtf([...INT, 0, info('array'), 0, 1, 1], INT_STR)), /type 2 \(array\) 2/);
  // Unknown kind 25.
  throwsParse(() => parseBtf(rawBtf([...INT, 0, (25 << 24) >>> 0, 0], INT_STR)), /type 2 has unknown kind 25/);
  // A reference to a type that does not exist.
  throwsParse(() => parseBtf(rawBtf([...INT, 0, info('ptr'), 7], INT_STR)), /type 2 refers to missing type 7/);
  throwsParse(() => parseBtf(rawBtf([...INT, 0, info('struct', 1), 4, 0, 9, 0], INT_STR)), /type 2 refers to missing type 9/);
  // A name offset outside the string section.
  throwsParse(() => parseBtf(rawBtf([...INT, 500, info('ptr'), 1], INT_STR)), /string offset 500 is outside the string section \(5 bytes\)/);
  // Ints whose bits do not fit their size (as the kernel's btf_int_check_meta rejects).
  throwsParse(() => parseBtf(rawBtf([1, info('int'), 1, 9], INT_STR)), /int of 1 bytes with 9 bits at bit 0 is invalid/);
  throwsParse(() => parseBtf(rawBtf([1, info('int'), 4, (30 << 16) | 8], INT_STR)), /int of 4 bytes with 8 bits at bit 30 is invalid/);
  throwsParse(() => parseBtf(rawBtf([1, info('int'), 32, 128], INT_STR)), /int of 32 bytes/);
});

test('errors: cycles and absurd sizes in types that parse', () => {
  // [2] typedef t -> [3] const -> [2]: resolve follows the chain and stops.
  const cyc = parseBtf(rawBtf([...INT, 5, info('typedef'), 3, 0, info('const'), 2], `${INT_STR}t\0`));
  throwsParse(() => cyc.resolve(2), /type chain from id \d+ is a cycle or deeper than 64/);
  throwsParse(() => cyc.size(2), /cycle/);
  assert.match(cyc.typeName(2), /^t$/);
  // [2] array of [3], [3] array of [2]: size recursion stops.
  const arr = parseBtf(rawBtf([...INT, 0, info('array'), 0, 3, 1, 2, 0, info('array'), 0, 2, 1, 2], INT_STR));
  throwsParse(() => arr.size(2), /size depends on itself/);
  assert.match(arr.typeName(2), /\.\.\./);
  // int[65536], int[65536][65536] (2^34 bytes), ...: not a BTF size (the kernel caps sizes at u32).
  const huge = parseBtf(rawBtf([...INT, 0, info('array'), 0, 1, 1, 65536, 0, info('array'), 0, 2, 1, 65536, 0, info('array'), 0, 3, 1, 65536], INT_STR));
  assert.equal(huge.size(2), 262144);
  throwsParse(() => huge.size(3), /^BTF: type 3: array of 65536 elements is larger than 4 GiB$/);
  throwsParse(() => huge.size(4), /type 3: array of 65536 elements is larger than 4 GiB/);
});

test('errors: .BTF.ext', () => {
  const btf = fixtureBtf('core');
  const ext = section('core', '.BTF.ext');
  const bad = (patch: (dv: DataView) => void) => {
    const b = ext.slice();
    patch(new DataView(b.buffer));
    return b;
  };
  throwsParse(() => parseBtfExt(ext.subarray(0, 16), btf.strings), /^\.BTF\.ext: 16 bytes is too short for a header$/);
  throwsParse(() => parseBtfExt(bad((dv) => dv.setUint16(0, 0xbeef, true)), btf.strings), /bad magic 0xbeef/);
  throwsParse(() => parseBtfExt(bad((dv) => dv.setUint8(2, 9)), btf.strings), /unsupported version 9/);
  throwsParse(() => parseBtfExt(bad((dv) => dv.setUint32(4, 4, true)), btf.strings), /header length 4 is shorter than 24/);
  const hdr = new DataView(ext.buffer, ext.byteOffset);
  const hdrLen = hdr.getUint32(4, true);
  const funcStart = hdrLen + hdr.getUint32(8, true);
  throwsParse(() => parseBtfExt(bad((dv) => dv.setUint32(12, 0xfffffff0, true)), btf.strings), /func_info: 4294967280 bytes/);
  throwsParse(() => parseBtfExt(bad((dv) => dv.setUint32(funcStart, 6, true)), btf.strings), /func_info record size 6 is invalid/);
  // num_info of 2^32-1 records: checked against the bytes, not allocated.
  throwsParse(() => parseBtfExt(bad((dv) => dv.setUint32(funcStart + 8, 0xffffffff, true)), btf.strings), /func_info records of raw_tp\/sys_enter: 34359738360 bytes/);
  throwsParse(() => parseBtfExt(bad((dv) => dv.setUint32(funcStart + 4, 0x7fffffff, true)), btf.strings), /string offset 2147483647 is outside/);
  throwsParse(() => parseBtfExt(bad((dv) => dv.setUint32(funcStart + 12, 4, true)), btf.strings), /func_info record in raw_tp\/sys_enter has unaligned instruction offset 4/);
});
