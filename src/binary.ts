import { ParseError } from './errors.js';

/**
 * A bounds-checked little-endian view over untrusted bytes. Every read that would run
 * past the end throws ParseError instead of a RangeError, so malformed input always
 * ends in a typed error.
 */
export class ByteView {
  private readonly dv: DataView;

  constructor(
    readonly bytes: Uint8Array,
    /** Names the format in error messages: "ELF", "BTF"... */
    readonly what: string,
    readonly littleEndian = true,
  ) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get length(): number {
    return this.bytes.byteLength;
  }

  check(offset: number, size: number, context: string): void {
    if (!Number.isInteger(offset) || offset < 0 || size < 0 || offset + size > this.bytes.byteLength) {
      throw new ParseError(this.what, `${context}: ${size} bytes at offset ${offset} run past the end (${this.bytes.byteLength} bytes)`);
    }
  }

  u8(off: number, ctx = 'u8'): number {
    this.check(off, 1, ctx);
    return this.dv.getUint8(off);
  }
  u16(off: number, ctx = 'u16'): number {
    this.check(off, 2, ctx);
    return this.dv.getUint16(off, this.littleEndian);
  }
  u32(off: number, ctx = 'u32'): number {
    this.check(off, 4, ctx);
    return this.dv.getUint32(off, this.littleEndian);
  }
  i32(off: number, ctx = 'i32'): number {
    this.check(off, 4, ctx);
    return this.dv.getInt32(off, this.littleEndian);
  }
  u64(off: number, ctx = 'u64'): bigint {
    this.check(off, 8, ctx);
    return this.dv.getBigUint64(off, this.littleEndian);
  }
  /** A u64 that must fit a JS number (file offsets and sizes). */
  offset64(off: number, ctx = 'offset'): number {
    const v = this.u64(off, ctx);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ParseError(this.what, `${ctx}: value ${v} is too large`);
    return Number(v);
  }
  slice(off: number, size: number, ctx = 'slice'): Uint8Array {
    this.check(off, size, ctx);
    return this.bytes.subarray(off, off + size);
  }
  /** NUL-terminated string starting at `off`, at most MAX_STRING bytes; a missing terminator is an error. */
  cstring(off: number, ctx = 'string'): string {
    this.check(off, 0, ctx);
    return readName(this.bytes, off, scanNul(this.bytes, off, this.what, ctx), this.what, ctx);
  }
}

/**
 * The longest string a table may hold (names, paths, BTF line-info source lines). The
 * kernel's own identifier limit is 512 (KSYM_NAME_LEN); source lines can be longer.
 */
export const MAX_STRING = 65536;

/** The end of the NUL-terminated string at `off`, scanning at most MAX_STRING bytes. */
function scanNul(bytes: Uint8Array, off: number, what: string, ctx: string): number {
  const window = bytes.subarray(off, Math.min(bytes.byteLength, off + MAX_STRING + 1));
  const end = window.indexOf(0);
  if (end >= 0) return off + end;
  if (window.byteLength > MAX_STRING) throw new ParseError(what, `${ctx}: string at offset ${off} is longer than ${MAX_STRING} bytes`);
  throw new ParseError(what, `${ctx}: string at offset ${off} has no NUL terminator`);
}

/**
 * A string table (ELF .strtab/.shstrtab, BTF strings) read by offset. Each offset is
 * decoded once, and the text decoded from all offsets together is bounded by a multiple
 * of the table's size: a table whose one long string is named from thousands of offsets
 * inside it would otherwise cost (names x length) memory.
 */
export class StringSection {
  private readonly cache = new Map<number, string>();
  private budget: number;

  constructor(
    readonly bytes: Uint8Array,
    /** Names the format in error messages: "ELF", "BTF"... */
    readonly what: string,
  ) {
    this.budget = 4 * bytes.byteLength + (1 << 20);
  }

  /** The strings decoded so far, by offset, in the order they were first read. */
  decoded(): IterableIterator<[number, string]> {
    return this.cache.entries();
  }

  get(off: number, ctx = 'string'): string {
    let s = this.cache.get(off);
    if (s !== undefined) return s;
    if (!Number.isInteger(off) || off < 0 || off >= this.bytes.byteLength) {
      throw new ParseError(this.what, `${ctx}: string offset ${off} is outside the string table (${this.bytes.byteLength} bytes)`);
    }
    const end = scanNul(this.bytes, off, this.what, ctx);
    this.budget -= end - off;
    if (this.budget < 0) {
      throw new ParseError(this.what, `${ctx}: the string table (${this.bytes.byteLength} bytes) is read as overlapping strings many times over its size`);
    }
    s = readName(this.bytes, off, end, this.what, ctx);
    this.cache.set(off, s);
    return s;
  }
}

/**
 * The name in bytes [off, end). Each invalid UTF-8 byte becomes U+FFFD, 3 bytes when the
 * name is written again, so the limit holds for the decoded name too: what parses also
 * encodes to a table that parses.
 */
function readName(bytes: Uint8Array, off: number, end: number, what: string, ctx: string): string {
  const s = decodeName(bytes.subarray(off, end));
  if (3 * (end - off) > MAX_STRING && Buffer.byteLength(s) > MAX_STRING) {
    throw new ParseError(what, `${ctx}: string at offset ${off} is longer than ${MAX_STRING} bytes once its invalid UTF-8 is replaced`);
  }
  return s;
}

/** Names are ASCII or UTF-8; invalid sequences become U+FFFD rather than an error. */
export function decodeName(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
}
