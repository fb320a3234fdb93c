/**
 * Record -> JS value, driven by BTF but compiled once per type: the per-record work is
 * a fixed list of typed reads, with no BTF walking on the hot path. Values follow
 * btf/codec.ts (32-bit integers as numbers, 64-bit as bigint, char[] as strings,
 * enums by name, bools, nested structs and arrays, bitfields).
 */
import { decodeValue, isBoolInt, isCharInt, type Btf } from '../btf/index.js';
import { BTF_INT_SIGNED } from '../btf/types.js';
import { TsbpfError } from '../errors.js';

export { linearHistogram, log2Histogram } from './hist.js';
export { parseTraceLine, type TraceLine } from './trace-line.js';
export { EventTypeChooser, type EventTypeOptions } from './event-type.js';
export { SampleFormatter, type Sample, type SampleType } from './sample-text.js';
export { cell, toJson } from './value-text.js';
export { stackText, type StackTextSample } from './stack-text.js';
import { cell, toJson } from './value-text.js';

export type Decoded = Record<string, unknown>;
export type Decoder = (view: DataView, offset: number) => Decoded;

export interface Field {
  name: string;
  /** Byte offset in the record. */
  offset: number;
  read: (view: DataView, offset: number) => unknown;
}

export interface DecoderOptions {
  /**
   * Enums as ecli prints them: "NAME(value)", "<UNKNOWN_VARIANT>(value)" for a value no
   * enumerator has. Default: the enumerator's name (a number when none has it), as btf/codec.
   */
  ecliEnums?: boolean;
}

/** Compiles a decoder for the struct `typeId` of `btf`. */
export function compileDecoder(btf: Btf, typeId: number, opts: DecoderOptions = {}): { decode: Decoder; fields: Field[]; size: number } {
  const id = btf.resolve(typeId);
  const t = btf.type(id);
  if (t.kind !== 'struct' && t.kind !== 'union') throw new TsbpfError(`type ${btf.typeName(typeId)} (id ${typeId}) is not a struct`);
  const fields: Field[] = t.members.map((m, i) => {
    const name = m.name || `__anon${i}`;
    if (m.bitfieldSize || m.bitOffset % 8) {
      // Bitfields are rare in event structs: the general codec decodes them (slowly).
      return { name, offset: 0, read: (v, o) => (decodeValue(btf, id, v, o) as Decoded)[name] };
    }
    return { name, offset: m.bitOffset / 8, read: reader(btf, m.type, opts) };
  });
  const n = fields.length;
  const names = fields.map((f) => f.name);
  const offsets = fields.map((f) => f.offset);
  const reads = fields.map((f) => f.read);
  const decode: Decoder = (view, offset) => {
    const out: Decoded = {};
    for (let i = 0; i < n; i++) out[names[i]!] = reads[i]!(view, offset + offsets[i]!);
    return out;
  };
  return { decode, fields, size: t.size };
}

function intReader(size: 1 | 2 | 4 | 8, signed: boolean): (v: DataView, o: number) => number | bigint {
  switch (size) {
    case 1: return signed ? (v, o) => v.getInt8(o) : (v, o) => v.getUint8(o);
    case 2: return signed ? (v, o) => v.getInt16(o, true) : (v, o) => v.getUint16(o, true);
    case 4: return signed ? (v, o) => v.getInt32(o, true) : (v, o) => v.getUint32(o, true);
    case 8: return signed ? (v, o) => v.getBigInt64(o, true) : (v, o) => v.getBigUint64(o, true);
  }
}

/**
 * A decoder for a record assembled from typed members at byte offsets (eunomia's
 * custom_members), in the members' order.
 */
export function compileMembersDecoder(btf: Btf, members: { name: string; offset: number; typeId: number }[], opts: DecoderOptions = {}): { decode: Decoder; fields: Field[]; size: number } {
  const fields: Field[] = members.map((m) => ({ name: m.name, offset: m.offset, read: reader(btf, m.typeId, opts) }));
  const size = Math.max(0, ...members.map((m) => m.offset + btf.size(m.typeId)));
  const decode: Decoder = (view, offset) => {
    const out: Decoded = {};
    for (const f of fields) out[f.name] = f.read(view, offset + f.offset);
    return out;
  };
  return { decode, fields, size };
}

const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8');

