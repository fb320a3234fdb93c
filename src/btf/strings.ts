import { ByteView, StringSection } from '../binary.js';
import { ParseError } from '../errors.js';

/**
 * A BTF string section. Offsets into it are what .BTF.ext records and the kernel use,
 * so an encoder keeps the original bytes as a prefix and only appends new strings.
 */
export class StringTable {
  private readonly original: StringSection;
  private readonly appendedAt = new Map<number, string>();
  /** Each string read (before the first add) or appended -> its first offset. */
  private readonly index = new Map<string, number>();
  private indexed = false;
  private appended: string[] = [];
  private appendedSize = 0;

  constructor(readonly bytes: Uint8Array) {
    if (bytes.byteLength > 0 && bytes[0] !== 0) throw new ParseError('BTF', 'string section does not start with an empty string');
    this.original = new StringSection(bytes, 'BTF');
  }

  get(offset: number): string {
    if (!Number.isInteger(offset) || offset < 0 || offset >= this.bytes.byteLength + this.appendedSize) {
      throw new ParseError('BTF', `string offset ${offset} is outside the string section (${this.bytes.byteLength} bytes)`);
    }
    if (offset < this.bytes.byteLength) return this.original.get(offset, 'name');
    const s = this.appendedAt.get(offset);
    if (s !== undefined) return s;
    throw new ParseError('BTF', `string offset ${offset} points into the middle of a string`);
  }

  /**
   * The offset of `s`: where it was first read from (so a parsed BTF encodes to its own
   * offsets), or where it was appended; a string never read is appended, even if the
   * table holds it (a few bytes, where indexing every string of a large table costs a
   * second per million).
   */
  add(s: string): number {
    if (s === '') return 0;
    if (!this.indexed) {
      // The strings read so far, in the order they were first read.
      for (const [off, str] of this.original.decoded()) if (!this.index.has(str)) this.index.set(str, off);
      this.indexed = true;
    }
    const found = this.index.get(s);
    if (found !== undefined) return found;
    const off = this.bytes.byteLength + this.appendedSize;
    this.appended.push(s);
    this.appendedSize += Buffer.byteLength(s) + 1;
    this.index.set(s, off);
    this.appendedAt.set(off, s);
    return off;
  }

  /** The whole table: the original bytes then the appended strings. */
  encode(): Uint8Array {
    if (this.appended.length === 0) return this.bytes;
    const out = new Uint8Array(this.bytes.byteLength + this.appendedSize);
    out.set(this.bytes);
    let at = this.bytes.byteLength;
    for (const s of this.appended) {
      at += Buffer.from(out.buffer, out.byteOffset + at).write(s, 'utf8') + 1;
    }
    return out;
  }

  static empty(): StringTable {
    return new StringTable(new Uint8Array([0]));
  }
}

export function readView(bytes: Uint8Array): ByteView {
  return new ByteView(bytes, 'BTF');
}
