/**
 * Object parsing (ELF -> ObjectSpec) and static linking on the committed fixtures:
 * exact maps, global data, programs, references, linked call offsets and rebased
 * .BTF.ext records; libbpf-compatible internal map names; ParseErrors that name the fix.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TsbpfError } from '../src/errors.js';
import { parseElf } from '../src/elf/index.js';
import { encodeBtf, parseBtf, type Datasec } from '../src/btf/index.js';
import { internalMapName, linkProgram, loadObjectFile, objectName, parseObject, type ObjectSpec } from '../src/object/index.js';
import * as C from '../src/sys/constants.js';
import { throwsParse } from './throws.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const path = (name: string) => resolve(ROOT, 'testdata', `${name}.bpf.o`);
const bytesOf = (name: string) => new Uint8Array(readFileSync(path(name)));
const load = (name: string): ObjectSpec => parseObject(bytesOf(name), name);


/** Renames a section in place by rewriting its name bytes (same length). */
function renameSection(bytes: Uint8Array, from: string, to: string): Uint8Array {
  assert.equal(from.length, to.length);
  const out = bytes.slice();
  const elf = parseElf(out);
  const dv = new DataView(out.buffer);
  const shoff = Number(dv.getBigUint64(40, true));
  const shstr = elf.sections[dv.getUint16(62, true)]!;
  const sec = elf.sectionByName(from)!;
  const nameOff = shstr.offset + dv.getUint32(shoff + sec.index * 64, true);
  out.set(Buffer.from(to, 'latin1'), nameOff);
  return out;
}

/** Decodes one instruction of a linked program. */
function insn(insns: Uint8Array, i: number) {
  const dv = new DataView(insns.buffer, insns.byteOffset + i * 8, 8);
  return { code: dv.getUint8(0), dst: dv.getUint8(1) & 0xf, src: dv.getUint8(1) >> 4, off: dv.getInt16(2, true), imm: dv.getInt32(4, true) };
}
const CALL = C.BPF_JMP | C.BPF_CALL;

test('maps.bpf.o: BTF-defined maps counts (hash) and slots (array)', () => {
  const spec = load('maps');
  assert.equal(spec.name, 'maps');
  assert.equal(spec.license, 'Dual BSD/GPL');
  assert.equal(spec.kernVersion, 0);
  assert.deepEqual(
    spec.maps.map((m) => ({ name: m.name, type: m.type, keySize: m.keySize, valueSize: m.valueSize, maxEntries: m.maxEntries, flags: m.flags })),
    [
      { name: 'counts', type: C.BPF_MAP_TYPE_HASH, keySize: 4, valueSize: 8, maxEntries: 64, flags: 0 },
      { name: 'slots', type: C.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 16, maxEntries: 8, flags: 0 },
    ],
  );
  const [counts, slots] = spec.maps;
  assert.equal(spec.btf.typeName(counts!.keyTypeId), '__u32');
  assert.equal(spec.btf.typeName(counts!.valueTypeId), '__u64');
  assert.equal(spec.btf.typeName(slots!.valueTypeId), 'struct slot');
  assert.equal(counts!.data, undefined);
  assert.equal(counts!.innerMap, undefined);
  assert.equal(counts!.pinning, 0);
  assert.equal(counts!.mapExtra, 0n);
  const prog = spec.programs[0]!;
  assert.deepEqual(prog.references, [
    { insn: 7, kind: 'map', map: 'counts' },
    { insn: 21, kind: 'map', map: 'counts' },
    { insn: 31, kind: 'map', map: 'slots' },
  ]);
  // The spec's BTF: .maps DATASEC filled in from the ELF (size 64, slots at 32).
  const maps = spec.btf.type(spec.btf.idByName('.maps', 'datasec')!) as Datasec;
  assert.equal(maps.size, 64);
  assert.deepEqual(maps.vars.map((v) => [spec.btf.type(v.type).name, v.offset, v.size]), [['counts', 0, 32], ['slots', 32, 32]]);
});

