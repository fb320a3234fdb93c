/**
 * Bytes <-> JS values by BTF type. Representation (also the public contract):
 * - integers of up to 4 bytes: number; 8 and 16 bytes: bigint (exact, never rounded);
 * - bool: boolean; char arrays: string up to the first NUL;
 * - enums: the enumerator's name, or the number when no enumerator matches;
 * - pointers: bigint; floats: number; structs/unions: plain objects; arrays: arrays.
 */
import { ParseError, TsbpfError } from '../errors.js';
import { isBoolInt, isCharInt, type Btf } from './btf.js';
import { BTF_INT_SIGNED, type Member } from './types.js';
import { quoted } from '../text.js';

export class ValueError extends TsbpfError {
  override name = 'ValueError';
}

/**
 * Types nest at most this deep in a value, as the kernel's BTF checks (MAX_RESOLVE_DEPTH):
 * deeper is a type that contains itself. Shared by every walk of values (codec, generated
 * decoders and encoders, bindings).
 */
export const MAX_NESTING = 32;

/** The ParseError of a type nested past MAX_NESTING at `where`. */
export function checkNesting(depth: number, where: string): void {
  if (depth > MAX_NESTING) throw new ParseError('BTF', `${where}: types nest deeper than ${MAX_NESTING} (a type that contains itself?)`);
}
/**
 * The values one decode may yield: this many, plus 8 per byte of the buffer (one per bit
 * is the most well-formed BTF yields, besides empty structs): work in proportion to the
 * bytes, where overlapping or zero-sized members (65,535 of them, or a billion zero-sized
 * elements) would cost milliseconds to seconds for a value of no bytes.
 */
const DECODE_BUDGET = 4096;

interface DecodeCtx {
  view: DataView;
  /** Values still allowed: bounds the work for BTF whose members overlap or have no size. */
  left: number;
}

/**
 * Decodes the value of type `typeId` at `offset` of `view`. A value that does not lie
 * inside the view is a ValueError (never a read past the end); a type that contains
 * itself is a ParseError.
 */
export function decodeValue(btf: Btf, typeId: number, view: DataView, offset = 0): unknown {
  return decode(btf, typeId, { view, left: DECODE_BUDGET + view.byteLength * 8 }, offset, 'value', 0);
}

function decode(btf: Btf, typeId: number, ctx: DecodeCtx, offset: number, path: string, depth: number): unknown {
  checkNesting(depth, path);
  if (--ctx.left < 0) throw new ValueError(`${path}: too many values to decode (overlapping or zero-sized members?)`);
  const { view } = ctx;
  const id = btf.resolve(typeId);
  const t = btf.type(id);
  switch (t.kind) {
    case 'int': {
      const signed = (t.encoding & BTF_INT_SIGNED) !== 0;
      if (t.bits !== t.size * 8 || t.bitOffset) return readBits(view, offset, t.bitOffset, t.bits, signed, t.bits > 53, path);
      need(view, offset, t.size, path);
      if (isBoolInt(btf, id)) return view.getUint8(offset) !== 0;
      return readInt(view, offset, t.size, signed);
    }
    case 'ptr':
      need(view, offset, 8, path);
      return view.getBigUint64(offset, true);
    case 'float':
      if (t.size !== 4 && t.size !== 8) return null;
      need(view, offset, t.size, path);
      return t.size === 4 ? view.getFloat32(offset, true) : view.getFloat64(offset, true);
    case 'enum': case 'enum64': {
      need(view, offset, t.size, path);
      const raw = readInt(view, offset, t.size, t.signed);
      const found = t.kind === 'enum'
        ? t.values.find((e) => e.value === raw)
        : t.values.find((e) => e.value === (typeof raw === 'bigint' ? raw : BigInt(raw)));
      return found ? found.name : raw;
    }
    case 'array': {
      if (isCharInt(btf, t.type)) {
        need(view, offset, t.nelems, path);
        const bytes = new Uint8Array(view.buffer, view.byteOffset + offset, t.nelems);
        const end = bytes.indexOf(0);
        return Buffer.from(bytes.buffer, bytes.byteOffset, end < 0 ? t.nelems : end).toString('utf8');
      }
      const elemSize = btf.size(t.type);
      need(view, offset, t.nelems * elemSize, path);
      if (t.nelems > ctx.left) throw new ValueError(`${path}: ${t.nelems} elements are too many to decode`);
      const out: unknown[] = new Array(t.nelems);
      for (let i = 0; i < t.nelems; i++) out[i] = decode(btf, t.type, ctx, offset + i * elemSize, `${path}[${i}]`, depth + 1);
      return out;
    }
    case 'struct': case 'union': {
      need(view, offset, t.size, path);
      const obj: Record<string, unknown> = {};
      t.members.forEach((m, i) => {
        const key = memberKey(m, i);
        const at = `${path}.${key}`;
        const bits = memberBits(btf, m, at);
        obj[key] = bits
          ? readBits(view, offset, m.bitOffset + bits.shift, bits.size, bits.signed, bits.size > 53, at)
          : decode(btf, m.type, ctx, offset + m.bitOffset / 8, at, depth + 1);
      });
      return obj;
    }
    case 'datasec': {
      const obj: Record<string, unknown> = {};
      for (const v of t.vars) {
        const vt = btf.type(v.type);
        if (vt.kind === 'var') obj[vt.name] = decode(btf, vt.type, ctx, offset + v.offset, `${path}.${vt.name}`, depth + 1);
      }
      return obj;
    }
    default:
      return null;
  }
}

