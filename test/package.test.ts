/**
 * eunomia package.json: write -> read round trips, the layout of the format reference
 * (checked on the committed exitsnoop object and the globals fixture, with the names
 * bpftool's skeleton gives), and a PackageError with a clear message for every bad input.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { deflateSync, inflateSync } from 'node:zlib';
import { compileDecoder } from '../src/decode/index.js';
import { TsbpfError } from '../src/errors.js';
import { parseObject, type ObjectSpec } from '../src/object/index.js';
import {
  exportType, objNameOf, PackageError, readPackage, structIds, writePackage, type EunomiaPackage,
} from '../src/package/index.js';
import { ROOT } from './paths.js';

const EXITSNOOP = resolve(ROOT, 'tools', 'exitsnoop', 'exitsnoop.bpf.o');
const GLOBALS = resolve(ROOT, 'testdata', 'globals.bpf.o');

function load(path: string, name: string): { bytes: Uint8Array; spec: ObjectSpec } {
  const bytes = new Uint8Array(readFileSync(path));
  return { bytes, spec: parseObject(bytes, name) };
}

function exitsnoopPackage(): { bytes: Uint8Array; spec: ObjectSpec; pkg: EunomiaPackage } {
  const { bytes, spec } = load(EXITSNOOP, 'exitsnoop');
  return { bytes, spec, pkg: writePackage(bytes, spec, structIds(spec.btf, ['event']), { objectFile: 'exitsnoop.bpf.o' }) };
}

/** A deep copy of the exitsnoop package to break. */
const fresh = (): Record<string, any> => JSON.parse(JSON.stringify(exitsnoopPackage().pkg));

function throwsPackage(input: string | object, ...patterns: RegExp[]): PackageError {
  let caught: unknown;
  try {
    readPackage(input);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof PackageError, `expected a PackageError, got ${String(caught)}`);
  assert.ok(caught instanceof TsbpfError);
  assert.equal(caught.name, 'PackageError');
  for (const p of patterns) assert.match(caught.message, p);
  return caught;
}

test('round trip: write then read gives the same object bytes, from text, bytes or a parsed object', () => {
  const { bytes, pkg } = exitsnoopPackage();
  const text = JSON.stringify(pkg);
  for (const input of [text, Buffer.from(text), new Uint8Array(Buffer.from(text)), JSON.parse(text) as object]) {
    const r = readPackage(input);
    assert.deepEqual(Buffer.from(r.objectBytes), Buffer.from(bytes));
    assert.equal(r.name, 'exitsnoop_bpf');
    assert.deepEqual(r.skel, pkg.meta.bpf_skel);
    assert.deepEqual(r.exportTypes, pkg.meta.export_types);
    assert.equal(r.exportTypeId, pkg.meta.export_types[0]!.type_id);
    assert.equal(r.eunomiaVersion, '0.3.4');
  }
  // And the object read back parses to the same programs and maps.
  const again = parseObject(readPackage(text).objectBytes, readPackage(text).name);
  assert.deepEqual(again.maps.map((m) => m.name), ['pids', 'cgroup', 'events', 'lost', 'exitsnoo.rodata', 'exitsnoo.bss']);
  assert.deepEqual(again.programs.map((p) => p.name), ['handle_exit']);
});