test('globals.bpf.o: one array map per data section, with libbpf names, variables and offsets', () => {
  const spec = load('globals');
  const byName = Object.fromEntries(spec.maps.map((m) => [m.name, m]));
  assert.deepEqual(spec.maps.map((m) => m.name).sort(), ['.data.custom', '.rodata.limits', 'globals.bss', 'globals.data', 'globals.rodata']);
  const summary = (name: string) => {
    const m = byName[name]!;
    return {
      section: m.data!.section, readonly: m.data!.readonly, type: m.type, keySize: m.keySize, valueSize: m.valueSize,
      maxEntries: m.maxEntries, flags: m.flags, bytes: [...m.data!.bytes],
      variables: m.data!.variables.map((v) => [v.name, v.offset, v.size, spec.btf.typeName(v.typeId), v.global]),
    };
  };
  const ro = C.BPF_F_RDONLY_PROG | C.BPF_F_MMAPABLE;
  const rw = C.BPF_F_MMAPABLE;
  const A = C.BPF_MAP_TYPE_ARRAY;
  assert.deepEqual(summary('globals.rodata'), {
    section: '.rodata', readonly: true, type: A, keySize: 4, valueSize: 5, maxEntries: 1, flags: ro, bytes: [2, 0, 0, 0, 0],
    variables: [['multiplier', 0, 4, 'const volatile __u32', true], ['negate', 4, 1, 'const volatile bool', true]],
  });
  assert.deepEqual(summary('globals.data'), {
    section: '.data', readonly: false, type: A, keySize: 4, valueSize: 4, maxEntries: 1, flags: rw, bytes: [7, 0, 0, 0],
    variables: [['bias', 0, 4, '__u32', true]],
  });
  assert.deepEqual(summary('globals.bss'), {
    section: '.bss', readonly: false, type: A, keySize: 4, valueSize: 8, maxEntries: 1, flags: rw, bytes: [0, 0, 0, 0, 0, 0, 0, 0],
    variables: [['calls', 0, 8, '__u64', true]],
  });
  assert.deepEqual(summary('.data.custom'), {
    section: '.data.custom', readonly: false, type: A, keySize: 4, valueSize: 4, maxEntries: 1, flags: rw, bytes: [11, 0, 0, 0],
    variables: [['custom', 0, 4, '__u32', true]],
  });
  assert.deepEqual(summary('.rodata.limits'), {
    section: '.rodata.limits', readonly: true, type: A, keySize: 4, valueSize: 4, maxEntries: 1, flags: ro, bytes: [0xe8, 3, 0, 0],
    variables: [['limit', 0, 4, 'const volatile __u32', true]],
  });
  // Each data map's value type is its DATASEC.
  for (const m of spec.maps) assert.equal(m.valueTypeId, m.data!.datasecId);

  assert.deepEqual(spec.programs[0]!.references, [
    { insn: 1, kind: 'map_value', map: 'globals.bss', offset: 0 },
    { insn: 6, kind: 'map_value', map: 'globals.rodata', offset: 0 },
    { insn: 10, kind: 'map_value', map: 'globals.data', offset: 0 },
    { insn: 14, kind: 'map_value', map: '.data.custom', offset: 0 },
    { insn: 21, kind: 'map_value', map: '.rodata.limits', offset: 0 },
    { insn: 26, kind: 'map_value', map: 'globals.rodata', offset: 4 },
  ]);
});

test('globals.bpf.o: DATASEC sizes and VAR offsets are filled in the spec BTF, vars sorted', () => {
  const spec = load('globals');
  const elf = parseElf(bytesOf('globals'));
  const raw = parseBtf(elf.sectionByName('.BTF')!.data);
  for (const name of ['.bss', '.data', '.data.custom', '.rodata', '.rodata.limits', 'license']) {
    const ds = spec.btf.type(spec.btf.idByName(name, 'datasec')!) as Datasec;
    assert.equal((raw.type(raw.idByName(name, 'datasec')!) as Datasec).size, 0, `clang leaves ${name} at size 0`);
    assert.ok(ds.size > 0);
    assert.equal(ds.size, elf.sectionByName(name)!.size, name);
    const offsets = ds.vars.map((v) => v.offset);
    assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b), `${name} vars sorted`);
  }
  const rodata = spec.btf.type(spec.btf.idByName('.rodata', 'datasec')!) as Datasec;
  assert.deepEqual(rodata.vars.map((v) => [spec.btf.type(v.type).name, v.offset, v.size]), [['multiplier', 0, 4], ['negate', 4, 1]]);
  // The fixed-up BTF still encodes and parses.
  assert.equal(parseBtf(encodeBtf(spec.btf)).count, spec.btf.count);
});