/** A specialised reader for one member type. */
function reader(btf: Btf, typeId: number, opts: DecoderOptions): (v: DataView, o: number) => unknown {
  const id = btf.resolve(typeId);
  const t = btf.type(id);
  if ((t.kind === 'enum' || t.kind === 'enum64') && opts.ecliEnums && (t.size === 1 || t.size === 2 || t.size === 4 || t.size === 8)) {
    const names = new Map<bigint, string>();
    for (const v of t.values) if (!names.has(BigInt(v.value))) names.set(BigInt(v.value), v.name);
    const raw = intReader(t.size, t.signed);
    return (v, o) => {
      const value = BigInt(raw(v, o));
      return `${names.get(value) ?? '<UNKNOWN_VARIANT>'}(${value})`;
    };
  }
  if (t.kind === 'int' && t.bits === t.size * 8 && !t.bitOffset) {
    if (isBoolInt(btf, id)) return (v, o) => v.getUint8(o) !== 0;
    if (t.size === 1 || t.size === 2 || t.size === 4 || t.size === 8) return intReader(t.size, (t.encoding & BTF_INT_SIGNED) !== 0);
  }
  if (t.kind === 'array' && isCharInt(btf, t.type)) {
    const len = t.nelems;
    return (v, o) => {
      const bytes = new Uint8Array(v.buffer, v.byteOffset + o, len);
      let end = bytes.indexOf(0);
      if (end < 0) end = len;
      let ascii = true;
      for (let i = 0; i < end; i++) if (bytes[i]! > 0x7f) { ascii = false; break; }
      return (ascii ? latin1 : utf8).decode(bytes.subarray(0, end));
    };
  }
  if (t.kind === 'struct' || t.kind === 'union') {
    const inner = compileDecoder(btf, id, opts).decode;
    return inner;
  }
  return (v, o) => decodeValue(btf, id, v, o);
}

/**
 * The plain-text table of eunomia's ecli, which the seed shows: a TIME column, then one
 * column per field. Header cells are upper-cased names padded to 6, each followed by two
 * spaces (trailing spaces kept). In a row, a value starts at its column when the line is
 * shorter than that, else after one space, so wide values push the rest right.
 */
export class TableFormatter {
  private readonly starts: number[] = [];
  readonly header: string;

  /** `timeWidth`: characters of the TIME column with its space (9 for HH:MM:SS; 0: none). */
  constructor(readonly columns: string[], readonly timeWidth = 9) {
    let h = timeWidth ? 'TIME'.padEnd(timeWidth) : '';
    for (const c of columns) {
      this.starts.push(h.length);
      h += c.toUpperCase().padEnd(6) + '  ';
    }
    this.header = h;
  }

  /** One row; `time` is the HH:MM:SS text of the TIME column. */
  row(values: unknown[], time?: string): string {
    let line = this.timeWidth ? `${time ?? ''} ` : '';
    for (let i = 0; i < this.columns.length; i++) {
      const start = this.starts[i]!;
      line = line.length < start ? line.padEnd(start) : line + ' ';
      line += cell(values[i]);
    }
    return line;
  }
}

/** Local wall-clock time as HH:MM:SS. */
export function clockTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/**
 * Records of one struct type -> output lines: the seed's table (with a header) or JSON
 * lines. Everything type-dependent is settled here, once, not per record.
 */
export class EventFormatter {
  private readonly decode: Decoder;
  private readonly names: string[];
  private readonly table: TableFormatter;

  /** The struct `typeId`, or a record of custom members (eunomia's custom_members). */
  constructor(btf: Btf, type: number | { name: string; offset: number; typeId: number }[], readonly json = false) {
    const { decode, fields } = typeof type === 'number' ? compileDecoder(btf, type, { ecliEnums: true }) : compileMembersDecoder(btf, type, { ecliEnums: true });
    this.decode = decode;
    this.names = fields.map((f) => f.name);
    this.table = new TableFormatter(this.names);
  }

  /** The header line (with its newline), or '' for JSON. */
  get header(): string {
    return this.json ? '' : this.table.header + '\n';
  }

  /** One line, without newline; `time` is the TIME column's HH:MM:SS. */
  line(view: DataView, offset: number, time: string): string {
    const e = this.decode(view, offset);
    return this.json ? toJson(e) : this.table.row(this.names.map((n) => e[n]), time);
  }
}
