/**
 * User-space CO-RE: computes and patches the .BTF.ext CO-RE relocations of a linked
 * program against one or more target BTFs, as libbpf (relo_core.c) and the kernel's
 * copy of it do, so kernels without kernel-side CO-RE (< 5.17) get the same
 * instructions. Pure: no syscalls, no file access.
 *
 * Outline (libbpf's): parse the access string against the local (object) BTF into a
 * spec; find candidate target types by "essential" name (flavour suffix ___x dropped)
 * and compatible kind; match the spec on each candidate (named members, also through
 * anonymous structs/unions, array indices in bounds, compatible member types); compute
 * the local and the target value; every matching candidate must agree, else the
 * relocation is ambiguous; no candidate means 0 for existence checks and a poisoned
 * instruction otherwise; finally check the instruction holds the local value and patch
 * it.
 */
import { TsbpfError } from '../errors.js';
import type { Btf } from './btf.js';
import type { CoreRelo } from './ext.js';
import { BTF_INT_SIGNED, type BtfType, type Member, type Struct } from './types.js';

/** enum bpf_core_relo_kind, as linux/bpf.h numbers it. */
export const CORE = {
  FIELD_BYTE_OFFSET: 0,
  FIELD_BYTE_SIZE: 1,
  FIELD_EXISTS: 2,
  FIELD_SIGNED: 3,
  FIELD_LSHIFT_U64: 4,
  FIELD_RSHIFT_U64: 5,
  TYPE_ID_LOCAL: 6,
  TYPE_ID_TARGET: 7,
  TYPE_EXISTS: 8,
  TYPE_SIZE: 9,
  ENUMVAL_EXISTS: 10,
  ENUMVAL_VALUE: 11,
  TYPE_MATCHES: 12,
} as const;

const KIND_STR = [
  'byte_off', 'byte_sz', 'field_exists', 'signed', 'lshift_u64', 'rshift_u64', 'local_type_id',
  'target_type_id', 'type_exists', 'type_size', 'enumval_exists', 'enumval_value', 'type_matches',
];
export const coreKindName = (k: number): string => KIND_STR[k] ?? `kind ${k}`;

/** The helper id libbpf and the kernel put into a poisoned call: 0xbad2310, "bad relo". */
export const POISON_HELPER = 195896080;

/** libbpf's BPF_CORE_SPEC_MAX_LEN: deeper access strings are refused. */
const SPEC_MAX_LEN = 64;
/** libbpf's recursion bound for type comparisons. */
const MAX_DEPTH = 32;

/**
 * A BTF that candidates are searched in. vmlinux comes first; modules' split BTFs can
 * follow later (their own types start at `startId`). As libbpf and the kernel do, the
 * others are searched only when the first has no candidate.
 */
export interface CoreTarget {
  btf: Btf;
  /** For messages: "vmlinux", a module name, a file path. */
  name: string;
  /** First type id that belongs to this BTF (1 for a base BTF). */
  startId?: number;
}

/** What one relocation did. Values are u64, as libbpf computes them. */
export interface CoreOutcome {
  /** Index of the record among the program's records. */
  index: number;
  /** Absolute instruction index. */
  insn: number;
  kind: number;
  /** The value the compiler put there (from the local BTF). */
  localValue: bigint;
  /** The value patched in; undefined when the instruction was poisoned. */
  value?: bigint;
  poisoned: boolean;
  /** Why it was poisoned: no target has the field/enumerator, or a load cannot change size. */
  poisonReason?: 'no-match' | 'size';
  /** The matched target type, when a candidate matched. */
  target?: { btf: string; typeId: number };
  /** "struct task_struct.real_parent" style spelling of the local spec. */
  spec: string;
}

/** A relocation that cannot be applied: names the program, the record, the instruction and the type. */
export class CoreError extends TsbpfError {
  override name = 'CoreError';
}

interface Accessor {
  typeId: number;
  idx: number;
  /** Member or enumerator name; undefined for array (and root) accessors. */
  name?: string;
}

interface Spec {
  btf: Btf;
  rootId: number;
  kind: number;
  /** Named members and array indices only. */
  acc: Accessor[];
  /** Every index of the access string (including anonymous members). */
  raw: number[];
  bitOffset: number;
}

interface Cand {
  target: CoreTarget;
  id: number;
}

interface Result {
  orig: bigint;
  value: bigint;
  poison: boolean;
  validate: boolean;
  failMemszAdjust: boolean;
  origSize: number;
  newSize: number;
  origTypeId: number;
  newTypeId: number;
}

/** A recoverable "this relocation cannot be done" inside the algorithm; becomes a CoreError with context. */
class Fail extends Error {}
/** libbpf's -EUCLEAN: the instruction is to be poisoned. */
class Poison extends Error {}

