/**
 * The object parser on corrupted legacy map definitions and map-in-map / PROG_ARRAY
 * `values` relocations (.rel.maps): targeted corruptions give a one-line ParseError
 * naming the map; random ones (fuzz.test.ts style, deterministic seeds) end in a spec or
 * a TsbpfError, never another exception.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { TsbpfError } from '../src/errors.js';
import { parseElf, SHT_SYMTAB } from '../src/elf/index.js';
import { parseObject } from '../src/object/index.js';
import { ROOT } from './paths.js';
import { throwsParse } from './throws.js';
import { mulberry32 as rng } from './prng.js';

const read = (name: string) => new Uint8Array(readFileSync(join(ROOT, 'testdata', 'corpus', `${name}.bpf.o`)));

/** File offsets of what the corruptions touch. */
function layout(bytes: Uint8Array) {
  const elf = parseElf(bytes);
  const sec = (name: string) => elf.sections.find((s) => s.name === name)!;
  const symtab = elf.sections.find((s) => s.type === SHT_SYMTAB)!;
  const symOff = (name: string) => symtab.offset + elf.symbols.findIndex((s) => s.name === name) * 24;
  const symIndex = (name: string) => elf.symbols.findIndex((s) => s.name === name);
  return { elf, sec, symOff, symIndex };
}

const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

