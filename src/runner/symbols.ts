/**
 * Stack addresses -> function names, for the stack_trace interpreter: kernel addresses
 * from /proc/kallsyms, user addresses through the process's /proc/PID/maps to the mapped
 * ELF file's function symbols. Files are parsed once per run; a process's mappings are
 * read again when an address falls outside the ones known (dlopen since).
 */
import { readFileSync } from 'node:fs';
import { readBinary } from '../link/index.js';
import { ElfSymbolTable, lastAtOrBelow, type SymbolHit } from '../elf/symbols.js';

interface Mapping {
  start: bigint;
  end: bigint;
  offset: bigint;
  path: string;
}

export class Symbolizer {
  private kernel?: { addrs: bigint[]; names: string[] };
  private readonly maps = new Map<number, Mapping[]>();
  private readonly files = new Map<string, ElfSymbolTable | null>();

  /** A kernel address's function, from /proc/kallsyms (none when its addresses are hidden: kptr_restrict). */
  kernelSymbol(addr: bigint): SymbolHit | undefined {
    this.kernel ??= readKallsyms();
    const i = lastAtOrBelow(this.kernel.addrs, addr);
    if (i < 0) return undefined;
    return { name: this.kernel.names[i]!, offset: Number(addr - this.kernel.addrs[i]!) };
  }

  /** A user address's function in process `pid`, through the ELF file mapped there. */
  userSymbol(pid: number, addr: bigint): SymbolHit | undefined {
    let m = findMapping(this.mappings(pid), addr);
    if (!m) {
      this.maps.delete(pid);
      m = findMapping(this.mappings(pid), addr);
    }
    if (!m) return undefined;
    const table = this.table(pid, m);
    const at = table?.addressOf(Number(addr - m.start + m.offset));
    return at === undefined ? undefined : table!.lookup(at);
  }

  private mappings(pid: number): Mapping[] {
    let ms = this.maps.get(pid);
    if (!ms) {
      ms = readMaps(pid);
      this.maps.set(pid, ms);
    }
    return ms;
  }

  private table(pid: number, m: Mapping): ElfSymbolTable | null {
    let t = this.files.get(m.path);
    if (t === undefined) {
      // map_files reaches the very file mapped, also in another mount namespace or deleted.
      t = readTable(`/proc/${pid}/map_files/${m.start.toString(16)}-${m.end.toString(16)}`) ?? readTable(m.path);
      this.files.set(m.path, t);
    }
    return t;
  }
}

function readKallsyms(): { addrs: bigint[]; names: string[] } {
  let text = '';
  try {
    text = readFileSync('/proc/kallsyms', 'utf8');
  } catch {
    return { addrs: [], names: [] };
  }
  const syms: [bigint, string][] = [];
  for (const line of text.split('\n')) {
    const [a, type, name] = line.split(/\s+/);
    if (!a || !name || !type || !/[tTwW]/.test(type)) continue;
    const addr = BigInt('0x' + a);
    if (addr) syms.push([addr, name]);
  }
  syms.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  return { addrs: syms.map((s) => s[0]), names: syms.map((s) => s[1]) };
}

function readMaps(pid: number): Mapping[] {
  let text = '';
  try {
    text = readFileSync(`/proc/${pid}/maps`, 'utf8');
  } catch {
    return []; // the process is gone
  }
  const out: Mapping[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) \S+ \d+\s+(\/.*)$/.exec(line);
    if (!m || !m[3]!.includes('x')) continue;
    out.push({ start: BigInt('0x' + m[1]), end: BigInt('0x' + m[2]), offset: BigInt('0x' + m[4]), path: m[5]!.replace(/ \(deleted\)$/, '') });
  }
  return out;
}

function findMapping(ms: Mapping[], addr: bigint): Mapping | undefined {
  return ms.find((m) => addr >= m.start && addr < m.end);
}

function readTable(path: string): ElfSymbolTable | null {
  try {
    return new ElfSymbolTable(readBinary(path));
  } catch {
    return null; // not readable, or not an ELF file we can read: addresses stay bare
  }
}
