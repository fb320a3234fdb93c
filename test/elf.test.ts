/**
 * ELF reader: exact sections, symbols and relocations of the committed fixtures
 * (values from `llvm-readelf -S -s -r testdata/*.bpf.o`), and readable ParseErrors for
 * input that is not a little-endian 64-bit BPF relocatable object.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  EM_BPF, ET_REL, parseElf, R_BPF_64_32, R_BPF_64_64, R_BPF_64_NODYLD32, SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE,
  SHN_UNDEF, SHT_NOBITS, SHT_NULL, SHT_PROGBITS, SHT_REL, SHT_STRTAB, SHT_SYMTAB, STB_GLOBAL, STB_LOCAL,
  STT_FUNC, STT_NOTYPE, STT_OBJECT, STT_SECTION,
} from '../src/elf/index.js';
import { throwsParse } from './throws.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const fixture = (name: string) => new Uint8Array(readFileSync(resolve(ROOT, 'testdata', `${name}.bpf.o`)));


test('maps.bpf.o: header, sections in order, with types, flags, sizes and links', () => {
  const elf = parseElf(fixture('maps'));
  assert.equal(elf.machine, EM_BPF);
  assert.equal(elf.type, ET_REL);
  assert.deepEqual(
    elf.sections.map((s) => [s.index, s.name, s.type, s.size]),
    [
      [0, '', SHT_NULL, 0],
      [1, '.strtab', SHT_STRTAB, 0x95],
      [2, '.text', SHT_PROGBITS, 0],
      [3, 'raw_tp/sys_enter', SHT_PROGBITS, 0x168],
      [4, '.relraw_tp/sys_enter', SHT_REL, 0x30],
      [5, 'license', SHT_PROGBITS, 0xd],
      [6, '.maps', SHT_PROGBITS, 0x40],
      [7, '.BTF', SHT_PROGBITS, 0x51f],
      [8, '.rel.BTF', SHT_REL, 0x30],
      [9, '.BTF.ext', SHT_PROGBITS, 0x1d0],
      [10, '.rel.BTF.ext', SHT_REL, 0x1a0],
      [11, '.llvm_addrsig', 0x6fff4c03, 4],
      [12, '.symtab', SHT_SYMTAB, 0xf0],
    ],
  );
  const prog = elf.sectionByName('raw_tp/sys_enter')!;
  assert.equal(prog.offset, 0x40);
  assert.equal(prog.flags, BigInt(SHF_ALLOC | SHF_EXECINSTR));
  assert.equal(prog.addralign, 8);
  assert.equal(prog.data.byteLength, 0x168);
  assert.equal(elf.sectionByName('.maps')!.flags, BigInt(SHF_WRITE | SHF_ALLOC));
  const rel = elf.sectionByName('.relraw_tp/sys_enter')!;
  assert.equal(rel.link, 12);
  assert.equal(rel.info, 3);
  assert.equal(rel.entsize, 16);
  assert.equal(elf.sectionByName('.symtab')!.link, 1);
  // license holds "Dual BSD/GPL\0".
  assert.equal(Buffer.from(elf.sectionByName('license')!.data).toString('latin1'), 'Dual BSD/GPL\0');
  assert.equal(elf.sectionByName('no such section'), undefined);
});

test('globals.bpf.o: .bss is NOBITS with a size but no bytes; data sections hold the initial values', () => {
  const elf = parseElf(fixture('globals'));
  assert.deepEqual(
    elf.sections.map((s) => s.name),
    ['', '.strtab', '.text', 'raw_tp/sys_enter', '.relraw_tp/sys_enter', 'license', '.rodata', '.data', '.data.custom',
      '.rodata.limits', '.bss', '.BTF', '.rel.BTF', '.BTF.ext', '.rel.BTF.ext', '.llvm_addrsig', '.symtab'],
  );
  const bss = elf.sectionByName('.bss')!;
  assert.equal(bss.type, SHT_NOBITS);
  assert.equal(bss.size, 8);
  assert.equal(bss.data.byteLength, 0);
  assert.deepEqual([...elf.sectionByName('.rodata')!.data], [2, 0, 0, 0, 0]);
  assert.deepEqual([...elf.sectionByName('.data')!.data], [7, 0, 0, 0]);
  assert.deepEqual([...elf.sectionByName('.data.custom')!.data], [11, 0, 0, 0]);
  assert.deepEqual([...elf.sectionByName('.rodata.limits')!.data], [0xe8, 0x03, 0, 0]);
  assert.equal(elf.sectionByName('.rodata')!.flags, BigInt(SHF_ALLOC));
  assert.equal(elf.sectionByName('.data')!.flags, BigInt(SHF_WRITE | SHF_ALLOC));
});

test('globals.bpf.o: symbols, with negate at offset 4 of .rodata', () => {
  const elf = parseElf(fixture('globals'));
  const rodata = elf.sectionByName('.rodata')!.index;
  assert.equal(rodata, 6);
  assert.deepEqual(
    elf.symbols.map((s) => [s.index, s.name, s.value, s.size, s.type, s.bind, s.shndx]),
    [
      [0, '', 0, 0, STT_NOTYPE, STB_LOCAL, SHN_UNDEF],
      // Section symbols have no name of their own (readelf shows the section's).
      [1, '', 0, 0, STT_SECTION, STB_LOCAL, 3],
      [2, 'LBB0_2', 0xd0, 0, STT_NOTYPE, STB_LOCAL, 3],
      [3, 'LBB0_4', 0xf8, 0, STT_NOTYPE, STB_LOCAL, 3],
      [4, 'compute', 0, 256, STT_FUNC, STB_GLOBAL, 3],
      [5, 'calls', 0, 8, STT_OBJECT, STB_GLOBAL, 10],
      [6, 'multiplier', 0, 4, STT_OBJECT, STB_GLOBAL, rodata],
      [7, 'bias', 0, 4, STT_OBJECT, STB_GLOBAL, 7],
      [8, 'custom', 0, 4, STT_OBJECT, STB_GLOBAL, 8],
      [9, 'limit', 0, 4, STT_OBJECT, STB_GLOBAL, 9],
      [10, 'negate', 4, 1, STT_OBJECT, STB_GLOBAL, rodata],
      [11, 'LICENSE', 0, 13, STT_OBJECT, STB_GLOBAL, 5],
    ],
  );
  assert.ok(elf.symbols.every((s) => s.visibility === 0));
});

test('subprog.bpf.o: static and global functions in .text, programs in their sections', () => {
  const elf = parseElf(fixture('subprog'));
  const funcs = elf.symbols.filter((s) => s.type === STT_FUNC).map((s) => [s.name, elf.sections[s.shndx]!.name, s.value, s.size, s.bind]);
  assert.deepEqual(funcs, [
    ['add3', '.text', 0x18, 24, STB_LOCAL],
    ['sq_plus', '.text', 0x30, 48, STB_LOCAL],
    ['sum_cb', '.text', 0x60, 56, STB_LOCAL],
    ['mul2', '.text', 0, 24, STB_GLOBAL],
    ['calls', 'raw_tp/sys_enter', 0, 80, STB_GLOBAL],
    ['second', 'raw_tp/sys_exit', 0, 32, STB_GLOBAL],
    ['loop_sum', 'raw_tp/sched_switch', 0, 88, STB_GLOBAL],
  ]);
});

test('relocation counts and types of every fixture', () => {
  const counts = (name: string) => {
    const elf = parseElf(fixture(name));
    const out: Record<string, number> = {};
    for (const s of elf.sections) {
      const n = elf.relocationsFor(s.index).length;
      if (n) out[s.name] = n;
    }
    return out;
  };
  assert.deepEqual(counts('maps'), { 'raw_tp/sys_enter': 3, '.BTF': 3, '.BTF.ext': 26 });
  assert.deepEqual(counts('globals'), { 'raw_tp/sys_enter': 6, '.BTF': 7, '.BTF.ext': 14 });
  assert.deepEqual(counts('subprog'), {
    'raw_tp/sys_enter': 3, 'raw_tp/sys_exit': 1, 'raw_tp/sched_switch': 1, '.BTF': 1, '.BTF.ext': 38,
  });
  assert.deepEqual(counts('core'), { 'raw_tp/sys_enter': 1, '.BTF': 2, '.BTF.ext': 101 });
  assert.deepEqual(counts('rejected'), { 'raw_tp/sys_enter': 1, '.BTF': 2, '.BTF.ext': 9 });
  assert.deepEqual(counts('tracepoint'), { 'tp/sched/sched_process_exec': 2, '.BTF': 3, '.BTF.ext': 12 });

  const maps = parseElf(fixture('maps'));
  const name = (i: number) => maps.symbols[i]!.name;
  assert.deepEqual(
    maps.relocationsFor(3).map((r) => [r.offset, r.type, name(r.symbol)]),
    [[0x38, R_BPF_64_64, 'counts'], [0xa8, R_BPF_64_64, 'counts'], [0xf8, R_BPF_64_64, 'slots']],
  );
  assert.ok(maps.relocationsFor(7).every((r) => r.type === R_BPF_64_NODYLD32));
  const sub = parseElf(fixture('subprog'));
  const target = (i: number) => {
    const s = sub.symbols[i]!;
    return s.type === STT_SECTION ? `section ${sub.sections[s.shndx]!.name}` : s.name;
  };
  assert.deepEqual(
    sub.relocationsFor(3).map((r) => [r.offset, r.type, target(r.symbol)]),
    [[0x10, R_BPF_64_32, 'section .text'], [0x20, R_BPF_64_32, 'mul2'], [0x38, R_BPF_64_32, 'section .text']],
  );
  assert.deepEqual(sub.relocationsFor(2), [], '.text has no relocations: calls inside it are pc-relative');
});

test('errors: an empty file, a truncated file, bad magic', () => {
  throwsParse(() => parseElf(new Uint8Array(0)), /^ELF: file is 0 bytes, too short for an ELF header$/);
  const maps = fixture('maps');
  throwsParse(() => parseElf(maps.subarray(0, 10)), /10 bytes, too short/);
  throwsParse(() => parseElf(maps.subarray(0, 40)), /40 bytes, too short for an ELF64 header/);
  // Cut inside the section header table (13 headers of 64 bytes at 0xc78): it runs past the end.
  throwsParse(() => parseElf(maps.subarray(0, 0xd00)), /^ELF: section header table: 832 bytes at offset 3192 run past the end \(3328 bytes\)$/);
  // A section whose contents lie past the end of the file (.BTF, section 7, moved to 1 MiB).
  const moved = maps.slice();
  new DataView(moved.buffer).setBigUint64(0xc78 + 7 * 64 + 24, 0x100000n, true);
  throwsParse(() => parseElf(moved), /^ELF: section #7 contents: 1311 bytes at offset 1048576 run past the end \(4024 bytes\)$/);
  throwsParse(() => parseElf(new TextEncoder().encode('#!/bin/sh\necho not an object\n')), /^ELF: not an ELF file \(bad magic\)$/);
});

test('errors: 32-bit, big-endian and unknown encodings', () => {
  const b32 = fixture('maps');
  b32[4] = 1; // ELFCLASS32
  throwsParse(() => parseElf(b32), /not a 64-bit ELF/);
  const be = fixture('maps');
  be[5] = 2; // ELFDATA2MSB
  throwsParse(() => parseElf(be), /big-endian object \(bpfeb\)/, /little-endian/);
  const odd = fixture('maps');
  odd[5] = 7;
  throwsParse(() => parseElf(odd), /unknown data encoding 7/);
});

test('errors: an object for another machine names it and says it is not BPF', () => {
  const x86 = fixture('maps');
  x86[18] = 62; // EM_X86_64
  x86[19] = 0;
  const e = throwsParse(() => parseElf(x86), /machine x86-64, not BPF \(EM_BPF\)/, /clang -target bpf/);
  assert.equal(e.what, 'ELF');
  const exec = fixture('maps');
  exec[16] = 2; // ET_EXEC
  throwsParse(() => parseElf(exec), /ELF type 2 is not a relocatable object/);
});

test('errors: /bin/true (a host executable) is not BPF', { skip: !existsSync('/bin/true') && 'no /bin/true' }, () => {
  const e = throwsParse(() => parseElf(new Uint8Array(readFileSync('/bin/true'))), /not BPF/);
  if (process.arch === 'x64') assert.match(e.message, /x86-64/);
});

test('errors: corrupt section headers and symbol table', () => {
  const noTable = fixture('maps');
  noTable.fill(0, 40, 48); // e_shoff = 0
  throwsParse(() => parseElf(noTable), /no section header table/);
  const small = fixture('maps');
  small[58] = 40; // e_shentsize
  throwsParse(() => parseElf(small), /section header size 40 is smaller than 64/);
  const strndx = fixture('maps');
  strndx[62] = 13; // e_shstrndx: one past the last section
  throwsParse(() => parseElf(strndx), /section name table index 13 out of range/);
  // .symtab (section 12) links to a missing string table.
  const link = fixture('maps');
  const dv = new DataView(link.buffer);
  dv.setUint32(0xc78 + 12 * 64 + 40, 99, true);
  throwsParse(() => parseElf(link), /symbol table links to a missing string table/);
  // A symbol name offset past the string table.
  const symName = fixture('maps');
  new DataView(symName.buffer).setUint32(0x8e8 + 6 * 24, 0x10000, true);
  throwsParse(() => parseElf(symName), /name of symbol #6/);
  // A relocation against symbol #200 (there are 10).
  const rel = fixture('maps');
  new DataView(rel.buffer).setUint32(0x9d8 + 12, 200, true);
  throwsParse(() => parseElf(rel), /relocation in \.relraw_tp\/sys_enter refers to missing symbol #200/);
  // A relocation section aimed at a missing section.
  const info = fixture('maps');
  new DataView(info.buffer).setUint32(0xc78 + 4 * 64 + 44, 50, true);
  throwsParse(() => parseElf(info), /targets missing section #50/);
  // A section size beyond 2^53 cannot be a JS number.
  const huge = fixture('maps');
  new DataView(huge.buffer).setBigUint64(0xc78 + 6 * 64 + 32, 1n << 60n, true);
  throwsParse(() => parseElf(huge), /sh_size: value \d+ is too large/);
});
