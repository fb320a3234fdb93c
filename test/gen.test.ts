/**
 * The decoder generator (gen/decoder.ts) against the BTF codec it must agree with: every
 * struct and union of the running kernel's BTF up to 4 KiB, decoded from random bytes by
 * both, deep-equal; and the generated source is straight-line (no per-field closures).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Btf, decodeValue, encodeValue, kernelBtf, StringTable, type Member } from '../src/btf/index.js';
import { compileCodec, compileDecoder, compileJsonWriter, compileMembersDecoder, toJson } from '../src/decode/index.js';
import { ParseError } from '../src/errors.js';
import { decoderSource } from '../src/gen/decoder.js';
import { compileEncoderSource, encoderSource } from '../src/gen/encoder.js';
import { ROOT } from './paths.js';
import { mulberry32 } from './prng.js';
import { tsbpf } from './tsbpf-cli.js';

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

test('generated JSON writers give toJson(decode(record)) for every kernel struct and union up to 4 KiB, with codec and ecli enums', () => {
  const btf = kernelBtf();
  const rand = mulberry32(12);
  const bytes = new Uint8Array(4096 + 64);
  let checked = 0;
  for (let id = 1; id < btf.count; id++) {
    const t = btf.type(id);
    if ((t.kind !== 'struct' && t.kind !== 'union') || t.size > 4096 || !t.members.length) continue;
    for (let i = 0; i < t.size + 8; i++) {
      const r = rand();
      // Printable bytes, quotes, backslashes, control and high bytes: every string path.
      bytes[i] = r < 0.3 ? 0 : r < 0.55 ? 0x20 + Math.floor(rand() * 0x5f) : r < 0.6 ? 0x22 : r < 0.63 ? 0x5c : r < 0.7 ? 1 : Math.floor(rand() * 256);
    }
    const view = new DataView(bytes.buffer, 0, t.size + 8);
    for (const ecliEnums of [false, true]) {
      const want = toJson(compileDecoder(btf, id, { ecliEnums }).decode(view, 0));
      assert.equal(compileJsonWriter(btf, id, { ecliEnums })(view, 0), want, `struct ${t.name || `#${id}`} (${t.size} bytes), ecliEnums ${ecliEnums}`);
    }
    checked++;
  }
  assert.ok(checked > 1000, `only ${checked} structs checked`);
});

/** The outcome of one encode: the bytes written, or the error's class and message. */
function outcome(encode: (view: DataView) => void, size: number): string {
  const buf = new Uint8Array(size + 8).fill(0xa5); // members left out must keep these bytes
  try {
    encode(new DataView(buf.buffer));
    return Buffer.from(buf).toString('hex');
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
}

/** `value` with one leaf (or member set) replaced by something the codec must convert or refuse. */
function mutate(value: unknown, rand: () => number): unknown {
  const bad = [undefined, null, 'x', '12', '-3', '0x10', true, 1.5, -1, 2 ** 40, 2n ** 70n, -(2n ** 70n), 255, 65536, {}, [], [1, 2], 'a'.repeat(40)];
  const pick = () => bad[Math.floor(rand() * bad.length)];
  if (Array.isArray(value)) {
    if (!value.length || rand() < 0.2) return rand() < 0.5 ? [...value, 0] : pick();
    const i = Math.floor(rand() * value.length);
    return value.map((v, j) => (j === i ? mutate(v, rand) : v));
  }
  if (value && typeof value === 'object') {
    const keys = Object.keys(value);
    const r = rand();
    if (!keys.length || r < 0.1) return { ...value, nosuch: 1 };
    if (r < 0.2) return Object.fromEntries(Object.entries(value).filter(() => rand() < 0.5)); // members left out
    const k = keys[Math.floor(rand() * keys.length)]!;
    return { ...value, [k]: mutate((value as Record<string, unknown>)[k], rand) };
  }
  return pick();
}

test('generated encoders write the codec\'s bytes and throw its errors, for every kernel struct and union up to 4 KiB', () => {
  const btf = kernelBtf();
  const rand = mulberry32(13);
  const bytes = new Uint8Array(4096 + 64);
  let checked = 0;
  let errors = 0;
  for (let id = 1; id < btf.count; id++) {
    const t = btf.type(id);
    if ((t.kind !== 'struct' && t.kind !== 'union') || t.size > 4096 || !t.members.length) continue;
    for (let i = 0; i < t.size; i++) {
      const r = rand();
      bytes[i] = r < 0.3 ? 0 : r < 0.6 ? 0x20 + Math.floor(rand() * 0x5f) : r < 0.7 ? 1 : Math.floor(rand() * 256);
    }
    const value = decodeValue(btf, id, new DataView(bytes.buffer, 0, t.size), 0);
    const { encode } = compileCodec(btf, id);
    for (const v of [value, mutate(value, rand), mutate(value, rand)]) {
      const want = outcome((view) => encodeValue(btf, id, v, view, 4, 'value'), t.size);
      const got = outcome((view) => encode(view, 4, v, 'value'), t.size);
      assert.equal(got, want, `struct ${t.name || `#${id}`} (${t.size} bytes), value ${JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x))?.slice(0, 200)}`);
      if (!/^[0-9a-f]+$/.test(want)) errors++;
    }
    checked++;
  }
  assert.ok(checked > 1000, `only ${checked} structs checked`);
  assert.ok(errors > 500, `only ${errors} refused values compared`);
});

test('generated encoders are straight-line: typed writes at constant offsets, range checks inline', () => {
  const btf = kernelBtf();
  const src = encoderSource(btf, btf.idByName('sockaddr_in', 'struct')!, 'encode');
  const code = src.functions.join('\n');
  assert.match(code, /v\.setUint16\(o \+ 2, typeof x\d+ === 'number' && \(x\d+ & 0xffff\) === x\d+ \? x\d+ : w\.int\(x\d+, 16, false, p \+ "\.sin_port"\), true\);/);
  assert.doesNotMatch(code, /encodeValue|btf/);
  // A self-referential struct is refused by the generator as by the codec.
  const loop = new Btf([{ kind: 'void', name: '' }], StringTable.empty());
  const l = loop.add({ kind: 'struct', name: 'loop', size: 8, kflag: false, members: [{ name: 'again', type: 0, bitOffset: 0, bitfieldSize: 0 }] });
  (loop.types[l] as { members: Member[] }).members[0]!.type = l;
  assert.throws(() => compileEncoderSource(encoderSource(loop, l)), (e: unknown) => e instanceof ParseError && /nest deeper than 32/.test(e.message));
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
  assert.ok(big.tables.some((t) => /^const \$E\d+ = new Map\(\[/.test(t)));
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
  assert.throws(() => compileDecoder(btf, loop), (e: unknown) => e instanceof ParseError && /nest deeper than 32/.test(e.message));
});

/** The committed bindings and what each is generated from (`tsbpf gen FILE -o examples/gen/NAME.ts`). */
const EXAMPLES: [string, string, ...string[]][] = [
  ['maps', 'testdata/maps.bpf.o'],
  ['globals', 'testdata/globals.bpf.o'],
  ['tracepoint', 'testdata/tracepoint.bpf.o'],
  ['exitsnoop', 'tools/exitsnoop/exitsnoop.bpf.o'],
  // exitsnoop's own bindings, which it decodes its records with.
  ['../../src/tools/exitsnoop/bindings', 'tools/exitsnoop/exitsnoop.bpf.o', '--import', '../../gen/runtime.js'],
];

test('tsbpf gen regenerates the committed bindings byte for byte (deterministic output)', () => {
  for (const [name, object, ...flags] of EXAMPLES) {
    const r = tsbpf(['gen', join(ROOT, object), ...flags]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, readFileSync(join(ROOT, 'examples', 'gen', `${name}.ts`), 'utf8'), `examples/gen/${name}.ts is stale: tsbpf gen ${object} -o examples/gen/${name}.ts`);
  }
});

test('bindings type-check: consumer code compiles with tsc --strict, and every @ts-expect-error line is an error without its directive', () => {
  const dir = join(ROOT, 'examples', 'gen');
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const ok = spawnSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json'), '--noUnusedLocals'], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  // The same files with the directives removed: exactly the lines after them fail.
  const check = mkdtempSync(join(dir, '.check-'));
  try {
    const expected: string[] = [];
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.ts') || x === 'tsconfig.json')) {
      const text = readFileSync(join(dir, f), 'utf8');
      const lines = text.split('\n');
      const kept: string[] = [];
      for (const l of lines) {
        if (/^\s*\/\/ @ts-expect-error/.test(l)) expected.push(`${f}:${kept.length + 1}`);
        else kept.push(l);
      }
      writeFileSync(join(check, f), kept.join('\n'));
    }
    assert.ok(expected.length >= 9, `${expected.length} @ts-expect-error lines`);
    const bad = spawnSync(process.execPath, [tsc, '-p', join(check, 'tsconfig.json')], { encoding: 'utf8' });
    assert.notEqual(bad.status, 0);
    const failed = [...new Set([...bad.stdout.matchAll(/^(?:\S*\/)?([^/\s]+\.ts)\((\d+),\d+\): error/gm)].map((m) => `${m[1]}:${m[2]}`))].sort();
    assert.deepEqual(failed, expected.sort(), bad.stdout);
  } finally {
    rmSync(check, { recursive: true, force: true });
  }
});

test('tsbpf gen never replaces a file it did not write, and names a struct it cannot find', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-gen-'));
  try {
    const mine = join(dir, 'mine.ts');
    writeFileSync(mine, 'export const mine = 1;\n');
    const r = tsbpf(['gen', join(ROOT, 'testdata', 'maps.bpf.o'), '-o', mine]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `tsbpf: ${mine} exists and was not written by tsbpf gen: not overwriting it; give another file with -o\n`);
    assert.equal(readFileSync(mine, 'utf8'), 'export const mine = 1;\n');
    const out = join(dir, 'maps.ts');
    assert.equal(tsbpf(['gen', join(ROOT, 'testdata', 'maps.bpf.o'), '-o', out]).status, 0);
    assert.equal(tsbpf(['gen', join(ROOT, 'testdata', 'maps.bpf.o'), '-o', out]).status, 0, 'its own output is replaced');
    // A symbolic link planted at the name, even to an earlier output: refused, never written through.
    const victim = join(dir, 'victim.ts');
    writeFileSync(victim, readFileSync(out));
    const link = join(dir, 'link.ts');
    symlinkSync(victim, link);
    const before = readFileSync(victim);
    const planted = tsbpf(['gen', join(ROOT, 'testdata', 'maps.bpf.o'), '-o', link]);
    assert.equal(planted.status, 1);
    assert.equal(planted.stderr, `tsbpf: ${link} is a symbolic link: not writing through it; give another file with -o\n`);
    assert.deepEqual(readFileSync(victim), before);
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp-')), [], 'no temporary file left');
    // --object-path references the object beside the compiled module instead of embedding it.
    const ref = tsbpf(['gen', join(ROOT, 'testdata', 'maps.bpf.o'), '--object-path', './maps.bpf.o']);
    assert.match(ref.stdout, /^export const OBJECT: Uint8Array = readFileSync\(new URL\("\.\/maps\.bpf\.o", import\.meta\.url\)\);$/m);
    assert.doesNotMatch(ref.stdout, /'base64'/);
    const none = tsbpf(['gen', join(ROOT, 'testdata', 'maps.bpf.o'), '--event', 'nope']);
    assert.equal(none.stderr, "tsbpf: --event nope: the object's BTF has no struct of that name\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