test('program section names map to program types and attach targets', () => {
  const spec = load('maps');
  const p = spec.programs[0]!;
  assert.deepEqual(
    { name: p.name, section: p.section, progType: p.progType, expectedAttachType: p.expectedAttachType, attachTarget: p.attachTarget, sectionPrefix: p.sectionPrefix, flags: p.flags },
    { name: 'count', section: 'raw_tp/sys_enter', progType: C.BPF_PROG_TYPE_RAW_TRACEPOINT, expectedAttachType: 0, attachTarget: 'sys_enter', sectionPrefix: 'raw_tp', flags: 0 },
  );
  assert.equal(p.insns.byteLength, 0x168);

  const tp = load('tracepoint');
  assert.equal(tp.programs.length, 1);
  const exec = tp.programs[0]!;
  assert.equal(exec.name, 'on_exec');
  assert.equal(exec.progType, C.BPF_PROG_TYPE_TRACEPOINT);
  assert.equal(exec.sectionPrefix, 'tp');
  assert.equal(exec.attachTarget, 'sched/sched_process_exec');
  // Ring buffer: no key or value, no BTF for them.
  const events = tp.maps.find((m) => m.name === 'events')!;
  assert.deepEqual([events.type, events.keySize, events.valueSize, events.maxEntries, events.keyTypeId, events.valueTypeId], [C.BPF_MAP_TYPE_RINGBUF, 0, 0, 65536, 0, 0]);
  assert.deepEqual(tp.maps.map((m) => m.name), ['events', 'tracepoi.bss']);

  const rejected = load('rejected');
  assert.deepEqual(rejected.programs.map((q) => [q.name, q.section, q.progType, q.attachTarget]), [
    ['bad_deref', 'raw_tp/sys_enter', C.BPF_PROG_TYPE_RAW_TRACEPOINT, 'sys_enter'],
    ['good', 'raw_tp/sys_exit', C.BPF_PROG_TYPE_RAW_TRACEPOINT, 'sys_exit'],
  ]);
});