test('layout: the format reference, on exitsnoop.bpf.o', () => {
  const { bytes, spec, pkg } = exitsnoopPackage();
  assert.deepEqual(Object.keys(pkg), ['bpf_object', 'bpf_object_size', 'meta']);
  assert.deepEqual(Object.keys(pkg.meta), ['bpf_skel', 'export_types', 'eunomia_version']);
  assert.equal(pkg.meta.eunomia_version, '0.3.4');

  // base64, standard alphabet, padded, of zlib deflate of the ELF.
  assert.match(pkg.bpf_object, /^[A-Za-z0-9+/]+={0,2}$/);
  assert.equal(pkg.bpf_object.length % 4, 0);
  const compressed = Buffer.from(pkg.bpf_object, 'base64');
  assert.equal(compressed[0], 0x78, 'a zlib stream starts with 0x78');
  assert.deepEqual(inflateSync(compressed), Buffer.from(bytes));
  assert.equal(pkg.bpf_object_size, bytes.byteLength);

  const skel = pkg.meta.bpf_skel;
  assert.deepEqual(Object.keys(skel), ['obj_name', 'data_sections', 'maps', 'progs']);
  assert.equal(skel.obj_name, 'exitsnoop_bpf');
  assert.ok(spec.maps.some((m) => m.data?.section === '.bss'), 'the object has .bss (the dummy pointer)');
  assert.deepEqual(skel.maps, [
    { name: 'pids', ident: 'pids' },
    { name: 'cgroup', ident: 'cgroup' },
    { name: 'events', ident: 'events' },
    { name: 'lost', ident: 'lost' },
    { name: 'exitsnoo.rodata', ident: 'rodata', mmaped: true },
    { name: 'exitsnoo.bss', ident: 'bss', mmaped: true },
  ]);
  assert.deepEqual(skel.progs, [{ name: 'handle_exit', attach: 'tp/sched/sched_process_exit', link: true }]);
  // The const volatile settings of tools/exitsnoop/exitsnoop.bpf.c, in declaration order.
  assert.deepEqual(skel.data_sections, [
    { name: '.rodata', variables: [
      { name: 'threads', type: 'bool', value: false },
      { name: 'filter_pids', type: 'bool', value: false },
      { name: 'targ_ppid', type: 'int', value: 0 },
      { name: 'filter_uid', type: 'bool', value: false },
      { name: 'targ_uid', type: 'unsigned int', value: 0 },
      { name: 'filter_comm', type: 'bool', value: false },
      { name: 'targ_comm', type: 'char[16]', value: '' },
      { name: 'filter_cgroup', type: 'bool', value: false },
      { name: 'failed_only', type: 'bool', value: false },
      { name: 'min_age_ns', type: 'unsigned long long', value: 0 },
      { name: 'wakeup_bytes', type: 'unsigned long long', value: 0 },
    ] },
    { name: '.bss', variables: [{ name: '__eunomia_dummy_event_ptr', type: 'struct event *' }] },
  ]);

  assert.equal(pkg.meta.export_types.length, 1);
  const et = pkg.meta.export_types[0]!;
  const id = spec.btf.idByName('event', 'struct');
  assert.ok(id !== undefined);
  assert.deepEqual(et, {
    name: 'event',
    size: 64,
    type_id: id,
    members: [
      { name: 'ts_ns', type: 'unsigned long long' },
      { name: 'duration_ns', type: 'unsigned long long' },
      { name: 'cgroup_id', type: 'unsigned long long' },
      { name: 'pid', type: 'int' },
      { name: 'tid', type: 'int' },
      { name: 'ppid', type: 'int' },
      { name: 'ns_pid', type: 'int' },
      { name: 'uid', type: 'unsigned int' },
      { name: 'status', type: 'unsigned int' },
      { name: 'comm', type: 'char[16]' },
    ],
  });
  const t = spec.btf.type(et.type_id);
  assert.equal(t.kind, 'struct');
  assert.equal(t.name, 'event');
});

