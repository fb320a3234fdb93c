/**
 * Record -> JS value, driven by BTF but compiled once per type into straight-line code
 * (gen/decoder.ts): the per-record work is a fixed list of typed reads building one
 * object literal, with no BTF walking and no per-field calls on the hot path. Values follow
 * btf/codec.ts (32-bit integers as numbers, 64-bit as bigint, char[] as strings,
 * enums by name, bools, nested structs and arrays, bitfields).
 */
import type { Btf } from '../btf/index.js';
import { TsbpfError } from '../errors.js';
import { compileSource, decoderSource, jsonSource, membersDecoderSource } from '../gen/decoder.js';
import { compileEncoderSource, encoderSource } from '../gen/encoder.js';
import type { ValueCodec } from '../loader/index.js';

export { linearHistogram, log2Histogram } from './hist.js';
export { parseTraceLine, type TraceLine } from './trace-line.js';
export { EventTypeChooser, type EventTypeOptions } from './event-type.js';
export { SampleFormatter, type Sample, type SampleType } from './sample-text.js';
export { cell, toJson } from './value-text.js';
export { printable } from '../text.js';
export { stackText, type StackTextSample } from './stack-text.js';
import { printable } from '../text.js';
import { cell, toJson } from './value-text.js';

export type Decoded = Record<string, unknown>;
/** A record -> its value; `T` is what it returns (generated decoders are typed). */
export type Decoder<T = Decoded> = (view: DataView, offset: number) => T;

export interface Field {
  name: string;
  /** Byte offset in the record. */
  offset: number;
}

export interface DecoderOptions {
  /**
   * Enums as ecli prints them: "NAME(value)", "<UNKNOWN_VARIANT>(value)" for a value no
   * enumerator has. Default: the enumerator's name (a number when none has it), as btf/codec.
   */
  ecliEnums?: boolean;
}

/** Compiles a decoder for the struct `typeId` of `btf` (gen/decoder.ts writes its code). */
export function compileDecoder(btf: Btf, typeId: number, opts: DecoderOptions = {}): { decode: Decoder; fields: Field[]; size: number } {
  const id = btf.resolve(typeId);
  const t = btf.type(id);
  if (t.kind !== 'struct' && t.kind !== 'union') throw new TsbpfError(`type ${btf.typeName(typeId)} (id ${typeId}) is not a struct`);
  const fields = t.members.map((m, i) => ({ name: m.name || `__anon${i}`, offset: Math.floor(m.bitOffset / 8) }));
  const decode = compileSource(decoderSource(btf, id, 'decode', opts)) as Decoder;
  return { decode, fields, size: t.size };
}

/**
 * Straight-line code both ways for any type `typeId` of `btf`: the same values as the BTF
 * codec (decodeValue/encodeValue), for BpfMap.useCodec where keys and values are hot.
 */
export function compileCodec(btf: Btf, typeId: number): ValueCodec {
  const decode = compileSource(decoderSource(btf, typeId, 'decode'));
  const encode = compileEncoderSource(encoderSource(btf, typeId, 'encode'));
  return { decode, encode };
}

/**
 * A JSON writer for the struct `typeId`: a record's bytes -> the text toJson(decode(record))
 * gives, built straight from the bytes (gen/decoder.ts's jsonSource), no object between.
 */
export function compileJsonWriter(btf: Btf, typeId: number, opts: DecoderOptions = {}): (view: DataView, offset: number) => string {
  const id = btf.resolve(typeId);
  const t = btf.type(id);
  if (t.kind !== 'struct' && t.kind !== 'union') throw new TsbpfError(`type ${btf.typeName(typeId)} (id ${typeId}) is not a struct`);
  return compileSource(jsonSource(btf, id, 'json', opts)) as (view: DataView, offset: number) => string;
}

/**
 * A decoder for a record assembled from typed members at byte offsets (eunomia's
 * custom_members), in the members' order.
 */
export function compileMembersDecoder(btf: Btf, members: { name: string; offset: number; typeId: number }[], opts: DecoderOptions = {}): { decode: Decoder; fields: Field[]; size: number } {
  const fields: Field[] = members.map((m) => ({ name: m.name, offset: m.offset }));
  const size = Math.max(0, ...members.map((m) => m.offset + btf.size(m.typeId)));
  const decode = compileSource(membersDecoderSource(btf, members, 'decode', opts)) as Decoder;
  return { decode, fields, size };
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
      h += printable(c.toUpperCase()).padEnd(6) + '  ';
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

  private readonly jsonLine?: (view: DataView, offset: number) => string;

  /** The struct `typeId`, or a record of custom members (eunomia's custom_members). */
  constructor(btf: Btf, type: number | { name: string; offset: number; typeId: number }[], readonly json = false) {
    const { decode, fields } = typeof type === 'number' ? compileDecoder(btf, type, { ecliEnums: true }) : compileMembersDecoder(btf, type, { ecliEnums: true });
    this.decode = decode;
    this.names = fields.map((f) => f.name);
    this.table = new TableFormatter(this.names);
    // A struct's JSON lines are written straight from its bytes.
    if (json && typeof type === 'number') this.jsonLine = compileJsonWriter(btf, type, { ecliEnums: true });
  }

  /** The header line (with its newline), or '' for JSON. */
  get header(): string {
    return this.json ? '' : this.table.header + '\n';
  }

  /** One line, without newline; `time` is the TIME column's HH:MM:SS. */
  line(view: DataView, offset: number, time: string): string {
    if (this.jsonLine) return this.jsonLine(view, offset);
    const e = this.decode(view, offset);
    return this.json ? toJson(e) : this.table.row(this.names.map((n) => e[n]), time);
  }
}