/**
 * Encodes `value` as type `typeId` at `offset` of `view`. Wrong types, out-of-range
 * integers and values that do not fit the view are ValueErrors naming the path
 * ("value.comm: ...").
 */
export function encodeValue(btf: Btf, typeId: number, value: unknown, view: DataView, offset = 0, path = 'value'): void {
  encode(btf, typeId, value, view, offset, path, 0);
}

function encode(btf: Btf, typeId: number, value: unknown, view: DataView, offset: number, path: string, depth: number): void {
  checkNesting(depth, path);
  const id = btf.resolve(typeId);
  const t = btf.type(id);
  switch (t.kind) {
    case 'int': {
      if (isBoolInt(btf, id)) {
        if (typeof value !== 'boolean' && value !== 0 && value !== 1) throw expected(path, 'a boolean', value);
        need(view, offset, 1, path);
        view.setUint8(offset, value ? 1 : 0);
        return;
      }
      const signed = (t.encoding & BTF_INT_SIGNED) !== 0;
      if (t.bits !== t.size * 8 || t.bitOffset) {
        writeBits(view, offset, t.bitOffset, t.bits, toBigInt(value, t.bits, signed, path), path);
        return;
      }
      const v = toBigInt(value, t.size * 8, signed, path);
      need(view, offset, t.size, path);
      writeInt(view, offset, t.size, v);
      return;
    }
    case 'ptr': {
      const v = toBigInt(value, 64, false, path);
      need(view, offset, 8, path);
      view.setBigUint64(offset, v, true);
      return;
    }
    case 'float':
      if (typeof value !== 'number') throw expected(path, 'a number', value);
      if (t.size !== 4 && t.size !== 8) throw new ValueError(`${path}: cannot encode a ${t.size}-byte float`);
      need(view, offset, t.size, path);
      if (t.size === 4) view.setFloat32(offset, value, true);
      else view.setFloat64(offset, value, true);
      return;
    case 'enum': case 'enum64': {
      let raw: unknown = value;
      if (typeof value === 'string') {
        const e = (t.values as { name: string; value: number | bigint }[]).find((x) => x.name === value);
        if (!e) throw new ValueError(`${path}: "${value}" is not one of ${t.values.map((x) => x.name).join(', ')}`);
        raw = e.value;
      }
      const v = toBigInt(raw, t.size * 8, t.signed, path);
      need(view, offset, t.size, path);
      writeInt(view, offset, t.size, v);
      return;
    }
    case 'array': {
      if (isCharInt(btf, t.type) && typeof value === 'string') {
        const bytes = Buffer.from(value, 'utf8');
        if (bytes.length > t.nelems) throw new ValueError(`${path}: "${value}" is ${bytes.length} bytes, longer than char[${t.nelems}]`);
        need(view, offset, t.nelems, path);
        const dst = new Uint8Array(view.buffer, view.byteOffset + offset, t.nelems);
        dst.fill(0);
        dst.set(bytes);
        return;
      }
      if (!Array.isArray(value)) throw expected(path, `an array of ${t.nelems}`, value);
      if (value.length > t.nelems) throw new ValueError(`${path}: ${value.length} elements do not fit ${t.nelems}`);
      const elemSize = btf.size(t.type);
      value.forEach((v, i) => encode(btf, t.type, v, view, offset + i * elemSize, `${path}[${i}]`, depth + 1));
      return;
    }
    case 'struct': case 'union': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw expected(path, `an object for ${btf.typeName(id)}`, value);
      const rec = value as Record<string, unknown>;
      const keys = new Set(Object.keys(rec));
      t.members.forEach((m, i) => {
        const key = memberKey(m, i);
        if (!keys.delete(key)) return;
        const at = `${path}.${key}`;
        const bits = memberBits(btf, m, at);
        if (bits) writeBits(view, offset, m.bitOffset + bits.shift, bits.size, toBigInt(rec[key], bits.size, bits.signed, at), at);
        else encode(btf, m.type, rec[key], view, offset + m.bitOffset / 8, at, depth + 1);
      });
      if (keys.size) throw new ValueError(`${path}: ${btf.typeName(id)} has no member ${[...keys].join(', ')}`);
      return;
    }
    default:
      throw new ValueError(`${path}: cannot encode a value of BTF kind ${t.kind}`);
  }
}