test('layout: global data sections with initial values; names as bpftool gen skeleton gives them', () => {
  const { bytes, spec } = load(GLOBALS, 'globals');
  const pkg = writePackage(bytes, spec, [], { objectFile: '/some/dir/globals.bpf.o', doc: { brief: 'globals fixture' }, pollTimeoutMs: 50 });
  const skel = pkg.meta.bpf_skel;
  assert.equal(skel.obj_name, 'globals_bpf');
  // bpftool gen skeleton globals.bpf.o: s->maps[i].name, and the idents of obj->maps.
  assert.deepEqual(skel.maps, [
    { name: 'globals_.rodata', ident: 'rodata', mmaped: true },
    { name: 'globals_.data', ident: 'data', mmaped: true },
    { name: '.data.custom', ident: 'data_custom', mmaped: true },
    { name: '.rodata.limits', ident: 'rodata_limits', mmaped: true },
    { name: 'globals_.bss', ident: 'bss', mmaped: true },
  ]);
  assert.deepEqual(skel.data_sections, [
    { name: '.rodata', variables: [{ name: 'multiplier', type: '__u32', value: 2 }, { name: 'negate', type: 'bool', value: false }] },
    { name: '.data', variables: [{ name: 'bias', type: '__u32', value: 7 }] },
    { name: '.data.custom', variables: [{ name: 'custom', type: '__u32', value: 11 }] },
    { name: '.rodata.limits', variables: [{ name: 'limit', type: '__u32', value: 1000 }] },
    { name: '.bss', variables: [{ name: 'calls', type: '__u64' }] },
  ]);
  assert.deepEqual(skel.progs, [{ name: 'compute', attach: 'raw_tp/sys_enter', link: true }]);
  assert.deepEqual(skel.doc, { brief: 'globals fixture' });
  assert.deepEqual(pkg.meta.export_types, []);
  assert.equal(pkg.meta.poll_timeout_ms, 50);
  const r = readPackage(JSON.stringify(pkg));
  assert.equal(r.pollTimeoutMs, 50);
  assert.equal(r.exportTypeId, undefined);
  // The runner opens the object under obj_name: its internal maps get the skeleton's names.
  assert.deepEqual(parseObject(r.objectBytes, r.name).maps.map((m) => m.name), skel.maps.map((m) => m.name));
});

test('obj_name: object base name without .o, non-identifier characters as _', () => {
  assert.equal(objNameOf('exitsnoop.bpf.o'), 'exitsnoop_bpf');
  assert.equal(objNameOf('/a/b.c/my-prog.bpf.o'), 'my_prog_bpf');
  assert.equal(objNameOf('plain.o'), 'plain');
});

test('export types: member strings are C declarations, composite for structs, enum for enums', () => {
  const { spec } = load(EXITSNOOP, 'exitsnoop');
  assert.throws(() => exportType(spec.btf, spec.btf.idByName('int', 'int')!), (e: unknown) => e instanceof TsbpfError && /not a struct/.test(e.message));
  // A struct holding a struct and an enum, added to a copy of the object's BTF.
  const btf = spec.btf.clone();
  const event = btf.idByName('event', 'struct')!;
  const intId = btf.idByName('int', 'int')!;
  const color = btf.add({ kind: 'enum', name: 'color', size: 4, signed: false, values: [{ name: 'RED', value: 0 }] });
  const outer = btf.add({
    kind: 'struct', name: 'outer', size: 48, kflag: false, members: [
      { name: 'inner', type: event, bitOffset: 0, bitfieldSize: 0 },
      { name: 'c', type: color, bitOffset: 320, bitfieldSize: 0 },
      { name: 'n', type: intId, bitOffset: 352, bitfieldSize: 0 },
    ],
  });
  assert.deepEqual(exportType(btf, outer).members, [
    { name: 'inner', type: 'composite' },
    { name: 'c', type: 'enum' },
    { name: 'n', type: 'int' },
  ]);
});

test('read: maps/progs null are [], unknown keys are ignored and kept, stray variable sizes are fine', () => {
  const doc = fresh();
  doc.meta.bpf_skel.maps = null;
  doc.meta.bpf_skel.progs = null;
  doc.meta.bpf_skel.data_sections[0].variables[0].size = 4;
  doc.future_key = { anything: [1, 2] };
  doc.meta.something_new = true;
  doc.meta.bpf_skel.extra = 'x';
  doc.meta.export_types[0].members[0].unknown = 1;
  const r = readPackage(doc);
  assert.deepEqual(r.skel.maps, []);
  assert.deepEqual(r.skel.progs, []);
  assert.equal(r.skel.extra, 'x');
  assert.equal(r.exportTypeId, doc.meta.export_types[0].type_id);
  // export_types null or absent: none.
  const none = fresh();
  delete none.meta.export_types;
  assert.deepEqual(readPackage(none).exportTypes, []);
  none.meta.export_types = null;
  assert.deepEqual(readPackage(none).exportTypes, []);
  // base64 wrapped over lines (as some encoders write it) still reads.
  const wrapped = fresh();
  wrapped.bpf_object = (wrapped.bpf_object as string).replace(/.{76}/g, '$&\n');
  assert.equal(readPackage(wrapped).objectBytes.byteLength, doc.bpf_object_size);
});

