/**
 * BTF type -> the JavaScript source of a straight-line encoder, the counterpart of
 * gen/decoder.ts: one typed DataView write per member at a constant offset, with the
 * common case (an integer that fits, a bigint in range) checked inline and everything else
 * handed to a helper that converts or throws. The values accepted, the bytes written and the
 * errors thrown are btf/codec's encodeValue's: members left out are not written, unknown
 * members are an error, strings fill char arrays, enums take names or numbers.
 *
 * Generated functions are `function NAME(v, o, x, p)`: view, offset, value, and the path
 * that errors name (built only when an error is thrown).
 */
import { checkNesting, expected, isBoolInt, isCharInt, memberInside, memberKey, need, toBigInt, ValueError, writeBits, writeInt, type Btf } from '../btf/index.js';
import { BTF_INT_SIGNED } from '../btf/types.js';
import { ParseError, TsbpfError } from '../errors.js';
import { quoted, TextBudget } from '../text.js';
import { MAX_ENUM_ENTRIES, offset, type DecoderSource } from './decoder.js';

/** Arrays up to this many elements are written out element by element; longer ones loop. */
const UNROLL = 8;
/** Members and elements one encoder may write: bounds generated code for pathological BTF. */
const MAX_WRITES = 1 << 14;

/** The source of an encoder for type `typeId`, named `name`. */
export function encoderSource(btf: Btf, typeId: number, name = 'encode'): DecoderSource {
  const g = new EncoderGenerator(btf);
  const id = btf.resolve(typeId);
  const body: string[] = [];
  g.write(id, 'x', 'o', 'p', 0, body, '  ');
  g.functions.push(`function ${name}(v, o, x, p) {\n  w.need(v, o, ${btf.size(id)}, p);\n${body.join('\n')}\n}`);
  return { tables: g.tables, functions: g.functions, entry: name };
}

/** Compiles an encoder's source (the run-time path of the generator). */
export function compileEncoderSource(src: DecoderSource): (v: DataView, o: number, x: unknown, p: string) => void {
  const body = `${src.tables.join('\n')}\n${src.functions.join('\n')}\nreturn ${src.entry};`;
  return new Function('w', body)(encoderHelpers) as (v: DataView, o: number, x: unknown, p: string) => void;
}

/**
 * The helpers generated encoders call (`w.NAME`): the slow paths, which convert what the
 * inline checks did not take (numeric strings, booleans, numbers for 64-bit integers) or
 * throw the codec's error.
 */
export const encoderHelpers = {
  need(v: DataView, o: number, size: number, p: string): void {
    need(v, o, size, p);
  },
  int(x: unknown, bits: number, signed: boolean, p: string): number {
    return Number(toBigInt(x, bits, signed, p));
  },
  big(x: unknown, bits: number, signed: boolean, p: string): bigint {
    return toBigInt(x, bits, signed, p);
  },
  bool(x: unknown, p: string): never {
    throw expected(p, 'a boolean', x);
  },
  number(x: unknown, p: string): never {
    throw expected(p, 'a number', x);
  },
  setInt(v: DataView, o: number, size: number, x: unknown, signed: boolean, p: string): void {
    const n = toBigInt(x, size * 8, signed, p);
    need(v, o, size, p);
    writeInt(v, o, size, n);
  },
  setBits(v: DataView, o: number, bitOffset: number, bits: number, x: unknown, signed: boolean, p: string): void {
    writeBits(v, o, bitOffset, bits, toBigInt(x, bits, signed, p), p);
  },
  enumValue(table: { values: Map<string, number | bigint>; names: string }, x: string, p: string): number | bigint {
    const value = table.values.get(x);
    if (value === undefined) throw new ValueError(`${p}: "${x}" is not one of ${table.names}`);
    return value;
  },
  setString(v: DataView, o: number, n: number, x: string, p: string): void {
    const bytes = Buffer.from(x, 'utf8');
    if (bytes.length > n) throw new ValueError(`${p}: "${x}" is ${bytes.length} bytes, longer than char[${n}]`);
    const dst = new Uint8Array(v.buffer, v.byteOffset + o, n);
    dst.fill(0);
    dst.set(bytes);
  },
  array(x: unknown, n: number, p: string): void {
    if (!Array.isArray(x)) throw expected(p, `an array of ${n}`, x);
    if (x.length > n) throw new ValueError(`${p}: ${x.length} elements do not fit ${n}`);
  },
  object(x: unknown, p: string, typeName: string): never {
    throw expected(p, `an object for ${typeName}`, x);
  },
  only(x: object, keys: Set<string>, p: string, typeName: string): void {
    let extra: string[] | undefined;
    for (const k in x) if (!keys.has(k) && Object.hasOwn(x, k)) (extra ??= []).push(k);
    if (extra) throw new ValueError(`${p}: ${typeName} has no member ${extra.join(', ')}`);
  },
  fail(p: string, what: string): never {
    throw new ValueError(`${p}: ${what}`);
  },
};

