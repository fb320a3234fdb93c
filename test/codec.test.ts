/**
 * decodeValue / encodeValue on a synthetic BTF built with the Btf class: every kind the
 * codec handles, exact bytes where the layout matters (little-endian, bitfields), round
 * trips, and ValueErrors that name the path of the bad value. Corrupt type graphs (a
 * struct that contains itself, billions of zero-sized elements) end in a TsbpfError.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ParseError, TsbpfError } from '../src/errors.js';
import { parseTraceLine } from '../src/decode/index.js';
import {
  Btf, BTF_INT_BOOL, BTF_INT_SIGNED, decodeValue, encodeBtf, encodeValue, parseBtf, StringTable, ValueError,
  type BtfType, type Member,
} from '../src/btf/index.js';

const S = BTF_INT_SIGNED;
const int = (name: string, size: number, encoding = 0, bits = size * 8): BtfType => ({ kind: 'int', name, size, encoding, bitOffset: 0, bits });
const m = (name: string, type: number, byteOffset: number): Member => ({ name, type, bitOffset: byteOffset * 8, bitfieldSize: 0 });
const bf = (name: string, type: number, bitOffset: number, bitfieldSize: number): Member => ({ name, type, bitOffset, bitfieldSize });

// Type ids, in the order of TYPES below.
const CHAR = 1, U8 = 2, S8 = 3, U16 = 4, S16 = 5, U32 = 6, INT = 7, U64 = 8, S64 = 9, U128 = 10, S128 = 11, BOOL = 12;
const COMM = 13, STATE = 14, BIG = 15, INNER = 16, INNER2 = 17, UNION = 18, BYTES = 19, BITS = 20, PTR = 21, DOUBLE = 22;
const FLOAT = 23, PID_T = 24, EVENT = 25, CONST_EVENT = 26, CHAR8 = 27, OLD_BITS = 28, U3 = 29, S5 = 30;

const TYPES: BtfType[] = [
  { kind: 'void', name: '' },
  int('char', 1, S), // 1
  int('u8', 1), // 2: a 1-byte int that is not a char
  int('s8', 1, S),
  int('u16', 2),
  int('s16', 2, S),
  int('unsigned int', 4), // 6
  int('int', 4, S),
  int('unsigned long long', 8),
  int('long long', 8, S),
  int('unsigned __int128', 16),
  int('__int128', 16, S), // 11
  int('_Bool', 1, BTF_INT_BOOL),
  { kind: 'array', name: '', type: CHAR, indexType: U32, nelems: 16 }, // 13: char[16]
  { kind: 'enum', name: 'state', size: 4, signed: true, values: [{ name: 'RUNNING', value: 0 }, { name: 'SLEEPING', value: 1 }, { name: 'DEAD', value: -1 }] },
  { kind: 'enum64', name: 'big', size: 8, signed: false, values: [{ name: 'LOW', value: 1n }, { name: 'HIGH', value: 0xfedcba9876543210n }] },
  { kind: 'struct', name: 'inner', size: 8, kflag: false, members: [m('a', U32, 0), m('b', S16, 4), m('c', U8, 6)] }, // 16
  { kind: 'array', name: '', type: INNER, indexType: U32, nelems: 2 }, // 17
  { kind: 'union', name: 'u', size: 8, kflag: false, members: [m('as_u64', U64, 0), m('as_bytes', BYTES, 0)] }, // 18
  { kind: 'array', name: '', type: U8, indexType: U32, nelems: 8 }, // 19: u8[8], numbers
  {
    // 20: unsigned f1:3; int f2:5; unsigned f3:9 (bits 8..16, across a byte boundary); int f4:12 (bits 17..28)
    kind: 'struct', name: 'bits', size: 4, kflag: true,
    members: [bf('f1', U32, 0, 3), bf('f2', INT, 3, 5), bf('f3', U32, 8, 9), bf('f4', INT, 17, 12)],
  },
  { kind: 'ptr', name: '', type: INNER }, // 21
  { kind: 'float', name: 'double', size: 8 },
  { kind: 'float', name: 'float', size: 4 },
  { kind: 'typedef', name: 'pid_t', type: INT }, // 24
  {
    kind: 'struct', name: 'event', size: 152, kflag: false,
    members: [
      m('pid', PID_T, 0), m('comm', COMM, 4), m('state', STATE, 20), m('inner', INNER, 24), m('items', INNER2, 32),
      m('u', UNION, 48), m('bits', BITS, 56), m('flag', BOOL, 60), m('ptr', PTR, 64), m('ratio', DOUBLE, 72),
      m('count', U64, 80), m('wide', U128, 96), m('swide', S128, 112), m('small', S8, 128), m('half', U16, 130),
      m('shalf', S16, 132), m('f32', FLOAT, 136), m('big', BIG, 144),
    ],
  },
  { kind: 'const', name: '', type: EVENT }, // 26
  { kind: 'array', name: '', type: CHAR, indexType: U32, nelems: 8 }, // 27: char[8]
  {
    // 28: old-style (no kflag) bitfields: the member's int type carries the width, the
    // member's offset is in bits: unsigned x:3 at 0, int y:5 at 3, unsigned z:3 at 13.
    kind: 'struct', name: 'old', size: 4, kflag: false,
    members: [{ name: 'x', type: U3, bitOffset: 0, bitfieldSize: 0 }, { name: 'y', type: S5, bitOffset: 3, bitfieldSize: 0 }, { name: 'z', type: U3, bitOffset: 13, bitfieldSize: 0 }],
  },
  int('unsigned int', 4, 0, 3), // 29: unsigned :3
  int('int', 4, S, 5), // 30: int :5
];

function makeBtf(): Btf {
  return new Btf(structuredClone(TYPES), StringTable.empty());
}

function enc(btf: Btf, id: number, value: unknown, size = btf.size(id)): Uint8Array {
  const buf = new Uint8Array(size);
  encodeValue(btf, id, value, new DataView(buf.buffer));
  return buf;
}
const dec = (btf: Btf, id: number, bytes: Uint8Array, offset = 0) => decodeValue(btf, id, new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset);

function throwsValue(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ValueError, `expected a ValueError, got ${String(e)}`);
    assert.match(e.message, re);
    return true;
  });
}

test('the synthetic BTF is valid: it encodes and parses back unchanged', () => {
  const btf = makeBtf();
  const again = parseBtf(encodeBtf(btf));
  assert.deepEqual(again.types, btf.types);
  assert.equal(btf.size(EVENT), 152);
  assert.equal(btf.typeName(COMM), 'char[16]');
});

test('integers of each size: numbers up to 4 bytes, bigints for 8 and 16, little-endian', () => {
  const btf = makeBtf();
  const cases: [number, unknown, number[]][] = [
    [U8, 255, [0xff]],
    [S8, -128, [0x80]],
    [U16, 0xbeef, [0xef, 0xbe]],
    [S16, -2, [0xfe, 0xff]],
    [U32, 0xdeadbeef, [0xef, 0xbe, 0xad, 0xde]],
    [INT, -123456, [0xc0, 0x1d, 0xfe, 0xff]],
    [U64, 0xffffffffffffffffn, [255, 255, 255, 255, 255, 255, 255, 255]],
    [U64, 0x0102030405060708n, [8, 7, 6, 5, 4, 3, 2, 1]],
    [S64, -(1n << 63n), [0, 0, 0, 0, 0, 0, 0, 0x80]],
    [U128, (1n << 128n) - 1n, new Array(16).fill(255)],
    [U128, 1n << 64n, [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]],
    [S128, -1n, new Array(16).fill(255)],
  ];
  for (const [id, value, bytes] of cases) {
    const b = enc(btf, id, value);
    assert.deepEqual([...b], bytes, `${btf.typeName(id)} ${String(value)}`);
    assert.deepEqual(dec(btf, id, b), value);
  }
  assert.equal(typeof dec(btf, U32, enc(btf, U32, 7)), 'number');
  assert.equal(typeof dec(btf, U64, enc(btf, U64, 7)), 'bigint');
  assert.equal(dec(btf, U64, enc(btf, U64, 7)), 7n, 'numbers are accepted for 64-bit ints');
  // Exact beyond 2^53: never rounded through a double.
  assert.equal(dec(btf, U64, enc(btf, U64, 9007199254740993n)), 9007199254740993n);
  // Integer strings (decimal, hex, negative) are accepted, as from a command line.
  assert.equal(dec(btf, INT, enc(btf, INT, '-42')), -42);
  assert.equal(dec(btf, U32, enc(btf, U32, '0x10')), 16);
  // At an offset inside a larger buffer.
  const wide = new Uint8Array(12);
  encodeValue(btf, U32, 0x11223344, new DataView(wide.buffer), 8);
  assert.deepEqual([...wide], [0, 0, 0, 0, 0, 0, 0, 0, 0x44, 0x33, 0x22, 0x11]);
  assert.equal(dec(btf, U32, wide, 8), 0x11223344);
});

test('out-of-range and non-integer values are rejected', () => {
  const btf = makeBtf();
  throwsValue(() => enc(btf, U8, 256), /^value: 256 does not fit a unsigned 8-bit integer$/);
  throwsValue(() => enc(btf, U8, -1), /-1 does not fit a unsigned 8-bit integer/);
  throwsValue(() => enc(btf, S8, 128), /128 does not fit a signed 8-bit integer/);
  throwsValue(() => enc(btf, S8, -129), /-129 does not fit a signed 8-bit integer/);
  throwsValue(() => enc(btf, U32, 2 ** 32), /4294967296 does not fit a unsigned 32-bit integer/);
  throwsValue(() => enc(btf, INT, 2 ** 31), /2147483648 does not fit a signed 32-bit integer/);
  throwsValue(() => enc(btf, U64, -1n), /-1 does not fit a unsigned 64-bit integer/);
  throwsValue(() => enc(btf, S64, 1n << 63n), /9223372036854775808 does not fit a signed 64-bit integer/);
  throwsValue(() => enc(btf, U128, 1n << 128n), /does not fit a unsigned 128-bit integer/);
  throwsValue(() => enc(btf, U32, 1.5), /^value: expected an integer, got number 1.5$/);
  throwsValue(() => enc(btf, U32, 'abc'), /^value: expected an integer, got string "abc"$/);
  throwsValue(() => enc(btf, U32, null), /expected an integer, got object null/);
  throwsValue(() => enc(btf, U32, undefined), /expected an integer, got undefined/);
});

test('bool, char arrays, floats and pointers', () => {
  const btf = makeBtf();
  assert.deepEqual([...enc(btf, BOOL, true)], [1]);
  assert.equal(dec(btf, BOOL, enc(btf, BOOL, true)), true);
  assert.equal(dec(btf, BOOL, enc(btf, BOOL, false)), false);
  assert.equal(dec(btf, BOOL, new Uint8Array([2])), true, 'any non-zero byte is true');
  throwsValue(() => enc(btf, BOOL, 'yes'), /^value: expected a boolean, got string "yes"$/);

  assert.deepEqual([...enc(btf, CHAR8, 'hi')], [0x68, 0x69, 0, 0, 0, 0, 0, 0]);
  assert.equal(dec(btf, CHAR8, enc(btf, CHAR8, 'hi')), 'hi');
  // A string that fills the array has no NUL: decoding stops at the end.
  assert.equal(dec(btf, CHAR8, enc(btf, CHAR8, 'abcdefgh')), 'abcdefgh');
  assert.equal(dec(btf, CHAR8, new TextEncoder().encode('ab\0cdefg')), 'ab', 'stops at the first NUL');
  assert.equal(dec(btf, CHAR8, new Uint8Array(8)), '');
  // Encoding a shorter string clears what was there.
  const buf = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
  encodeValue(btf, CHAR8, 'z', new DataView(buf.buffer));
  assert.deepEqual([...buf], [0x7a, 0, 0, 0, 0, 0, 0, 0]);
  assert.equal(dec(btf, CHAR8, enc(btf, CHAR8, 'é')), 'é', 'UTF-8');
  throwsValue(() => enc(btf, CHAR8, 'abcdefghi'), /^value: "abcdefghi" is 9 bytes, longer than char\[8\]$/);
  // A char array also takes an array of numbers; a u8 array decodes to numbers.
  assert.equal(dec(btf, CHAR8, enc(btf, CHAR8, [0x41, 0x42])), 'AB');
  assert.deepEqual(dec(btf, BYTES, enc(btf, BYTES, [1, 2, 3])), [1, 2, 3, 0, 0, 0, 0, 0]);

  assert.equal(dec(btf, DOUBLE, enc(btf, DOUBLE, 1.5)), 1.5);
  assert.equal(dec(btf, FLOAT, enc(btf, FLOAT, 0.1)), Math.fround(0.1));
  assert.deepEqual([...enc(btf, FLOAT, 1)], [0, 0, 0x80, 0x3f]);
  throwsValue(() => enc(btf, DOUBLE, 1n), /^value: expected a number, got bigint 1n$/);

  assert.equal(dec(btf, PTR, enc(btf, PTR, 0xffff888812345678n)), 0xffff888812345678n);
  throwsValue(() => enc(btf, PTR, -1), /does not fit a unsigned 64-bit integer/);
});

test('enums by name, unknown values as numbers, enum64', () => {
  const btf = makeBtf();
  assert.deepEqual([...enc(btf, STATE, 'SLEEPING')], [1, 0, 0, 0]);
  assert.equal(dec(btf, STATE, enc(btf, STATE, 'SLEEPING')), 'SLEEPING');
  assert.equal(dec(btf, STATE, enc(btf, STATE, 'DEAD')), 'DEAD', 'signed enumerator -1');
  assert.deepEqual([...enc(btf, STATE, 'DEAD')], [255, 255, 255, 255]);
  assert.equal(dec(btf, STATE, enc(btf, STATE, 7)), 7, 'an unknown value decodes to its number');
  assert.equal(dec(btf, STATE, enc(btf, STATE, 0)), 'RUNNING', 'numbers are accepted when encoding');
  throwsValue(() => enc(btf, STATE, 'ZOMBIE'), /^value: "ZOMBIE" is not one of RUNNING, SLEEPING, DEAD$/);
  throwsValue(() => enc(btf, STATE, 2 ** 31), /does not fit a signed 32-bit integer/);

  assert.equal(dec(btf, BIG, enc(btf, BIG, 'HIGH')), 'HIGH');
  assert.deepEqual([...enc(btf, BIG, 'HIGH')], [0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe]);
  assert.equal(dec(btf, BIG, enc(btf, BIG, 'LOW')), 'LOW');
  assert.equal(dec(btf, BIG, enc(btf, BIG, 5n)), 5n, 'unknown enum64 value: a bigint');
});

test('bitfields (kflag): signed and unsigned, across a byte boundary, neighbours kept', () => {
  const btf = makeBtf();
  const v = { f1: 5, f2: -3, f3: 300, f4: -1000 };
  const b = enc(btf, BITS, v);
  // f1 = 5 (bits 0-2), f2 = -3 & 0x1f = 29 (bits 3-7), f3 = 300 (bits 8-16), f4 = -1000 & 0xfff = 3096 (bits 17-28)
  const word = 5 | (29 << 3) | (300 << 8) | (3096 << 17);
  assert.deepEqual([...b], [word & 255, (word >>> 8) & 255, (word >>> 16) & 255, (word >>> 24) & 255]);
  assert.deepEqual(dec(btf, BITS, b), v);
  // Writing one field leaves the others' bits alone.
  encodeValue(btf, BITS, { f3: 1 }, new DataView(b.buffer));
  assert.deepEqual(dec(btf, BITS, b), { f1: 5, f2: -3, f3: 1, f4: -1000 });
  assert.deepEqual(dec(btf, BITS, enc(btf, BITS, { f1: 7, f2: 15, f3: 511, f4: 2047 })), { f1: 7, f2: 15, f3: 511, f4: 2047 });
  assert.deepEqual(dec(btf, BITS, enc(btf, BITS, { f2: -16, f4: -2048 })), { f1: 0, f2: -16, f3: 0, f4: -2048 });
  throwsValue(() => enc(btf, BITS, { f1: 8 }), /^value\.f1: 8 does not fit a unsigned 3-bit integer$/);
  throwsValue(() => enc(btf, BITS, { f2: 16 }), /^value\.f2: 16 does not fit a signed 5-bit integer$/);
  throwsValue(() => enc(btf, BITS, { f4: -2049 }), /^value\.f4: -2049 does not fit a signed 12-bit integer$/);
});

test('bitfields without kflag: widths from the member int type, offsets in bits', () => {
  const btf = makeBtf();
  const v = { x: 6, y: -7, z: 5 };
  const b = enc(btf, OLD_BITS, v);
  const word = 6 | ((-7 & 31) << 3) | (5 << 13);
  assert.deepEqual([...b], [word & 255, (word >>> 8) & 255, 0, 0]);
  assert.deepEqual(dec(btf, OLD_BITS, b), v);
  throwsValue(() => enc(btf, OLD_BITS, { y: 16 }), /^value\.y: 16 does not fit a signed 5-bit integer$/);
});

test('nested structs, arrays and unions round-trip', () => {
  const btf = makeBtf();
  const value = {
    pid: 4242,
    comm: 'bash',
    state: 'SLEEPING',
    inner: { a: 1, b: -2, c: 3 },
    items: [{ a: 10, b: 20, c: 30 }, { a: 0xffffffff, b: -32768, c: 255 }],
    u: { as_u64: 0x0807060504030201n, as_bytes: [1, 2, 3, 4, 5, 6, 7, 8] },
    bits: { f1: 1, f2: -1, f3: 256, f4: 100 },
    flag: true,
    ptr: 0xffffc90000001000n,
    ratio: -0.25,
    count: 1n << 40n,
    wide: (1n << 100n) + 7n,
    swide: -(1n << 100n),
    small: -5,
    half: 65535,
    shalf: -300,
    f32: 2.5,
    big: 'LOW',
  };
  const b = enc(btf, EVENT, value);
  assert.equal(b.byteLength, 152);
  assert.deepEqual(dec(btf, EVENT, b), value);
  assert.deepEqual(dec(btf, CONST_EVENT, b), value, 'qualifiers are looked through');
  // Layout: pid at 0, comm at 4, items[1].a at 40, flag at 60.
  const dv = new DataView(b.buffer);
  assert.equal(dv.getInt32(0, true), 4242);
  assert.equal(Buffer.from(b.subarray(4, 8)).toString(), 'bash');
  assert.equal(dv.getUint32(40, true), 0xffffffff);
  assert.equal(b[60], 1);
  // A union: both views of the same bytes.
  const u = dec(btf, UNION, enc(btf, UNION, { as_u64: 0x0102030405060708n })) as { as_u64: bigint; as_bytes: number[] };
  assert.deepEqual(u, { as_u64: 0x0102030405060708n, as_bytes: [8, 7, 6, 5, 4, 3, 2, 1] });
  // Missing members stay zero; fewer array elements than nelems are allowed.
  assert.deepEqual(dec(btf, INNER2, enc(btf, INNER2, [{ a: 9 }])), [{ a: 9, b: 0, c: 0 }, { a: 0, b: 0, c: 0 }]);
});

test('wrong-type values give ValueError with the path', () => {
  const btf = makeBtf();
  throwsValue(() => enc(btf, EVENT, { comm: 42 }), /^value\.comm: expected an array of 16, got number 42$/);
  throwsValue(() => enc(btf, EVENT, { comm: 'x'.repeat(17) }), /^value\.comm: "x{17}" is 17 bytes, longer than char\[16\]$/);
  throwsValue(() => enc(btf, EVENT, { pid: 'abc' }), /^value\.pid: expected an integer, got string "abc"$/);
  throwsValue(() => enc(btf, EVENT, { items: [{}, { a: -1 }] }), /^value\.items\[1\]\.a: -1 does not fit a unsigned 32-bit integer$/);
  throwsValue(() => enc(btf, EVENT, { items: [{}, {}, {}] }), /^value\.items: 3 elements do not fit 2$/);
  throwsValue(() => enc(btf, EVENT, { inner: [1, 2] }), /^value\.inner: expected an object for struct inner, got object \[1,2\]$/);
  throwsValue(() => enc(btf, EVENT, { state: 'NOPE' }), /^value\.state: "NOPE" is not one of/);
  throwsValue(() => enc(btf, EVENT, { flag: 'true' }), /^value\.flag: expected a boolean/);
  throwsValue(() => enc(btf, EVENT, { bogus: 1, pid: 1 }), /^value: struct event has no member bogus$/);
  throwsValue(() => enc(btf, EVENT, null), /^value: expected an object for struct event, got object null$/);
  throwsValue(() => enc(btf, EVENT, 5), /^value: expected an object for struct event, got number 5$/);
  // A custom root path.
  assert.throws(
    () => encodeValue(btf, EVENT, { pid: 1.5 }, new DataView(new ArrayBuffer(152)), 0, 'events[3]'),
    /^ValueError: events\[3\]\.pid: expected an integer, got number 1\.5$/,
  );
  throwsValue(() => encodeValue(btf, 0, 1, new DataView(new ArrayBuffer(8))), /^value: cannot encode a value of BTF kind void$/);
});

test('buffers too short for the type are ValueErrors, never reads or writes past the end', () => {
  const btf = makeBtf();
  const short = new Uint8Array(100);
  throwsValue(() => dec(btf, EVENT, short), /^value: 152 bytes at offset 0 lie outside the 100-byte buffer$/);
  throwsValue(() => dec(btf, U64, new Uint8Array(4)), /8 bytes at offset 0 lie outside the 4-byte buffer/);
  throwsValue(() => dec(btf, U32, new Uint8Array(8), 6), /4 bytes at offset 6 lie outside/);
  throwsValue(() => dec(btf, COMM, new Uint8Array(10)), /16 bytes at offset 0 lie outside the 10-byte buffer/);
  throwsValue(() => dec(btf, BITS, new Uint8Array(2)), /lie outside the 2-byte buffer/);
  throwsValue(() => encodeValue(btf, EVENT, { swide: 1n }, new DataView(short.buffer)), /^value\.swide: 16 bytes at offset 112 lie outside the 100-byte buffer$/);
  throwsValue(() => encodeValue(btf, U64, 1n, new DataView(new ArrayBuffer(4))), /8 bytes at offset 0 lie outside/);
  throwsValue(() => encodeValue(btf, CHAR8, 'a', new DataView(new ArrayBuffer(4))), /8 bytes at offset 0 lie outside/);
  throwsValue(() => encodeValue(btf, BITS, { f4: 1 }, new DataView(new ArrayBuffer(2))), /^value\.f4: 2 bytes at offset 2 lie outside the 2-byte buffer$/);
});

test('corrupt type graphs end in a TsbpfError, not a stack overflow or a hang', () => {
  // A struct that contains itself (only corrupt BTF can say so).
  const self = makeBtf();
  const loop = self.add({ kind: 'struct', name: 'loop', size: 8, kflag: false, members: [m('again', 0, 0)] });
  (self.types[loop] as { members: Member[] }).members[0]!.type = loop;
  assert.throws(() => dec(self, loop, new Uint8Array(8)), (e: unknown) => e instanceof ParseError && /nest deeper than 32/.test(e.message));
  // A finite value encodes; a value that contains itself meets the same depth guard.
  encodeValue(self, loop, { again: { again: {} } }, new DataView(new ArrayBuffer(8)));
  const cyclic: Record<string, unknown> = {};
  cyclic.again = cyclic;
  assert.throws(() => encodeValue(self, loop, cyclic, new DataView(new ArrayBuffer(8))), (e: unknown) => e instanceof TsbpfError && /nest deeper than 32/.test(e.message));

  // 4 billion zero-sized elements: refused up front, not allocated.
  const empty = makeBtf();
  const none = empty.add({ kind: 'struct', name: 'none', size: 0, kflag: false, members: [] });
  const many = empty.add({ kind: 'array', name: '', type: none, indexType: U32, nelems: 0xffffffff });
  const t0 = performance.now();
  assert.throws(() => dec(empty, many, new Uint8Array(16)), (e: unknown) => e instanceof ValueError && /4294967295 elements are too many to decode/.test(e.message));
  assert.ok(performance.now() - t0 < 1000);

  // Fan-out: 64 overlapping members of a struct with 64 overlapping members ... (64^6 values).
  const fan = makeBtf();
  let inner = U8;
  for (let level = 0; level < 6; level++) {
    inner = fan.add({ kind: 'union', name: `fan${level}`, size: 1, kflag: false, members: Array.from({ length: 64 }, (_, i) => m(`m${i}`, inner, 0)) });
  }
  const t1 = performance.now();
  assert.throws(() => dec(fan, inner, new Uint8Array(1)), (e: unknown) => e instanceof ValueError && /too many values to decode/.test(e.message));
  assert.ok(performance.now() - t1 < 5000, 'the value budget stops the blowup');

  // A non-int member at a bit offset that is not a whole byte.
  const odd = makeBtf();
  const bad = odd.add({ kind: 'struct', name: 'odd', size: 8, kflag: false, members: [{ name: 'p', type: PTR, bitOffset: 3, bitfieldSize: 0 }] });
  assert.throws(() => dec(odd, bad, new Uint8Array(16)), (e: unknown) => e instanceof ParseError && /value\.p: ptr member at bit offset 3 is not byte-aligned/.test(e.message));
});

test('parseTraceLine: trace_pipe lines with and without irq flags, tgid, dashes in the task; other text kept', () => {
  assert.deepEqual(parseTraceLine('            true-4242    [001] d..31   812.345678: bpf_trace_printk: tsbpf hello: exec of pid 4242'), {
    time: 812.345678, task: 'true', pid: 4242, cpu: 1, message: 'tsbpf hello: exec of pid 4242',
  });
  assert.deepEqual(parseTraceLine(' kworker/u4:2-99 [000]  5.000001: bpf_trace_printk: x'), { time: 5.000001, task: 'kworker/u4:2', pid: 99, cpu: 0, message: 'x' });
  assert.deepEqual(parseTraceLine('  my-tool-7 (    7) [003] .N..1 10.5: sched_switch: prev=a'), { time: 10.5, task: 'my-tool', pid: 7, cpu: 3, message: 'sched_switch: prev=a' });
  assert.deepEqual(parseTraceLine('CPU:1 [LOST 3 EVENTS]'), { time: null, task: null, pid: null, cpu: null, message: 'CPU:1 [LOST 3 EVENTS]' });
});

test('a 0-byte bool int (which the kernel accepts) decodes as 0 from no bytes, in the codec and in compiled code', async () => {
  const { compileCodec } = await import('../src/decode/index.js');
  const btf = makeBtf();
  const zero = btf.add(int('b0', 0, BTF_INT_BOOL, 0));
  assert.equal(dec(btf, zero, new Uint8Array(0)), 0);
  assert.equal(compileCodec(btf, zero).decode(new DataView(new ArrayBuffer(0)), 0), 0);
});
