/** Hand-written ELF64 files for tests: hostile tables the compiler never writes. */
import { EM_BPF, ET_REL } from '../src/elf/index.js';

export interface RawSection {
  name: string;
  type: number;
  data?: Uint8Array;
  link?: number;
  info?: number;
  entsize?: number;
  flags?: bigint;
  addr?: number;
  /** sh_offset and sh_size as written, when not those of `data` (a section in a hole of a sparse file). */
  offset?: number;
  size?: number;
}

export interface RawElf {
  /** The 64-byte ELF header, at offset 0. */
  header: Uint8Array;
  /** Section contents, names and the section header table, at `bodyOffset`. */
  body: Uint8Array;
  bodyOffset: number;
}

/**
 * An ELF64 little-endian file with a null section 0, the given sections and a .shstrtab
 * last; its body starts at `bodyOffset` (64: right after the header, one contiguous file).
 */
export function rawElfParts(sections: RawSection[], opts: { machine?: number; type?: number; bodyOffset?: number } = {}): RawElf {
  const bodyOffset = opts.bodyOffset ?? 64;
  const all: RawSection[] = [...sections, { name: '.shstrtab', type: 3 }];
  const names = [0];
  let shstr = '\0';
  for (const s of all) {
    names.push(shstr.length);
    shstr += `${s.name}\0`;
  }
  all[all.length - 1]!.data = Buffer.from(shstr, 'latin1');
  const chunks: Uint8Array[] = [];
  const offsets: number[] = [];
  let at = bodyOffset;
  for (const s of all) {
    const d = s.data ?? new Uint8Array(0);
    offsets.push(at);
    chunks.push(d);
    at += d.byteLength;
    const pad = (8 - (at % 8)) % 8;
    chunks.push(new Uint8Array(pad));
    at += pad;
  }
  const shoff = at;
  const table = new Uint8Array(64 * (all.length + 1));
  const tv = new DataView(table.buffer);
  all.forEach((s, i) => {
    const h = 64 * (i + 1);
    tv.setUint32(h, names[i + 1]!, true);
    tv.setUint32(h + 4, s.type, true);
    tv.setBigUint64(h + 8, s.flags ?? 0n, true);
    tv.setBigUint64(h + 16, BigInt(s.addr ?? 0), true);
    tv.setBigUint64(h + 24, BigInt(s.offset ?? offsets[i]!), true);
    tv.setBigUint64(h + 32, BigInt(s.size ?? s.data?.byteLength ?? 0), true);
    tv.setUint32(h + 40, s.link ?? 0, true);
    tv.setUint32(h + 44, s.info ?? 0, true);
    tv.setBigUint64(h + 48, 8n, true);
    tv.setBigUint64(h + 56, BigInt(s.entsize ?? 0), true);
  });
  chunks.push(table);
  const body = Buffer.concat(chunks);
  const header = new Uint8Array(64);
  const hv = new DataView(header.buffer);
  header.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  hv.setUint16(16, opts.type ?? ET_REL, true);
  hv.setUint16(18, opts.machine ?? EM_BPF, true);
  hv.setUint32(20, 1, true);
  hv.setBigUint64(40, BigInt(shoff), true);
  hv.setUint16(52, 64, true);
  hv.setUint16(58, 64, true);
  hv.setUint16(60, all.length + 1, true);
  hv.setUint16(62, all.length, true);
  return { header, body, bodyOffset };
}

/** The whole file of rawElfParts with the body right after the header. */
export function rawElf(sections: RawSection[], opts: { machine?: number; type?: number } = {}): Uint8Array {
  const { header, body } = rawElfParts(sections, opts);
  return Buffer.concat([header, body]);
}

/** A symbol table (SHT_SYMTAB contents) of `names.length` entries named by string-table offsets. */
export function symtab(nameOffsets: number[], opts: { value?: (i: number) => number; info?: number; shndx?: number; size?: number } = {}): Uint8Array {
  const out = new Uint8Array(24 * (nameOffsets.length + 1));
  const dv = new DataView(out.buffer);
  nameOffsets.forEach((n, i) => {
    const o = 24 * (i + 1);
    dv.setUint32(o, n, true);
    dv.setUint8(o + 4, opts.info ?? 0x12); // STB_GLOBAL, STT_FUNC
    dv.setUint16(o + 6, opts.shndx ?? 1, true);
    dv.setBigUint64(o + 8, BigInt(opts.value?.(i) ?? 0), true);
    dv.setBigUint64(o + 16, BigInt(opts.size ?? 8), true);
  });
  return out;
}