const isFieldKind = (k: number) => k <= CORE.FIELD_RSHIFT_U64;
const isTypeKind = (k: number) =>
  k === CORE.TYPE_ID_LOCAL || k === CORE.TYPE_ID_TARGET || k === CORE.TYPE_EXISTS || k === CORE.TYPE_MATCHES || k === CORE.TYPE_SIZE;
const isEnumvalKind = (k: number) => k === CORE.ENUMVAL_EXISTS || k === CORE.ENUMVAL_VALUE;

const isComposite = (t: BtfType): t is Struct => t.kind === 'struct' || t.kind === 'union';
const isAnyEnum = (t: BtfType) => t.kind === 'enum' || t.kind === 'enum64';
/** libbpf's btf_kind_core_compat: same kind, or enum and enum64. */
const kindCompat = (a: BtfType, b: BtfType) => a.kind === b.kind || (isAnyEnum(a) && isAnyEnum(b));

/**
 * Length of the name without its flavour: "task_struct___old" -> 11. The separator is
 * the last "___" that has a non-underscore on both sides (libbpf's rule).
 */
export function essentialNameLength(name: string): number {
  for (let i = name.length - 5; i >= 0; i--) {
    if (name[i] !== '_' && name[i + 1] === '_' && name[i + 2] === '_' && name[i + 3] === '_' && name[i + 4] !== '_') return i + 1;
  }
  return name.length;
}
export const essentialName = (name: string): string => name.slice(0, essentialNameLength(name));

function typeAt(btf: Btf, id: number): BtfType {
  const t = btf.types[id];
  if (t === undefined) throw new Fail(`type id ${id} does not exist (${btf.types.length} types)`);
  return t;
}

/** skip_mods_and_typedefs: the id and type behind typedefs and qualifiers. */
function skip(btf: Btf, id: number): [number, BtfType] {
  for (let i = 0; i < MAX_DEPTH * 2; i++) {
    const t = typeAt(btf, id);
    switch (t.kind) {
      case 'typedef': case 'const': case 'volatile': case 'restrict': case 'type_tag':
        id = t.type;
        continue;
      default:
        return [id, t];
    }
  }
  throw new Fail(`type chain from id ${id} is a cycle`);
}

function sizeOf(btf: Btf, id: number): number {
  try {
    return btf.size(id);
  } catch (e) {
    if (e instanceof TsbpfError) throw new Fail(`type [${id}] has no size: ${e.message}`);
    throw e;
  }
}

function vlen(t: BtfType): number {
  switch (t.kind) {
    case 'struct': case 'union': return t.members.length;
    case 'enum': case 'enum64': return t.values.length;
    case 'func_proto': return t.params.length;
    default: return 0;
  }
}

const isFlexArray = (btf: Btf, acc: Accessor | undefined, nelems: number) =>
  !!acc?.name && nelems === 0 && acc.idx === vlen(typeAt(btf, acc.typeId)) - 1;

function parseSpec(btf: Btf, relo: CoreRelo): Spec {
  let str: string;
  try {
    str = btf.strings.get(relo.accessStrOff);
  } catch (e) {
    throw new Fail(`access string offset ${relo.accessStrOff} is invalid (${(e as Error).message})`);
  }
  if (str === '' || str[0] === ':') throw new Fail(`access string "${str}" is invalid`);
  const spec: Spec = { btf, rootId: relo.typeId, kind: relo.kind, acc: [], raw: [], bitOffset: 0 };
  typeAt(btf, relo.typeId);
  if (isTypeKind(relo.kind)) {
    if (str !== '0') throw new Fail(`access string "${str}" of a type relocation must be "0"`);
    return spec;
  }
  // "0:1:2" -> [0, 1, 2], with sscanf("%d")'s leniency left out: digits only.
  if (!/^\d+(:\d+)*$/.test(str)) throw new Fail(`access string "${str}" is invalid`);
  for (const part of str.split(':')) {
    if (spec.raw.length === SPEC_MAX_LEN) throw new Fail(`access string "${str}" is deeper than ${SPEC_MAX_LEN}`);
    const n = Number(part);
    if (n > 0x7fffffff) throw new Fail(`access string "${str}" has an index out of range`);
    spec.raw.push(n);
  }
  let [id, t] = skip(btf, relo.typeId);
  const first = spec.raw[0]!;
  spec.acc.push({ typeId: id, idx: first });
  if (isEnumvalKind(relo.kind)) {
    if ((t.kind !== 'enum' && t.kind !== 'enum64') || spec.raw.length > 1 || first >= t.values.length) {
      throw new Fail(`access string "${str}" does not name an enumerator of [${relo.typeId}] ${btf.typeName(relo.typeId)}`);
    }
    spec.acc[0]!.name = t.values[first]!.name;
    return spec;
  }
  if (!isFieldKind(relo.kind)) throw new Fail(`unknown relocation kind ${relo.kind}`);
  spec.bitOffset = first * sizeOf(btf, id) * 8;
  for (let i = 1; i < spec.raw.length; i++) {
    [id, t] = skip(btf, id);
    const idx = spec.raw[i]!;
    if (isComposite(t)) {
      if (idx >= t.members.length) throw new Fail(`access string "${str}": ${btf.typeName(id)} has no member #${idx}`);
      const m = t.members[idx]!;
      spec.bitOffset += m.bitOffset;
      if (m.name) spec.acc.push({ typeId: id, idx, name: m.name });
      id = m.type;
    } else if (t.kind === 'array') {
      const [elemId] = skip(btf, t.type);
      if (!isFlexArray(btf, spec.acc[spec.acc.length - 1], t.nelems) && idx >= t.nelems) {
        throw new Fail(`access string "${str}": index ${idx} is out of ${btf.typeName(id)}`);
      }
      id = elemId;
      spec.acc.push({ typeId: id, idx });
      spec.bitOffset += idx * sizeOf(btf, id) * 8;
    } else {
      throw new Fail(`access string "${str}" (at index ${i}) goes into [${id}] ${t.kind}, which has no members`);
    }
  }
  return spec;
}