/** Throws unless `size` bytes at `offset` lie inside the view. */
export function need(view: DataView, offset: number, size: number, path: string): void {
  if (!(offset >= 0 && size >= 0 && offset + size <= view.byteLength)) {
    throw new ValueError(`${path}: ${size} bytes at offset ${offset} lie outside the ${view.byteLength}-byte buffer`);
  }
}

/**
 * How a struct member is stored when it is a bitfield: with kflag, its size is in the
 * member; without, a member at a bit offset that is not a whole byte is an int whose
 * own bits say the width. Undefined for ordinary (byte-aligned) members.
 */
/** A member's bitfield (bit shift within its storage, size, signedness), or undefined for a whole-byte member. */
export function memberBits(btf: Btf, m: Member, path: string): { shift: number; size: number; signed: boolean } | undefined {
  if (m.bitfieldSize) return { shift: 0, size: m.bitfieldSize, signed: isSignedMember(btf, m) };
  if (m.bitOffset % 8 === 0) return undefined;
  const t = btf.type(btf.resolve(m.type));
  if (t.kind === 'int') return { shift: t.bitOffset, size: t.bits, signed: (t.encoding & BTF_INT_SIGNED) !== 0 };
  if (t.kind === 'enum' || t.kind === 'enum64') return { shift: 0, size: t.size * 8, signed: t.signed };
  throw new ParseError('BTF', `${path}: ${t.kind} member at bit offset ${m.bitOffset} is not byte-aligned`);
}

/**
 * As memberBits, and checks that the member lies inside its struct or union of
 * `structSize` bytes, as the kernel checks BTF ("Member exceeds struct_size"): generated
 * code reads at constant offsets within the record's size and never checks a read.
 */
export function memberInside(btf: Btf, structSize: number, m: Member, path: string): { shift: number; size: number; signed: boolean } | undefined {
  const bits = memberBits(btf, m, path);
  const end = bits ? m.bitOffset + bits.shift + bits.size : m.bitOffset + btf.size(m.type) * 8;
  if (end > structSize * 8) throw new ParseError('BTF', `${path}: member ends at bit ${end}, past the ${structSize} bytes of its struct`);
  return bits;
}

/** Anonymous members (nested anonymous structs/unions) get positional keys. */
export function memberKey(m: Member, i: number): string {
  return m.name || `__anon${i}`;
}

