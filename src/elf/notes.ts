/**
 * SystemTap SDT notes (.note.stapsdt), the probe table USDT probes leave in a binary.
 * Each note is an ELF note of type 3 named "stapsdt" whose descriptor holds the probe's
 * address, the .stapsdt.base address the linker saw, the semaphore's address (0: none),
 * then three NUL-terminated strings: provider, name, argument specs. Pure: no files.
 */
import { ParseError } from '../errors.js';
import type { ElfFile } from './index.js';

export const NT_STAPSDT = 3;

export interface StapsdtNote {
  provider: string;
  name: string;
  /** The probe's address (virtual) as linked, before any .stapsdt.base adjustment. */
  pc: bigint;
  /** The .stapsdt.base address the note was written against. */
  base: bigint;
  /** The semaphore's address, 0n when the probe has none. */
  semaphore: bigint;
  /** The raw argument specs, such as "-4@%eax 8@-8(%rbp) -4@$5". */
  args: string;
}

const cstr = (b: Uint8Array, at: number, end: number): [string, number] => {
  let z = at;
  while (z < end && b[z] !== 0) z++;
  if (z >= end) throw new ParseError('ELF', `.note.stapsdt: string at ${at} is not NUL-terminated`);
  return [new TextDecoder().decode(b.subarray(at, z)), z + 1];
};

/** Parses the bytes of a .note.stapsdt section (little-endian, 4-byte note alignment). */
export function parseStapsdtNotes(data: Uint8Array): StapsdtNote[] {
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out: StapsdtNote[] = [];
  const align4 = (n: number): number => (n + 3) & ~3;
  let off = 0;
  while (off + 12 <= data.length) {
    const namesz = v.getUint32(off, true);
    const descsz = v.getUint32(off + 4, true);
    const type = v.getUint32(off + 8, true);
    const nameAt = off + 12;
    const descAt = nameAt + align4(namesz);
    const next = descAt + align4(descsz);
    if (descAt + descsz > data.length) throw new ParseError('ELF', `.note.stapsdt: note at ${off} runs past the section (${data.length} bytes)`);
    const name = new TextDecoder().decode(data.subarray(nameAt, nameAt + Math.max(0, namesz - 1)));
    // Other notes may share the section; only stapsdt type-3 notes are probes.
    if (type === NT_STAPSDT && name === 'stapsdt') {
      if (descsz < 24 + 3) throw new ParseError('ELF', `.note.stapsdt: probe note at ${off} has a ${descsz}-byte descriptor, too short`);
      const end = descAt + descsz;
      const pc = v.getBigUint64(descAt, true);
      const base = v.getBigUint64(descAt + 8, true);
      const semaphore = v.getBigUint64(descAt + 16, true);
      const [provider, a] = cstr(data, descAt + 24, end);
      const [probe, b] = cstr(data, a, end);
      const [args] = cstr(data, b, end);
      out.push({ provider, name: probe, pc, base, semaphore, args });
    }
    off = next;
  }
  return out;
}

/** A probe's addresses after prelink adjustment, and as file offsets. */
export interface UsdtLocation extends StapsdtNote {
  /** The adjusted virtual address of the probe. */
  addr: bigint;
  /** File offset of the probe instruction (what the uprobe PMU wants). */
  fileOffset: number;
  /** File offset of the semaphore (the uprobe's ref_ctr_offset), 0 when none. */
  semaphoreOffset: number;
}

/** Virtual address -> file offset through the section that holds it. */
export function addrToFileOffset(elf: ElfFile, addr: bigint, what: string): number {
  const a = Number(addr);
  for (const s of elf.sections) {
    // SHT_NOBITS (.bss) has no file bytes; semaphores live in .probes, a data section.
    if (s.addr === 0 || s.type === 8) continue;
    if (a >= s.addr && a < s.addr + s.size) return a - s.addr + s.offset;
  }
  throw new ParseError('ELF', `${what} at 0x${a.toString(16)} lies in no section with file bytes`);
}

/** Every stapsdt probe of `elf`, with addresses adjusted for prelinking and file offsets. */
export function usdtLocations(elf: ElfFile): UsdtLocation[] {
  const sec = elf.sectionByName('.note.stapsdt');
  if (!sec) return [];
  // Prelink may move the binary: the note keeps the .stapsdt.base address it was linked
  // against, so the difference to the section's current address shifts pc and semaphore.
  const baseSec = elf.sectionByName('.stapsdt.base');
  return parseStapsdtNotes(sec.data).map((n) => {
    const delta = baseSec && n.base !== 0n ? BigInt(baseSec.addr) - n.base : 0n;
    const addr = n.pc + delta;
    const sem = n.semaphore === 0n ? 0n : n.semaphore + delta;
    return {
      ...n,
      addr,
      fileOffset: addrToFileOffset(elf, addr, `probe ${n.provider}:${n.name}`),
      semaphoreOffset: sem === 0n ? 0 : addrToFileOffset(elf, sem, `semaphore of ${n.provider}:${n.name}`),
    };
  });
}