/** "struct task_struct.real_parent.tgid" / "enum pid_type::PIDTYPE_PID" / "struct foo". */
function formatSpec(spec: Spec): string {
  const btf = spec.btf;
  let s: string;
  try {
    s = btf.typeName(spec.rootId);
  } catch {
    s = `[${spec.rootId}]`;
  }
  if (isEnumvalKind(spec.kind) && spec.acc[0]?.name !== undefined) return `${s}::${spec.acc[0].name}`;
  spec.acc.forEach((a, i) => {
    if (a.name !== undefined) s += `.${a.name}`;
    else if (i > 0 || a.idx > 0) s += `[${a.idx}]`;
  });
  return s;
}

/** bpf_core_fields_are_compat. */
function fieldsCompat(lb: Btf, lid: number, tb: Btf, tid: number): boolean {
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const [, lt] = skip(lb, lid);
    const [, tt] = skip(tb, tid);
    if (isComposite(lt) && isComposite(tt)) return true;
    if (!kindCompat(lt, tt)) return false;
    switch (lt.kind) {
      case 'ptr': case 'float':
        return true;
      case 'fwd': case 'enum': case 'enum64': {
        const ln = essentialNameLength(lt.name), tn = essentialNameLength(tt.name);
        return ln === 0 || tn === 0 || (ln === tn && lt.name.slice(0, ln) === tt.name.slice(0, tn));
      }
      case 'int':
        return lt.bitOffset === 0 && (tt as typeof lt).bitOffset === 0;
      case 'array':
        lid = lt.type;
        tid = (tt as typeof lt).type;
        continue;
      default:
        return false;
    }
  }
  throw new Fail(`types [${lid}] and [${tid}] nest deeper than ${MAX_DEPTH}`);
}

/** bpf_core_types_are_compat: for type-based relocations other than TYPE_MATCHES. */
export function typesCompat(lb: Btf, lid: number, tb: Btf, tid: number, level = MAX_DEPTH): boolean {
  if (!kindCompat(typeAt(lb, lid), typeAt(tb, tid))) return false;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const [l, ltype] = skip(lb, lid);
    const [t, ttype] = skip(tb, tid);
    if (!kindCompat(ltype, ttype)) return false;
    switch (ltype.kind) {
      case 'void': case 'struct': case 'union': case 'enum': case 'enum64': case 'fwd':
        return true;
      case 'int':
        return ltype.bitOffset === 0 && (ttype as typeof ltype).bitOffset === 0;
      case 'ptr':
        lid = ltype.type;
        tid = (ttype as typeof ltype).type;
        continue;
      case 'array':
        lid = ltype.type;
        tid = (ttype as typeof ltype).type;
        continue;
      case 'func_proto': {
        const tp = ttype as typeof ltype;
        if (ltype.params.length !== tp.params.length) return false;
        for (let i = 0; i < ltype.params.length; i++) {
          if (level <= 0) throw new Fail(`function prototypes [${l}] and [${t}] nest too deep`);
          const [pl] = skip(lb, ltype.params[i]!.type);
          const [pt] = skip(tb, tp.params[i]!.type);
          if (!typesCompat(lb, pl, tb, pt, level - 1)) return false;
        }
        lid = skip(lb, ltype.returnType)[0];
        tid = skip(tb, tp.returnType)[0];
        continue;
      }
      default:
        return false;
    }
  }
  throw new Fail(`types [${lid}] and [${tid}] nest deeper than ${MAX_DEPTH}`);
}