function isSignedMember(btf: Btf, m: Member): boolean {
  const t = btf.type(btf.resolve(m.type));
  return (t.kind === 'int' && (t.encoding & BTF_INT_SIGNED) !== 0) || (t.kind === 'enum' && t.signed);
}

export function readInt(view: DataView, offset: number, size: number, signed: boolean): number | bigint {
  switch (size) {
    case 1: return signed ? view.getInt8(offset) : view.getUint8(offset);
    case 2: return signed ? view.getInt16(offset, true) : view.getUint16(offset, true);
    case 4: return signed ? view.getInt32(offset, true) : view.getUint32(offset, true);
    case 8: return signed ? view.getBigInt64(offset, true) : view.getBigUint64(offset, true);
    case 16: {
      const v = (view.getBigUint64(offset + 8, true) << 64n) | view.getBigUint64(offset, true);
      return signed ? BigInt.asIntN(128, v) : v;
    }
    default: {
      let v = 0n;
      for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(view.getUint8(offset + i));
      if (signed) v = BigInt.asIntN(size * 8, v);
      // Odd sizes: up to 4 bytes a number, wider a bigint (exact, never rounded).
      return size <= 4 ? Number(v) : v;
    }
  }
}

export function writeInt(view: DataView, offset: number, size: number, v: bigint): void {
  for (let i = 0; i < size; i++) {
    view.setUint8(offset + i, Number(v & 0xffn));
    v >>= 8n;
  }
}

export function readBits(view: DataView, offset: number, bitOffset: number, bits: number, signed: boolean, big: boolean, path: string): number | bigint {
  const first = offset + Math.floor(bitOffset / 8);
  const shift = bitOffset % 8;
  const nbytes = (shift + bits + 7) >> 3;
  need(view, first, nbytes, path);
  let v = 0n;
  for (let i = nbytes - 1; i >= 0; i--) v = (v << 8n) | BigInt(view.getUint8(first + i));
  v = (v >> BigInt(shift)) & ((1n << BigInt(bits)) - 1n);
  if (signed) v = BigInt.asIntN(bits, v);
  return big ? v : Number(v);
}

export function writeBits(view: DataView, offset: number, bitOffset: number, bits: number, value: bigint, path: string): void {
  const first = offset + Math.floor(bitOffset / 8);
  const shift = BigInt(bitOffset % 8);
  const nbytes = ((bitOffset % 8) + bits + 7) >> 3;
  need(view, first, nbytes, path);
  let word = 0n;
  for (let i = nbytes - 1; i >= 0; i--) word = (word << 8n) | BigInt(view.getUint8(first + i));
  const mask = ((1n << BigInt(bits)) - 1n) << shift;
  word = (word & ~mask) | ((BigInt.asUintN(bits, value) << shift) & mask);
  for (let i = 0; i < nbytes; i++) {
    view.setUint8(first + i, Number(word & 0xffn));
    word >>= 8n;
  }
}

export function toBigInt(value: unknown, bits: number, signed: boolean, path: string): bigint {
  let v: bigint;
  if (typeof value === 'bigint') v = value;
  else if (typeof value === 'number' && Number.isInteger(value)) v = BigInt(value);
  else if (typeof value === 'boolean') v = value ? 1n : 0n;
  else if (typeof value === 'string' && /^-?(0x[0-9a-f]+|\d+)$/i.test(value.trim())) {
    const s = value.trim();
    v = s.startsWith('-') ? -BigInt(s.slice(1)) : BigInt(s);
  } else throw expected(path, `an integer`, value);
  const min = signed ? -(1n << BigInt(bits - 1)) : 0n;
  const max = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
  if (v < min || v > max) throw new ValueError(`${path}: ${v} does not fit a ${signed ? 'signed' : 'unsigned'} ${bits}-bit integer`);
  return v;
}

export function expected(path: string, what: string, value: unknown): ValueError {
  const shown = typeof value === 'bigint' ? `${value}n` : quoted(value);
  return new ValueError(`${path}: expected ${what}, got ${typeof value} ${shown}`);
}
