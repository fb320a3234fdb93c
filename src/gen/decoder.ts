/**
 * BTF type -> the JavaScript source of a straight-line decoder: one object literal per
 * struct, one typed DataView read per member at a constant offset, nested structs inlined,
 * short ASCII strings read without TextDecoder, enums looked up in a table. The same source
 * is compiled at run time (compileDecoder, with `new Function`) and written into generated
 * bindings (tsbpf gen), so the two cannot disagree.
 *
 * Values are btf/codec's: integers up to 4 bytes as numbers, 8 and 16 as bigints, bool,
 * char arrays as strings up to the first NUL, enums by name (or "NAME(value)" as ecli prints
 * them), pointers as bigints, floats, nested objects and arrays. Generation walks types
 * to a bounded depth, so a struct that contains itself is a ParseError, not a stack overflow.
 */
import { checkNesting, isBoolInt, isCharInt, memberBits, memberInside, memberKey, readBits, readInt, type Btf } from '../btf/index.js';
import { BTF_INT_SIGNED } from '../btf/types.js';
import { ParseError, TsbpfError } from '../errors.js';
import { quoted, TextBudget } from '../text.js';

export interface DecoderGenOptions {
  /** Enums as ecli prints them: "NAME(value)", "<UNKNOWN_VARIANT>(value)". Default: the name, else the number. */
  ecliEnums?: boolean;
}

/** Generated source: `tables` declarations, then `functions` (each `function NAME(v, o)`); `entry` names the top one. */
export interface DecoderSource {
  tables: string[];
  functions: string[];
  entry: string;
}

/** Arrays up to this many elements are written out element by element; longer ones loop. */
const UNROLL = 8;
/** Members and elements one decoder may read: bounds generated code for pathological BTF. */
const MAX_READS = 1 << 14;
/** Enumerators in one decoder's tables (an enum may have 65,535; a thousand such enums are no record). */
export const MAX_ENUM_ENTRIES = 1 << 17;

/**
 * Values one record may decode to, loops multiplied out: the straight-line code is bounded
 * by MAX_READS, its loops by this (a billion zero-sized elements would cost minutes and
 * gigabytes for a record of a few bytes).
 */
const MAX_VALUES = 1 << 22;

/** The source of a decoder for type `typeId`, named `name`. */
export function decoderSource(btf: Btf, typeId: number, name = 'decode', opts: DecoderGenOptions = {}): DecoderSource {
  const g = new Generator(btf, opts);
  const expr = g.expr(typeId, 'o', 0, name);
  checkValues(btf, [typeId], name);
  g.functions.push(`function ${name}(v, o) {\n  return ${expr};\n}`);
  return { tables: g.tables, functions: g.functions, entry: name };
}

/** The source of a decoder for a record of typed members at byte offsets (eunomia's custom_members). */
export function membersDecoderSource(btf: Btf, members: readonly { name: string; offset: number; typeId: number }[], name = 'decode', opts: DecoderGenOptions = {}): DecoderSource {
  const g = new Generator(btf, opts);
  const parts = members.map((m) => `${propertyName(m.name)}: ${g.expr(m.typeId, offset('o', m.offset), 1, `${name}.${m.name}`)}`);
  checkValues(btf, members.map((m) => m.typeId), name);
  g.functions.push(`function ${name}(v, o) {\n  return {\n    ${parts.join(',\n    ')},\n  };\n}`);
  return { tables: g.tables, functions: g.functions, entry: name };
}

/**
 * The source of a JSON writer for type `typeId`: one string built straight from the
 * record's bytes, the text toJson(decode(record)) gives (keys in struct order, 64-bit
 * integers exact), without the intermediate object.
 */
export function jsonSource(btf: Btf, typeId: number, name = 'json', opts: DecoderGenOptions = {}): DecoderSource {
  const g = new JsonGenerator(btf, opts);
  const expr = g.expr(typeId, 'o', 0, name);
  checkValues(btf, [typeId], name);
  g.functions.push(`function ${name}(v, o) {\n  return ${expr};\n}`);
  return { tables: g.tables, functions: g.functions, entry: name };
}

