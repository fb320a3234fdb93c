/**
 * ELF64 reader for relocatable BPF objects (what clang -target bpf emits). Pure: no I/O,
 * no syscalls; every malformed input ends in ParseError.
 *
 * With `{ anyElf: true }` it also reads executables and shared libraries of any machine
 * (little-endian ELF64), for finding uprobe symbols; see ParseElfOptions.
 */
import { ByteView, StringSection } from '../binary.js';
import { ParseError } from '../errors.js';

export const EM_BPF = 247;
export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;

export const SHT_NULL = 0;
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_NOTE = 7;
export const SHT_NOBITS = 8;
export const SHT_REL = 9;
export const SHT_DYNSYM = 11;
export const SHF_WRITE = 0x1;
export const SHF_ALLOC = 0x2;
export const SHF_EXECINSTR = 0x4;

export const STT_NOTYPE = 0;
export const STT_OBJECT = 1;
export const STT_FUNC = 2;
export const STT_SECTION = 3;
export const STT_FILE = 4;
export const STB_LOCAL = 0;
export const STB_GLOBAL = 1;
export const STB_WEAK = 2;
export const STV_INTERNAL = 1;
export const STV_HIDDEN = 2;
export const SHN_UNDEF = 0;
export const SHN_ABS = 0xfff1;
export const SHN_COMMON = 0xfff2;
/** Section indexes from here on are special (SHN_ABS, SHN_COMMON...), not sections. */
export const SHN_LORESERVE = 0xff00;

/** BPF relocation types (R_BPF_*). */
export const R_BPF_NONE = 0;
export const R_BPF_64_64 = 1;
export const R_BPF_64_ABS64 = 2;
export const R_BPF_64_ABS32 = 3;
export const R_BPF_64_NODYLD32 = 4;
export const R_BPF_64_32 = 10;

const MACHINES: Record<number, string> = {
  0: 'none', 3: 'x86 (i386)', 8: 'MIPS', 20: 'PowerPC', 21: 'PowerPC64', 22: 's390', 40: 'ARM',
  42: 'SuperH', 43: 'SPARC v9', 62: 'x86-64', 183: 'AArch64', 243: 'RISC-V', 247: 'BPF', 258: 'LoongArch',
};

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: bigint;
  offset: number;
  size: number;
  /** sh_addr: the section's virtual address in a loaded image (0 in BPF objects). */
  addr: number;
  link: number;
  info: number;
  addralign: number;
  entsize: number;
  /** The section's bytes; empty for SHT_NOBITS (.bss), whose `size` still counts. */
  data: Uint8Array;
}

export interface ElfSymbol {
  index: number;
  name: string;
  value: number;
  size: number;
  type: number;
  bind: number;
  visibility: number;
  shndx: number;
}

export interface ElfRel {
  offset: number;
  symbol: number;
  type: number;
}

export interface ElfFile {
  machine: number;
  type: number;
  sections: ElfSection[];
  symbols: ElfSymbol[];
  /** The .dynsym symbols; read only with `anyElf` (BPF objects have none), else empty. */
  dynamicSymbols: ElfSymbol[];
  sectionByName(name: string): ElfSection | undefined;
  /** Relocations that apply to section `index` (from its SHT_REL section). */
  relocationsFor(index: number): ElfRel[];
}

export interface ParseElfOptions {
  /**
   * Read any little-endian ELF64 file (ET_EXEC, ET_DYN... of any machine), as uprobe
   * symbol lookup needs: the BPF-object checks (EM_BPF, ET_REL, no RELA) are skipped,
   * relocations are not read (relocationsFor answers []), and .dynsym is read into
   * `dynamicSymbols`. The default (false) accepts only BPF relocatable objects.
   */
  anyElf?: boolean;
  /**
   * Which sections' contents to read (by name and type); the others get empty `data`
   * (their `size` still counts). Default: all.
   */
  sectionData?: (name: string, type: number) => boolean;
}

/** True when `bytes` start with the ELF magic (\x7fELF). */
export function hasElfMagic(bytes: Uint8Array): boolean {
  return bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;
}