/** bpf_core_names_match: essential names equal; an anonymous target matches only an anonymous local. */
function namesMatch(local: string, targ: string): boolean {
  if (targ === '') return local === '';
  const tl = essentialNameLength(targ), ll = essentialNameLength(local);
  return tl === ll && local.slice(0, ll) === targ.slice(0, tl);
}

/** bpf_core_types_match: the stricter relation behind bpf_core_type_matches(). */
export function typesMatch(lb: Btf, lid: number, tb: Btf, tid: number, behindPtr = false, level = MAX_DEPTH): boolean {
  if (level <= 0) throw new Fail(`types [${lid}] and [${tid}] nest deeper than ${MAX_DEPTH}`);
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    const [, lt] = skip(lb, lid);
    const [, tt] = skip(tb, tid);
    if (!namesMatch(lt.name, tt.name)) return false;
    switch (lt.kind) {
      case 'void':
        return tt.kind === 'void';
      case 'fwd':
        if (behindPtr) {
          if (tt.kind === 'fwd') return lt.union === tt.union;
          return (tt.kind === 'struct' && !lt.union) || (tt.kind === 'union' && lt.union);
        }
        return tt.kind === 'fwd' && lt.union === tt.union;
      case 'enum': case 'enum64':
        if (tt.kind !== 'enum' && tt.kind !== 'enum64') return false;
        if (lt.size !== tt.size || lt.values.length > tt.values.length) return false;
        return lt.values.every((lv) => tt.values.some((tv) => namesMatch(lv.name, tv.name)));
      case 'struct': case 'union':
        if (behindPtr) {
          if (lt.kind === tt.kind) return true;
          return tt.kind === 'fwd' && (lt.kind === 'union') === tt.union;
        }
        if (lt.kind !== tt.kind) return false;
        return compositesMatch(lb, lt, tb, tt as Struct, behindPtr, level);
      case 'int':
        return tt.kind === 'int' && lt.size === tt.size && (lt.encoding & BTF_INT_SIGNED) === (tt.encoding & BTF_INT_SIGNED);
      case 'ptr':
        if (tt.kind !== 'ptr') return false;
        behindPtr = true;
        lid = lt.type;
        tid = tt.type;
        continue;
      case 'array':
        if (tt.kind !== 'array' || lt.nelems !== tt.nelems) return false;
        lid = lt.type;
        tid = tt.type;
        continue;
      case 'func_proto':
        if (tt.kind !== 'func_proto' || lt.params.length !== tt.params.length) return false;
        for (let i = 0; i < lt.params.length; i++) {
          if (!typesMatch(lb, lt.params[i]!.type, tb, tt.params[i]!.type, behindPtr, level - 1)) return false;
        }
        lid = lt.returnType;
        tid = tt.returnType;
        continue;
      default:
        return false;
    }
  }
  throw new Fail(`types [${lid}] and [${tid}] nest deeper than ${MAX_DEPTH}`);
}

function compositesMatch(lb: Btf, lt: Struct, tb: Btf, tt: Struct, behindPtr: boolean, level: number): boolean {
  if (lt.members.length > tt.members.length) return false;
  return lt.members.every((lm) =>
    tt.members.some((tm) => namesMatch(lm.name, tm.name) && typesMatch(lb, lm.type, tb, tm.type, behindPtr, level - 1)),
  );
}

/** bpf_core_match_member: finds the local member's namesake in the target, through anonymous members. */
/**
 * The target member's type id when found; undefined when absent (search on); false when
 * a member of that name exists with an incompatible type (no match).
 */
function matchMember(local: Spec, lacc: Accessor, tb: Btf, tid: number, spec: Spec): number | undefined | false {
  const [id, t] = skip(tb, tid);
  if (!isComposite(t)) return undefined;
  const lt = typeAt(local.btf, lacc.typeId) as Struct;
  const lm = lt.members[lacc.idx]!;
  for (let i = 0; i < t.members.length; i++) {
    const m: Member = t.members[i]!;
    if (spec.raw.length === SPEC_MAX_LEN) throw new Fail(`target type [${id}] nests deeper than ${SPEC_MAX_LEN}`);
    spec.bitOffset += m.bitOffset;
    spec.raw.push(i);
    if (m.name === '') {
      // Embedded struct/union: go deeper; an incompatible namesake in there does not
      // end the search (libbpf's recursion treats it as not found).
      const found = matchMember(local, lacc, tb, m.type, spec);
      if (typeof found === 'number') return found;
    } else if (m.name === lm.name) {
      if (!fieldsCompat(local.btf, lm.type, tb, m.type)) {
        spec.bitOffset -= m.bitOffset;
        spec.raw.pop();
        return false;
      }
      spec.acc.push({ typeId: id, idx: i, name: m.name });
      return m.type;
    }
    spec.bitOffset -= m.bitOffset;
    spec.raw.pop();
  }
  return undefined;
}

