/**
 * BTF reader and encoder (linux/btf.h format). Parsing is pure and deterministic:
 * the same bytes always give the same types; invalid input gives ParseError.
 */
import { ByteView } from '../binary.js';
import { ParseError } from '../errors.js';
import { StringTable } from './strings.js';
import {
  BTF_INT_BOOL, BTF_INT_CHAR, BTF_INT_SIGNED, BTF_KIND, BTF_MAGIC,
  type BtfType, type KindName, type Struct,
} from './types.js';

const KIND_BY_NUMBER: KindName[] = [];
for (const [name, n] of Object.entries(BTF_KIND)) KIND_BY_NUMBER[n] = name as KindName;

const HEADER_LEN = 24;
/** Deeper chains than this are treated as cycles (real BTF stays far below). */
const MAX_CHAIN = 64;

export class Btf {
  private byNameIndex?: Map<string, number[]>;

  constructor(
    /** types[0] is void; a type's id is its index. */
    readonly types: BtfType[],
    readonly strings: StringTable,
    /**
     * Split BTF (a kernel module's): the ids below this belong to the base BTF
     * (vmlinux), whose types and strings come first here, as the kernel numbers them.
     */
    readonly baseCount = 0,
  ) {}

  get count(): number {
    return this.types.length;
  }

  type(id: number): BtfType {
    const t = this.types[id];
    if (t === undefined) throw new ParseError('BTF', `type id ${id} does not exist (${this.types.length} types)`);
    return t;
  }

  /** Ids of all types with this name, optionally of one kind, in id order. */
  idsByName(name: string, kind?: BtfType['kind']): number[] {
    if (!this.byNameIndex) {
      const idx = new Map<string, number[]>();
      this.types.forEach((t, id) => {
        if (!t.name) return;
        const l = idx.get(t.name);
        if (l) l.push(id);
        else idx.set(t.name, [id]);
      });
      this.byNameIndex = idx;
    }
    const ids = this.byNameIndex.get(name) ?? [];
    return kind ? ids.filter((id) => this.types[id]!.kind === kind) : ids;
  }

  /** Ids of this BTF's own types with this name (split BTF: not the base's). */
  ownIdsByName(name: string, kind?: BtfType['kind']): number[] {
    return this.idsByName(name, kind).filter((id) => id >= this.baseCount);
  }

  /** The first type with this name (and kind), or undefined. */
  idByName(name: string, kind?: BtfType['kind']): number | undefined {
    return this.idsByName(name, kind)[0];
  }

  /** Follows typedefs and qualifiers (const, volatile, restrict, type_tag) to the real type. */
  resolve(id: number): number {
    for (let i = 0; i < MAX_CHAIN; i++) {
      const t = this.type(id);
      switch (t.kind) {
        case 'typedef': case 'const': case 'volatile': case 'restrict': case 'type_tag':
          id = t.type;
          continue;
        default:
          return id;
      }
    }
    throw new ParseError('BTF', `type chain from id ${id} is a cycle or deeper than ${MAX_CHAIN}`);
  }

  /** Byte size of a type, as sizeof() in C. */
  size(id: number, depth = 0): number {
    if (depth > MAX_CHAIN) throw new ParseError('BTF', `type ${id}: size depends on itself`);
    const t = this.type(this.resolve(id));
    switch (t.kind) {
      case 'int': case 'struct': case 'union': case 'enum': case 'enum64': case 'float': case 'datasec':
        return t.size;
      case 'ptr':
        return 8;
      case 'array': {
        const n = t.nelems * this.size(t.type, depth + 1);
        // BTF sizes are u32 (the kernel rejects larger arrays): beyond that, the counts are corrupt.
        if (n > 0xffffffff) throw new ParseError('BTF', `type ${id}: array of ${t.nelems} elements is larger than 4 GiB`);
        return n;
      }
      case 'var':
        return this.size(t.type, depth + 1);
      default:
        throw new ParseError('BTF', `type ${id} (${t.kind}) has no size`);
    }
  }

  /** A C-like spelling of a type for messages and type strings: "unsigned int", "char[16]", "struct event *". */
  typeName(id: number, depth = 0): string {
    if (depth > MAX_CHAIN) return '...';
    const t = this.type(id);
    switch (t.kind) {
      case 'void': return 'void';
      case 'int': case 'float': case 'typedef': return t.name;
      case 'struct': case 'union': return `${t.kind} ${t.name || '(anon)'}`;
      case 'enum': case 'enum64': return `enum ${t.name || '(anon)'}`;
      case 'fwd': return `${t.union ? 'union' : 'struct'} ${t.name}`;
      case 'ptr': return `${this.typeName(t.type, depth + 1)} *`;
      case 'array': return `${this.typeName(t.type, depth + 1)}[${t.nelems}]`;
      case 'const': case 'volatile': case 'restrict': return `${t.kind} ${this.typeName(t.type, depth + 1)}`;
      case 'type_tag': return this.typeName(t.type, depth + 1);
      case 'func': case 'var': case 'datasec': case 'decl_tag': return t.name;
      case 'func_proto': return 'function';
    }
  }

