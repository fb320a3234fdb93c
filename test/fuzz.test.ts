/**
 * Deterministic fuzzing of the pure parsers (ELF, BTF, .BTF.ext, object, linker) and of
 * the BTF walkers (size, resolve, typeName, decodeValue) on mutated fixture objects.
 *
 * Every case must end in success or a TsbpfError; anything else (TypeError, RangeError,
 * a stack overflow, a hang) is a bug in the parser, reported with the seed and the
 * mutation. Mutations are random (bit flips, byte overwrites, truncation, insertion and
 * deletion of runs) and targeted at the fields the parsers trust: ELF header and section
 * headers, symbols, relocations, BTF header, type records (info word, vlen, kind, type
 * ids, sizes, string offsets), .BTF.ext record sizes, counts and records, and
 * instructions (calls, ld_imm64), so they reach deep code rather than the magic check.
 *
 * Tunables (environment):
 *   FUZZ_CASES  number of cases (default 6000)
 *   FUZZ_SEED   base seed (default 0x7b5f2024); a case's seed derives from it and its index
 *   FUZZ_ONLY   run only this case index (to reproduce a failure)
 *
 * Cases run in worker threads (up to 2), so a case that loops forever can be stopped by
 * a watchdog and reported instead of hanging the run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { TsbpfError } from '../src/errors.js';
import { parseElf, SHF_EXECINSTR, SHT_PROGBITS, SHT_REL, SHT_SYMTAB, type ElfFile } from '../src/elf/index.js';
import { decodeValue, encodeBtf, parseBtf, parseBtfExt, type Btf } from '../src/btf/index.js';
import { linkProgram, parseObject } from '../src/object/index.js';
import { applyCoreRelocations } from '../src/btf/core.js';
import { mulberry32 } from './prng.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURES = ['maps', 'globals', 'subprog', 'core', 'rejected', 'tracepoint', 'corpus/legacy', 'corpus/mapinmap', 'corpus/tailcall'];

/** Number of cases; at least 5,000 by default. */
const FUZZ_CASES = Number(process.env.FUZZ_CASES ?? 6000);
const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 0x7b5f2024) >>> 0;
const FUZZ_ONLY = process.env.FUZZ_ONLY === undefined ? undefined : Number(process.env.FUZZ_ONLY);
/** A single case taking longer than this is a failure (a hang-like blowup). */
const CASE_LIMIT_MS = 2000;
/** The watchdog stops a worker whose current case runs this long (a real hang). */
const HANG_MS = 15000;
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
  const bytes = new Uint8Array(readFileSync(resolve(ROOT, 'testdata', `${name}.bpf.o`)));
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

interface Case {
  fixture: string;
  bytes: Uint8Array;
  mutations: string[];
}

function makeCase(layouts: Layout[], seed: number): { c: Case; rng: Rng } {
  const rng = new Rng(mulberry32(seed));
  const L = rng.pick(layouts);
  const n = rng.chance(0.65) ? 1 : rng.int(2, 4);
  const strategies = Array.from({ length: n }, () => pickStrategy(rng));
  // Field mutations refer to the original layout: apply them before any length change.
  strategies.sort((a, b) => Number(STRUCTURAL.has(a)) - Number(STRUCTURAL.has(b)));
  let bytes: Uint8Array = L.bytes.slice();
  const mutations: string[] = [];
  for (const s of strategies) {
    const r = mutate(rng, bytes, s, L);
    bytes = r.bytes;
    mutations.push(`${s}: ${r.desc}`);
  }
  return { c: { fixture: L.name, bytes, mutations }, rng };
}

// ---------------------------------------------------------------------------------------
// Running one case

class Unexpected extends Error {
  constructor(readonly stage: string, override readonly cause: unknown) {
    super(`${stage} threw ${cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)}`);
  }
}

/** Runs fn; a TsbpfError means "rejected" (undefined), anything else is a bug. */
function attempt<T>(stage: string, fn: () => T): T | undefined {
  try {
    return fn();
  } catch (e) {
    if (e instanceof Unexpected) throw e;
    if (e instanceof TsbpfError) return undefined;
    throw new Unexpected(stage, e);
  }
}

/** Walks every type of a parsed BTF: size, resolve, typeName and decodeValue. */
function walkBtf(btf: Btf, rng: Rng, stage: string): void {
  const scratch = new Uint8Array(4096);
  for (let i = 0; i < scratch.length; i++) scratch[i] = rng.int(0, 255);
  const n = Math.min(btf.count, 5000);
  for (let id = 0; id < n; id++) {
    attempt(`${stage}: resolve(${id})`, () => btf.resolve(id));
    attempt(`${stage}: typeName(${id})`, () => btf.typeName(id));
    const size = attempt(`${stage}: size(${id})`, () => btf.size(id));
    const len = size === undefined ? 64 : Math.min(size, scratch.length);
    attempt(`${stage}: decodeValue(${id}) on ${len} bytes`, () => decodeValue(btf, id, new DataView(scratch.buffer, 0, len)));
    if (len > 0) {
      // A view shorter than the type must be rejected, not read past.
      const short = rng.int(0, len - 1);
      attempt(`${stage}: decodeValue(${id}) on ${short} bytes`, () => decodeValue(btf, id, new DataView(scratch.buffer, 0, short)));
    }
  }
}

/** Runs every stage; returns how far the input got (for the coverage figures). */
function runCase(c: Case, rng: Rng): { elf: boolean; btf: boolean; object: boolean } {
  const got = { elf: false, btf: false, object: false };
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
  return got;
}

interface Failure {
  index: number;
  seed: number;
  fixture: string;
  mutations: string[];
  error: string;
}

interface Stats {
  cases: number;
  elfOk: number;
  btfOk: number;
  objectOk: number;
  slowestMs: number;
}

