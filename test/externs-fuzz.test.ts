/**
 * Deterministic fuzzing of the extern parsers: kernel config files (parseKconfig and
 * setKconfigValue), objects with .kconfig/.ksyms externs (collectExterns through
 * parseObject, then linkProgram) and split BTF on a base. Every case ends in success or
 * a TsbpfError; anything else (TypeError, RangeError, a hang) is a bug, reported with
 * the case's seed. FUZZ_CASES scales the number of cases (default 6000 in all),
 * FUZZ_SEED changes the base seed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Btf, encodeBtf, parseBtf, StringTable } from '../src/btf/index.js';
import { TsbpfError } from '../src/errors.js';
import { linkProgram, parseKconfig, parseObject, setKconfigValue, type KconfigExtern } from '../src/object/index.js';
import { ROOT } from './paths.js';
import { mulberry32 } from './prng.js';

const CASES = Number(process.env.FUZZ_CASES ?? 6000);
const SEED = Number(process.env.FUZZ_SEED ?? 0x6b636667) >>> 0;


/** Runs `cases` cases; each gets its own PRNG; a non-TsbpfError fails with the seed. */
function fuzz(name: string, cases: number, body: (rnd: () => number, int: (n: number) => number) => void): void {
  const failures: string[] = [];
  for (let i = 0; i < cases; i++) {
    const seed = (SEED ^ Math.imul(i + 1, 0x9e3779b1) ^ name.length) >>> 0;
    const rnd = mulberry32(seed);
    const int = (n: number) => Math.floor(rnd() * n);
    const start = performance.now();
    try {
      body(rnd, int);
    } catch (e) {
      if (!(e instanceof TsbpfError)) failures.push(`case ${i} (seed 0x${seed.toString(16)}): ${(e as Error).stack?.split('\n').slice(0, 3).join(' | ')}`);
    }
    const ms = performance.now() - start;
    if (ms > 2000) failures.push(`case ${i} (seed 0x${seed.toString(16)}): took ${ms.toFixed(0)} ms`);
    if (failures.length >= 10) break;
  }
  assert.deepEqual(failures, [], `${name}: ${failures.length} failing cases`);
}

const VALUES = ['y', 'n', 'm', 'yes', '"str"', '"', '""', '"unterminated', '0', '-1', '0x', '0x7fffffff', '0xffffffffffffffff',
  '0x10000000000000000', '18446744073709551615', '18446744073709551616', '-9223372036854775808', '0777', '09', ' 12', '1e3', '', '=', 'é'];
const NAMES = ['CONFIG_A', 'CONFIG_HZ', 'CONFIG_', 'CONFIG_X_Y', '# CONFIG_A is not set', 'OTHER', 'CONFIGX', ' CONFIG_A'];
const TYPES: [KconfigExtern['type'], number[]][] = [['bool', [1]], ['char', [1]], ['tristate', [4, 8]], ['int', [1, 2, 4, 8]], ['char_array', [1, 2, 7, 64]]];

test('fuzz: kernel config files and values', () => {
  fuzz('kconfig', Math.ceil(CASES / 2), (rnd, int) => {
    const lines: string[] = [];
    for (let n = int(12); n > 0; n--) {
      const r = rnd();
      if (r < 0.1) lines.push(String.fromCharCode(...Array.from({ length: int(40) }, () => int(256))));
      else if (r < 0.2) lines.push(NAMES[int(NAMES.length)]!);
      else lines.push(`${NAMES[int(NAMES.length)]}${rnd() < 0.9 ? '=' : ''}${VALUES[int(VALUES.length)]}${rnd() < 0.1 ? '\r' : ''}`);
    }
    const text = lines.join(rnd() < 0.9 ? '\n' : '\r\n');
    const parsed = parseKconfig(text, 'fuzz');
    for (const [name, value] of parsed) {
      assert.ok(name.startsWith('CONFIG_') && value.length > 0);
      const [type, sizes] = TYPES[int(TYPES.length)]!;
      const size = sizes[int(sizes.length)]!;
      const ext: KconfigExtern = { kind: 'kconfig', name, weak: false, btfId: 1, type, typeId: 1, size, align: Math.min(8, size), signed: rnd() < 0.5, offset: 0 };
      const buf = new Uint8Array(size + 8).fill(0xee);
      const why = setKconfigValue(ext, value, new DataView(buf.buffer, 0, size));
      assert.ok(why === undefined || typeof why === 'string');
      // Nothing is written past the extern's bytes.
      assert.ok(buf.subarray(size).every((b) => b === 0xee), `${type}/${size} ${value} wrote past its end`);
    }
  });
});

