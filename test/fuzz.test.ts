/**
 * Deterministic fuzzing of every pure entry point: the parsers (ELF, BTF, .BTF.ext,
 * object, linker, CO-RE), the BTF walkers (size, resolve, typeName, decodeValue), the C
 * dump (`tsbpf btf dump`: dumpC, CDumper, dumpRaw), the decoder compilers of gen/decoder.ts
 * (compileDecoder, compileJsonWriter, compileCodec, compileMembersDecoder) run on random
 * bytes, eunomia packages (readPackage and what `tsbpf run` does with one before the
 * kernel: programOptions, applyArgs, attach options, exportStreams and their decoders,
 * stack samples) and the TypeScript binding generator (`tsbpf gen`).
 *
 * CI runs the default 10,000 cases (about 75 s on this machine's 2 cores). For releases:
 * FUZZ_CASES=200000 (about 33 minutes; it does not pass yet: see the README).
 *
 * Every case must end in success or a TsbpfError (ParseError, PackageError ... are
 * subclasses) within its time and memory bound; anything else (TypeError, RangeError, a
 * stack overflow, a hang, a heap blowup) is a bug, reported with the entry point, the
 * seed and the mutations. The last line printed is the summary:
 *   fuzz: N cases: X typed errors, Y successes, U uncaught, T over-time, M over-memory
 * and the test fails unless U, T and M are 0 (the first 20 failures are listed, each with
 * FUZZ_ONLY=<index> to replay it).
 *
 * Mutations are structure-aware:
 * - object bytes: bit flips, byte overwrites, truncation, insertion and deletion of runs,
 *   and fields the parsers trust: ELF header and section headers, symbols, relocations,
 *   BTF header, type records (info word, vlen, kind, type ids, sizes, string offsets),
 *   .BTF.ext record sizes, counts and records, instructions (calls, ld_imm64);
 * - the BTF type graph (test/fuzz-btf.ts), re-encoded and re-embedded: struct and array
 *   sizes of 0xffffffff, huge element counts and arrays of arrays past 2^32, structs that
 *   contain themselves (by value, through arrays, typedefs, const), mutual recursion,
 *   typedef and pointer loops, chains of up to 30,000 nested types, 65,535 members or
 *   enumerators, names of up to 1 MiB or not C identifiers, member offsets past the
 *   struct, odd ints and enums, duplicate and cleared names, fwd/void/func by value;
 * - string tables (BTF, .strtab, .shstrtab) without a NUL terminator, every name pointing
 *   at one long (up to 4 MiB, maybe unterminated) string, names at mid-string offsets;
 * - package.json (test/fuzz-package.ts): 100,000-deep nesting, huge and non-integer
 *   numbers, wrong types, missing keys, long strings, 100,000-entry arrays, export configs,
 *   custom members and stack-trace interpreters with bad ids and offsets, cmdarg defaults
 *   of the wrong type, corrupt base64 and zlib, a zlib bomb, mutated objects re-embedded,
 *   and the text itself (truncated, invalid UTF-8, BOM, junk).
 *
 * Tunables (environment):
 *   FUZZ_CASES  number of cases (default 10000, what CI runs)
 *   FUZZ_SEED   base seed (default 0x7b5f2024); a case's seed derives from it and its index
 *   FUZZ_ONLY   run only these case indexes, comma-separated (to reproduce failures)
 *   FUZZ_FAILURES_FILE  also write every failing case to this file as JSON
 *   FUZZ_TRACE  1: every stage over 50 ms is written to stderr
 * Bounds (constants below): CASE_LIMIT_MS of CPU time per case (over-time); HANG_MS of
 * wall time after which the watchdog kills the child running the case (over-time); each
 * child runs with --max-old-space-size=CHILD_HEAP_MB, and a child that dies out of memory
 * counts its case as over-memory, as does a case that grows heap + external memory by more
 * than MEM_BASE_MB + MEM_PER_INPUT_BYTE x its input (or MEM_LIMIT_MB); a dead child is
 * replaced and the run goes on with the next case.
 *
 * Cases run in child processes (up to 2; not worker threads, whose heap limit can abort
 * the whole process), spread over the entry points by each case's seed; the children
 * have the default ~1 MiB stack of the CLI's main thread.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import { fork } from 'node:child_process';
import { TsbpfError } from '../src/errors.js';
import { parseElf, SHF_EXECINSTR, SHT_PROGBITS, SHT_REL, SHT_SYMTAB, type ElfFile } from '../src/elf/index.js';
import { decodeValue, encodeBtf, parseBtf, parseBtfExt, type Btf } from '../src/btf/index.js';
import { linkProgram, parseObject } from '../src/object/index.js';
import { applyCoreRelocations } from '../src/btf/core.js';
import { CDumper, dumpC, dumpRaw } from '../src/btf/cdump.js';
import { compileCodec, compileDecoder, compileJsonWriter, compileMembersDecoder } from '../src/decode/index.js';
import { generateTypeScript } from '../src/gen/ts.js';
import { packageAttachOptions, readPackage, writePackage } from '../src/package/index.js';
import { applyArgs, programOptions } from '../src/runner/args.js';
import { exportStreams } from '../src/runner/exports.js';
import { stackSample } from '../src/runner/stack.js';
import { mutateBtfStrings, mutatedBtf, replaceSection } from './fuzz-btf.js';
import { mutatePackage, packageText, type PackageContext, type Splice } from './fuzz-package.js';
import { mulberry32 } from './prng.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURES = [
  'maps', 'globals', 'subprog', 'core', 'rejected', 'tracepoint', 'corpus/legacy', 'corpus/mapinmap', 'corpus/tailcall',
  'corpus/btf_kinds', 'corpus/core_kinds', 'exitsnoop',
];

/** Number of cases; 10,000 by default (CI). */
const FUZZ_CASES = Number(process.env.FUZZ_CASES ?? 10000);
const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 0x7b5f2024) >>> 0;
/** Set: every stage that takes over 50 ms is written to stderr, and each case's time by kind of stage (to find what a slow case spends). */
const FUZZ_TRACE = process.env.FUZZ_TRACE === '1';
const stageMs = new Map<string, number>();
const FUZZ_ONLY = process.env.FUZZ_ONLY === undefined ? undefined : process.env.FUZZ_ONLY.split(',').map(Number);
/** Write every failing case (not only the first 20) to this file as JSON, for triage. */
const FUZZ_FAILURES_FILE = process.env.FUZZ_FAILURES_FILE;
/** A single case taking more CPU time than this is a failure (a hang-like blowup). */
const CASE_LIMIT_MS = 2000;
/** The watchdog kills a child whose current case runs this long (a real hang). */
const HANG_MS = 15000;
/** Old generation of each child (--max-old-space-size); running out of it is an over-memory case. */
const CHILD_HEAP_MB = 512;
/** A case that grows heap + external memory by more than this is over-memory. */
const MEM_LIMIT_MB = 512;
/**
 * And by more than this base plus MEM_PER_INPUT_BYTE times its input: memory in proportion
 * to the input (the base covers fixed costs, and the package reader's 64 MiB inflate cap).
 */
const MEM_BASE_MB = 96;
const MEM_PER_INPUT_BYTE = 32;
/** Replaced children (out of memory, hung, died) before the run gives up. */
const MAX_RESTARTS = 200;
const MAX_REPORTED = 20;

// ---------------------------------------------------------------------------------------
// PRNG