function describe(f: Failure): string {
  return [
    `case ${f.index} (FUZZ_SEED=${hex(FUZZ_SEED)} FUZZ_ONLY=${f.index}, case seed ${hex(f.seed)}), fixture ${f.fixture}.bpf.o`,
    ...f.mutations.map((m) => `  mutation ${m}`),
    `  ${f.error}`,
  ].join('\n');
}

/** Worker side: runs cases index = first, first + step, ... and reports to the parent. */
function workerMain(): void {
  const { first, step, count, only } = workerData as { first: number; step: number; count: number; only?: number };
  const layouts = FIXTURES.map(layoutOf);
  const failures: Failure[] = [];
  const stats: Stats = { cases: 0, elfOk: 0, btfOk: 0, objectOk: 0, slowestMs: 0 };
  const indices = only !== undefined ? [only] : Array.from({ length: Math.ceil((count - first) / step) }, (_, k) => first + k * step);
  for (const index of indices) {
    if (failures.length >= MAX_REPORTED) break;
    const seed = caseSeed(FUZZ_SEED, index);
    const { c, rng } = makeCase(layouts, seed);
    parentPort!.postMessage({ type: 'start', index, seed, fixture: c.fixture, mutations: c.mutations });
    const t0 = performance.now();
    let error: string | undefined;
    try {
      const got = runCase(c, rng);
      stats.elfOk += Number(got.elf);
      stats.btfOk += Number(got.btf);
      stats.objectOk += Number(got.object);
    } catch (e) {
      error = e instanceof Unexpected && e.cause instanceof Error ? `${e.message}\n${e.cause.stack}` : String((e as Error).stack ?? e);
    }
    const ms = performance.now() - t0;
    if (ms > stats.slowestMs) stats.slowestMs = ms;
    if (!error && ms > CASE_LIMIT_MS) error = `took ${ms.toFixed(0)} ms (limit ${CASE_LIMIT_MS} ms): a hang-like blowup`;
    if (error) failures.push({ index, seed, fixture: c.fixture, mutations: c.mutations, error });
    stats.cases++;
  }
  parentPort!.postMessage({ type: 'done', failures, stats });
}

function runWorker(first: number, step: number): Promise<{ failures: Failure[]; stats: Stats }> {
  return new Promise((resolvePromise) => {
    const w = new Worker(new URL(import.meta.url), {
      workerData: { first, step, count: FUZZ_CASES, only: FUZZ_ONLY },
      resourceLimits: { maxOldGenerationSizeMb: 1024 },
    });
    let current: Omit<Failure, 'error'> | undefined;
    let startedAt = 0;
    let settled = false;
    const finish = (r: { failures: Failure[]; stats: Stats }) => {
      if (settled) return;
      settled = true;
      clearInterval(watchdog);
      resolvePromise(r);
    };
    const lost = (why: string): { failures: Failure[]; stats: Stats } => ({
      failures: [current ? { ...current, error: why } : { index: -1, seed: 0, fixture: '?', mutations: [], error: why }],
      stats: { cases: 0, elfOk: 0, btfOk: 0, objectOk: 0, slowestMs: 0 },
    });
    const watchdog = setInterval(() => {
      if (current && performance.now() - startedAt > HANG_MS) {
        const r = lost(`still running after ${HANG_MS} ms: a hang (worker terminated)`);
        void w.terminate();
        finish(r);
      }
    }, 250);
    w.on('message', (m: { type: 'start'; index: number; seed: number; fixture: string; mutations: string[] } | { type: 'done'; failures: Failure[]; stats: Stats }) => {
      if (m.type === 'start') {
        current = { index: m.index, seed: m.seed, fixture: m.fixture, mutations: m.mutations };
        startedAt = performance.now();
      } else {
        finish({ failures: m.failures, stats: m.stats });
      }
    });
    w.on('error', (e) => finish(lost(`worker died: ${e.stack ?? e}`)));
    w.on('exit', (code) => finish(lost(`worker exited with code ${code} before finishing`)));
  });
}

if (isMainThread) {
  test(`fuzz: ${FUZZ_CASES} mutated objects through parseElf, parseBtf, parseBtfExt, parseObject, linkProgram and the BTF walkers`, { timeout: 10 * 60_000 }, async () => {
    assert.ok(FUZZ_CASES > 0, 'FUZZ_CASES must be positive');
    const nworkers = FUZZ_ONLY !== undefined ? 1 : Math.max(1, Math.min(2, availableParallelism()));
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: nworkers }, (_, k) => runWorker(k, nworkers)));
    const failures = results.flatMap((r) => r.failures).sort((a, b) => a.index - b.index);
    const total = results.reduce(
      (a, r) => ({
        cases: a.cases + r.stats.cases,
        elfOk: a.elfOk + r.stats.elfOk,
        btfOk: a.btfOk + r.stats.btfOk,
        objectOk: a.objectOk + r.stats.objectOk,
        slowestMs: Math.max(a.slowestMs, r.stats.slowestMs),
      }),
      { cases: 0, elfOk: 0, btfOk: 0, objectOk: 0, slowestMs: 0 },
    );
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    console.log(
      `fuzz: ${total.cases} cases in ${secs} s on ${nworkers} worker(s), seed ${hex(FUZZ_SEED)}; ` +
        `parsed: ELF ${total.elfOk}, BTF ${total.btfOk}, object ${total.objectOk}; slowest case ${total.slowestMs.toFixed(0)} ms`,
    );
    assert.equal(failures.length, 0, `${failures.length} fuzz case(s) failed:\n${failures.map(describe).join('\n\n')}`);
    if (FUZZ_ONLY === undefined) assert.equal(total.cases, FUZZ_CASES);
  });
} else {
  workerMain();
}