/**
 * Where an ELF file's bytes come from: the whole file in memory, or reads of parts of a
 * file (a uprobe target can be gigabytes, of which the symbol tables are a small part).
 */
export interface ElfSource {
  readonly size: number;
  /** `size` bytes at `offset`; the reader checks the range first. */
  read(offset: number, size: number): Uint8Array;
}

const inMemory = (bytes: Uint8Array): ElfSource => ({ size: bytes.byteLength, read: (o, n) => bytes.subarray(o, o + n) });

export function parseElf(input: Uint8Array | ElfSource, opts: ParseElfOptions = {}): ElfFile {
  const anyElf = opts.anyElf ?? false;
  const src = input instanceof Uint8Array ? inMemory(input) : input;
  const read = (offset: number, size: number, ctx: string): Uint8Array => {
    if (offset < 0 || size < 0 || offset + size > src.size) {
      throw new ParseError('ELF', `${ctx}: ${size} bytes at offset ${offset} run past the end (${src.size} bytes)`);
    }
    return src.read(offset, size);
  };
  const bytes = read(0, Math.min(64, src.size), 'ELF header');
  if (bytes.byteLength < 16) throw new ParseError('ELF', `file is ${bytes.byteLength} bytes, too short for an ELF header`);
  if (!hasElfMagic(bytes)) throw new ParseError('ELF', 'not an ELF file (bad magic)');
  if (bytes[4] !== 2) throw new ParseError('ELF', 'not a 64-bit ELF (ELFCLASS64 expected; BPF objects are 64-bit)');
  if (bytes[5] === 2) {
    throw new ParseError('ELF', 'big-endian object (bpfeb): only little-endian BPF objects (clang -target bpf on this host, bpfel) are supported');
  }
  if (bytes[5] !== 1) throw new ParseError('ELF', `unknown data encoding ${bytes[5]}`);
  const v = new ByteView(bytes, 'ELF');
  if (v.length < 64) throw new ParseError('ELF', `file is ${v.length} bytes, too short for an ELF64 header`);
  const type = v.u16(16);
  const machine = v.u16(18);
  if (!anyElf && machine !== EM_BPF) {
    throw new ParseError('ELF', `object is for machine ${MACHINES[machine] ?? `#${machine}`}, not BPF (EM_BPF): compile with clang -target bpf`);
  }
  if (!anyElf && type !== ET_REL) throw new ParseError('ELF', `ELF type ${type} is not a relocatable object (ET_REL)`);

  const shoff = v.offset64(40, 'e_shoff');
  const shentsize = v.u16(58, 'e_shentsize');
  let shnum = v.u16(60, 'e_shnum');
  let shstrndx = v.u16(62, 'e_shstrndx');
  if (shoff === 0) throw new ParseError('ELF', 'no section header table');
  if (shentsize < 64) throw new ParseError('ELF', `section header size ${shentsize} is smaller than 64`);
  // Extended numbering: counts too big for the header live in section 0.
  if (shnum === 0 || shstrndx === 0xffff) {
    const s0 = new ByteView(read(shoff, 64, 'section header #0'), 'ELF');
    if (shnum === 0) shnum = s0.offset64(32, 'extended e_shnum');
    if (shstrndx === 0xffff) shstrndx = s0.u32(40, 'extended e_shstrndx');
  }
  const sh = new ByteView(read(shoff, shnum * shentsize, 'section header table'), 'ELF');

  const raw = [] as Omit<ElfSection, 'name' | 'data'>[];
  const nameOffsets: number[] = [];
  for (let i = 0; i < shnum; i++) {
    const h = i * shentsize;
    const shType = sh.u32(h + 4);
    const offset = sh.offset64(h + 24, 'sh_offset');
    const size = sh.offset64(h + 32, 'sh_size');
    if (shType !== SHT_NOBITS && shType !== SHT_NULL && offset + size > src.size) {
      throw new ParseError('ELF', `section #${i} contents: ${size} bytes at offset ${offset} run past the end (${src.size} bytes)`);
    }
    nameOffsets.push(sh.u32(h));
    raw.push({
      index: i,
      type: shType,
      flags: sh.u64(h + 8),
      offset,
      size,
      // Checked only where it is used (anyElf): BPF objects' loaders never read it.
      addr: anyElf ? sh.offset64(h + 16, 'sh_addr') : Number(sh.u64(h + 16)),
      link: sh.u32(h + 40),
      info: sh.u32(h + 44),
      addralign: sh.offset64(h + 48, 'sh_addralign'),
      entsize: sh.offset64(h + 56, 'sh_entsize'),
    });
  }
  if (shstrndx >= raw.length) throw new ParseError('ELF', `section name table index ${shstrndx} out of range`);
  const dataOf = (s: Omit<ElfSection, 'name' | 'data'>): Uint8Array =>
    s.type === SHT_NOBITS || s.type === SHT_NULL ? new Uint8Array(0) : src.read(s.offset, s.size);
  const shstr = new StringSection(dataOf(raw[shstrndx]!), 'ELF');
  const sections: ElfSection[] = raw.map((s, i) => {
    const name = i === 0 ? '' : shstr.get(nameOffsets[i]!, `name of section #${i}`);
    const wanted = !opts.sectionData || opts.sectionData(name, s.type);
    return { ...s, name, data: wanted ? dataOf(s) : new Uint8Array(0) };
  });

  const symtab = sections.find((s) => s.type === SHT_SYMTAB);
  const symbols = symtab ? readSymbols(sections, symtab) : [];
  const dynsym = anyElf ? sections.find((s) => s.type === SHT_DYNSYM) : undefined;
  const dynamicSymbols = dynsym ? readSymbols(sections, dynsym) : [];

  const relocs = new Map<number, ElfRel[]>();
  for (const s of anyElf ? [] : sections) {
    if (s.type === SHT_RELA) throw new ParseError('ELF', `section ${s.name}: RELA relocations are not used by BPF objects`);
    if (s.type !== SHT_REL) continue;
    if (s.info >= sections.length) throw new ParseError('ELF', `relocation section ${s.name} targets missing section #${s.info}`);
    const rv = new ByteView(s.data, 'ELF');
    const list: ElfRel[] = [];
    for (let o = 0; o + 16 <= s.data.byteLength; o += 16) {
      const info = rv.u64(o + 8);
      const symbol = Number(info >> 32n);
      if (symbol >= symbols.length) throw new ParseError('ELF', `relocation in ${s.name} refers to missing symbol #${symbol}`);
      list.push({ offset: rv.offset64(o), symbol, type: Number(info & 0xffffffffn) });
    }
    relocs.set(s.info, (relocs.get(s.info) ?? []).concat(list));
  }

  const byName = new Map<string, ElfSection>();
  for (const s of sections) if (!byName.has(s.name)) byName.set(s.name, s);
  return {
    machine,
    type,
    sections,
    symbols,
    dynamicSymbols,
    sectionByName: (name) => byName.get(name),
    relocationsFor: (index) => relocs.get(index) ?? [],
  };
}

/** The entries of a symbol table section (SHT_SYMTAB or SHT_DYNSYM). */
function readSymbols(sections: ElfSection[], symtab: ElfSection): ElfSymbol[] {
  if (symtab.link >= sections.length) throw new ParseError('ELF', 'symbol table links to a missing string table');
  const strs = new StringSection(sections[symtab.link]!.data, 'ELF');
  const sv = new ByteView(symtab.data, 'ELF');
  const count = Math.floor(symtab.data.byteLength / 24);
  const symbols: ElfSymbol[] = [];
  for (let i = 0; i < count; i++) {
    const o = i * 24;
    const info = sv.u8(o + 4);
    symbols.push({
      index: i,
      name: strs.get(sv.u32(o), `name of symbol #${i}`),
      type: info & 0xf,
      bind: info >> 4,
      visibility: sv.u8(o + 5) & 0x3,
      shndx: sv.u16(o + 6),
      value: sv.offset64(o + 8, 'st_value'),
      size: sv.offset64(o + 16, 'st_size'),
    });
  }
  return symbols;
}