  /** Adds a type at the end and returns its id. */
  add(t: BtfType): number {
    this.types.push(t);
    this.byNameIndex = undefined;
    return this.types.length - 1;
  }

  /** A deep copy, for fix-ups that must not touch the parsed original. */
  clone(): Btf {
    return new Btf(structuredClone(this.types), new StringTable(this.strings.encode()));
  }
}

export interface ParseBtfOptions {
  /**
   * Parse split BTF on top of this base (/sys/kernel/btf/<module> on vmlinux): type ids
   * continue after the base's, string offsets after the base's string section.
   */
  base?: Btf;
}

export function parseBtf(bytes: Uint8Array, opts: ParseBtfOptions = {}): Btf {
  const v = new ByteView(bytes, 'BTF');
  if (v.length < HEADER_LEN) throw new ParseError('BTF', `${v.length} bytes is too short for a BTF header`);
  const magic = v.u16(0);
  if (magic !== BTF_MAGIC) {
    if (magic === 0x9feb) throw new ParseError('BTF', 'big-endian BTF is not supported');
    throw new ParseError('BTF', `bad magic 0x${magic.toString(16)} (expected 0xeb9f)`);
  }
  const version = v.u8(2);
  if (version !== 1) throw new ParseError('BTF', `unsupported BTF version ${version}`);
  const hdrLen = v.u32(4);
  if (hdrLen < HEADER_LEN) throw new ParseError('BTF', `header length ${hdrLen} is shorter than ${HEADER_LEN}`);
  const typeOff = v.u32(8), typeLen = v.u32(12), strOff = v.u32(16), strLen = v.u32(20);
  const typeBytes = v.slice(hdrLen + typeOff, typeLen, 'type section');
  const own = v.slice(hdrLen + strOff, strLen, 'string section');
  const base = opts.base;
  if (!base) {
    const strings = new StringTable(own);
    const types = parseTypes(new ByteView(typeBytes, 'BTF'), strings, [{ kind: 'void', name: '' }]);
    validateRefs(types, 0);
    return new Btf(types, strings);
  }
  if (base.baseCount) throw new ParseError('BTF', 'split BTF on top of split BTF is not supported');
  // The split part's strings start with their own empty string, at the base's length.
  if (own.byteLength > 0 && own[0] !== 0) throw new ParseError('BTF', 'split BTF string section does not start with an empty string');
  const baseStrings = base.strings.encode();
  const joined = new Uint8Array(baseStrings.byteLength + own.byteLength);
  joined.set(baseStrings);
  joined.set(own, baseStrings.byteLength);
  const strings = new StringTable(joined);
  const types = parseTypes(new ByteView(typeBytes, 'BTF'), strings, base.types.slice());
  validateRefs(types, base.count);
  return new Btf(types, strings, base.count);
}

