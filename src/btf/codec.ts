/**
 * Bytes <-> JS values by BTF type. Representation (also the public contract):
 * - integers of up to 4 bytes: number; 8 and 16 bytes: bigint (exact, never rounded);
 * - bool: boolean; char arrays: string up to the first NUL;
 * - enums: the enumerator's name, or the number when no enumerator matches;
 * - pointers: bigint; floats: number; structs/unions: plain objects; arrays: arrays.
 */
import { TsbpfError } from '../errors.js';
import { isBoolInt, isCharInt, type Btf } from './btf.js';
import { BTF_INT_SIGNED, type Member } from './types.js';

export class ValueError extends TsbpfError {
  override name = 'ValueError';
}

export function decodeValue(btf: Btf, typeId: number, view: DataView, offset = 0): unknown {
  const id = btf.resolve(typeId);
  const t = btf.type(id);
  switch (t.kind) {
    case 'int':
      if (t.bits !== t.size * 8 || t.bitOffset) return readBits(view, offset, t.bitOffset, t.bits, (t.encoding & BTF_INT_SIGNED) !== 0, t.bits > 53);
      if (isBoolInt(btf, id)) return view.getUint8(offset) !== 0;
      return readInt(view, offset, t.size, (t.encoding & BTF_INT_SIGNED) !== 0);
    case 'ptr':
      return view.getBigUint64(offset, true);
    case 'float':
      return t.size === 4 ? view.getFloat32(offset, true) : t.size === 8 ? view.getFloat64(offset, true) : null;
    case 'enum': case 'enum64': {
      const raw = readInt(view, offset, t.size, t.signed);
      const found = t.kind === 'enum'
        ? t.values.find((e) => e.value === raw)
        : t.values.find((e) => e.value === (typeof raw === 'bigint' ? raw : BigInt(raw)));
      return found ? found.name : raw;
    }
    case 'array': {
      if (isCharInt(btf, t.type)) {
        const bytes = new Uint8Array(view.buffer, view.byteOffset + offset, t.nelems);
        const end = bytes.indexOf(0);
        return Buffer.from(bytes.buffer, bytes.byteOffset, end < 0 ? t.nelems : end).toString('utf8');
      }
      const elemSize = btf.size(t.type);
      const out: unknown[] = new Array(t.nelems);
      for (let i = 0; i < t.nelems; i++) out[i] = decodeValue(btf, t.type, view, offset + i * elemSize);
      return out;
    }
    case 'struct': case 'union': {
      const obj: Record<string, unknown> = {};
      t.members.forEach((m, i) => {
        obj[memberKey(m, i)] = m.bitfieldSize
          ? readBits(view, offset, m.bitOffset, m.bitfieldSize, isSignedMember(btf, m), m.bitfieldSize > 53)
          : decodeValue(btf, m.type, view, offset + m.bitOffset / 8);
      });
      return obj;
    }
    case 'datasec': {
      const obj: Record<string, unknown> = {};
      for (const v of t.vars) {
        const vt = btf.type(v.type);
        if (vt.kind === 'var') obj[vt.name] = decodeValue(btf, vt.type, view, offset + v.offset);
      }
      return obj;
    }
    default:
      return null;
  }
}