test('subprog.bpf.o: functions, references and linking of calls', () => {
  const spec = load('subprog');
  assert.deepEqual(spec.programs.map((p) => p.name), ['calls', 'second', 'loop_sum']);
  assert.deepEqual([...spec.functions.keys()].sort(), ['add3', 'calls', 'loop_sum', 'mul2', 'second', 'sq_plus', 'sum_cb']);
  assert.deepEqual(
    ['mul2', 'add3', 'sq_plus', 'sum_cb'].map((n) => [n, spec.functions.get(n)!.section, spec.functions.get(n)!.insns.byteLength / 8]),
    [['mul2', '.text', 3], ['add3', '.text', 3], ['sq_plus', '.text', 6], ['sum_cb', '.text', 7]],
  );
  // sq_plus -> add3 is pc-relative inside .text (no relocation), found by decoding.
  assert.deepEqual(spec.functions.get('sq_plus')!.references, [{ insn: 3, kind: 'call', func: 'add3' }]);

  const calls = linkProgram(spec, spec.programs[0]!);
  assert.deepEqual(calls.layout, [
    { name: 'calls', start: 0 }, { name: 'add3', start: 10 }, { name: 'mul2', start: 13 }, { name: 'sq_plus', start: 16 },
  ]);
  assert.equal(calls.insns.byteLength, 22 * 8);
  const start = Object.fromEntries(calls.layout.map((l) => [l.name, l.start]));
  const target = (i: number) => {
    const x = insn(calls.insns, i);
    assert.equal(x.code, CALL, `insn ${i} is a call`);
    assert.equal(x.src, C.BPF_PSEUDO_CALL);
    return i + x.imm + 1;
  };
  assert.equal(target(2), start.add3);
  assert.equal(target(4), start.mul2);
  assert.equal(target(7), start.sq_plus);
  assert.equal(target(start.sq_plus! + 3), start.add3, 'the call inside sq_plus still reaches add3');
  // Every bpf-to-bpf call in the linked program lands on a function start.
  const starts = new Set(calls.layout.map((l) => l.start));
  for (let i = 0; i < calls.insns.byteLength / 8; i++) {
    const x = insn(calls.insns, i);
    if (x.code === CALL && x.src === C.BPF_PSEUDO_CALL) assert.ok(starts.has(i + x.imm + 1), `call at ${i}`);
  }
  // func_info rebased: one record per function start, naming that function.
  assert.deepEqual(
    calls.funcInfo.map((r) => [r.insnOff, spec.btf.type(r.typeId).name]),
    calls.layout.map((l) => [l.start, l.name]),
  );
  // line_info rebased likewise: each function's records, moved to its start.
  const expectedLines = calls.layout.flatMap((l) => spec.functions.get(l.name)!.lineInfo.map((r) => r.insnOff + l.start));
  assert.deepEqual(calls.lineInfo.map((r) => r.insnOff), expectedLines);
  assert.equal(calls.lineInfo.length, 17);
  assert.deepEqual(calls.layout.map((l) => calls.lineInfo.some((r) => r.insnOff === l.start)), [true, true, true, true]);
  assert.deepEqual(calls.mapRefs, []);
  // The original instructions are untouched (linking copies).
  assert.equal(insn(spec.programs[0]!.insns, 2).imm, 2);

  const second = linkProgram(spec, spec.programs[1]!);
  assert.deepEqual(second.layout, [{ name: 'second', start: 0 }, { name: 'add3', start: 4 }]);
  assert.equal(insn(second.insns, 1).imm, 4 - 1 - 1);

  const loop = linkProgram(spec, spec.programs[2]!);
  assert.deepEqual(loop.layout, [{ name: 'loop_sum', start: 0 }, { name: 'sum_cb', start: 11 }]);
  assert.deepEqual(spec.programs[2]!.references, [{ insn: 5, kind: 'func_addr', func: 'sum_cb' }]);
  const ld = insn(loop.insns, 5);
  assert.equal(ld.code, C.BPF_LD | C.BPF_IMM | C.BPF_DW);
  assert.equal(ld.src, C.BPF_PSEUDO_FUNC);
  assert.equal(ld.src, 4);
  assert.equal(ld.dst, 2, 'r2 = sum_cb keeps its register');
  assert.equal(5 + ld.imm + 1, 11);
  assert.deepEqual(loop.funcInfo.map((r) => r.insnOff), [0, 11]);
});

test('core.bpf.o: CO-RE records in instruction units, and rebased by linking', () => {
  const spec = load('core');
  const p = spec.programs[0]!;
  assert.equal(p.name, 'read_task');
  assert.deepEqual(
    p.coreRelos.map((r) => [r.insnOff, spec.btf.strings.get(r.accessStrOff), r.kind]),
    [[7, '0:4', 0], [18, '0:5', 0], [27, '0:6', 0], [42, '0:4', 2], [44, '0:0', 2], [46, '0:10', 0], [55, '0:14', 0]],
  );
  const linked = linkProgram(spec, p);
  assert.deepEqual(linked.coreRelos.map((r) => r.insnOff), [7, 18, 27, 42, 44, 46, 55]);
  assert.deepEqual(linked.mapRefs, [{ insn: linked.mapRefs[0]!.insn, kind: 'map_value', map: 'core.bss', offset: 0 }]);
  assert.deepEqual(spec.maps.map((m) => [m.name, m.valueSize]), [['core.bss', 32]]);
});