class EncoderGenerator {
  readonly tables: string[] = [];
  readonly functions: string[] = [];
  private writes = 0;
  /** Names from the input (keys, enumerators) in the source: they may repeat past its size. */
  private readonly budget = new TextBudget('the encoder');
  private enumEntries = 0;
  private locals = 0;
  private readonly enums = new Map<number, string>();
  private readonly keySets = new Map<number, string>();
  private readonly elems = new Map<number, string>();

  constructor(private readonly btf: Btf) {}

  /**
   * Appends to `out` the statements that write the value in local `x` of type `typeId` at
   * offset expression `at`; `p` is the expression of its path, evaluated only on errors.
   */
  write(typeId: number, x: string, at: string, p: string, depth: number, out: string[], ind: string): void {
    checkNesting(depth, pathText(p));
    if (++this.writes > MAX_WRITES) throw new TsbpfError(`${pathText(p)}: more than ${MAX_WRITES} members and elements to encode: too large for one encoder`);
    const btf = this.btf;
    const id = btf.resolve(typeId);
    const t = btf.type(id);
    switch (t.kind) {
      case 'int': {
        if (isBoolInt(btf, id)) {
          out.push(`${ind}v.setUint8(${at}, ${x} === true || ${x} === 1 ? 1 : ${x} === false || ${x} === 0 ? 0 : w.bool(${x}, ${p}));`);
          return;
        }
        const signed = (t.encoding & BTF_INT_SIGNED) !== 0;
        if (t.bits !== t.size * 8 || t.bitOffset) {
          out.push(`${ind}w.setBits(v, ${at}, ${t.bitOffset}, ${t.bits}, ${x}, ${signed}, ${p});`);
          return;
        }
        out.push(`${ind}${intWrite(t.size, signed, at, x, p)}`);
        return;
      }
      case 'ptr':
        out.push(`${ind}${intWrite(8, false, at, x, p)}`);
        return;
      case 'float':
        if (t.size !== 4 && t.size !== 8) {
          out.push(`${ind}w.fail(${p}, ${JSON.stringify(`cannot encode a ${t.size}-byte float`)});`);
          return;
        }
        out.push(`${ind}v.setFloat${t.size * 8}(${at}, typeof ${x} === 'number' ? ${x} : w.number(${x}, ${p}), true);`);
        return;
      case 'enum':
      case 'enum64': {
        const table = this.enumTable(id);
        const r = this.local();
        out.push(`${ind}{`);
        out.push(`${ind}  const ${r} = typeof ${x} === 'string' ? w.enumValue(${table}, ${x}, ${p}) : ${x};`);
        out.push(`${ind}  ${intWrite(t.size, t.signed, at, r, p)}`);
        out.push(`${ind}}`);
        return;
      }
      case 'array': {
        const char = isCharInt(btf, t.type);
        const size = btf.size(t.type);
        const inner = ind + '  ';
        if (char) out.push(`${ind}if (typeof ${x} === 'string') w.setString(v, ${at}, ${t.nelems}, ${x}, ${p});`, `${ind}else {`);
        const body = char ? inner : ind;
        out.push(`${body}w.array(${x}, ${t.nelems}, ${p});`);
        if (t.nelems <= UNROLL) {
          for (let i = 0; i < t.nelems; i++) {
            const e = this.local();
            out.push(`${body}if (${x}.length > ${i}) {`, `${body}  const ${e} = ${x}[${i}];`);
            this.write(t.type, e, offset(at, i * size), cat(p, `[${i}]`), depth + 1, out, body + '  ');
            out.push(`${body}}`);
          }
        } else {
          const fn = this.elementFunction(t.type, depth);
          const pa = this.local();
          out.push(`${body}const ${pa} = ${p};`);
          out.push(`${body}for (let i = 0; i < ${x}.length; i++) ${fn}(v, ${offset(at, 0)} + i * ${size}, ${x}[i], ${pa}, i);`);
        }
        if (char) out.push(`${ind}}`);
        return;
      }
      case 'struct':
      case 'union': {
        const typeName = JSON.stringify(btf.typeName(id));
        out.push(`${ind}if (typeof ${x} !== 'object' || ${x} === null || Array.isArray(${x})) w.object(${x}, ${p}, ${typeName});`);
        t.members.forEach((m, i) => {
          const key = memberKey(m, i);
          this.budget.charge(3 * key.length); // read, tested and named in a path
          const mp = cat(p, `.${key}`);
          const bits = memberInside(btf, t.size, m, pathText(mp));
          const e = this.local();
          out.push(`${ind}const ${e} = ${x}${access(key)};`);
          out.push(`${ind}if (${e} !== undefined || Object.hasOwn(${x}, ${JSON.stringify(key)})) {`);
          if (bits) out.push(`${ind}  w.setBits(v, ${at}, ${m.bitOffset + bits.shift}, ${bits.size}, ${e}, ${bits.signed}, ${mp});`);
          else this.write(m.type, e, offset(at, m.bitOffset / 8), mp, depth + 1, out, ind + '  ');
          out.push(`${ind}}`);
        });
        out.push(`${ind}w.only(${x}, ${this.keySet(id)}, ${p}, ${typeName});`);
        return;
      }
      default:
        out.push(`${ind}w.fail(${p}, ${JSON.stringify(`cannot encode a value of BTF kind ${t.kind}`)});`);
    }
  }