test('read: decoding uses the object BTF at type_id, not the member strings', () => {
  const doc = fresh();
  doc.meta.export_types[0].members = [{ name: 'bogus', type: 'float' }];
  doc.meta.export_types[0].size = 3;
  const r = readPackage(doc);
  const { fields, size } = compileDecoder(r.btf!, r.exportTypeId!);
  assert.equal(size, 64);
  assert.deepEqual(fields.map((f) => f.name), ['ts_ns', 'duration_ns', 'cgroup_id', 'pid', 'tid', 'ppid', 'ns_pid', 'uid', 'status', 'comm']);
});

test('read errors: not JSON, not an object, no bpf_object', () => {
  throwsPackage('{"bpf_object": ', /^package: not JSON: /);
  throwsPackage('', /not JSON/);
  throwsPackage('[1, 2]', /the document is an array, not a JSON object/);
  throwsPackage('"text"', /the document is string/);
  const doc = fresh();
  delete doc.bpf_object;
  throwsPackage(doc, /no bpf_object \(the base64 of the zlib-compressed BPF object\)/);
  doc.bpf_object = 42;
  throwsPackage(doc, /bpf_object is number, not a base64 string/);
  doc.bpf_object = '';
  throwsPackage(doc, /bpf_object is empty/);
});

test('read errors: corrupt base64, corrupt zlib, not an ELF', () => {
  const doc = fresh();
  const good: string = doc.bpf_object;
  doc.bpf_object = good.slice(0, 100) + '*' + good.slice(101);
  throwsPackage(doc, /bpf_object is not valid base64: character "\*" at 100/);
  doc.bpf_object = good.slice(0, -1).replace(/=+$/, '') + 'A';
  if (doc.bpf_object.length % 4 === 0) doc.bpf_object += 'A';
  throwsPackage(doc, /bpf_object is not valid base64: \d+ characters is not a padded multiple of 4/);
  doc.bpf_object = Buffer.from('definitely not zlib data').toString('base64');
  throwsPackage(doc, /bpf_object is not zlib-compressed data \(/);
  // Truncated deflate stream.
  doc.bpf_object = Buffer.from(good, 'base64').subarray(0, 200).toString('base64');
  throwsPackage(doc, /bpf_object is not zlib-compressed data/);
  // Valid zlib of something that is not an ELF.
  doc.bpf_object = deflateSync(Buffer.from('hello')).toString('base64');
  doc.bpf_object_size = 5;
  throwsPackage(doc, /bpf_object is not a valid BPF object: /);
  // A zlib bomb: 300 MiB of zeros in a few hundred KiB is refused, not inflated.
  delete doc.bpf_object_size;
  doc.bpf_object = deflateSync(Buffer.alloc(300 << 20)).toString('base64');
  throwsPackage(doc, /bpf_object inflates to more than 64 MiB/);
});

test('read errors: bpf_object_size mismatch or malformed', () => {
  const doc = fresh();
  const size = doc.bpf_object_size as number;
  doc.bpf_object_size = size + 1;
  const e = throwsPackage(doc, new RegExp(`bpf_object_size says ${size + 1} but the object is ${size} bytes`));
  assert.equal(e.message, `package: bpf_object_size says ${size + 1} but the object is ${size} bytes`);
  // Declared smaller: inflating stops one byte past it.
  doc.bpf_object_size = size - 1;
  throwsPackage(doc, new RegExp(`^package: bpf_object_size says ${size - 1} but the object is ${size} bytes$`));
  doc.bpf_object_size = size - 2;
  throwsPackage(doc, new RegExp(`^package: bpf_object_size says ${size - 2} but the object inflates to more$`));
  doc.bpf_object_size = '5008';
  throwsPackage(doc, /bpf_object_size is "5008", not a byte count/);
  doc.bpf_object_size = -1;
  throwsPackage(doc, /not a byte count/);
});

test('read errors: an export type_id that is not a struct in the object BTF', () => {
  const { spec } = load(EXITSNOOP, 'exitsnoop');
  const doc = fresh();
  const intId = spec.btf.idByName('int', 'int')!;
  doc.meta.export_types[0].type_id = intId;
  throwsPackage(doc, new RegExp(`meta\\.export_types\\[0\\] \\(event\\): type_id ${intId} is not a struct in the object's BTF \\(it is int int\\)`));
  doc.meta.export_types[0].type_id = 99999;
  throwsPackage(doc, /type_id 99999 is not a struct in the object's BTF \(it has \d+ types\)/);
  doc.meta.export_types[0].type_id = 0;
  throwsPackage(doc, /type_id is 0, not the BTF id of a struct/);
  doc.meta.export_types[0].type_id = '35';
  throwsPackage(doc, /type_id is "35", not the BTF id of a struct/);
  // The typedef of a struct is not the struct: ecc writes the STRUCT's id.
  const fwdLike = spec.btf.types.findIndex((t) => t.kind === 'ptr');
  doc.meta.export_types[0].type_id = fwdLike;
  throwsPackage(doc, /is not a struct in the object's BTF \(it is ptr\)/);
});

test('read errors: meta, bpf_skel and entries of the wrong shape name the key', () => {
  let doc = fresh();
  delete doc.meta;
  throwsPackage(doc, /no meta/);
  doc = fresh();
  doc.meta.bpf_skel = [];
  throwsPackage(doc, /meta\.bpf_skel is an array, not an object/);
  doc = fresh();
  delete doc.meta.bpf_skel.obj_name;
  throwsPackage(doc, /meta\.bpf_skel\.obj_name is missing, not a string/);
  doc = fresh();
  doc.meta.bpf_skel.maps = {};
  throwsPackage(doc, /meta\.bpf_skel\.maps is object, not an array/);
  doc = fresh();
  doc.meta.bpf_skel.maps[1] = 'exitsnoo.bss';
  throwsPackage(doc, /meta\.bpf_skel\.maps\[1\] is string, not an object/);
  doc = fresh();
  delete doc.meta.bpf_skel.progs[0].attach;
  throwsPackage(doc, /meta\.bpf_skel\.progs\[0\]\.attach is missing, not a string/);
  doc = fresh();
  doc.meta.bpf_skel.maps[0].sample = { type: 'log2_hist' };
  throwsPackage(doc, /meta\.bpf_skel\.maps\[0\]\.sample needs a numeric interval/);
  doc = fresh();
  doc.meta.export_types = 'event';
  throwsPackage(doc, /meta\.export_types is string, not an array/);
  doc = fresh();
  doc.meta.poll_timeout_ms = '100';
  throwsPackage(doc, /meta\.poll_timeout_ms is string, not a number/);
});

test('intepreter: stack_trace (ecc\'s spelling and the typed form) with field_map and with_symbols; default_struct; bad shapes name the key', () => {
  const withInterp = (v: unknown) => {
    const p = fresh();
    p.meta.bpf_skel.maps[0].intepreter = v;
    return p;
  };
  const name = fresh().meta.bpf_skel.maps[0].name as string;
  const all = { pid: 'pid', cpu_id: 'cpu_id', comm: 'comm', kstack_sz: 'kstack_sz', ustack_sz: 'ustack_sz', kstack: 'kstack', ustack: 'ustack' };
  assert.deepEqual(readPackage(withInterp({ stack_trace: {} })).stackTraces.get(name), { fieldMap: all, withSymbols: false });
  assert.deepEqual(readPackage(withInterp({ type: 'stack_trace', stack_trace: { field_map: { pid: 'tgid' }, with_symbols: true } })).stackTraces.get(name), { fieldMap: { ...all, pid: 'tgid' }, withSymbols: true });
  assert.equal(readPackage(withInterp('default_struct')).stackTraces.size, 0);
  throwsPackage(withInterp({ flame: {} }), new RegExp(`meta\\.bpf_skel\\.maps\\[0\\] \\(${name}\\)\\.intepreter is \\{"flame":\\{\\}\\}: expected "default_struct" or`));
  throwsPackage(withInterp({ stack_trace: { field_map: { tid: 'x' } } }), /field_map has "tid", which is none of pid, cpu_id, comm/);
  throwsPackage(withInterp({ stack_trace: { with_symbols: 'yes' } }), /with_symbols is string, not a boolean/);
});
