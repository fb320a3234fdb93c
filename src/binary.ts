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
  /** NUL-terminated string starting at `off`; a missing terminator is an error. */
  cstring(off: number, ctx = 'string'): string {
    this.check(off, 0, ctx);
    const end = this.bytes.indexOf(0, off);
    if (end < 0) throw new ParseError(this.what, `${ctx}: string at offset ${off} has no NUL terminator`);
    return latin1OrUtf8(this.bytes.subarray(off, end));
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

function latin1OrUtf8(b: Uint8Array): string {
  // Names are ASCII in practice; a fast path avoids TextDecoder for the common case.
  let ascii = true;
  for (let i = 0; i < b.length; i++) if (b[i]! > 0x7f) { ascii = false; break; }
  if (!ascii) return utf8.decode(b);
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}

export { latin1OrUtf8 as decodeName };