/** bpf_core_spec_match: the target spec, or undefined when the candidate does not match. */
function specMatch(local: Spec, cand: Cand): Spec | undefined {
  const tb = cand.target.btf;
  let tid = cand.id;
  const spec: Spec = { btf: tb, rootId: tid, kind: local.kind, acc: [], raw: [], bitOffset: 0 };
  if (isTypeKind(local.kind)) {
    const ok = local.kind === CORE.TYPE_MATCHES
      ? typesMatch(local.btf, local.rootId, tb, tid)
      : typesCompat(local.btf, local.rootId, tb, tid);
    return ok ? spec : undefined;
  }
  if (isEnumvalKind(local.kind)) {
    const [eid, t] = skip(tb, tid);
    if (t.kind !== 'enum' && t.kind !== 'enum64') return undefined;
    const want = essentialName(local.acc[0]!.name!);
    const i = t.values.findIndex((v) => essentialName(v.name) === want);
    if (i < 0) return undefined;
    spec.acc.push({ typeId: eid, idx: i, name: t.values[i]!.name });
    spec.raw.push(i);
    return spec;
  }
  for (let i = 0; i < local.acc.length; i++) {
    const lacc = local.acc[i]!;
    const [id, t] = skip(tb, tid);
    tid = id;
    if (lacc.name !== undefined) {
      const next = matchMember(local, lacc, tb, tid, spec);
      if (next === undefined || next === false) return undefined;
      tid = next;
    } else {
      if (i > 0) {
        if (t.kind !== 'array') return undefined;
        if (!isFlexArray(tb, spec.acc[spec.acc.length - 1], t.nelems) && lacc.idx >= t.nelems) return undefined;
        tid = skip(tb, t.type)[0];
      }
      if (spec.raw.length === SPEC_MAX_LEN) throw new Fail(`target type [${cand.id}] nests deeper than ${SPEC_MAX_LEN}`);
      spec.acc.push({ typeId: tid, idx: lacc.idx });
      spec.raw.push(lacc.idx);
      spec.bitOffset += lacc.idx * sizeOf(tb, tid) * 8;
    }
  }
  return spec;
}

/** bpf_core_calc_field_relo for one side; `validate` is set from the local side only. */
function fieldValue(kind: number, spec: Spec | undefined, out: { size: number; typeId: number; validate?: boolean }): bigint {
  out.size = 0;
  if (kind === CORE.FIELD_EXISTS) return spec ? 1n : 0n;
  if (!spec) throw new Poison();
  const acc = spec.acc[spec.acc.length - 1]!;
  const btf = spec.btf;
  if (acc.name === undefined) {
    if (kind === CORE.FIELD_BYTE_OFFSET) {
      out.size = sizeOf(btf, acc.typeId);
      out.typeId = acc.typeId;
      out.validate = true;
      return BigInt(Math.floor(spec.bitOffset / 8));
    }
    if (kind === CORE.FIELD_BYTE_SIZE) {
      out.validate = true;
      return BigInt(sizeOf(btf, acc.typeId));
    }
    throw new Fail(`${coreKindName(kind)} cannot be applied to an array element`);
  }
  const t = typeAt(btf, acc.typeId) as Struct;
  const m = t.members[acc.idx]!;
  const [fieldId, mt] = skip(btf, m.type);
  const bitOff = spec.bitOffset;
  let bitSz = m.bitfieldSize;
  const bitfield = bitSz > 0;
  let byteSz: number, byteOff: number;
  if (bitfield) {
    byteSz = 'size' in mt ? (mt.size as number) : 0;
    if (byteSz <= 0) throw new Fail(`bitfield ${m.name} has a type without size`);
    byteOff = Math.floor(bitOff / 8 / byteSz) * byteSz;
    // The smallest load that covers the whole bitfield.
    while (bitOff + bitSz - byteOff * 8 > byteSz * 8) {
      if (byteSz >= 8) throw new Fail(`bitfield ${m.name} cannot be read with one 64-bit load`);
      byteSz *= 2;
      byteOff = Math.floor(bitOff / 8 / byteSz) * byteSz;
    }
  } else {
    byteSz = sizeOf(btf, fieldId);
    byteOff = Math.floor(bitOff / 8);
    bitSz = byteSz * 8;
  }
  // For bitfields the compiler's values may legitimately differ from ours: only the
  // signedness and the right shift are checked against the instruction.
  out.validate = !bitfield;
  switch (kind) {
    case CORE.FIELD_BYTE_OFFSET:
      if (!bitfield) {
        out.size = byteSz;
        out.typeId = fieldId;
      }
      return BigInt(byteOff);
    case CORE.FIELD_BYTE_SIZE:
      return BigInt(byteSz);
    case CORE.FIELD_SIGNED:
      out.validate = true;
      return (isAnyEnum(mt) && (mt as { signed: boolean }).signed) || (mt.kind === 'int' && (mt.encoding & BTF_INT_SIGNED) !== 0) ? 1n : 0n;
    case CORE.FIELD_LSHIFT_U64:
      // Little-endian only, as tsbpf's targets are.
      return BigInt.asUintN(64, BigInt(64 - (bitOff + bitSz - byteOff * 8)));
    case CORE.FIELD_RSHIFT_U64:
      out.validate = true;
      return BigInt.asUintN(64, BigInt(64 - bitSz));
    default:
      throw new Fail(`unknown relocation kind ${kind}`);
  }
}