function checkValues(btf: Btf, typeIds: readonly number[], name: string): void {
  const memo = new Map<number, number>();
  let n = 0;
  for (const id of typeIds) n += valueCount(btf, id, memo, 0);
  if (n > MAX_VALUES) throw new TsbpfError(`${name}: a record of this type decodes to ${n > 1e15 ? 'over 10^15' : n} values, more than ${MAX_VALUES} (arrays of zero-sized elements?)`);
}

/** The values decoding `typeId` yields (1 per scalar, string, object and array); an empty array's element type is never read. */
function valueCount(btf: Btf, typeId: number, memo: Map<number, number>, depth: number): number {
  checkNesting(depth, 'record');
  const id = btf.resolve(typeId);
  const known = memo.get(id);
  if (known !== undefined) return known;
  const t = btf.type(id);
  let n = 1;
  if (t.kind === 'array' && t.nelems && !isCharInt(btf, t.type)) n += t.nelems * valueCount(btf, t.type, memo, depth + 1);
  else if (t.kind === 'struct' || t.kind === 'union') for (const m of t.members) n += memberBits(btf, m, '') ? 1 : valueCount(btf, m.type, memo, depth + 1);
  memo.set(id, n);
  return n;
}

/** The helpers generated code calls (`h.NAME`); pure reads of the view. */
export const decoderHelpers = {
  /** A char[n] at o: text up to the first NUL; ASCII without TextDecoder. */
  str(v: DataView, o: number, n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) {
      const c = v.getUint8(o + i);
      if (c === 0) return s;
      if (c > 0x7f) return utf8(v, o, n);
      s += String.fromCharCode(c);
    }
    return s;
  },
  /**
   * A short char[n] (n a multiple of 4, at most 32: comm, task names) through a small cache:
   * names repeat, and comparing n/4 words costs less than building the string again.
   */
  strc(v: DataView, o: number, n: number): string {
    let hash = 0;
    for (let i = 0; i < n; i += 4) {
      const w = v.getUint32(o + i, true);
      WORDS[i >> 2] = w;
      hash = Math.imul(hash ^ w, 0x9e3779b1);
    }
    const slot = (hash >>> 22) & (STR_CACHE - 1);
    const base = slot * 9;
    const nw = n >> 2;
    if (CACHE_KEYS[base] === n) {
      let same = true;
      for (let i = 0; i < nw; i++) if (CACHE_KEYS[base + 1 + i] !== WORDS[i]) { same = false; break; }
      if (same) return CACHE_STRS[slot]!;
    }
    const s = decoderHelpers.str(v, o, n);
    CACHE_KEYS[base] = n;
    for (let i = 0; i < nw; i++) CACHE_KEYS[base + 1 + i] = WORDS[i]!;
    CACHE_STRS[slot] = s;
    return s;
  },
  /** An array of n elements of `size` bytes, each read by `read`. */
  array(v: DataView, o: number, n: number, size: number, read: (v: DataView, o: number) => unknown): unknown[] {
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) out[i] = read(v, o + i * size);
    return out;
  },
  int(v: DataView, o: number, size: number, signed: boolean): number | bigint {
    return readInt(v, o, size, signed);
  },
  bits(v: DataView, o: number, bitOffset: number, bits: number, signed: boolean): number | bigint {
    return readBits(v, o, bitOffset, bits, signed, bits > 53, 'bitfield');
  },
  /** A char[n] as a JSON string: quoted as is when it needs no escape. */
  jstr(v: DataView, o: number, n: number): string {
    const s = n % 4 === 0 && n >= 4 && n <= 32 ? decoderHelpers.strc(v, o, n) : decoderHelpers.str(v, o, n);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return JSON.stringify(s);
    }
    return '"' + s + '"';
  },
  /** A float as JSON (NaN and the infinities are null, as JSON.stringify writes them). */
  jnum(x: number): string {
    return Number.isFinite(x) ? String(x) : 'null';
  },
  /** An array of n elements as JSON, each written by `write`. */
  jarray(v: DataView, o: number, n: number, size: number, write: (v: DataView, o: number) => string): string {
    let s = '[';
    for (let i = 0; i < n; i++) s += (i ? ',' : '') + write(v, o + i * size);
    return s + ']';
  },
  /** The JSON of an enum: its quoted name from the table, else the number. */
  jenum(names: Map<number | bigint, string>, raw: number | bigint): string {
    return names.get(raw) ?? String(raw);
  },
  /** As jenum, for ecli's "NAME(value)" names: an unknown value is "<UNKNOWN_VARIANT>(value)". */
  jecli(names: Map<number | bigint, string>, raw: number | bigint): string {
    return names.get(raw) ?? `"<UNKNOWN_VARIANT>(${raw})"`;
  },
  jbits(v: DataView, o: number, bitOffset: number, bits: number, signed: boolean): string {
    return String(readBits(v, o, bitOffset, bits, signed, bits > 53, 'bitfield'));
  },
  enumName(names: Map<number | bigint, string>, raw: number | bigint): string | number | bigint {
    return names.get(raw) ?? raw;
  },
  ecliEnum(names: Map<number | bigint, string>, raw: number | bigint): string {
    return `${names.get(raw) ?? '<UNKNOWN_VARIANT>'}(${raw})`;
  },
};