export function encodeValue(btf: Btf, typeId: number, value: unknown, view: DataView, offset = 0, path = 'value'): void {
  const id = btf.resolve(typeId);
  const t = btf.type(id);
  switch (t.kind) {
    case 'int': {
      if (isBoolInt(btf, id)) {
        if (typeof value !== 'boolean' && value !== 0 && value !== 1) throw expected(path, 'a boolean', value);
        view.setUint8(offset, value ? 1 : 0);
        return;
      }
      const signed = (t.encoding & BTF_INT_SIGNED) !== 0;
      if (t.bits !== t.size * 8 || t.bitOffset) {
        writeBits(view, offset, t.bitOffset, t.bits, toBigInt(value, t.bits, signed, path));
        return;
      }
      writeInt(view, offset, t.size, toBigInt(value, t.size * 8, signed, path));
      return;
    }
    case 'ptr':
      view.setBigUint64(offset, toBigInt(value, 64, false, path), true);
      return;
    case 'float':
      if (typeof value !== 'number') throw expected(path, 'a number', value);
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
      writeInt(view, offset, t.size, toBigInt(raw, t.size * 8, t.signed, path));
      return;
    }
    case 'array': {
      if (isCharInt(btf, t.type) && typeof value === 'string') {
        const bytes = Buffer.from(value, 'utf8');
        if (bytes.length > t.nelems) throw new ValueError(`${path}: "${value}" is ${bytes.length} bytes, longer than char[${t.nelems}]`);
        const dst = new Uint8Array(view.buffer, view.byteOffset + offset, t.nelems);
        dst.fill(0);
        dst.set(bytes);
        return;
      }
      if (!Array.isArray(value)) throw expected(path, `an array of ${t.nelems}`, value);
      if (value.length > t.nelems) throw new ValueError(`${path}: ${value.length} elements do not fit ${t.nelems}`);
      const elemSize = btf.size(t.type);
      value.forEach((v, i) => encodeValue(btf, t.type, v, view, offset + i * elemSize, `${path}[${i}]`));
      return;
    }
    case 'struct': case 'union': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw expected(path, `an object for ${btf.typeName(id)}`, value);
      const rec = value as Record<string, unknown>;
      const keys = new Set(Object.keys(rec));
      t.members.forEach((m, i) => {
        const key = memberKey(m, i);
        if (!keys.delete(key)) return;
        if (m.bitfieldSize) writeBits(view, offset, m.bitOffset, m.bitfieldSize, toBigInt(rec[key], m.bitfieldSize, isSignedMember(btf, m), `${path}.${key}`));
        else encodeValue(btf, m.type, rec[key], view, offset + m.bitOffset / 8, `${path}.${key}`);
      });
      if (keys.size) throw new ValueError(`${path}: ${btf.typeName(id)} has no member ${[...keys].join(', ')}`);
      return;
    }
    default:
      throw new ValueError(`${path}: cannot encode a value of BTF kind ${t.kind}`);
  }
}

/** Anonymous members (nested anonymous structs/unions) get positional keys. */
function memberKey(m: Member, i: number): string {
  return m.name || `__anon${i}`;
}

function isSignedMember(btf: Btf, m: Member): boolean {
  const t = btf.type(btf.resolve(m.type));
  return (t.kind === 'int' && (t.encoding & BTF_INT_SIGNED) !== 0) || (t.kind === 'enum' && t.signed);
}

function readInt(view: DataView, offset: number, size: number, signed: boolean): number | bigint {
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
      return Number(signed ? BigInt.asIntN(size * 8, v) : v);
    }
  }
}

function writeInt(view: DataView, offset: number, size: number, v: bigint): void {
  for (let i = 0; i < size; i++) {
    view.setUint8(offset + i, Number(v & 0xffn));
    v >>= 8n;
  }
}

function readBits(view: DataView, offset: number, bitOffset: number, bits: number, signed: boolean, big: boolean): number | bigint {
  const first = offset + (bitOffset >> 3);
  const shift = bitOffset & 7;
  const nbytes = (shift + bits + 7) >> 3;
  let v = 0n;
  for (let i = nbytes - 1; i >= 0; i--) v = (v << 8n) | BigInt(view.getUint8(first + i));
  v = (v >> BigInt(shift)) & ((1n << BigInt(bits)) - 1n);
  if (signed) v = BigInt.asIntN(bits, v);
  return big ? v : Number(v);
}

function writeBits(view: DataView, offset: number, bitOffset: number, bits: number, value: bigint): void {
  const first = offset + (bitOffset >> 3);
  const shift = BigInt(bitOffset & 7);
  const nbytes = ((bitOffset & 7) + bits + 7) >> 3;
  let word = 0n;
  for (let i = nbytes - 1; i >= 0; i--) word = (word << 8n) | BigInt(view.getUint8(first + i));
  const mask = ((1n << BigInt(bits)) - 1n) << shift;
  word = (word & ~mask) | ((BigInt.asUintN(bits, value) << shift) & mask);
  for (let i = 0; i < nbytes; i++) {
    view.setUint8(first + i, Number(word & 0xffn));
    word >>= 8n;
  }
}

function toBigInt(value: unknown, bits: number, signed: boolean, path: string): bigint {
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

function expected(path: string, what: string, value: unknown): ValueError {
  const shown = typeof value === 'bigint' ? `${value}n` : JSON.stringify(value) ?? String(value);
  return new ValueError(`${path}: expected ${what}, got ${typeof value} ${shown}`);
}