function parseTypes(v: ByteView, strings: StringTable, types: BtfType[]): BtfType[] {
  let o = 0;
  while (o < v.length) {
    const id = types.length;
    const name = strings.get(v.u32(o, `type ${id} name`));
    const info = v.u32(o + 4, `type ${id} info`);
    const sizeOrType = v.u32(o + 8, `type ${id} size/type`);
    const vlen = info & 0xffff;
    const kindNum = (info >>> 24) & 0x1f;
    const kflag = (info >>> 31) === 1;
    const kind = KIND_BY_NUMBER[kindNum];
    o += 12;
    const at = (n: number) => `type ${id} (${kind}) ${n}`;
    switch (kind) {
      case 'int': {
        const word = v.u32(o, at(0));
        o += 4;
        const bits = word & 0xff;
        const bitOffset = (word >>> 16) & 0xff;
        // As the kernel checks (btf_int_check_meta): the bits, with their offset, fit the size.
        if (bits > 128 || sizeOrType > 16 || bitOffset + bits > sizeOrType * 8) {
          throw new ParseError('BTF', `type ${id}: int of ${sizeOrType} bytes with ${bits} bits at bit ${bitOffset} is invalid`);
        }
        types.push({ kind, name, size: sizeOrType, encoding: (word >>> 24) & 0xf, bitOffset, bits });
        break;
      }
      case 'ptr':
        types.push({ kind, name, type: sizeOrType });
        break;
      case 'array':
        types.push({ kind, name, type: v.u32(o, at(0)), indexType: v.u32(o + 4, at(1)), nelems: v.u32(o + 8, at(2)) });
        o += 12;
        break;
      case 'struct': case 'union': {
        const members = [];
        v.check(o, vlen * 12, `type ${id} members`);
        for (let i = 0; i < vlen; i++, o += 12) {
          const off = v.u32(o + 8);
          members.push({
            name: strings.get(v.u32(o)),
            type: v.u32(o + 4),
            bitOffset: kflag ? off & 0xffffff : off,
            bitfieldSize: kflag ? off >>> 24 : 0,
          });
        }
        types.push({ kind, name, size: sizeOrType, members, kflag });
        break;
      }
      case 'enum': {
        const values = [];
        v.check(o, vlen * 8, `type ${id} enumerators`);
        for (let i = 0; i < vlen; i++, o += 8) {
          values.push({ name: strings.get(v.u32(o)), value: kflag ? v.i32(o + 4) : v.u32(o + 4) });
        }
        types.push({ kind, name, size: sizeOrType, signed: kflag, values });
        break;
      }
      case 'enum64': {
        const values = [];
        v.check(o, vlen * 12, `type ${id} enumerators`);
        for (let i = 0; i < vlen; i++, o += 12) {
          const u = (BigInt(v.u32(o + 8)) << 32n) | BigInt(v.u32(o + 4));
          values.push({ name: strings.get(v.u32(o)), value: kflag ? BigInt.asIntN(64, u) : u });
        }
        types.push({ kind, name, size: sizeOrType, signed: kflag, values });
        break;
      }
      case 'fwd':
        types.push({ kind, name, union: kflag });
        break;
      case 'typedef': case 'volatile': case 'const': case 'restrict':
        types.push({ kind, name, type: sizeOrType });
        break;
      case 'type_tag':
        types.push(kflag ? { kind, name, type: sizeOrType, kflag } : { kind, name, type: sizeOrType });
        break;
      case 'func':
        types.push({ kind, name, type: sizeOrType, linkage: vlen });
        break;
      case 'func_proto': {
        const params = [];
        v.check(o, vlen * 8, `type ${id} params`);
        for (let i = 0; i < vlen; i++, o += 8) params.push({ name: strings.get(v.u32(o)), type: v.u32(o + 4) });
        types.push({ kind, name, returnType: sizeOrType, params });
        break;
      }
      case 'var':
        types.push({ kind, name, type: sizeOrType, linkage: v.u32(o, at(0)) });
        o += 4;
        break;
      case 'datasec': {
        const vars = [];
        v.check(o, vlen * 12, `type ${id} variables`);
        for (let i = 0; i < vlen; i++, o += 12) vars.push({ type: v.u32(o), offset: v.u32(o + 4), size: v.u32(o + 8) });
        types.push({ kind, name, size: sizeOrType, vars });
        break;
      }
      case 'float':
        types.push({ kind, name, size: sizeOrType });
        break;
      case 'decl_tag':
        types.push({ kind, name, type: sizeOrType, componentIdx: v.i32(o, at(0)), ...(kflag ? { kflag } : {}) });
        o += 4;
        break;
      default:
        throw new ParseError('BTF', `type ${id} has unknown kind ${kindNum}`);
    }
  }
  return types;
}

/** Every type reference must name an existing type, so later walks cannot fall off the table. */
function validateRefs(types: BtfType[], from: number): void {
  const n = types.length;
  const check = (from: number, to: number) => {
    if (to >= n) throw new ParseError('BTF', `type ${from} refers to missing type ${to}`);
  };
  types.forEach((t, id) => {
    if (id < from) return;
    switch (t.kind) {
      case 'ptr': case 'typedef': case 'volatile': case 'const': case 'restrict': case 'type_tag':
      case 'func': case 'var': case 'decl_tag':
        check(id, t.type);
        break;
      case 'array':
        check(id, t.type);
        check(id, t.indexType);
        break;
      case 'struct': case 'union':
        for (const m of t.members) check(id, m.type);
        break;
      case 'func_proto':
        check(id, t.returnType);
        for (const p of t.params) check(id, p.type);
        break;
      case 'datasec':
        for (const s of t.vars) check(id, s.type);
        break;
      default:
    }
  });
}