function typeValue(kind: number, spec: Spec | undefined, out: { validate?: boolean }): bigint {
  out.validate = true;
  if (!spec) return 0n;
  switch (kind) {
    case CORE.TYPE_ID_TARGET:
      // Type ids in an instruction change when objects are linked: not checked.
      out.validate = false;
      return BigInt(spec.rootId);
    case CORE.TYPE_EXISTS: case CORE.TYPE_MATCHES:
      return 1n;
    case CORE.TYPE_SIZE:
      return BigInt(sizeOf(spec.btf, spec.rootId));
    default:
      throw new Fail(`unknown relocation kind ${kind}`);
  }
}

function enumValue(kind: number, spec: Spec | undefined): bigint {
  if (kind === CORE.ENUMVAL_EXISTS) return spec ? 1n : 0n;
  if (!spec) throw new Poison();
  const t = typeAt(spec.btf, spec.acc[0]!.typeId);
  if (t.kind === 'enum') return BigInt.asUintN(64, BigInt(t.values[spec.acc[0]!.idx]!.value | 0)); // libbpf reads an s32
  if (t.kind === 'enum64') return BigInt.asUintN(64, t.values[spec.acc[0]!.idx]!.value);
  throw new Fail(`[${spec.acc[0]!.typeId}] is not an enum`);
}

/** bpf_core_calc_relo: local and target values for one candidate (or none). */
function calc(local: Spec, targ: Spec | undefined): Result {
  const r: Result = {
    orig: 0n, value: 0n, poison: false, validate: true, failMemszAdjust: false,
    origSize: 0, newSize: 0, origTypeId: 0, newTypeId: 0,
  };
  const kind = local.kind;
  try {
    if (isFieldKind(kind)) {
      const lo = { size: 0, typeId: 0, validate: true as boolean | undefined };
      r.orig = fieldValue(kind, local, lo);
      r.validate = lo.validate ?? true;
      r.origSize = lo.size;
      r.origTypeId = lo.typeId;
      const to = { size: 0, typeId: 0 };
      r.value = fieldValue(kind, targ, to);
      r.newSize = to.size;
      r.newTypeId = to.typeId;
      if (r.origSize !== r.newSize) {
        // A load may change size only for pointers (32-bit kernels) and unsigned ints,
        // whose value zero-extension keeps; anything else would read a wrong value.
        const ot = typeAt(local.btf, r.origTypeId), nt = typeAt(targ!.btf, r.newTypeId);
        const unsignedInt = (t: BtfType) => t.kind === 'int' && t.encoding !== BTF_INT_SIGNED;
        if (!((ot.kind === 'ptr' && nt.kind === 'ptr') || (unsignedInt(ot) && unsignedInt(nt)))) r.failMemszAdjust = true;
      }
    } else if (isTypeKind(kind)) {
      const lo: { validate?: boolean } = {};
      r.orig = typeValue(kind, local, lo);
      r.validate = lo.validate ?? true;
      r.value = typeValue(kind, targ, {});
    } else if (isEnumvalKind(kind)) {
      r.orig = enumValue(kind, local);
      r.value = enumValue(kind, targ);
    } else {
      throw new Fail(`unknown relocation kind ${kind}`);
    }
  } catch (e) {
    if (!(e instanceof Poison)) throw e;
    r.poison = true;
  }
  return r;
}

/** Candidates of one local type, shared by the relocations of a program (libbpf prunes them as it goes). */
export type CandidateCache = Map<number, Cand[]>;

const essentialIndex = new WeakMap<Btf, Map<string, number[]>>();

/** Type ids by essential name, built once per BTF (vmlinux has ~100k types). */
function byEssentialName(btf: Btf): Map<string, number[]> {
  let idx = essentialIndex.get(btf);
  if (!idx) {
    idx = new Map();
    btf.types.forEach((t, id) => {
      if (!t.name) return;
      const key = essentialName(t.name);
      const l = idx!.get(key);
      if (l) l.push(id);
      else idx!.set(key, [id]);
    });
    essentialIndex.set(btf, idx);
  }
  return idx;
}

/**
 * bpf_core_find_cands: target types whose essential name and kind match the local
 * type's. The first target (vmlinux) is searched first; the others (modules) only when
 * it has none, as libbpf and the kernel do.
 */