/** strc's cache: per slot the length and up to 8 words of the bytes, and the string. */
const STR_CACHE = 1024;
const CACHE_KEYS = new Uint32Array(STR_CACHE * 9);
const CACHE_STRS: (string | undefined)[] = new Array<string | undefined>(STR_CACHE);
const WORDS = new Uint32Array(8);

const utf8Decoder = new TextDecoder('utf-8');
function utf8(v: DataView, o: number, n: number): string {
  const bytes = new Uint8Array(v.buffer, v.byteOffset + o, n);
  const end = bytes.indexOf(0);
  return utf8Decoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

class Generator {
  readonly tables: string[] = [];
  readonly functions: string[] = [];
  private reads = 0;
  /** Names from the input (keys, enumerators) in the source: they may repeat past its size. */
  private readonly budget = new TextBudget('the decoder');
  private enumEntries = 0;
  private readonly enums = new Map<number, string>();
  private readonly elems = new Map<number, string>();

  constructor(private readonly btf: Btf, private readonly opts: DecoderGenOptions) {}

  /** The expression of the value of `typeId` at offset expression `at`. */
  expr(typeId: number, at: string, depth: number, path: string): string {
    checkNesting(depth, path);
    if (++this.reads > MAX_READS) throw new TsbpfError(`${path}: more than ${MAX_READS} members and elements to decode: too large for one decoder`);
    const btf = this.btf;
    const id = btf.resolve(typeId);
    const t = btf.type(id);
    switch (t.kind) {
      case 'int': {
        const signed = (t.encoding & BTF_INT_SIGNED) !== 0;
        if (t.bits !== t.size * 8 || t.bitOffset) return `h.bits(v, ${at}, ${t.bitOffset}, ${t.bits}, ${signed})`;
        if (isBoolInt(btf, id)) return `v.getUint8(${at}) !== 0`;
        return intRead(t.size, signed, at);
      }
      case 'ptr':
        return `v.getBigUint64(${at}, true)`;
      case 'float':
        return t.size === 4 ? `v.getFloat32(${at}, true)` : t.size === 8 ? `v.getFloat64(${at}, true)` : 'null';
      case 'enum':
      case 'enum64': {
        const table = this.enumTable(id);
        const raw = intRead(t.size, t.signed, at);
        return this.opts.ecliEnums ? `h.ecliEnum(${table}, ${raw})` : `h.enumName(${table}, ${raw})`;
      }
      case 'array': {
        if (isCharInt(btf, t.type)) return t.nelems % 4 === 0 && t.nelems >= 4 && t.nelems <= 32 ? `h.strc(v, ${at}, ${t.nelems})` : `h.str(v, ${at}, ${t.nelems})`;
        const size = btf.size(t.type);
        if (t.nelems <= UNROLL) {
          const items: string[] = [];
          for (let i = 0; i < t.nelems; i++) items.push(this.expr(t.type, offset(at, i * size), depth + 1, `${path}[${i}]`));
          return `[${items.join(', ')}]`;
        }
        return `h.array(v, ${at}, ${t.nelems}, ${size}, ${this.elementFunction(t.type, depth, path)})`;
      }
      case 'struct':
      case 'union': {
        const parts = t.members.map((m, i) => {
          const key = memberKey(m, i);
          const where = `${path}.${key}`;
          const bits = memberInside(btf, t.size, m, where);
          const value = bits
            ? `h.bits(v, ${at}, ${m.bitOffset + bits.shift}, ${bits.size}, ${bits.signed})`
            : this.expr(m.type, offset(at, m.bitOffset / 8), depth + 1, where);
          return `${this.budget.take(propertyName(key))}: ${value}`;
        });
        if (!parts.length) return '{}';
        const pad = '  '.repeat(depth + 2);
        return `{\n${pad}${parts.join(`,\n${pad}`)},\n${'  '.repeat(depth + 1)}}`;
      }
      default:
        return 'null';
    }
  }

  private enumTable(id: number): string {
    let name = this.enums.get(id);
    if (name) return name;
    const t = this.btf.type(id);
    if (t.kind !== 'enum' && t.kind !== 'enum64') throw new TsbpfError(`type ${id} is not an enum`);
    name = `$E${id}`;
    this.enums.set(id, name);
    const big = t.kind === 'enum64' || t.size === 8;
    this.enumEntries += t.values.length;
    if (this.enumEntries > MAX_ENUM_ENTRIES) throw new TsbpfError(`enum ${quoted(t.name)}: more than ${MAX_ENUM_ENTRIES} enumerators in one decoder's tables: too large for one decoder`);
    const seen = new Set<string>();
    const entries: string[] = [];
    for (const e of t.values) {
      const key = String(e.value);
      if (seen.has(key)) continue; // the first name of a value, as the codec answers
      seen.add(key);
      entries.push(this.budget.take(`[${big ? `${key}n` : key}, ${JSON.stringify(e.name)}]`));
    }
    this.tables.push(`const ${name} = new Map([${entries.join(', ')}]);`);
    return name;
  }

  /** A named function that reads one element of an array of `typeId`, for the loop helper. */
  private elementFunction(typeId: number, depth: number, path: string): string {
    const id = this.btf.resolve(typeId);
    let name = this.elems.get(id);
    if (name) return name;
    name = `$a${id}`;
    this.elems.set(id, name);
    this.functions.push(`function ${name}(v, o) {\n  return ${this.expr(typeId, 'o', depth + 1, `${path}[]`)};\n}`);
    return name;
  }
}

/** The JSON counterpart of Generator: the same walk, text out. */
class JsonGenerator {
  readonly tables: string[] = [];
  readonly functions: string[] = [];
  private reads = 0;
  private readonly budget = new TextBudget('the JSON writer');
  private enumEntries = 0;
  private readonly enums = new Map<number, string>();
  private readonly elems = new Map<number, string>();

  constructor(private readonly btf: Btf, private readonly opts: DecoderGenOptions) {}

  expr(typeId: number, at: string, depth: number, path: string): string {
    checkNesting(depth, path);
    if (++this.reads > MAX_READS) throw new TsbpfError(`${path}: more than ${MAX_READS} members and elements to write: too large for one writer`);
    const btf = this.btf;
    const id = btf.resolve(typeId);
    const t = btf.type(id);
    switch (t.kind) {
      case 'int': {
        const signed = (t.encoding & BTF_INT_SIGNED) !== 0;
        if (t.bits !== t.size * 8 || t.bitOffset) return `h.jbits(v, ${at}, ${t.bitOffset}, ${t.bits}, ${signed})`;
        if (isBoolInt(btf, id)) return `(v.getUint8(${at}) !== 0 ? 'true' : 'false')`;
        return `String(${intRead(t.size, signed, at)})`;
      }
      case 'ptr':
        return `String(v.getBigUint64(${at}, true))`;
      case 'float':
        return t.size === 4 ? `h.jnum(v.getFloat32(${at}, true))` : t.size === 8 ? `h.jnum(v.getFloat64(${at}, true))` : "'null'";
      case 'enum':
      case 'enum64':
        return `h.${this.opts.ecliEnums ? 'jecli' : 'jenum'}(${this.enumTable(id)}, ${intRead(t.size, t.signed, at)})`;
      case 'array': {
        if (isCharInt(btf, t.type)) return `h.jstr(v, ${at}, ${t.nelems})`;
        const size = btf.size(t.type);
        if (t.nelems === 0) return "'[]'";
        if (t.nelems <= UNROLL) {
          const items: string[] = [];
          for (let i = 0; i < t.nelems; i++) items.push(this.expr(t.type, offset(at, i * size), depth + 1, `${path}[${i}]`));
          return `'[' + ${items.join(" + ',' + ")} + ']'`;
        }
        return `h.jarray(v, ${at}, ${t.nelems}, ${size}, ${this.elementFunction(t.type, depth, path)})`;
      }
      case 'struct':
      case 'union': {
        if (!t.members.length) return "'{}'";
        const pad = '  '.repeat(depth + 2);
        const parts = t.members.map((m, i) => {
          const key = memberKey(m, i);
          const where = `${path}.${key}`;
          const bits = memberInside(btf, t.size, m, where);
          const value = bits
            ? `h.jbits(v, ${at}, ${m.bitOffset + bits.shift}, ${bits.size}, ${bits.signed})`
            : this.expr(m.type, offset(at, m.bitOffset / 8), depth + 1, where);
          return `${this.budget.take(JSON.stringify((i ? ',' : '{') + JSON.stringify(key) + ':'))} + ${value}`;
        });
        return `(\n${pad}${parts.join(` +\n${pad}`)} + '}')`;
      }
      default:
        return "'null'";
    }
  }

  private enumTable(id: number): string {
    let name = this.enums.get(id);
    if (name) return name;
    const t = this.btf.type(id);
    if (t.kind !== 'enum' && t.kind !== 'enum64') throw new TsbpfError(`type ${id} is not an enum`);
    name = `$J${id}`;
    this.enums.set(id, name);
    const big = t.kind === 'enum64' || t.size === 8;
    this.enumEntries += t.values.length;
    if (this.enumEntries > MAX_ENUM_ENTRIES) throw new TsbpfError(`enum ${quoted(t.name)}: more than ${MAX_ENUM_ENTRIES} enumerators in one decoder's tables: too large for one decoder`);
    const seen = new Set<string>();
    const entries: string[] = [];
    for (const e of t.values) {
      const key = String(e.value);
      if (seen.has(key)) continue;
      seen.add(key);
      const text = this.opts.ecliEnums ? JSON.stringify(`${e.name}(${key})`) : JSON.stringify(e.name);
      entries.push(this.budget.take(`[${big ? `${key}n` : key}, ${JSON.stringify(text)}]`));
    }
    this.tables.push(`const ${name} = new Map([${entries.join(', ')}]);`);
    return name;
  }

  private elementFunction(typeId: number, depth: number, path: string): string {
    const id = this.btf.resolve(typeId);
    let name = this.elems.get(id);
    if (name) return name;
    name = `$j${id}`;
    this.elems.set(id, name);
    this.functions.push(`function ${name}(v, o) {\n  return ${this.expr(typeId, 'o', depth + 1, `${path}[]`)};\n}`);
    return name;
  }
}

function intRead(size: number, signed: boolean, at: string): string {
  switch (size) {
    case 1: return signed ? `v.getInt8(${at})` : `v.getUint8(${at})`;
    case 2: return `v.get${signed ? 'Int16' : 'Uint16'}(${at}, true)`;
    case 4: return `v.get${signed ? 'Int32' : 'Uint32'}(${at}, true)`;
    case 8: return `v.get${signed ? 'BigInt64' : 'BigUint64'}(${at}, true)`;
    default: return `h.int(v, ${at}, ${size}, ${signed})`;
  }
}

/** The offset expression `at` plus `n`, folded into a constant where it is one (shared with gen/encoder.ts). */
export function offset(at: string, n: number): string {
  if (!n) return at;
  const m = /^o \+ (\d+)$/.exec(at);
  return m ? `o + ${Number(m[1]) + n}` : at === 'o' ? `o + ${n}` : `${at} + ${n}`;
}

function propertyName(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? key : JSON.stringify(key);
}

/** Compiles generated source into the decoder function (the run-time path of the generator). */
export function compileSource(src: DecoderSource): (v: DataView, o: number) => unknown {
  const body = `${src.tables.join('\n')}\n${src.functions.join('\n')}\nreturn ${src.entry};`;
  return new Function('h', body)(decoderHelpers) as (v: DataView, o: number) => unknown;
}
