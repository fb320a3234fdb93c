/**
 * Address -> function name in an executable or shared library: the file's function
 * symbols (.symtab, else .dynsym) sorted by address, and the section mapping that turns a
 * file offset (what /proc/PID/maps gives) into the address the symbols use.
 */
import { SHN_UNDEF, SHN_LORESERVE, SHT_NOBITS, STT_FUNC, type ElfFile } from './index.js';

export interface SymbolHit {
  name: string;
  /** Bytes from the symbol's start. */
  offset: number;
}

export class ElfSymbolTable {
  private readonly starts: number[];
  private readonly entries: { name: string; size: number }[];

  constructor(private readonly elf: ElfFile) {
    const table = elf.symbols.some((s) => s.type === STT_FUNC) ? elf.symbols : elf.dynamicSymbols;
    const funcs = table
      .filter((s) => s.type === STT_FUNC && s.shndx !== SHN_UNDEF && s.shndx < SHN_LORESERVE && s.value > 0)
      .sort((a, b) => a.value - b.value || b.size - a.size);
    this.starts = funcs.map((s) => s.value);
    this.entries = funcs.map((s) => ({ name: s.name, size: s.size }));
  }

  /** The file offset's address in the image (through the section holding it), or undefined. */
  addressOf(fileOffset: number): number | undefined {
    for (const s of this.elf.sections) {
      if (s.addr === 0 || s.type === SHT_NOBITS) continue;
      if (fileOffset >= s.offset && fileOffset < s.offset + s.size) return fileOffset - s.offset + s.addr;
    }
    return undefined;
  }

  /** The function holding address `addr`: the last one starting at or below it, if `addr` is within its size. */
  lookup(addr: number): SymbolHit | undefined {
    const i = lastAtOrBelow(this.starts, addr);
    if (i < 0) return undefined;
    const e = this.entries[i]!;
    const offset = addr - this.starts[i]!;
    // A sized symbol covers [start, start+size); a size-0 symbol (hand-written asm) is taken as reaching the next.
    if (e.size && offset >= e.size) return undefined;
    return { name: e.name, offset };
  }
}

/** Index of the last element <= x in an ascending array, or -1. */
export function lastAtOrBelow(sorted: readonly number[] | readonly bigint[], x: number | bigint): number {
  let lo = 0;
  let hi = sorted.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! <= x) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}