/** The seed of case `i`: a mix of the base seed and the index. */
function caseSeed(base: number, i: number): number {
  let h = (base ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

class Rng {
  constructor(readonly next: () => number) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  u32(): number {
    return Math.floor(this.next() * 4294967296) >>> 0;
  }
}

// ---------------------------------------------------------------------------------------
// Field tables: where the parsers' trusted fields are in each fixture

type Domain =
  | 'generic' | 'typeid' | 'secidx' | 'symidx' | 'stroff' | 'shstroff' | 'symstroff' | 'fileoff' | 'count'
  | 'size' | 'insnoff' | 'kind' | 'bits' | 'imm' | 'opcode' | 'regs' | 'flags' | 'symvalue';

interface Field {
  off: number;
  width: 1 | 2 | 4 | 8;
  label: string;
  domain: Domain;
  /** For type references: the id of the type that holds the field. */
  owner?: number;
}

interface Layout {
  name: string;
  bytes: Uint8Array;
  elf: Field[];
  btf: Field[];
  ext: Field[];
  code: Field[];
  /** [start, end) of the .BTF string section and of .strtab in the file. */
  btfStrings: [number, number];
  strtab: [number, number];
  shstrtab: [number, number];
  /** The .BTF section's bytes. */
  btfData: Uint8Array;
  ntypes: number;
  nsections: number;
  nsymbols: number;
  btfStrLen: number;
  strtabLen: number;
  shstrLen: number;
}

function elfFields(elf: ElfFile, bytes: Uint8Array): Field[] {
  const f: Field[] = [
    { off: 16, width: 2, label: 'e_type', domain: 'generic' },
    { off: 18, width: 2, label: 'e_machine', domain: 'generic' },
    { off: 40, width: 8, label: 'e_shoff', domain: 'fileoff' },
    { off: 58, width: 2, label: 'e_shentsize', domain: 'size' },
    { off: 60, width: 2, label: 'e_shnum', domain: 'count' },
    { off: 62, width: 2, label: 'e_shstrndx', domain: 'secidx' },
  ];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shoff = Number(dv.getBigUint64(40, true));
  for (const s of elf.sections) {
    const h = shoff + s.index * 64;
    const n = `section #${s.index} (${s.name || 'null'})`;
    f.push(
      { off: h, width: 4, label: `${n} sh_name`, domain: 'shstroff' },
      { off: h + 4, width: 4, label: `${n} sh_type`, domain: 'kind' },
      { off: h + 8, width: 8, label: `${n} sh_flags`, domain: 'flags' },
      { off: h + 24, width: 8, label: `${n} sh_offset`, domain: 'fileoff' },
      { off: h + 32, width: 8, label: `${n} sh_size`, domain: 'size' },
      { off: h + 40, width: 4, label: `${n} sh_link`, domain: 'secidx' },
      { off: h + 44, width: 4, label: `${n} sh_info`, domain: 'secidx' },
    );
    if (s.type === SHT_SYMTAB) {
      for (let i = 0; i < s.size / 24; i++) {
        const o = s.offset + i * 24;
        const sn = `symbol #${i}`;
        f.push(
          { off: o, width: 4, label: `${sn} st_name`, domain: 'symstroff' },
          { off: o + 4, width: 1, label: `${sn} st_info`, domain: 'generic' },
          { off: o + 6, width: 2, label: `${sn} st_shndx`, domain: 'secidx' },
          { off: o + 8, width: 8, label: `${sn} st_value`, domain: 'symvalue' },
          { off: o + 16, width: 8, label: `${sn} st_size`, domain: 'symvalue' },
        );
      }
    }
    if (s.type === SHT_REL) {
      for (let i = 0; i < s.size / 16; i++) {
        const o = s.offset + i * 16;
        const rn = `${s.name} rel #${i}`;
        f.push(
          { off: o, width: 8, label: `${rn} r_offset`, domain: 'insnoff' },
          { off: o + 8, width: 4, label: `${rn} r_type`, domain: 'generic' },
          { off: o + 12, width: 4, label: `${rn} r_sym`, domain: 'symidx' },
        );
      }
    }
  }
  return f;
}

/** Bytes of the extra data after a BTF type record's 12-byte header. */
function btfExtra(kind: number, vlen: number): number {
  switch (kind) {
    case 1: case 14: case 17: return 4; // int, var, decl_tag
    case 3: return 12; // array
    case 4: case 5: case 15: case 19: return 12 * vlen; // struct, union, datasec, enum64
    case 6: case 13: return 8 * vlen; // enum, func_proto
    default: return 0;
  }
}

const REF_KINDS = new Set([2, 7, 8, 9, 10, 11, 12, 14, 17, 18]);

function btfFields(bytes: Uint8Array, base: number): { fields: Field[]; ntypes: number; strings: [number, number] } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (o: number) => dv.getUint32(o, true);
  const hdrLen = u32(base + 4);
  const fields: Field[] = [
    { off: base + 4, width: 4, label: 'BTF hdr_len', domain: 'size' },
    { off: base + 8, width: 4, label: 'BTF type_off', domain: 'size' },
    { off: base + 12, width: 4, label: 'BTF type_len', domain: 'size' },
    { off: base + 16, width: 4, label: 'BTF str_off', domain: 'size' },
    { off: base + 20, width: 4, label: 'BTF str_len', domain: 'size' },
  ];
  const typeStart = base + hdrLen + u32(base + 8);
  const typeEnd = typeStart + u32(base + 12);
  const strStart = base + hdrLen + u32(base + 16);
  let o = typeStart;
  let id = 1;
  while (o < typeEnd) {
    const info = u32(o + 4);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const t = `BTF type ${id} (kind ${kind})`;
    fields.push(
      { off: o, width: 4, label: `${t} name_off`, domain: 'stroff' },
      { off: o + 4, width: 4, label: `${t} info`, domain: 'generic' },
      { off: o + 4, width: 2, label: `${t} vlen`, domain: 'count' },
      { off: o + 7, width: 1, label: `${t} kind/kflag`, domain: 'kind' },
      { off: o + 8, width: 4, label: `${t} size/type`, domain: REF_KINDS.has(kind) || kind === 13 ? 'typeid' : 'size', owner: id },
    );
    const x = o + 12;
    switch (kind) {
      case 1:
        fields.push(
          { off: x, width: 1, label: `${t} int bits`, domain: 'bits' },
          { off: x + 2, width: 1, label: `${t} int offset`, domain: 'bits' },
          { off: x + 3, width: 1, label: `${t} int encoding`, domain: 'generic' },
        );
        break;
      case 3:
        fields.push(
          { off: x, width: 4, label: `${t} array type`, domain: 'typeid', owner: id },
          { off: x + 4, width: 4, label: `${t} array index_type`, domain: 'typeid', owner: id },
          { off: x + 8, width: 4, label: `${t} array nelems`, domain: 'count' },
        );
        break;
      case 4: case 5:
        for (let i = 0; i < vlen; i++) {
          const m = x + i * 12;
          fields.push(
            { off: m, width: 4, label: `${t} member ${i} name_off`, domain: 'stroff' },
            { off: m + 4, width: 4, label: `${t} member ${i} type`, domain: 'typeid', owner: id },
            { off: m + 8, width: 4, label: `${t} member ${i} offset`, domain: 'bits' },
          );
        }
        break;
      case 6: case 19:
        for (let i = 0; i < vlen; i++) {
          const m = x + i * (kind === 6 ? 8 : 12);
          fields.push(
            { off: m, width: 4, label: `${t} enumerator ${i} name_off`, domain: 'stroff' },
            { off: m + 4, width: 4, label: `${t} enumerator ${i} value`, domain: 'generic' },
          );
        }
        break;
      case 13:
        for (let i = 0; i < vlen; i++) {
          fields.push(
            { off: x + i * 8, width: 4, label: `${t} param ${i} name_off`, domain: 'stroff' },
            { off: x + i * 8 + 4, width: 4, label: `${t} param ${i} type`, domain: 'typeid', owner: id },
          );
        }
        break;
      case 14: case 17:
        fields.push({ off: x, width: 4, label: `${t} linkage/component_idx`, domain: 'generic' });
        break;
      case 15:
        for (let i = 0; i < vlen; i++) {
          const m = x + i * 12;
          fields.push(
            { off: m, width: 4, label: `${t} var ${i} type`, domain: 'typeid', owner: id },
            { off: m + 4, width: 4, label: `${t} var ${i} offset`, domain: 'size' },
            { off: m + 8, width: 4, label: `${t} var ${i} size`, domain: 'size' },
          );
        }
        break;
      default:
    }
    o = x + btfExtra(kind, vlen);
    id++;
  }
  return { fields, ntypes: id, strings: [strStart, strStart + u32(base + 20)] };
}

function extFields(bytes: Uint8Array, base: number): Field[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (o: number) => dv.getUint32(o, true);
  const hdrLen = u32(base + 4);
  const fields: Field[] = [{ off: base + 4, width: 4, label: '.BTF.ext hdr_len', domain: 'size' }];
  const parts = [['func_info', 8], ['line_info', 16], ['core_relo', 24]] as const;
  for (const [what, h] of parts) {
    fields.push(
      { off: base + h, width: 4, label: `.BTF.ext ${what}_off`, domain: 'size' },
      { off: base + h + 4, width: 4, label: `.BTF.ext ${what}_len`, domain: 'size' },
    );
    const len = u32(base + h + 4);
    if (len === 0) continue;
    const start = base + hdrLen + u32(base + h);
    const end = start + len;
    const recSize = u32(start);
    fields.push({ off: start, width: 4, label: `${what} record size`, domain: 'size' });
    let o = start + 4;
    let block = 0;
    while (o < end) {
      const n = u32(o + 4);
      fields.push(
        { off: o, width: 4, label: `${what} block ${block} sec_name_off`, domain: 'stroff' },
        { off: o + 4, width: 4, label: `${what} block ${block} num_info`, domain: 'count' },
      );
      o += 8;
      for (let i = 0; i < n; i++, o += recSize) {
        const r = `${what} block ${block} record ${i}`;
        fields.push({ off: o, width: 4, label: `${r} insn_off`, domain: 'insnoff' });
        if (what === 'line_info') {
          fields.push(
            { off: o + 4, width: 4, label: `${r} file_name_off`, domain: 'stroff' },
            { off: o + 8, width: 4, label: `${r} line_off`, domain: 'stroff' },
          );
        } else {
          fields.push({ off: o + 4, width: 4, label: `${r} type_id`, domain: 'typeid' });
        }
        if (what === 'core_relo') {
          fields.push(
            { off: o + 8, width: 4, label: `${r} access_str_off`, domain: 'stroff' },
            { off: o + 12, width: 4, label: `${r} kind`, domain: 'generic' },
          );
        }
      }
      block++;
    }
  }
  return fields;
}

function codeFields(elf: ElfFile): Field[] {
  const f: Field[] = [];
  for (const s of elf.sections) {
    if (s.type !== SHT_PROGBITS || (s.flags & BigInt(SHF_EXECINSTR)) === 0n) continue;
    for (let i = 0; i < s.size / 8; i++) {
      const o = s.offset + i * 8;
      const n = `${s.name} insn ${i}`;
      f.push(
        { off: o, width: 1, label: `${n} opcode`, domain: 'opcode' },
        { off: o + 1, width: 1, label: `${n} regs`, domain: 'regs' },
        { off: o + 4, width: 4, label: `${n} imm`, domain: 'imm' },
      );
    }
  }
  return f;
}

function layoutOf(name: string): Layout {
  const path = name === 'exitsnoop' ? resolve(ROOT, 'tools', 'exitsnoop', 'exitsnoop.bpf.o') : resolve(ROOT, 'testdata', `${name}.bpf.o`);
  const bytes = new Uint8Array(readFileSync(path));
  const elf = parseElf(bytes);
  const btfSec = elf.sectionByName('.BTF')!;
  const extSec = elf.sectionByName('.BTF.ext')!;
  const symtab = elf.sections.find((s) => s.type === SHT_SYMTAB)!;
  const strtab = elf.sections[symtab.link]!;
  const b = btfFields(bytes, btfSec.offset);
  const shstrndx = new DataView(bytes.buffer, bytes.byteOffset).getUint16(62, true);
  return {
    name,
    bytes,
    elf: elfFields(elf, bytes),
    btf: b.fields,
    ext: extFields(bytes, extSec.offset),
    code: codeFields(elf),
    btfStrings: b.strings,
    strtab: [strtab.offset, strtab.offset + strtab.size],
    shstrtab: [elf.sections[shstrndx]!.offset, elf.sections[shstrndx]!.offset + elf.sections[shstrndx]!.size],
    btfData: btfSec.data.slice(),
    ntypes: b.ntypes,
    nsections: elf.sections.length,
    nsymbols: elf.symbols.length,
    btfStrLen: b.strings[1] - b.strings[0],
    strtabLen: strtab.size,
    shstrLen: elf.sections[shstrndx]!.size,
  };
}

// ---------------------------------------------------------------------------------------
// Mutations

function readField(b: Uint8Array, f: Field): bigint {
  let v = 0n;
  for (let i = f.width - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[f.off + i] ?? 0);
  return v;
}

function writeField(b: Uint8Array, f: Field, v: bigint): void {
  let x = BigInt.asUintN(f.width * 8, v);
  for (let i = 0; i < f.width; i++) {
    if (f.off + i < b.length) b[f.off + i] = Number(x & 0xffn);
    x >>= 8n;
  }
}

function fieldValue(rng: Rng, f: Field, orig: bigint, L: Layout, fileLen: number): bigint {
  const bits = BigInt(f.width * 8);
  const max = (1n << bits) - 1n;
  const generic = (): bigint => {
    switch (rng.int(0, 9)) {
      case 0: return 0n;
      case 1: return 1n;
      case 2: return orig + 1n;
      case 3: return orig - 1n;
      case 4: return orig + BigInt(rng.int(-64, 64));
      case 5: return max;
      case 6: return 1n << (bits - 1n);
      case 7: return orig ^ (1n << BigInt(rng.int(0, f.width * 8 - 1)));
      case 8: return BigInt(rng.u32()) | (f.width === 8 && rng.chance(0.5) ? BigInt(rng.u32()) << 32n : 0n);
      default: return orig * 2n;
    }
  };
  if (rng.chance(0.3)) return generic();
  switch (f.domain) {
    case 'typeid':
      return BigInt(rng.chance(0.3) && f.owner !== undefined ? f.owner : rng.int(0, L.ntypes + 1));
    case 'secidx':
      return BigInt(rng.chance(0.1) ? rng.pick([0xfff1, 0xfff2, 0xffff]) : rng.int(0, L.nsections));
    case 'symidx':
      return BigInt(rng.int(0, L.nsymbols));
    case 'stroff':
      return BigInt(rng.int(0, L.btfStrLen + 1));
    case 'symstroff':
      return BigInt(rng.int(0, L.strtabLen + 1));
    case 'shstroff':
      return BigInt(rng.int(0, L.shstrLen + 1));
    case 'fileoff':
      return BigInt(rng.int(0, fileLen + 8));
    case 'count':
      return BigInt(rng.pick([rng.int(0, 8), rng.int(0, 300), 0xffff, 0x10000, 0x1000000, 0x7fffffff, 0xffffffff]));
    case 'size':
      return BigInt(rng.pick([rng.int(0, 16) * 4, rng.int(0, 4096), 0x7fffffff, 0xffffffff, 2 ** 40, 2 ** 53]));
    case 'insnoff':
      return BigInt(rng.chance(0.8) ? rng.int(0, 200) * 8 : rng.int(0, 2000));
    case 'kind':
      return BigInt(rng.int(0, 21) | (rng.chance(0.3) ? 0x80 : 0));
    case 'bits':
      return BigInt(rng.pick([0, 1, 7, 8, 9, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255]) + (f.width === 4 && rng.chance(0.3) ? rng.int(1, 255) << 24 : 0));
    case 'imm':
      return BigInt(rng.chance(0.7) ? rng.int(-40, 40) : rng.u32() | 0);
    case 'opcode':
      return BigInt(rng.pick([0x85, 0x18, 0x95, 0xb7, 0x05, 0x00, rng.int(0, 255)]));
    case 'regs':
      return BigInt((rng.pick([0, 1, 2, 3, 4, 5, 6, rng.int(0, 15)]) << 4) | rng.int(0, 10));
    case 'flags':
      return BigInt(rng.pick([0, 1, 2, 3, 4, 6, 7]));
    case 'symvalue':
      return BigInt(rng.chance(0.7) ? rng.int(0, 200) * 8 : rng.int(0, 1 << 20));
    default:
      return generic();
  }
}

type Strategy = 'bitflip' | 'overwrite' | 'truncate' | 'insert' | 'delete' | 'elf' | 'btf' | 'ext' | 'code' | 'strings' | 'call';

const STRATEGIES: [Strategy, number][] = [
  ['bitflip', 10], ['overwrite', 7], ['truncate', 5], ['insert', 4], ['delete', 4],
  ['elf', 18], ['btf', 24], ['ext', 12], ['code', 6], ['call', 4], ['strings', 6],
];
const TOTAL_WEIGHT = STRATEGIES.reduce((a, [, w]) => a + w, 0);
const STRUCTURAL = new Set<Strategy>(['truncate', 'insert', 'delete']);

function pickStrategy(rng: Rng): Strategy {
  let r = rng.next() * TOTAL_WEIGHT;
  for (const [s, w] of STRATEGIES) {
    if ((r -= w) < 0) return s;
  }
  return 'bitflip';
}

function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/** Applies one mutation in place (or returns a new array for length changes) and describes it. */
function mutate(rng: Rng, b: Uint8Array, s: Strategy, L: Layout): { bytes: Uint8Array; desc: string } {
  const len = b.length;
  const field = (list: Field[]) => {
    const f = rng.pick(list);
    if (f.off + f.width > b.length) return { bytes: b, desc: `${f.label}: beyond end` };
    const orig = readField(b, f);
    const v = BigInt.asUintN(f.width * 8, fieldValue(rng, f, orig, L, len));
    writeField(b, f, v);
    return { bytes: b, desc: `${f.label} @${hex(f.off)} = ${hex(Number(v))} (was ${hex(Number(orig))})` };
  };
  switch (s) {
    case 'bitflip': {
      const n = rng.int(1, 8);
      const at: string[] = [];
      for (let i = 0; i < n && len; i++) {
        const o = rng.int(0, len - 1);
        const bit = rng.int(0, 7);
        b[o]! ^= 1 << bit;
        at.push(`${hex(o)}.${bit}`);
      }
      return { bytes: b, desc: `flip bits ${at.join(' ')}` };
    }
    case 'overwrite': {
      if (!len) return { bytes: b, desc: 'overwrite (empty)' };
      const o = rng.int(0, len - 1);
      const n = Math.min(rng.int(1, 16), len - o);
      const fill = rng.pick(['random', 'zero', 'ff'] as const);
      for (let i = 0; i < n; i++) b[o + i] = fill === 'random' ? rng.int(0, 255) : fill === 'zero' ? 0 : 0xff;
      return { bytes: b, desc: `overwrite ${n} bytes at ${hex(o)} with ${fill}` };
    }
    case 'truncate': {
      const n = rng.int(0, len);
      return { bytes: b.slice(0, n), desc: `truncate to ${n} bytes` };
    }
    case 'insert': {
      const o = rng.int(0, len);
      const n = rng.int(1, 64);
      const run = new Uint8Array(n).map(() => (rng.chance(0.5) ? 0 : rng.int(0, 255)));
      const out = new Uint8Array(len + n);
      out.set(b.subarray(0, o));
      out.set(run, o);
      out.set(b.subarray(o), o + n);
      return { bytes: out, desc: `insert ${n} bytes at ${hex(o)}` };
    }
    case 'delete': {
      if (!len) return { bytes: b, desc: 'delete (empty)' };
      const o = rng.int(0, len - 1);
      const n = Math.min(rng.int(1, 64), len - o);
      const out = new Uint8Array(len - n);
      out.set(b.subarray(0, o));
      out.set(b.subarray(o + n), o);
      return { bytes: out, desc: `delete ${n} bytes at ${hex(o)}` };
    }
    case 'elf': return field(L.elf);
    case 'btf': return field(L.btf);
    case 'ext': return field(L.ext);
    case 'code': return field(L.code);
    case 'call': {
      // Turn an instruction into a bpf-to-bpf call or an ld_imm64 with a nearby target.
      const f = rng.pick(L.code.filter((c) => c.domain === 'opcode'));
      const o = f.off;
      if (o + 8 > b.length) return { bytes: b, desc: 'call: beyond end' };
      const imm = rng.int(-30, 30);
      if (rng.chance(0.7)) {
        b[o] = 0x85;
        b[o + 1] = 0x10;
      } else {
        b[o] = 0x18;
        b[o + 1] = rng.pick([0x01, 0x11, 0x21, 0x41]);
      }
      new DataView(b.buffer, b.byteOffset).setInt32(o + 4, imm, true);
      return { bytes: b, desc: `${f.label.replace(/ opcode$/, '')} -> ${b[o] === 0x85 ? 'call' : 'ld_imm64'} imm ${imm}` };
    }
    case 'strings': {
      const [lo, hi] = rng.chance(0.6) ? L.btfStrings : L.strtab;
      if (hi <= lo || hi > len) return { bytes: b, desc: 'strings: beyond end' };
      const o = rng.int(lo, hi - 1);
      const v = rng.pick([0, 0x41, 0x2e, 0x2f, 0xff, 0xc3, rng.int(1, 255)]);
      b[o] = v;
      return { bytes: b, desc: `string byte at ${hex(o)} = ${hex(v)}` };
    }
  }
}

// ---------------------------------------------------------------------------------------
// Entry points and cases

/**
 * What a case feeds its input to:
 *   object   mutated object bytes -> parseElf, parseBtf (+ encode round trip), parseBtfExt,
 *            parseObject, linkProgram, CO-RE, the BTF walkers (a quarter with a mutated type
 *            graph re-embedded as the object's .BTF)
 *   strings  the object pipeline, plus C dump and decoders, on string tables without NUL
 *            terminators, names all at one long string, names at odd offsets (BTF, .strtab,
 *            .shstrtab)
 *   cdump    mutated BTF -> dumpC (tsbpf btf dump), CDumper.cName, dumpRaw, the walkers
 *   decoder  mutated BTF -> compileDecoder / compileJsonWriter / compileCodec /
 *            compileMembersDecoder (gen/decoder.ts's code), each run on random bytes
 *   package  mutated package.json -> readPackage, parseObject, programOptions, applyArgs,
 *            packageAttachOptions, exportStreams and their decoders, stackSample
 *   gen-ts   mutated object -> generateTypeScript (tsbpf gen)
 */
type Entry = 'object' | 'strings' | 'cdump' | 'decoder' | 'package' | 'gen-ts';
const ENTRIES: [Entry, number][] = [['object', 34], ['strings', 10], ['cdump', 18], ['decoder', 18], ['package', 14], ['gen-ts', 6]];
const ENTRY_WEIGHT = ENTRIES.reduce((a, [, w]) => a + w, 0);

function pickEntry(rng: Rng): Entry {
  let r = rng.next() * ENTRY_WEIGHT;
  for (const [e, w] of ENTRIES) if ((r -= w) < 0) return e;
  return 'object';
}

interface Case {
  entry: Entry;
  fixture: string;
  /** Object bytes (object, strings, gen-ts). */
  bytes: Uint8Array;
  /** Encoded BTF (cdump, decoder). */
  btf?: Uint8Array;
  /** package.json text or bytes (package). */
  pkg?: string | Uint8Array;
  mutations: string[];
  /** What making the case threw (encodeBtf of a mutated type graph): checked as the case's first stage. */
  genError?: unknown;
}

interface BasePackage {
  fixture: string;
  text: string;
  btfCount: number;
  structIds: number[];
}

/** The fixture's object with byte-level and field mutations (the original strategies). */
function byteMutated(rng: Rng, L: Layout, bytes: Uint8Array, mutations: string[]): Uint8Array {
  const n = rng.chance(0.65) ? 1 : rng.int(2, 4);
  const strategies = Array.from({ length: n }, () => pickStrategy(rng));
  // Field mutations refer to the original layout: apply them before any length change.
  strategies.sort((a, b) => Number(STRUCTURAL.has(a)) - Number(STRUCTURAL.has(b)));
  for (const s of strategies) {
    const r = mutate(rng, bytes, s, L);
    bytes = r.bytes;
    mutations.push(`${s}: ${r.desc}`);
  }
  return bytes;
}

/** The fixture's object with a mutated type graph as its .BTF (and maybe byte mutations after). */
function modelMutated(rng: Rng, L: Layout, mutations: string[]): Uint8Array {
  const btf = mutatedBtf(rng, L.btfData, rng.int(1, 3), rng.chance(0.3) ? 1 : 0, mutations);
  let bytes = replaceSection(L.bytes, '.BTF', btf);
  if (rng.chance(0.3)) bytes = byteMutated(rng, L, bytes, mutations);
  return bytes;
}

/** String-table attacks on an ELF's .strtab or .shstrtab: no NUL, every name at one string. */
function elfStrings(rng: Rng, b: Uint8Array, L: Layout): string {
  const which = rng.chance(0.6) ? 'strtab' : 'shstrtab';
  const [lo, hi] = which === 'strtab' ? L.strtab : L.shstrtab;
  const names = L.elf.filter((f) => f.domain === (which === 'strtab' ? 'symstroff' : 'shstroff'));
  const how = rng.pick(['no-nul-tail', 'no-nul-all', 'names-at-one', 'names-mid'] as const);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  switch (how) {
    case 'no-nul-tail':
      b[hi - 1] = 0x41;
      return `.${which} ${how}: its last byte is not NUL`;
    case 'no-nul-all':
      for (let i = lo + 1; i < hi; i++) if (b[i] === 0) b[i] = 0x61;
      return `.${which} ${how}: every NUL after the first is 'a'`;
    case 'names-at-one': {
      const at = rng.int(0, hi - lo - 1);
      for (const f of names) dv.setUint32(f.off, at, true);
      return `.${which} ${how}: all ${names.length} names at offset ${at}`;
    }
    case 'names-mid': {
      let n = 0;
      for (const f of names) if (rng.chance(0.3)) { dv.setUint32(f.off, rng.pick([hi - lo - 1, hi - lo, hi - lo + 1, 0xffffffff, rng.int(0, hi - lo)]), true); n++; }
      return `.${which} ${how}: ${n} names at odd offsets`;
    }
  }
}

function makeCase(layouts: Layout[], pkgs: BasePackage[], seed: number): { c: Case; rng: Rng } {
  const rng = new Rng(mulberry32(seed));
  const entry = pickEntry(rng);
  const L = rng.pick(layouts);
  const c: Case = { entry, fixture: L.name, bytes: L.bytes, mutations: [] };
  const m = c.mutations;
  try {
    switch (entry) {
      case 'object': case 'gen-ts':
        c.bytes = rng.chance(entry === 'object' ? 0.25 : 0.5) ? modelMutated(rng, L, m) : byteMutated(rng, L, L.bytes.slice(), m);
        break;
      case 'strings': {
        let bytes: Uint8Array = L.bytes.slice();
        // BTF attacks first: an ELF string attack may leave the section names unreadable.
        const btfFirst = Array.from({ length: rng.int(1, 3) }, () => rng.chance(0.6)).sort((a, b) => Number(b) - Number(a));
        for (const onBtf of btfFirst) {
          if (onBtf) {
            const sec = parseElf(bytes).sectionByName('.BTF')!;
            const r = mutateBtfStrings(rng, sec.data.slice());
            bytes = replaceSection(bytes, '.BTF', r.bytes);
            m.push(`.BTF ${r.desc}`);
          } else m.push(elfStrings(rng, bytes, L));
        }
        c.bytes = bytes;
        break;
      }
      case 'cdump': case 'decoder': {
        const model = rng.pick([0, 1, 1, 1, 2, 2, 3]);
        const strings = model === 0 || rng.chance(0.2) ? 1 : 0;
        let btf: Uint8Array = mutatedBtf(rng, L.btfData, model, strings, m);
        if (rng.chance(0.2)) {
          // And a raw field of the encoded records.
          const fields = btfFields(btf, 0).fields;
          const f = rng.pick(fields);
          const v = BigInt.asUintN(f.width * 8, fieldValue(rng, f, readField(btf, f), L, btf.length));
          writeField(btf, f, v);
          m.push(`btf: ${f.label} = ${hex(Number(v))}`);
        }
        c.btf = btf;
        break;
      }
      case 'package': {
        const base = rng.pick(pkgs);
        const PL = layouts.find((x) => x.name === base.fixture)!;
        c.fixture = base.fixture;
        const doc = JSON.parse(base.text) as Record<string, never>;
        const splices: Splice[] = [];
        const ctx: PackageContext = {
          btfCount: base.btfCount,
          structIds: base.structIds,
          mutatedObject: () => {
            const sub: string[] = [];
            const bytes = rng.chance(0.3) ? modelMutated(rng, PL, sub) : byteMutated(rng, PL, PL.bytes.slice(), sub);
            return { bytes, desc: sub.join('; ') };
          },
        };
        const n = rng.chance(0.6) ? 1 : rng.int(2, 4);
        for (let i = 0; i < n; i++) m.push(`package ${mutatePackage(rng, doc, ctx, splices)}`);
        c.pkg = packageText(rng, doc, splices, m);
        break;
      }
    }
  } catch (e) {
    c.genError = e;
  }
  return { c, rng };
}

// ---------------------------------------------------------------------------------------
// Running one case

class Unexpected extends Error {
  constructor(readonly stage: string, override readonly cause: unknown) {
    super(`${stage} threw ${cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)}`);
  }
}

/** Typed errors seen in the current case. */
let typedErrors = 0;

/**
 * Runs fn; a TsbpfError means "rejected" (undefined), anything else is a bug. `probe`: a
 * check expected to be rejected often (a short view, the size of a function), whose typed
 * error does not make the case a "typed error" case.
 */
function attempt<T>(stage: string, fn: () => T, probe = false): T | undefined {
  const t0 = FUZZ_TRACE ? performance.now() : 0;
  try {
    return fn();
  } catch (e) {
    if (e instanceof Unexpected) throw e;
    if (e instanceof TsbpfError) {
      if (!probe) typedErrors++;
      return undefined;
    }
    throw new Unexpected(stage, e);
  } finally {
    if (FUZZ_TRACE) {
      const ms = performance.now() - t0;
      if (ms > (Number(process.env.FUZZ_TRACE_MS) || 50)) process.stderr.write(`fuzz: ${stage} took ${ms.toFixed(0)} ms\n`);
      const kind = stage.replace(/\(\d+\)|\d+ bytes/g, 'N');
      stageMs.set(kind, (stageMs.get(kind) ?? 0) + ms);
    }
  }
}

/** Records up to this size are decoded (a struct of 0xffffffff bytes is only compiled). */
const DECODE_MAX = 1 << 20;
let randomBytes: Uint8Array | undefined;
/** A view of `n` random bytes (the same bytes in every run of a seed). */
function randomView(n: number): DataView {
  if (!randomBytes) {
    const r = mulberry32(FUZZ_SEED ^ 0x5eed);
    randomBytes = new Uint8Array(DECODE_MAX + 64);
    for (let i = 0; i < randomBytes.length; i++) randomBytes[i] = (r() * 256) | 0;
  }
  // A copy, so an encoder writing into it cannot change later cases.
  return new DataView(randomBytes.slice(0, n).buffer);
}

/** Walks every type of a parsed BTF: size, resolve, typeName and decodeValue. */
function walkBtf(btf: Btf, rng: Rng, stage: string): void {
  const scratch = new Uint8Array(4096);
  for (let i = 0; i < scratch.length; i++) scratch[i] = rng.int(0, 255);
  // The fixture's types and the newest ones (which mutations add), 1,000 of each at most:
  // each walk of a 30,000-deep chain costs 64 steps, and the case has a time bound.
  const ids = new Set<number>();
  for (let id = 0; id < Math.min(btf.count, 1000); id++) ids.add(id);
  for (let id = Math.max(0, btf.count - 1000); id < btf.count; id++) ids.add(id);
  for (const id of ids) {
    attempt(`${stage}: resolve(${id})`, () => btf.resolve(id), true);
    attempt(`${stage}: typeName(${id})`, () => btf.typeName(id), true);
    const size = attempt(`${stage}: size(${id})`, () => btf.size(id), true);
    const len = size === undefined ? 64 : Math.min(size, scratch.length);
    attempt(`${stage}: decodeValue(${id}) on ${len} bytes`, () => decodeValue(btf, id, new DataView(scratch.buffer, 0, len)), true);
    if (len > 0) {
      // A view shorter than the type must be rejected, not read past.
      const short = rng.int(0, len - 1);
      attempt(`${stage}: decodeValue(${id}) on ${short} bytes`, () => decodeValue(btf, id, new DataView(scratch.buffer, 0, short)), true);
    }
  }
}

/** The C dump three ways: as vmlinux.h or bare, through CDumper (and every cName), raw. */
function cdump(btf: Btf, rng: Rng, stage: string): void {
  const text = attempt(`${stage}: dumpC`, () => dumpC(btf, { header: rng.chance(0.5) }));
  if (text !== undefined && typeof text !== 'string') throw new Unexpected(`${stage}: dumpC`, new Error(`returned ${typeof text}`));
  const d = new CDumper(btf);
  if (attempt(`${stage}: CDumper.dump`, () => d.dump({ header: false })) !== undefined) {
    for (let id = 1; id < Math.min(btf.count, 2000); id++) attempt(`${stage}: cName(${id})`, () => d.cName(id), true);
  }
  attempt(`${stage}: dumpRaw`, () => dumpRaw(btf));
}

/** The ids to build decoders for: some structs and unions (the newest, which mutations add, first) and a few others. */
function decoderIds(btf: Btf, rng: Rng): number[] {
  const recs: number[] = [];
  btf.types.forEach((t, id) => {
    if (t.kind === 'struct' || t.kind === 'union') recs.push(id);
  });
  const ids = new Set<number>(recs.slice(-3));
  for (let i = 0; i < 6 && recs.length; i++) ids.add(rng.pick(recs));
  for (let i = 0; i < 2; i++) ids.add(rng.int(0, btf.count));
  return [...ids];
}

/** gen/decoder.ts's code on mutated types: every compiler, run on random bytes of the type's size. */
function decoders(btf: Btf, rng: Rng, stage: string): void {
  for (const id of decoderIds(btf, rng)) {
    const ecliEnums = rng.chance(0.3);
    const d = attempt(`${stage}: compileDecoder(${id})`, () => compileDecoder(btf, id, { ecliEnums }));
    if (d && d.size <= DECODE_MAX) attempt(`${stage}: decode(${id}) on ${d.size} bytes`, () => d.decode(randomView(d.size), 0));
    const size = attempt(`${stage}: size(${id})`, () => btf.size(id), true);
    const j = attempt(`${stage}: compileJsonWriter(${id})`, () => compileJsonWriter(btf, id, { ecliEnums }));
    if (j && size !== undefined && size <= DECODE_MAX) {
      const text = attempt(`${stage}: json(${id}) on ${size} bytes`, () => j(randomView(size), 0));
      if (text !== undefined) {
        try {
          JSON.parse(text);
        } catch (e) {
          throw new Unexpected(`${stage}: json(${id}) output`, new Error(`is not JSON (${(e as Error).message}): ${text.slice(0, 120)}`));
        }
      }
    }
    const codec = attempt(`${stage}: compileCodec(${id})`, () => compileCodec(btf, id));
    if (codec && size !== undefined && size <= DECODE_MAX) {
      const view = randomView(size);
      const value = attempt(`${stage}: codec decode(${id})`, () => codec.decode(view, 0));
      if (value !== undefined) attempt(`${stage}: codec encode(${id})`, () => codec.encode(new DataView(new ArrayBuffer(size)), 0, value, 'value'));
    }
  }
  // eunomia's custom members: random offsets and types.
  const members = Array.from({ length: rng.int(1, 4) }, (_, i) => ({ name: `m${i}`, offset: rng.pick([0, i * 8, rng.int(0, 64), 0xffffffff]), typeId: rng.int(0, btf.count) }));
  const md = attempt(`${stage}: compileMembersDecoder`, () => compileMembersDecoder(btf, members));
  if (md && md.size <= DECODE_MAX) attempt(`${stage}: members decode on ${md.size} bytes`, () => md.decode(randomView(md.size), 0));
}

/** The object pipeline; returns how far the input got (for the coverage figures). */
function runObject(c: Case, rng: Rng, got: Got, extra: boolean): void {
  const elf = attempt('parseElf', () => parseElf(c.bytes));
  if (elf) {
    got.elf = true;
    const btfSec = elf.sectionByName('.BTF');
    const btf = btfSec && attempt('parseBtf', () => parseBtf(btfSec.data));
    if (btf) {
      got.btf = true;
      walkBtf(btf, rng, 'parsed BTF');
      // Whatever parses must encode, and the encoding must parse again.
      const again = attempt('encodeBtf', () => encodeBtf(btf));
      if (again) {
        const re = attempt('parseBtf(encodeBtf(btf))', () => parseBtf(again));
        if (!re || re.count !== btf.count) throw new Unexpected('parseBtf(encodeBtf(btf))', new Error('re-encoded BTF does not parse to the same types'));
      }
      const extSec = elf.sectionByName('.BTF.ext');
      if (extSec) attempt('parseBtfExt', () => parseBtfExt(extSec.data, btf.strings));
      if (extra) {
        cdump(btf, rng, 'parsed BTF');
        decoders(btf, rng, 'parsed BTF');
      }
    }
  }
  const spec = attempt('parseObject', () => parseObject(c.bytes, c.fixture));
  if (spec) {
    got.object = true;
    for (const p of spec.programs) {
      const linked = attempt(`linkProgram(${p.name})`, () => linkProgram(spec, p));
      // User-space CO-RE on mutated records and BTF, against the object's own BTF.
      if (linked?.coreRelos.length) {
        attempt(`applyCoreRelocations(${p.name})`, () => applyCoreRelocations(p.name, spec.btf, linked.coreRelos, linked.insns, [{ btf: spec.btf, name: 'self' }]));
      }
    }
    walkBtf(spec.btf, rng, 'object BTF');
  }
}

/** What `tsbpf run` does with a package before it touches the kernel. */
function runPackage(c: Case, rng: Rng, got: Got): void {
  const pkg = attempt('readPackage', () => readPackage(c.pkg!));
  if (!pkg) return;
  got.package = true;
  const spec = attempt('parseObject(package object)', () => parseObject(pkg.objectBytes, pkg.name));
  if (!spec) return;
  got.object = true;
  attempt('programOptions', () => programOptions(spec, pkg.skel));
  attempt('applyArgs(spec, [], skel)', () => applyArgs(spec, [], pkg.skel));
  for (const p of pkg.skel.progs) attempt(`packageAttachOptions(${String(p.name).slice(0, 40)})`, () => packageAttachOptions(p));
  const streams = attempt('exportStreams', () =>
    exportStreams(spec, { exportTypeIds: pkg.exportTypes.map((t) => t.type_id), multipleExport: pkg.multipleExport, exportConfigs: pkg.exportConfigs, stackTraces: pkg.stackTraces }),
  );
  for (const s of streams ?? []) {
    const size = s.known && typeof s.known.type === 'number' ? attempt(`size of ${s.map.name}'s type`, () => spec.btf.size(s.known!.type as number)) : undefined;
    for (const length of [size ?? 0, rng.int(0, 256), (size ?? 0) + rng.int(1, 8), rng.int(0, 4096)]) {
      if (length > DECODE_MAX) continue;
      const t = attempt(`${s.map.name}: typeOf(${length})`, () => s.typeOf(length));
      if (!t) continue;
      const value = attempt(`${s.map.name}: decode ${t.name} from ${length} bytes`, () => t.decode(randomView(length), 0));
      if (value && s.stack) attempt(`${s.map.name}: stackSample`, () => stackSample(value, s.stack!));
    }
  }
}

interface Got {
  elf: boolean;
  btf: boolean;
  object: boolean;
  package: boolean;
}

/** Runs the case's entry point; returns how far the input got. */
function runCase(c: Case, rng: Rng): Got {
  const got: Got = { elf: false, btf: false, object: false, package: false };
  if (c.genError !== undefined) {
    attempt('making the case (encodeBtf of the mutated types, or the fixture)', () => {
      throw c.genError;
    });
    return got;
  }
  switch (c.entry) {
    case 'object': runObject(c, rng, got, false); break;
    case 'strings': runObject(c, rng, got, true); break;
    case 'cdump': case 'decoder': {
      const btf = attempt('parseBtf', () => parseBtf(c.btf!));
      if (!btf) break;
      got.btf = true;
      if (c.entry === 'cdump') cdump(btf, rng, 'BTF');
      else decoders(btf, rng, 'BTF');
      walkBtf(btf, rng, 'BTF');
      break;
    }
    case 'gen-ts': {
      const ids: number[] = [];
      const spec = attempt('parseObject', () => parseObject(c.bytes, c.fixture));
      if (spec) {
        got.object = true;
        spec.btf.types.forEach((t, id) => {
          if (t.kind === 'struct' && rng.chance(0.2)) ids.push(id);
        });
      }
      const text = attempt('generateTypeScript', () =>
        generateTypeScript(c.bytes, c.fixture.replace(/\W/g, '_'), { exportTypeIds: rng.chance(0.5) ? ids : undefined, objectPath: rng.chance(0.2) ? './x.bpf.o' : undefined }),
      );
      if (text !== undefined && typeof text !== 'string') throw new Unexpected('generateTypeScript', new Error(`returned ${typeof text}`));
      break;
    }
    case 'package': runPackage(c, rng, got); break;
  }
  return got;
}

// ---------------------------------------------------------------------------------------
// Workers, bounds and the report

type Outcome = 'success' | 'typed' | 'uncaught' | 'over-time' | 'over-memory';

interface CaseInfo {
  index: number;
  seed: number;
  entry: Entry;
  fixture: string;
  mutations: string[];
  /** Bytes of the input the entry point is handed (object, BTF or package). */
  inputBytes?: number;
}

interface Result extends CaseInfo {
  outcome: Outcome;
  error?: string;
  ms: number;
  heapMb: number;
  got?: Got;
}

type FromChild = { type: 'start'; info: CaseInfo } | { type: 'end'; result: Result } | { type: 'done' };

/** Heap plus external memory (Buffers) of this isolate, in MiB. */
function memoryMb(): number {
  const h = getHeapStatistics();
  return (h.used_heap_size + ((h as { external_memory?: number }).external_memory ?? 0)) / (1 << 20);
}

function describe(f: Result): string {
  return [
    `case ${f.index} [${f.outcome}] entry ${f.entry} (FUZZ_SEED=${hex(FUZZ_SEED)} FUZZ_ONLY=${f.index}, case seed ${hex(f.seed)}), fixture ${f.fixture}`,
    ...f.mutations.map((m) => `  mutation ${m.length > 300 ? `${m.slice(0, 300)}...` : m}`),
    `  ${f.error}`,
  ].join('\n');
}

/** The base packages: each fixture's object, its structs as export types (the first one or two). */
function basePackages(layouts: Layout[]): BasePackage[] {
  const out: BasePackage[] = [];
  for (const L of layouts) {
    try {
      const spec = parseObject(L.bytes, L.name);
      const structs: number[] = [];
      spec.btf.types.forEach((t, id) => {
        if (t.kind === 'struct' && t.name) structs.push(id);
      });
      const event = spec.btf.idByName('event', 'struct');
      const exports = event ? [event] : structs.slice(0, 2);
      const pkg = writePackage(L.bytes, spec, exports, { objectFile: `${L.name.replace(/.*\//, '')}.bpf.o` });
      out.push({ fixture: L.name, text: JSON.stringify(pkg), btfCount: spec.btf.count, structIds: structs });
    } catch {
      // A fixture that makes no package (none should): not a base.
    }
  }
  return out;
}

/** Child side: receives its indices, runs them and reports each case's start and end. */
function childMain(indices: number[]): void {
  const send = (m: FromChild) => process.send!(m);
  const layouts = FIXTURES.map(layoutOf);
  const pkgs = basePackages(layouts);
  for (const index of indices) {
    const seed = caseSeed(FUZZ_SEED, index);
    // Announced before it is made, so that a child dying while making it blames it.
    send({ type: 'start', info: { index, seed, entry: 'object', fixture: '?', mutations: ['(dying while the case was made)'] } });
    const { c, rng } = makeCase(layouts, pkgs, seed);
    const input = c.entry === 'package' ? c.pkg : c.entry === 'cdump' || c.entry === 'decoder' ? c.btf : c.bytes;
    const inputBytes = typeof input === 'string' ? Buffer.byteLength(input) : input?.byteLength ?? 0;
    // A description may quote a mutated value (megabytes): the parent needs only its start.
    const mutations = c.mutations.map((m) => (m.length > 400 ? `${m.slice(0, 400)}... (${m.length} characters)` : m));
    const info: CaseInfo = { index, seed, entry: c.entry, fixture: c.fixture, mutations, inputBytes };
    send({ type: 'start', info });
    typedErrors = 0;
    // Earlier cases' garbage is collected first when there is much of it, so that the
    // growth is this case's (collecting before every case would double the run's time).
    if (memoryMb() > 48) (globalThis as { gc?: () => void }).gc?.();
    const mem0 = memoryMb();
    // CPU time, not wall time: the other child and the parent share the two cores.
    const cpu0 = process.cpuUsage();
    let error: string | undefined;
    let got: Got | undefined;
    try {
      got = runCase(c, rng);
    } catch (e) {
      error = e instanceof Unexpected && e.cause instanceof Error ? `${e.message}\n${e.cause.stack}` : String((e as Error).stack ?? e);
    }
    const cpu = process.cpuUsage(cpu0);
    const ms = (cpu.user + cpu.system) / 1000;
    if (FUZZ_TRACE) {
      const top = [...stageMs].sort((a, b) => b[1] - a[1]).slice(0, 8);
      process.stderr.write(`fuzz: case ${index} ${ms.toFixed(0)} ms: ${top.map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ')}\n`);
      stageMs.clear();
    }
    const heapMb = Math.max(0, memoryMb() - mem0);
    let outcome: Outcome = error ? 'uncaught' : typedErrors ? 'typed' : 'success';
    if (!error && ms > CASE_LIMIT_MS) {
      outcome = 'over-time';
      error = `took ${ms.toFixed(0)} ms of CPU (limit ${CASE_LIMIT_MS} ms): a hang-like blowup`;
    } else if (!error && heapMb > Math.min(MEM_LIMIT_MB, MEM_BASE_MB + (MEM_PER_INPUT_BYTE * inputBytes) / (1 << 20))) {
      outcome = 'over-memory';
      error = `grew the heap by ${heapMb.toFixed(0)} MiB for an input of ${(inputBytes / 1024).toFixed(0)} KiB (limit ${MEM_BASE_MB} MiB + ${MEM_PER_INPUT_BYTE}x the input, at most ${MEM_LIMIT_MB} MiB)`;
    }
    send({ type: 'end', result: { ...info, outcome, error, ms, heapMb, got } });
  }
  // Disconnecting with messages still queued kills the child inside Node (channel is null).
  process.send!({ type: 'done' } satisfies FromChild, () => process.disconnect());
}

/**
 * Runs `indices` in a child process (not a worker thread: V8 can abort the whole process
 * when a worker's heap fills, instead of stopping the worker). A child that runs out of
 * memory, hangs or dies is replaced, its case counted (over-memory, over-time, uncaught),
 * and the rest go on in the new one.
 */
async function runLane(indices: number[], results: Result[], restarts: { n: number }): Promise<void> {
  let rest = indices;
  while (rest.length) {
    const { current, done } = await new Promise<{ current?: CaseInfo; done: Set<number> }>((resolveLane) => {
      const done = new Set<number>();
      // The default stack (~1 MiB, as the CLI has) and a bounded old generation.
      const child = fork(fileURLToPath(import.meta.url), [], {
        execArgv: [`--max-old-space-size=${CHILD_HEAP_MB}`, '--expose-gc'],
        env: { ...process.env, FUZZ_CHILD: '1' },
        stdio: ['ignore', 'ignore', FUZZ_TRACE ? 'inherit' : 'pipe', 'ipc'],
        serialization: 'advanced',
      });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-4000);
      });
      let current: CaseInfo | undefined;
      let startedAt = 0;
      let settled = false;
      const finish = (why?: string, outcome: Outcome = 'uncaught') => {
        if (settled) return;
        settled = true;
        clearInterval(watchdog);
        if (why && current) {
          results.push({ ...current, outcome, error: why, ms: performance.now() - startedAt, heapMb: 0 });
          done.add(current.index);
        }
        resolveLane({ current: why ? current : undefined, done });
      };
      const watchdog = setInterval(() => {
        if (current && performance.now() - startedAt > HANG_MS) {
          finish(`still running after ${HANG_MS} ms: a hang (child killed)`, 'over-time');
          child.kill('SIGKILL');
        }
      }, 250);
      child.on('message', (m: FromChild) => {
        if (m.type === 'start') {
          if (current?.index !== m.info.index) startedAt = performance.now();
          current = m.info;
        } else if (m.type === 'end') {
          results.push(m.result);
          done.add(m.result.index);
          current = undefined;
        } else finish();
      });
      child.on('error', (e) => finish(`child failed: ${e.stack ?? e}`));
      child.on('exit', (code, signal) => {
        // Let the last of stderr arrive before it is looked at.
        setImmediate(() => {
          if (/heap out of memory|Allocation failed|ERR_WORKER_OUT_OF_MEMORY/.test(stderr)) {
            finish(`ran out of memory (${CHILD_HEAP_MB} MiB old generation): ${stderr.split('\n').find((l) => /out of memory|Allocation failed/.test(l))?.trim()}`, 'over-memory');
          } else finish(`child exited (code ${code}, signal ${signal}) before finishing: ${stderr.trim().split('\n').slice(-12).join(' / ')}`);
        });
      });
      child.send({ indices: rest });
    });
    const left = rest.filter((i) => !done.has(i));
    if (left.length && !current) throw new Error(`fuzz child stopped without a case to blame, ${left.length} cases not run`);
    rest = left;
    if (rest.length && ++restarts.n > MAX_RESTARTS) throw new Error(`fuzz children were restarted ${MAX_RESTARTS} times; ${rest.length} cases not run`);
  }
}

