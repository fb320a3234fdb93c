/**
 * Input that is small but costly: each defect issue 14 found, rebuilt from its smallest
 * input. Each must end in a typed error (or a correct answer) within a second, without
 * memory out of proportion to the input; the CLI must say so in one line with exit 1,
 * never "internal error". The CLI runs under a 256 MiB heap, so a blow-up fails the test
 * as an out-of-memory abort rather than passing slowly.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { deflateSync } from 'node:zlib';
import { dumpC, parseBtf } from '../src/btf/index.js';
import { ET_DYN, parseElf, SHF_ALLOC, SHF_EXECINSTR, SHT_PROGBITS, SHT_STRTAB, SHT_SYMTAB } from '../src/elf/index.js';
import { findFunction, readBinary } from '../src/link/index.js';
import { INT, INT_STR, info, rawBtf } from './btf-bytes.js';
import { rawElf, rawElfParts, symtab } from './elf-bytes.js';
import { CLI } from './paths.js';
import { throwsParse } from './throws.js';

const scratch = mkdtempSync(join(tmpdir(), 'tsbpf-bounds-'));
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

function file(name: string, bytes: Uint8Array | string): string {
  const p = join(scratch, name);
  writeFileSync(p, bytes);
  return p;
}

/** Runs fn and asserts it took under a second. */
function quick<T>(what: string, fn: () => T): T {
  const t0 = performance.now();
  try {
    return fn();
  } finally {
    const ms = performance.now() - t0;
    assert.ok(ms < 1000, `${what} took ${ms.toFixed(0)} ms`);
  }
}