/** Encodes types and strings back into the BTF wire format (little-endian). */
export function encodeBtf(btf: Btf): Uint8Array {
  if (btf.baseCount) throw new ParseError('BTF', 'encoding split BTF is not supported (it is only read, from kernel modules)');
  const strings = btf.strings;
  const words: number[] = [];
  const push = (...w: number[]) => { for (const x of w) words.push(x >>> 0); };
  const info = (kind: KindName, vlen: number, kflag = false) => ((kflag ? 1 : 0) << 31) | (BTF_KIND[kind] << 24) | (vlen & 0xffff);
  for (let id = 1; id < btf.types.length; id++) {
    const t = btf.types[id]!;
    if (t.kind === 'void') throw new ParseError('BTF', `type ${id}: void can only be type 0`);
    const name = strings.add(t.name);
    switch (t.kind) {
      case 'int':
        push(name, info('int', 0), t.size, (t.encoding << 24) | (t.bitOffset << 16) | t.bits);
        break;
      case 'ptr': case 'typedef': case 'volatile': case 'const': case 'restrict': case 'type_tag':
        push(name, info(t.kind, 0, t.kind === 'type_tag' && t.kflag), t.type);
        break;
      case 'array':
        push(name, info('array', 0), 0, t.type, t.indexType, t.nelems);
        break;
      case 'struct': case 'union': {
        const kflag = t.kflag || t.members.some((m) => m.bitfieldSize > 0);
        push(name, info(t.kind, t.members.length, kflag), t.size);
        for (const m of t.members) push(strings.add(m.name), m.type, kflag ? (m.bitfieldSize << 24) | m.bitOffset : m.bitOffset);
        break;
      }
      case 'enum':
        push(name, info('enum', t.values.length, t.signed), t.size);
        for (const e of t.values) push(strings.add(e.name), e.value);
        break;
      case 'enum64':
        push(name, info('enum64', t.values.length, t.signed), t.size);
        for (const e of t.values) {
          const u = BigInt.asUintN(64, e.value);
          push(strings.add(e.name), Number(u & 0xffffffffn), Number(u >> 32n));
        }
        break;
      case 'fwd':
        push(name, info('fwd', 0, t.union), 0);
        break;
      case 'func':
        push(name, info('func', t.linkage), t.type);
        break;
      case 'func_proto':
        push(name, info('func_proto', t.params.length), t.returnType);
        for (const p of t.params) push(strings.add(p.name), p.type);
        break;
      case 'var':
        push(name, info('var', 0), t.type, t.linkage);
        break;
      case 'datasec':
        push(name, info('datasec', t.vars.length), t.size);
        for (const s of t.vars) push(s.type, s.offset, s.size);
        break;
      case 'float':
        push(name, info('float', 0), t.size);
        break;
      case 'decl_tag':
        push(name, info('decl_tag', 0, t.kflag), t.type, t.componentIdx);
        break;
    }
  }
  const strBytes = strings.encode();
  const typeLen = words.length * 4;
  const out = new Uint8Array(HEADER_LEN + typeLen + strBytes.byteLength);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, BTF_MAGIC, true);
  dv.setUint8(2, 1);
  dv.setUint8(3, 0);
  dv.setUint32(4, HEADER_LEN, true);
  dv.setUint32(8, 0, true);
  dv.setUint32(12, typeLen, true);
  dv.setUint32(16, typeLen, true);
  dv.setUint32(20, strBytes.byteLength, true);
  for (let i = 0; i < words.length; i++) dv.setUint32(HEADER_LEN + i * 4, words[i]!, true);
  out.set(strBytes, HEADER_LEN + typeLen);
  return out;
}

/** True for a 1-byte integer that C code uses as a character (char, signed/unsigned char). */
export function isCharInt(btf: Btf, id: number): boolean {
  const t = btf.type(btf.resolve(id));
  return t.kind === 'int' && t.size === 1 && ((t.encoding & BTF_INT_CHAR) !== 0 || /char$/.test(t.name));
}

export function isSignedInt(btf: Btf, id: number): boolean {
  const t = btf.type(btf.resolve(id));
  return t.kind === 'int' && (t.encoding & BTF_INT_SIGNED) !== 0;
}

export function isBoolInt(btf: Btf, id: number): boolean {
  const t = btf.type(btf.resolve(id));
  // A 0-byte int holds no bool to read (the kernel accepts it: 0 bits fit in 0 bytes).
  return t.kind === 'int' && (t.encoding & BTF_INT_BOOL) !== 0 && t.size > 0;
}

/** A struct or union by id after resolving typedefs; ParseError otherwise. */
export function structOf(btf: Btf, id: number): Struct {
  const t = btf.type(btf.resolve(id));
  if (t.kind !== 'struct' && t.kind !== 'union') throw new ParseError('BTF', `type ${id} is ${t.kind}, not a struct`);
  return t;
}
