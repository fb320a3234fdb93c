/**
 * Uprobe targets: "PATH:FUNCTION[+OFFSET]" -> the binary's path and the file offset the
 * uprobe PMU wants. Pure apart from reading files (the binary, PATH lookup).
 */
import { accessSync, closeSync, constants as fsConstants, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';
import { ParseError, TsbpfError } from '../errors.js';
import { ET_DYN, ET_EXEC, SHN_LORESERVE, SHN_UNDEF, SHT_DYNSYM, SHT_NOTE, SHT_STRTAB, SHT_SYMTAB, STT_FUNC, parseElf, type ElfFile, type ElfSymbol } from '../elf/index.js';

export interface UprobeTarget {
  /** The binary as written in the section or option ("bash", "/usr/bin/bash", "libc.so.6"). */
  binary: string;
  /** The function's symbol name; empty when `offset` is a raw file offset. */
  func: string;
  /** Bytes past the function's start (or the file offset when `func` is empty). */
  offset: number;
}

/**
 * Splits "PATH:FUNCTION[+OFFSET]" (the text after "uprobe/" in a section name, as libbpf
 * writes it). "PATH:0x1234" names a raw file offset.
 */
export function parseUprobeTarget(target: string): UprobeTarget {
  const colon = target.lastIndexOf(':');
  if (colon <= 0 || colon === target.length - 1) {
    throw new TsbpfError(`uprobe target "${target}" is not BINARY:FUNCTION[+OFFSET] (for example /usr/bin/bash:readline)`);
  }
  const binary = target.slice(0, colon);
  const spec = target.slice(colon + 1);
  const num = (s: string): number | undefined => (/^(0x[0-9a-f]+|\d+)$/i.test(s) ? Number(s) : undefined);
  const raw = num(spec);
  if (raw !== undefined) return { binary, func: '', offset: raw };
  const plus = spec.indexOf('+');
  if (plus < 0) return { binary, func: spec, offset: 0 };
  const offset = num(spec.slice(plus + 1));
  if (offset === undefined || plus === 0) {
    throw new TsbpfError(`uprobe target "${target}": "${spec}" is not FUNCTION+OFFSET with a number for OFFSET`);
  }
  return { binary, func: spec.slice(0, plus), offset };
}

const LIBRARY_DIRS = ['/lib64', '/usr/lib64', '/lib', '/usr/lib', '/usr/local/lib'];

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isExecutableFile(path: string): boolean {
  if (!isFile(path)) return false;
  try {
    accessSync(path, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The absolute path of a uprobe binary: a path with a slash is taken as it is (relative
 * to the working directory); a bare name is looked up in $PATH, and a bare library name
 * ("libc.so.6") in the usual library directories.
 */
export function resolveBinary(binary: string, env: NodeJS.ProcessEnv = process.env): string {
  if (binary.includes('/')) {
    const path = isAbsolute(binary) ? binary : resolve(binary);
    if (!isFile(path)) throw new TsbpfError(`uprobe binary ${path} does not exist (or is not a regular file)`);
    return path;
  }
  const dirs = (env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const d of dirs) {
    const p = resolve(d, binary);
    if (isExecutableFile(p)) return p;
  }
  if (/\.so(\.|$)/.test(binary)) {
    const multiarch = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[process.arch as string];
    const libDirs = multiarch ? [`/lib/${multiarch}`, `/usr/lib/${multiarch}`, ...LIBRARY_DIRS] : LIBRARY_DIRS;
    for (const d of libDirs) {
      const p = join(d, binary);
      if (isFile(p)) return p;
    }
    throw new TsbpfError(`uprobe library ${binary} was not found in ${libDirs.join(', ')}: give its absolute path`);
  }
  throw new TsbpfError(`uprobe binary ${binary} was not found in PATH (${dirs.join(delimiter) || 'empty'}): give its absolute path`);
}

/** The sections symbol and USDT lookups read; the rest of a binary (code, data, debug info) is never read. */
const MAX_SECTION_READ = 1 << 30;
const LOOKUP_SECTIONS = new Set([SHT_SYMTAB, SHT_DYNSYM, SHT_STRTAB, SHT_NOTE]);

/**
 * Parses `path` as an executable or shared library, with errors that name it. Only the
 * headers and the symbol, string and note sections are read, so a binary of gigabytes
 * costs what its symbol tables cost.
 */
export function readBinary(path: string): ElfFile {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new TsbpfError(`cannot read uprobe binary ${path}: ${(e as Error).message}`);
  }
  let elf: ElfFile;
  try {
    const source = {
      size: fstatSync(fd).size,
      read(offset: number, size: number): Uint8Array {
        if (size > MAX_SECTION_READ) throw new TsbpfError(`uprobe binary ${path}: a ${size}-byte symbol or string table is more than tsbpf reads (${MAX_SECTION_READ >> 20} MiB)`);
        const buf = Buffer.alloc(size);
        for (let done = 0; done < size; ) {
          const n = readSync(fd, buf, done, size - done, offset + done);
          if (n === 0) throw new TsbpfError(`uprobe binary ${path} ended at ${offset + done} bytes while being read (truncated under us?)`);
          done += n;
        }
        return buf;
      },
    };
    elf = parseElf(source, { anyElf: true, sectionData: (_name, type) => LOOKUP_SECTIONS.has(type) });
  } catch (e) {
    if (e instanceof ParseError) throw new TsbpfError(`uprobe binary ${path} is not a usable ELF file: ${e.message}`);
    if (e instanceof TsbpfError) throw e;
    throw new TsbpfError(`cannot read uprobe binary ${path}: ${(e as Error).message}`);
  } finally {
    closeSync(fd);
  }
  if (elf.type !== ET_EXEC && elf.type !== ET_DYN) {
    throw new TsbpfError(`uprobe binary ${path} is not an executable or shared library (ELF type ${elf.type})`);
  }
  return elf;
}

export interface ResolvedSymbol {
  symbol: ElfSymbol;
  /** Which table it came from. */
  table: '.symtab' | '.dynsym';
  /** The file offset of the symbol's first byte. */
  fileOffset: number;
}

const baseName = (name: string): string => {
  const at = name.indexOf('@');
  return at < 0 ? name : name.slice(0, at);
};

/**
 * Finds a defined function `func` in `elf` (.symtab first, then .dynsym) and turns its
 * address into a file offset: value - section.addr + section.offset, using the section
 * that holds it. A versioned name ("malloc@@GLIBC_2.2.5") matches its base name.
 */
export function findFunction(elf: ElfFile, func: string, path: string): ResolvedSymbol {
  const tables: [ResolvedSymbol['table'], ElfSymbol[]][] = [
    ['.symtab', elf.symbols],
    ['.dynsym', elf.dynamicSymbols],
  ];
  for (const [table, syms] of tables) {
    const matches = syms.filter(
      (s) =>
        s.type === STT_FUNC &&
        s.shndx !== SHN_UNDEF &&
        s.shndx < SHN_LORESERVE &&
        (s.name === func || (!func.includes('@') && baseName(s.name) === func)),
    );
    if (matches.length === 0) continue;
    const values = [...new Set(matches.map((s) => s.value))];
    if (values.length > 1) {
      throw new TsbpfError(
        `uprobe binary ${path} has ${values.length} functions named ${func} (at ${values.map((v) => `0x${v.toString(16)}`).join(', ')}): give BINARY:0xOFFSET instead`,
      );
    }
    const symbol = matches[0]!;
    const section = elf.sections[symbol.shndx];
    if (!section) throw new TsbpfError(`uprobe binary ${path}: symbol ${func} is in missing section #${symbol.shndx}`);
    if (symbol.value < section.addr || symbol.value >= section.addr + section.size) {
      throw new TsbpfError(`uprobe binary ${path}: symbol ${func} (0x${symbol.value.toString(16)}) lies outside its section ${section.name}`);
    }
    return { symbol, table, fileOffset: symbol.value - section.addr + section.offset };
  }
  const stripped = elf.symbols.length === 0 ? ' (the binary has no .symtab: it is stripped, so only exported functions can be found)' : '';
  throw new TsbpfError(`function ${func} is not defined in uprobe binary ${path}${stripped}`);
}

export interface UprobeLocation {
  /** Absolute path of the binary. */
  path: string;
  /** File offset to probe (function start plus the target's offset). */
  offset: number;
  func: string;
}

/** "PATH:FUNCTION[+OFFSET]" -> the absolute binary path and the file offset to probe. */
export function resolveUprobe(target: string, env: NodeJS.ProcessEnv = process.env): UprobeLocation {
  const t = parseUprobeTarget(target);
  const path = resolveBinary(t.binary, env);
  const elf = readBinary(path);
  if (!t.func) return { path, offset: t.offset, func: '' };
  const sym = findFunction(elf, t.func, path);
  return { path, offset: sym.fileOffset + t.offset, func: t.func };
}