  private local(): string {
    return `x${++this.locals}`;
  }

  /** name -> value (the first value of a name, as the codec finds it), and the names for errors. */
  private enumTable(id: number): string {
    let name = this.enums.get(id);
    if (name) return name;
    const t = this.btf.type(id);
    if (t.kind !== 'enum' && t.kind !== 'enum64') throw new TsbpfError(`type ${id} is not an enum`);
    name = `$N${id}`;
    this.enums.set(id, name);
    const big = t.kind === 'enum64' || t.size === 8;
    this.enumEntries += t.values.length;
    if (this.enumEntries > MAX_ENUM_ENTRIES) throw new TsbpfError(`enum ${quoted(t.name)}: more than ${MAX_ENUM_ENTRIES} enumerators in one encoder's tables: too large for one encoder`);
    const seen = new Set<string>();
    const entries: string[] = [];
    for (const e of t.values) {
      if (seen.has(e.name)) continue;
      seen.add(e.name);
      entries.push(this.budget.take(`[${JSON.stringify(e.name)}, ${big ? `${e.value}n` : e.value}]`));
    }
    this.budget.charge(t.values.reduce((n, x) => n + x.name.length + 2, 0));
    const names = JSON.stringify(t.values.map((x) => x.name).join(', '));
    this.tables.push(`const ${name} = { values: new Map([${entries.join(', ')}]), names: ${names} };`);
    return name;
  }

  private keySet(id: number): string {
    let name = this.keySets.get(id);
    if (name) return name;
    const t = this.btf.type(id);
    if (t.kind !== 'struct' && t.kind !== 'union') throw new TsbpfError(`type ${id} is not a struct`);
    name = `$K${id}`;
    this.keySets.set(id, name);
    this.budget.charge(t.members.reduce((n, m) => n + m.name.length + 3, 0));
    this.tables.push(`const ${name} = new Set(${JSON.stringify(t.members.map((m, i) => memberKey(m, i)))});`);
    return name;
  }

  /** A named function that writes one element of an array of `typeId`: (v, o, x, p, i), p the array's path. */
  private elementFunction(typeId: number, depth: number): string {
    const id = this.btf.resolve(typeId);
    let name = this.elems.get(id);
    if (name) return name;
    name = `$b${id}`;
    this.elems.set(id, name);
    const body: string[] = [];
    this.write(typeId, 'x', 'o', `p + "[" + i + "]"`, depth + 1, body, '  ');
    this.functions.push(`function ${name}(v, o, x, p, i) {\n${body.join('\n')}\n}`);
    return name;
  }
}

/** One write of an integer of `size` bytes from local `x`, its range checked inline for the common types. */
function intWrite(size: number, signed: boolean, at: string, x: string, p: string): string {
  switch (size) {
    case 1:
      return `v.set${signed ? 'Int8' : 'Uint8'}(${at}, typeof ${x} === 'number' && ${signed ? `(${x} << 24 >> 24)` : `(${x} & 0xff)`} === ${x} ? ${x} : w.int(${x}, 8, ${signed}, ${p}));`;
    case 2:
      return `v.set${signed ? 'Int16' : 'Uint16'}(${at}, typeof ${x} === 'number' && ${signed ? `(${x} << 16 >> 16)` : `(${x} & 0xffff)`} === ${x} ? ${x} : w.int(${x}, 16, ${signed}, ${p}), true);`;
    case 4:
      return `v.set${signed ? 'Int32' : 'Uint32'}(${at}, typeof ${x} === 'number' && ${signed ? `(${x} | 0)` : `${x} >>> 0`} === ${x} ? ${x} : w.int(${x}, 32, ${signed}, ${p}), true);`;
    case 8:
      return `v.set${signed ? 'BigInt64' : 'BigUint64'}(${at}, typeof ${x} === 'bigint' && BigInt.as${signed ? 'IntN' : 'UintN'}(64, ${x}) === ${x} ? ${x} : w.big(${x}, 64, ${signed}, ${p}), true);`;
    default:
      return `w.setInt(v, ${at}, ${size}, ${x}, ${signed}, ${p});`;
  }
}

/** The path expression `p` with `suffix` appended, folded into a trailing string literal. */
function cat(p: string, suffix: string): string {
  const m = /^(.*) \+ ("(?:[^"\\]|\\.)*")$/.exec(p);
  if (m) return `${m[1]} + ${JSON.stringify(JSON.parse(m[2]!) + suffix)}`;
  return `${p} + ${JSON.stringify(suffix)}`;
}

/** A path expression as text, for errors raised while generating. */
function pathText(p: string): string {
  return p.replace(/^p \+ /, 'value').replace(/"/g, '');
}

function access(key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}