function findCandidates(local: Btf, localId: number, targets: CoreTarget[], more?: () => readonly CoreTarget[]): Cand[] {
  const lt = typeAt(local, localId);
  const name = essentialName(lt.name);
  const search = (target: CoreTarget, out: Cand[]) => {
    const start = target.startId ?? 1;
    for (const id of byEssentialName(target.btf).get(name) ?? []) {
      if (id >= start && kindCompat(target.btf.types[id]!, lt)) out.push({ target, id });
    }
    return out;
  };
  const main = search(targets[0]!, []);
  if (main.length > 0) return main;
  const rest: Cand[] = [];
  for (const t of targets.slice(1)) search(t, rest);
  if (rest.length === 0 && more) for (const t of more()) search(t, rest);
  return rest;
}

function readInsn(v: DataView, i: number) {
  const o = i * 8;
  return { code: v.getUint8(o), regs: v.getUint8(o + 1), off: v.getInt16(o + 2, true), imm: v.getInt32(o + 4, true) };
}

function poisonInsn(v: DataView, i: number): void {
  const o = i * 8;
  v.setUint8(o, 0x85); // BPF_JMP | BPF_CALL
  v.setUint8(o + 1, 0);
  v.setInt16(o + 2, 0, true);
  v.setInt32(o + 4, POISON_HELPER, true);
}

const BYTES_TO_SIZE: Record<number, number> = { 1: 0x10, 2: 0x08, 4: 0x00, 8: 0x18 };
const SIZE_TO_BYTES: Record<number, number> = { 0x10: 1, 0x08: 2, 0x00: 4, 0x18: 8 };

/** bpf_core_patch_insn. Returns an error text, 'poisoned', or undefined when patched. */
function patch(v: DataView, n: number, i: number, r: Result): string | undefined {
  const ins = readInsn(v, i);
  const cls = ins.code & 0x07;
  const ldimm64 = ins.code === 0x18;
  const poison = () => {
    if (ldimm64 && i + 1 < n) poisonInsn(v, i + 1);
    poisonInsn(v, i);
    return 'poisoned';
  };
  if (r.poison) return poison();
  const sext = (x: number) => BigInt.asUintN(64, BigInt(x));
  switch (cls) {
    case 0x04: case 0x07: // ALU, ALU64
      if ((ins.code & 0x08) !== 0) return 'is an ALU instruction with a register operand, not an immediate';
      if (r.validate && sext(ins.imm) !== r.orig) return `holds ${ins.imm}, expected the local value ${r.orig}`;
      v.setInt32(i * 8 + 4, Number(BigInt.asIntN(32, r.value)), true);
      return undefined;
    case 0x01: case 0x02: case 0x03: { // LDX, ST, STX
      if (r.validate && sext(ins.off) !== r.orig) return `has offset ${ins.off}, expected the local value ${r.orig}`;
      if (r.value > 0x7fffn) return `offset ${r.value} does not fit an instruction offset`;
      if (r.failMemszAdjust) {
        // libbpf poisons (with a warning) rather than read a field of another size wrongly.
        return poison();
      }
      v.setInt16(i * 8 + 2, Number(r.value), true);
      if (r.newSize !== r.origSize) {
        const has = SIZE_TO_BYTES[ins.code & 0x18];
        if (has !== r.origSize) return `accesses ${has} bytes, expected ${r.origSize}`;
        const size = BYTES_TO_SIZE[r.newSize];
        if (size === undefined) return `cannot access ${r.newSize} bytes in one instruction`;
        v.setUint8(i * 8, (ins.code & 0xe0) | size | cls);
      }
      return undefined;
    }
    case 0x00: { // LD: only ld_imm64
      if (!ldimm64 || i + 1 >= n) return 'is a BPF_LD instruction other than ld_imm64';
      const hi = readInsn(v, i + 1);
      if ((ins.regs & 0xf0) !== 0 || ins.off !== 0 || hi.code !== 0 || hi.regs !== 0 || hi.off !== 0) return 'is an ld_imm64 of unexpected form';
      const imm = (BigInt(hi.imm >>> 0) << 32n) | BigInt(ins.imm >>> 0);
      if (r.validate && imm !== r.orig) return `holds ${imm}, expected the local value ${r.orig}`;
      v.setInt32(i * 8 + 4, Number(BigInt.asIntN(32, r.value)), true);
      v.setInt32(i * 8 + 12, Number(BigInt.asIntN(32, r.value >> 32n)), true);
      return undefined;
    }
    default:
      return `(code 0x${ins.code.toString(16)}) cannot be relocated`;
  }
}