test('internalMapName follows libbpf', () => {
  assert.equal(internalMapName('exitsnoop', '.bss'), 'exitsnoo.bss');
  assert.equal(internalMapName('exitsnoop', '.rodata'), 'exitsnoo.rodata');
  assert.equal(internalMapName('globals', '.data'), 'globals.data');
  assert.equal(internalMapName('x', '.bss'), 'x.bss');
  // Custom sections (a second dot) keep their own name, without the object's.
  assert.equal(internalMapName('exitsnoop', '.rodata.str1.1'), '.rodata.str1.1');
  assert.equal(internalMapName('exitsnoop', '.data.custom'), '.data.custom');
  // At most 15 characters.
  assert.equal(internalMapName('obj', '.data.a_very_long_section_name'), '.data.a_very_lo');
  assert.equal(internalMapName('a_very_long_object_name', '.bss'), 'a_very_l.bss');
  for (const n of [internalMapName('obj', '.data.a_very_long_section_name'), internalMapName('a_very_long_object_name', '.rodata')]) {
    assert.ok(n.length <= 15, n);
  }
  // Characters the kernel rejects in map names become "_".
  assert.equal(internalMapName('my-obj', '.bss'), 'my_obj.bss');
  assert.equal(internalMapName('obj', '.data.a-b+c'), '.data.a_b_c');
});

test('objectName and loadObjectFile', () => {
  assert.equal(objectName('/x/y/exitsnoop.bpf.o'), 'exitsnoop');
  assert.equal(objectName('plain'), 'plain');
  assert.equal(objectName('.hidden.o'), '.hidden.o');
  const spec = loadObjectFile(path('globals'));
  assert.equal(spec.name, 'globals');
  assert.ok(spec.maps.some((m) => m.name === 'globals.rodata'));
  assert.throws(() => loadObjectFile(path('does-not-exist')), (e: unknown) => e instanceof TsbpfError && /does-not-exist\.bpf\.o: no such file/.test(e.message));
});

test('errors: an object with .BTF.ext but without .BTF', () => {
  // ".BTF" -> ".XTF" (the name is shared with .rel.BTF, which becomes .rel.XTF).
  const e = throwsParse(() => parseObject(renameSection(bytesOf('maps'), '.BTF', '.XTF')), /a \.BTF\.ext section but no \.BTF section: the object is damaged; rebuild it with clang -g/);
  assert.equal(e.what, 'object');
});

test('errors: an unknown program section lists the known prefixes', () => {
  const bytes = renameSection(bytesOf('maps'), 'raw_tp/sys_enter', 'rxw_tp/sys_enter');
  throwsParse(
    () => parseObject(bytes),
    /program count is in section "rxw_tp\/sys_enter", which names no known program type/,
    /use one of: .*\bkprobe\/, .*\btp\/, .*\braw_tp\/, .*\bxdp\b/,
  );
});

test('errors: bad relocations', () => {
  // Relocation #0 of .relraw_tp/sys_enter (at 0x9d8) against symbol #200: there are 10.
  const missing = bytesOf('maps');
  new DataView(missing.buffer).setUint32(0x9d8 + 12, 200, true);
  throwsParse(() => parseObject(missing), /refers to missing symbol #200/);
  // ... against LICENSE (#9), which is neither a map nor global data.
  const license = bytesOf('maps');
  new DataView(license.buffer).setUint32(0x9d8 + 12, 9, true);
  throwsParse(() => parseObject(license), /count\+7: ld_imm64 refers to LICENSE in section license, which is neither a map nor global data/);
  // ... at an offset that is not on an instruction.
  const unaligned = bytesOf('maps');
  new DataView(unaligned.buffer).setBigUint64(0x9d8, 0x3an, true);
  throwsParse(() => parseObject(unaligned), /relocation at offset 58 of raw_tp\/sys_enter is not on an instruction/);
});

test('errors: a corrupt .bss size is rejected, not allocated', () => {
  // globals.bpf.o: .bss is section 10; its headers start at 0xa00. 1 TiB of .bss:
  const huge = bytesOf('globals');
  new DataView(huge.buffer).setBigUint64(0xa00 + 10 * 64 + 32, 1n << 40n, true);
  throwsParse(() => parseObject(huge), /section \.bss is 1099511627776 bytes, larger than any kernel allows for global data/);
});

test('errors: linking a program that calls a missing function', () => {
  const spec = load('subprog');
  spec.functions.delete('add3');
  assert.throws(() => linkProgram(spec, spec.programs[1]!), (e: unknown) => e instanceof TsbpfError && /program second: calls unknown function add3/.test(e.message));
});