if (process.env.FUZZ_CHILD !== '1') {
  test(`fuzz: ${FUZZ_CASES} cases through every parser, decoder, C dump, package reader and binding generator`, { timeout: 30 * 60_000 }, async () => {
    assert.ok(FUZZ_CASES > 0, 'FUZZ_CASES must be positive');
    const nchildren = FUZZ_ONLY !== undefined && FUZZ_ONLY.length === 1 ? 1 : Math.max(1, Math.min(2, availableParallelism()));
    const t0 = performance.now();
    const all = FUZZ_ONLY !== undefined ? FUZZ_ONLY : Array.from({ length: FUZZ_CASES }, (_, i) => i);
    const results: Result[] = [];
    const restarts = { n: 0 };
    await Promise.all(Array.from({ length: nchildren }, (_, k) => runLane(all.filter((i) => i % nchildren === k), results, restarts)));
    results.sort((a, b) => a.index - b.index);
    const count = (o: Outcome) => results.filter((r) => r.outcome === o).length;
    const failures = results.filter((r) => r.outcome === 'uncaught' || r.outcome === 'over-time' || r.outcome === 'over-memory');
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    const perEntry = ENTRIES.map(([e]) => {
      const rs = results.filter((r) => r.entry === e);
      return `${e} ${rs.length} (${rs.filter((r) => r.outcome === 'success').length} ok, ${rs.filter((r) => r.outcome === 'typed').length} typed, ${rs.filter((r) => failures.includes(r)).length} failed, ${(rs.reduce((a, r) => a + r.ms, 0) / 1000).toFixed(1)} s)`;
    });
    const reached = (k: keyof Got) => results.filter((r) => r.got?.[k]).length;
    const heaviest = results.reduce<Result | undefined>((a, r) => (!a || r.heapMb > a.heapMb ? r : a), undefined);
    console.log(
      `fuzz details: ${secs} s on ${nchildren} child process(es) (${restarts.n} restarted), seed ${hex(FUZZ_SEED)}; by entry: ${perEntry.join(', ')}; ` +
        `parsed: ELF ${reached('elf')}, BTF ${reached('btf')}, object ${reached('object')}, package ${reached('package')}; ` +
        `slowest cases ${[...results].sort((a, b) => b.ms - a.ms).slice(0, 3).map((r) => `${r.index} (${r.entry}) ${r.ms.toFixed(0)} ms`).join(', ')}, largest heap growth ${heaviest ? `${heaviest.heapMb.toFixed(0)} MiB (case ${heaviest.index}, input ${((heaviest.inputBytes ?? 0) / 1024).toFixed(0)} KiB)` : '0 MiB'}`,
    );
    console.log(
      `fuzz: ${results.length} cases: ${count('typed')} typed errors, ${count('success')} successes, ` +
        `${count('uncaught')} uncaught, ${count('over-time')} over-time, ${count('over-memory')} over-memory`,
    );
    if (FUZZ_FAILURES_FILE) writeFileSync(FUZZ_FAILURES_FILE, JSON.stringify(failures, null, 1));
    if (process.env.FUZZ_TMP_ALL) writeFileSync(process.env.FUZZ_TMP_ALL, JSON.stringify(results));
    const shown = failures.slice(0, MAX_REPORTED);
    assert.equal(
      failures.length,
      0,
      `${failures.length} fuzz case(s) failed${failures.length > shown.length ? ` (the first ${shown.length} shown)` : ''}:\n${shown.map(describe).join('\n\n')}`,
    );
    assert.equal(results.length, all.length);
  });
} else {
  process.once('message', (m: { indices: number[] }) => childMain(m.indices));
}