/** `tsbpf ARGS` under a 256 MiB heap: exit 1, one line on stderr matching `pattern`, in well under the CLI's own limits. */
function cliRejects(args: string[], pattern: RegExp): void {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--max-old-space-size=256', CLI, ...args], { encoding: 'utf8', timeout: 20000 });
  const ms = performance.now() - t0;
  assert.equal(r.signal, null, `tsbpf ${args.join(' ')} was killed (${r.signal}) after ${ms.toFixed(0)} ms: ${r.stderr.slice(0, 300)}`);
  assert.equal(r.status, 1, `tsbpf ${args.join(' ')}: exit ${r.status}: ${r.stderr.slice(0, 300)}`);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line, not:\n${r.stderr.slice(0, 1000)}`);
  assert.doesNotMatch(lines[0]!, /internal error|RangeError|    at /);
  assert.match(lines[0]!, pattern);
  // Start-up is ~0.2 s; the input itself must cost well under the one second.
  assert.ok(ms < 3000, `tsbpf ${args.join(' ')} took ${ms.toFixed(0)} ms`);
}

/** The eunomia package that embeds `object` (what ecc writes, minus the meta a bad object never reaches). */
function packageOf(object: Uint8Array): string {
  return JSON.stringify({ bpf_object: deflateSync(object).toString('base64'), bpf_object_size: object.byteLength, meta: { bpf_skel: { obj_name: 'x', maps: [], progs: [] } } });
}

// ------------------------------------------------------------------ string tables

/** .strtab of one `len`-byte string (NUL-terminated or not) and `count` symbols named at its offsets 1, 2, 3... */
function longStringObject(len: number, count: number, terminated = true): Uint8Array {
  const strtab = Buffer.alloc(1 + len + (terminated ? 1 : 0), 'A'.charCodeAt(0));
  strtab[0] = 0;
  if (terminated) strtab[strtab.length - 1] = 0;
  return rawElf([
    { name: '.strtab', type: SHT_STRTAB, data: strtab },
    { name: '.symtab', type: SHT_SYMTAB, data: symtab(Array.from({ length: count }, (_, i) => 1 + i), { info: 0x11 }), link: 1, entsize: 24 },
  ]);
}

test('a string table whose one long string is named from 20,000 offsets inside it: a ParseError at once, not names x length', () => {
  // 540 KB of input; decoding each name whole was 20,000 x ~60 KB = 1.2 GB of strings.
  const obj = longStringObject(60000, 20000);
  throwsParse(() => quick('parseElf', () => parseElf(obj)), /^ELF: name of symbol #\d+: the string table \(60002 bytes\) is read as overlapping strings many times over its size$/);
  cliRejects(['check', file('overlap.bpf.o', obj)], /overlap\.bpf\.o.*overlapping strings/);
  // Packaged, it is about 54 KB, as small as the 68 KB package.
  const pkg = packageOf(obj);
  assert.ok(pkg.length < 68000, `${pkg.length}`);
  cliRejects(['run', file('overlap.json', pkg)], /bpf_object is not a valid BPF object: ELF: .*overlapping strings/);
});

test('a name longer than 64 KiB, and a table whose last string has no NUL, are ParseErrors naming the symbol', () => {
  throwsParse(() => quick('long name', () => parseElf(longStringObject(100000, 1))), /^ELF: name of symbol #1: string at offset 1 is longer than 65536 bytes$/);
  throwsParse(() => quick('no NUL', () => parseElf(longStringObject(100, 1, false))), /^ELF: name of symbol #1: string at offset 1 has no NUL terminator$/);
  // A table of distinct names, each read once, is what every object has: no limit is near.
  const names = Array.from({ length: 5000 }, (_, i) => `sym_${i}`);
  const strtab = Buffer.from(`\0${names.join('\0')}\0`, 'latin1');
  let at = 1;
  const offsets = names.map((n) => ((at += n.length + 1), at - n.length - 1));
  const elf = parseElf(rawElf([
    { name: '.strtab', type: SHT_STRTAB, data: strtab },
    { name: '.symtab', type: SHT_SYMTAB, data: symtab(offsets, { info: 0x11 }), link: 1, entsize: 24 },
  ]));
  assert.deepEqual(elf.symbols.slice(1).map((s) => s.name), names);
});

test('BTF whose type names all point into one long string: a ParseError at once', () => {
  const len = 60000;
  const count = 20000;
  const words: number[] = [...INT];
  for (let i = 0; i < count; i++) words.push(INT_STR.length + 1 + i, info('int'), 4, 32);
  const strings = `${INT_STR}${'A'.repeat(len)}\0`;
  const btf = rawBtf(words, strings);
  throwsParse(() => quick('parseBtf', () => parseBtf(btf)), /^BTF: name: the string table \(60006 bytes\) is read as overlapping strings many times over its size$/);
  cliRejects(['btf', 'dump', file('overlap.btf', btf)], /overlap\.btf.*overlapping strings/);
});

// ------------------------------------------------------------------ C dump

test('btf dump of a struct of size 0xffffffff: one padding array, not half a billion lines', () => {
  // [2] struct big { int a; } of 4 GiB - 1.
  const btf = rawBtf([...INT, 5, info('struct', 1), 0xffffffff, 9, 1, 0], `${INT_STR}big\0a\0`);
  const c = quick('dumpC', () => dumpC(parseBtf(btf), { header: false }));
  assert.equal(c, 'struct big {\n\tint a;\n\tchar __pad_at_4[4294967291];\n} __attribute__((packed));\n\n');
  const r = spawnSync(process.execPath, ['--max-old-space-size=256', CLI, 'btf', 'dump', file('big.btf', btf)], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.includes('char __pad_at_4[4294967291];'));
});

test('btf dump of 1,000 structs with huge sizes writes output proportional to the input', () => {
  const words: number[] = [...INT];
  for (let i = 0; i < 1000; i++) words.push(5, info('struct', 1), 0x40000000 + i * 8, 9, 1, 0);
  const btf = rawBtf(words, `${INT_STR}big\0a\0`);
  const c = quick('dumpC', () => dumpC(parseBtf(btf), { header: false }));
  assert.ok(c.length < 64 * btf.byteLength, `${c.length} characters of C from ${btf.byteLength} bytes`);
  assert.equal(c.match(/char __pad_at_4\[\d+\];/g)?.length, 1000);
});

test('a gap of 64 longs is still unnamed bitfields, as bpftool writes it; one byte more is an array', () => {
  // int a, then a gap from bit 32 to bit 32 + 4096: the compiler aligns to 8 by itself, then 63 longs and an int.
  const mid = (size: number) => dumpC(parseBtf(rawBtf([...INT, 5, info('struct', 1), size, 9, 1, 0], `${INT_STR}mid\0a\0`)), { header: false });
  const c = mid(4 + 512);
  assert.equal(c.match(/\tlong: 64;/g)?.length, 63);
  assert.match(c, /\tint: 32;\n\}/);
  assert.doesNotMatch(c, /__pad_at/);
  assert.equal(mid(4 + 513), 'struct mid {\n\tint a;\n\tchar __pad_at_4[513];\n} __attribute__((packed));\n\n');
});

// ------------------------------------------------------------------ package JSON

test('a package nested a million levels deep: one line (a typed error or a run), never a stack overflow', () => {
  const base = JSON.parse(packageOf(rawElf([]))) as Record<string, unknown>;
  const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
  const deepObj = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
  const text = JSON.stringify(base);
  // Where a value is read: the error quotes it without stringifying a million levels.
  cliRejects(['run', file('deep-name.json', text.replace('"obj_name":"x"', `"obj_name":${deep(1_000_000)}`))], /obj_name is an array, not a string/);
  cliRejects(['run', file('deep-maps.json', text.replace('"maps":[]', `"maps":[${deepObj(1_000_000)}]`))], /maps\[0\]/);
  // Not valid JSON at a million levels either: the parser's error, one line.
  cliRejects(['run', file('deep-open.json', '['.repeat(1_000_000))], /not JSON/);
});

// ------------------------------------------------------------------ uprobe binaries

test('a uprobe binary of 3 GiB (sparse) is read in parts: its symbol found in well under a second', () => {
  // .text fills a 3 GiB hole; the symbol and string tables and the section headers follow it.
  const textSize = 3 * 2 ** 30;
  const parts = rawElfParts([
    { name: '.text', type: SHT_PROGBITS, flags: BigInt(SHF_ALLOC | SHF_EXECINSTR), addr: 0x1000, offset: 0x1000, size: textSize },
    { name: '.strtab', type: SHT_STRTAB, data: Buffer.from('\0target_fn\0', 'latin1') },
    { name: '.symtab', type: SHT_SYMTAB, data: symtab([1], { value: () => 0x1010, shndx: 1 }), link: 2, entsize: 24 },
  ], { type: ET_DYN, machine: 62, bodyOffset: 0x1000 + textSize });
  const path = join(scratch, 'huge-binary');
  const fd = openSync(path, 'w');
  writeSync(fd, parts.header, 0, parts.header.byteLength, 0);
  writeSync(fd, parts.body, 0, parts.body.byteLength, parts.bodyOffset);
  closeSync(fd);
  const rss = process.memoryUsage().rss;
  const found = quick('readBinary', () => findFunction(readBinary(path), 'target_fn', path));
  assert.equal(found.fileOffset, 0x1010);
  assert.equal(found.symbol.name, 'target_fn');
  assert.ok(process.memoryUsage().rss - rss < 64 << 20, 'reading it grew the process by more than 64 MiB');
});