test('legacy map definitions: non-zero extra bytes, bad sizes and bounds are ParseErrors naming the map', () => {
  const good = read('legacy');
  const { sec, symOff } = layout(good);
  const maps = sec('maps');
  assert.equal(parseObject(good, 'legacy').maps.length, 2);

  const extra = good.slice();
  extra[maps.offset + 32 + 24] = 1; // slots: a byte past bpf_map_def's 20
  throwsParse(() => parseObject(extra, 'legacy'), /^object: legacy map slots \(section maps\): the 32-byte definition has non-zero bytes past struct bpf_map_def's 20 \(at byte 24\)/);

  const odd = good.slice();
  dv(odd).setBigUint64(symOff('hits') + 16, 18n, true); // st_size
  throwsParse(() => parseObject(odd, 'legacy'), /^object: legacy map hits \(section maps\): a 18-byte definition is not a whole number of u32 fields$/);

  const outside = good.slice();
  dv(outside).setBigUint64(symOff('slots') + 8, 48n, true); // st_value: 48 + 32 > 64
  throwsParse(() => parseObject(outside, 'legacy'), /^object: legacy map slots \(section maps\): definition at 48\.\.80 lies outside the 64-byte section$/);

  const untyped = good.slice();
  dv(untyped).setUint32(maps.offset, 0, true);
  throwsParse(() => parseObject(untyped, 'legacy'), /^object: legacy map hits \(section maps\): no type$/);

  // A shorter definition (struct bpf_map_def without map_flags) leaves the rest 0.
  const short = good.slice();
  dv(short).setBigUint64(symOff('hits') + 16, 16n, true);
  const hits = parseObject(short, 'legacy').maps.find((m) => m.name === 'hits')!;
  assert.deepEqual([hits.type, hits.keySize, hits.valueSize, hits.maxEntries, hits.flags], [1, 4, 8, 32, 0]);
});

test('map-in-map and PROG_ARRAY values relocations: bad ones are ParseErrors naming the map', () => {
  const good = read('mapinmap');
  const { sec, symIndex } = layout(good);
  const rel = sec('.rel.maps');
  const relAt = (i: number) => rel.offset + i * 16;

  const offSlot = good.slice();
  dv(offSlot).setBigUint64(relAt(0), dv(offSlot).getBigUint64(relAt(0), true) + 4n, true);
  throwsParse(() => parseObject(offSlot, 'mapinmap'), /^object: map outer_arr: relocation at offset \d+ is not on a values slot$/);

  const notValues = good.slice();
  dv(notValues).setBigUint64(relAt(0), 0n, true); // inside inner_a's definition
  throwsParse(() => parseObject(notValues, 'mapinmap'), /^object: \.maps: relocation at offset 0 \(against inner_a\) is not in any map's values/);

  const self = good.slice();
  dv(self).setUint32(relAt(0) + 12, symIndex('outer_arr'), true); // r_info's symbol (high half)
  throwsParse(() => parseObject(self, 'mapinmap'), /^object: map outer_arr: values\[1\] refers to the map itself$/);

  const notMap = good.slice();
  dv(notMap).setUint32(relAt(0) + 12, symIndex('via_array'), true);
  throwsParse(() => parseObject(notMap, 'mapinmap'), /^object: map outer_arr: values\[1\] refers to via_array, which is not a map of \.maps$/);

  const kind = good.slice();
  dv(kind).setUint32(relAt(0) + 8, 1, true); // r_info's type: R_BPF_64_64
  throwsParse(() => parseObject(kind, 'mapinmap'), /^object: map outer_arr: relocation type 1 at offset \d+ of \.maps is not R_BPF_64_ABS64 \(a pointer\)$/);

  const tail = read('tailcall');
  const t = layout(tail);
  const trel = t.sec('.rel.maps');
  const notProg = tail.slice();
  dv(notProg).setUint32(trel.offset + 12, t.symIndex('jumps'), true);
  throwsParse(() => parseObject(notProg, 'tailcall'), /^object: map jumps: values\[0\] refers to jumps, which is not a program$/);

  // A slot past max_entries (4): move values[2]'s relocation to values[5] (still inside
  // the symbol? no: past it, so outside every map's values).
  const past = tail.slice();
  dv(past).setBigUint64(trel.offset + 16, dv(past).getBigUint64(trel.offset + 16, true) + 24n, true);
  throwsParse(() => parseObject(past, 'tailcall'), /relocation at offset \d+ .*is not in any map's values|values\[5\] is initialised but max_entries is 4/);
});

// Random corruption of the same fields and bytes. Deterministic: the seed is fixed.

test('random corruption of legacy defs, map symbols and .rel.maps: a spec or a TsbpfError', () => {
  const CASES = Number(process.env.FUZZ_CASES ?? 3000);
  const next = rng(0x9e3779b9);
  const objects = ['legacy', 'mapinmap', 'tailcall'].map((name) => {
    const bytes = read(name);
    const { elf, sec } = layout(bytes);
    const symtab = elf.sections.find((s) => s.type === SHT_SYMTAB)!;
    const regions: [number, number][] = [];
    for (const n of ['maps', '.maps', '.rel.maps']) {
      const s = sec(n);
      if (s && s.size) regions.push([s.offset, s.offset + s.size]);
    }
    // The symbols of map and program definitions.
    elf.symbols.forEach((s, i) => {
      if (s.name && s.type !== 3) regions.push([symtab.offset + i * 24, symtab.offset + i * 24 + 24]);
    });
    return { name, bytes, regions };
  });
  let errors = 0;
  for (let i = 0; i < CASES; i++) {
    const o = objects[i % objects.length]!;
    const b = o.bytes.slice();
    const flips = 1 + Math.floor(next() * 4);
    const desc: string[] = [];
    for (let f = 0; f < flips; f++) {
      const [lo, hi] = o.regions[Math.floor(next() * o.regions.length)]!;
      const at = lo + Math.floor(next() * (hi - lo));
      const v = next() < 0.5 ? Math.floor(next() * 256) : b[at]! ^ (1 << Math.floor(next() * 8));
      desc.push(`[${at}]=${v}`);
      b[at] = v;
    }
    try {
      parseObject(b, o.name);
    } catch (e) {
      if (!(e instanceof TsbpfError)) assert.fail(`case ${i} (${o.name} ${desc.join(' ')}): ${String(e)}`);
      assert.ok(!e.message.includes('\n'), `case ${i}: one line: ${e.message}`);
      errors++;
    }
  }
  assert.ok(errors > CASES / 10, `corruptions are caught (${errors} of ${CASES})`);
});