const OBJECTS = ['kconfig', 'ksyms', 'ksym_exists', 'ksym_typed', 'externs_unused'].map((n) => readFileSync(join(ROOT, 'testdata', 'corpus', `${n}.bpf.o`)));

test('fuzz: objects with externs (collectExterns, linkProgram)', () => {
  fuzz('objects', Math.ceil(CASES / 3), (rnd, int) => {
    const orig = OBJECTS[int(OBJECTS.length)]!;
    const bytes = Buffer.from(orig);
    // Aim at the BTF (types, DATASECs, linkage words) half the time, anywhere otherwise.
    const btfAt = bytes.indexOf(Buffer.from([0x9f, 0xeb, 1, 0]));
    for (let n = 1 + int(4); n > 0; n--) {
      const at = rnd() < 0.5 && btfAt >= 0 ? btfAt + int(Math.min(4096, bytes.length - btfAt)) : int(bytes.length);
      const r = rnd();
      if (r < 0.4) bytes[at] = bytes[at]! ^ (1 << int(8));
      else if (r < 0.7) bytes[at] = int(256);
      else if (r < 0.85) bytes.writeUInt32LE(int(4) === 0 ? 0xffffffff : int(64), Math.min(at, bytes.length - 4));
      else bytes[at] = [0, 1, 2, 14, 15, 12][int(6)]!; // kinds and linkages the code switches on
    }
    const spec = parseObject(bytes, 'fuzz');
    for (const p of spec.programs) linkProgram(spec, p);
    for (const e of spec.externs) assert.ok(e.kind === 'kconfig' ? e.offset + e.size <= (spec.maps.find((m) => m.data?.section === '.kconfig')?.valueSize ?? 0) : true);
  });
});

test('fuzz: split BTF on a base', () => {
  const base = new Btf(
    [{ kind: 'void', name: '' }, { kind: 'int', name: 'int', size: 4, encoding: 1, bitOffset: 0, bits: 32 }, { kind: 'ptr', name: '', type: 1 }],
    StringTable.empty(),
  );
  const baseBytes = encodeBtf(base);
  const parsedBase = parseBtf(baseBytes);
  // A well-formed split: its own copy of types referring to base ids, strings after the base's.
  const splitSrc = new Btf(
    [
      { kind: 'void', name: '' },
      { kind: 'int', name: 'int', size: 4, encoding: 1, bitOffset: 0, bits: 32 },
      { kind: 'ptr', name: '', type: 1 },
      { kind: 'typedef', name: 'split_t', type: 2 },
      { kind: 'struct', name: 'split_s', size: 8, kflag: false, members: [{ name: 'p', type: 3, bitOffset: 0, bitfieldSize: 0 }] },
    ],
    StringTable.empty(),
  );
  fuzz('split', Math.ceil(CASES / 6), (rnd, int) => {
    const bytes = Buffer.from(encodeBtf(splitSrc));
    for (let n = 1 + int(6); n > 0; n--) {
      const at = int(bytes.length);
      if (rnd() < 0.5) bytes[at] = bytes[at]! ^ (1 << int(8));
      else bytes[at] = int(256);
    }
    const s = parseBtf(bytes, { base: parsedBase });
    for (let id = s.baseCount; id < s.count; id++) {
      s.typeName(id);
      try {
        s.size(id);
      } catch (e) {
        if (!(e instanceof TsbpfError)) throw e;
      }
    }
  });
});
