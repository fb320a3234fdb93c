/**
 * The decoder generator (gen/decoder.ts) against the BTF codec it must agree with: every
 * struct and union of the running kernel's BTF up to 4 KiB, decoded from random bytes by
 * both, deep-equal; and the generated source is straight-line (no per-field closures).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Btf, decodeValue, kernelBtf, StringTable, type Member } from '../src/btf/index.js';
import { compileDecoder, compileMembersDecoder } from '../src/decode/index.js';
import { ParseError } from '../src/errors.js';
import { decoderSource } from '../src/gen/decoder.js';
import { mulberry32 } from './prng.js';

test('generated decoders give the codec\'s values for every kernel struct and union up to 4 KiB, from random bytes', () => {
  const btf = kernelBtf();
  const rand = mulberry32(11);
  const bytes = new Uint8Array(4096 + 64);
  let checked = 0;
  for (let id = 1; id < btf.count; id++) {
    const t = btf.type(id);
    if ((t.kind !== 'struct' && t.kind !== 'union') || t.size > 4096 || !t.members.length) continue;
    // Bytes mostly small and printable, so strings, enums and bools take every path.
    for (let i = 0; i < t.size + 8; i++) {
      const r = rand();
      bytes[i] = r < 0.3 ? 0 : r < 0.6 ? 0x20 + Math.floor(rand() * 0x5f) : r < 0.7 ? 1 : Math.floor(rand() * 256);
    }
    const view = new DataView(bytes.buffer, 0, t.size + 8);
    const want = decodeValue(btf, id, view, 0);
    const got = compileDecoder(btf, id).decode(view, 0);
    assert.deepEqual(got, want, `struct ${t.name || `#${id}`} (${t.size} bytes)`);
    checked++;
  }
  assert.ok(checked > 1000, `only ${checked} structs checked`);
});

test('generated code is straight-line: one literal per struct, typed reads at constant offsets, enum tables, loops only for long arrays', () => {
  const btf = kernelBtf();
  const id = btf.idByName('task_struct', 'struct')!;
  const src = decoderSource(btf, btf.idByName('sockaddr_in', 'struct')!, 'decode_sockaddr_in');
  const code = src.functions.at(-1)!;
  assert.match(code, /^function decode_sockaddr_in\(v, o\) \{\n  return \{\n/);
  assert.match(code, /sin_family: v\.getUint16\(o, true\)/);
  assert.match(code, /sin_port: v\.getUint16\(o \+ 2, true\)/);
  assert.match(code, /sin_addr: \{\n\s+s_addr: v\.getUint32\(o \+ 4, true\),\n\s+\}/);
  assert.doesNotMatch(code, /=>/, 'no closures');
  // A big struct compiles too, with its enums as tables and its long arrays as loops.
  const big = decoderSource(btf, id, 'decode_task');
  assert.ok(big.tables.some((t) => /^const E\d+ = new Map\(\[/.test(t)));
  assert.ok(big.functions.length > 1);
});

test('custom members decode at their offsets; ecli enums read NAME(value)', () => {
  const btf = kernelBtf();
  const u32 = btf.idByName('u32', 'typedef')!;
  const view = new DataView(new Uint8Array([1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]).buffer);
  assert.deepEqual(compileMembersDecoder(btf, [{ name: 'b', offset: 4, typeId: u32 }, { name: 'a', offset: 0, typeId: u32 }]).decode(view, 0), { b: 0xffffffff, a: 1 });
  const e = btf.idByName('pid_type', 'enum')!;
  const members = [{ name: 'x', offset: 0, typeId: e }, { name: 'y', offset: 4, typeId: e }];
  assert.deepEqual(compileMembersDecoder(btf, members, { ecliEnums: true }).decode(view, 0), { x: 'PIDTYPE_TGID(1)', y: '<UNKNOWN_VARIANT>(4294967295)' });
});

test('a struct that contains itself is a ParseError, not a stack overflow', () => {
  const btf = new Btf([{ kind: 'void', name: '' }], StringTable.empty());
  const loop = btf.add({ kind: 'struct', name: 'loop', size: 8, kflag: false, members: [{ name: 'again', type: 0, bitOffset: 0, bitfieldSize: 0 }] });
  (btf.types[loop] as { members: Member[] }).members[0]!.type = loop;
  assert.throws(() => compileDecoder(btf, loop), (e: unknown) => e instanceof ParseError && /nest deeper than 64/.test(e.message));
});