export interface ApplyCoreOptions {
  /** Candidates per local type id, kept across calls (e.g. the programs of one object). */
  cache?: CandidateCache;
  /**
   * Further targets (kernel modules' split BTF), searched only for types the first
   * targets lack. A function, so they are read only when some type needs them.
   */
  moreTargets?: () => readonly CoreTarget[];
}

/**
 * Computes and patches every CO-RE relocation of one linked program in place.
 * `relos` carry absolute instruction indices (`insnOff` in instructions, as
 * object/link.ts gives them). Throws CoreError for a relocation that cannot be applied
 * (ambiguous candidates, an instruction that does not hold the local value, a malformed
 * record); unresolvable fields poison their instruction instead, as libbpf does.
 */
export function applyCoreRelocations(
  program: string,
  local: Btf,
  relos: readonly CoreRelo[],
  insns: Uint8Array,
  targets: readonly CoreTarget[],
  opts: ApplyCoreOptions = {},
): CoreOutcome[] {
  if (targets.length === 0) throw new CoreError(`program ${program}: CO-RE needs at least one target BTF`);
  const v = new DataView(insns.buffer, insns.byteOffset, insns.byteLength);
  const n = Math.floor(insns.byteLength / 8);
  const cache = opts.cache ?? new Map();
  const out: CoreOutcome[] = [];
  relos.forEach((relo, index) => {
    const where = `program ${program}: CO-RE relocation #${index} (${coreKindName(relo.kind)}) at insn ${relo.insnOff}`;
    let local_: Spec | undefined;
    try {
      if (!Number.isInteger(relo.insnOff) || relo.insnOff < 0 || relo.insnOff >= n) {
        throw new Fail(`instruction index is outside the program's ${n} instructions`);
      }
      if (relo.kind > CORE.TYPE_MATCHES) throw new Fail(`unknown relocation kind ${relo.kind}; tsbpf knows kinds 0..12`);
      const localSpec = parseSpec(local, relo);
      local_ = localSpec;
      let res: Result;
      let target: CoreOutcome['target'];
      if (relo.kind === CORE.TYPE_ID_LOCAL) {
        // The local id needs no candidate; linking may renumber it, so it is not checked.
        res = {
          orig: BigInt(localSpec.rootId), value: BigInt(localSpec.rootId), poison: false, validate: false,
          failMemszAdjust: false, origSize: 0, newSize: 0, origTypeId: 0, newTypeId: 0,
        };
      } else {
        if (typeAt(local, relo.typeId).name === '') throw new Fail(`${formatSpec(localSpec)}: CO-RE cannot relocate an anonymous type`);
        let cands = cache.get(relo.typeId);
        if (!cands) cache.set(relo.typeId, (cands = findCandidates(local, relo.typeId, [...targets], opts.moreTargets)));
        let best: { res: Result; spec: Spec; cand: Cand } | undefined;
        const kept: Cand[] = [];
        for (const cand of cands) {
          const spec = specMatch(localSpec, cand);
          if (!spec) continue;
          const r = calc(localSpec, spec);
          if (!best) {
            best = { res: r, spec, cand };
          } else if (spec.bitOffset !== best.spec.bitOffset) {
            throw new Fail(`${formatSpec(localSpec)} is ambiguous: ${cand.target.name} types [${best.cand.id}] and [${cand.id}] put it at bit offsets ${best.spec.bitOffset} and ${spec.bitOffset}`);
          } else if (r.poison !== best.res.poison || r.value !== best.res.value) {
            throw new Fail(`${formatSpec(localSpec)} is ambiguous: ${cand.target.name} types [${best.cand.id}] and [${cand.id}] give ${best.res.poison ? 'failure' : best.res.value} and ${r.poison ? 'failure' : r.value}`);
          }
          kept.push(cand);
        }
        if (kept.length > 0) cache.set(relo.typeId, kept);
        if (best) {
          res = best.res;
          target = { btf: best.cand.target.name, typeId: best.cand.id };
        } else {
          res = calc(localSpec, undefined);
        }
      }
      const err = patch(v, n, relo.insnOff, res);
      if (err && err !== 'poisoned') throw new Fail(`${formatSpec(localSpec)}: instruction ${err}`);
      out.push({
        index, insn: relo.insnOff, kind: relo.kind, localValue: res.orig,
        ...(err ? {} : { value: res.value }),
        poisoned: err === 'poisoned',
        ...(err === 'poisoned' ? { poisonReason: res.poison ? 'no-match' as const : 'size' as const } : {}),
        ...(target ? { target } : {}),
        spec: formatSpec(localSpec),
      });
    } catch (e) {
      if (e instanceof Fail) throw new CoreError(`${where}: ${e.message}`);
      if (e instanceof TsbpfError && !(e instanceof CoreError)) {
        throw new CoreError(`${where}${local_ ? ` (${formatSpec(local_)})` : ''}: ${e.message}`);
      }
      throw e;
    }
  });
  return out;
}
