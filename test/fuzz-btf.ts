/**
 * Structure-aware BTF mutations for the fuzz suite (test/fuzz.test.ts): edits of the
 * parsed type graph (sizes of 0xffffffff, huge element counts, structs and typedefs that
 * contain themselves, long chains, 65535 members, long or duplicate names), re-encoded with
 * encodeBtf; attacks on encoded string tables (no NUL terminator, every name at one long
 * string); and re-embedding a new .BTF into an ELF object. Everything is driven by the
 * case's PRNG, so a case is reproducible from its index and seed.
 */
import { encodeBtf, parseBtf, type Btf } from '../src/btf/index.js';
import type { BtfType, Member, Struct } from '../src/btf/types.js';
import { parseElf } from '../src/elf/index.js';

/** The subset of the suite's PRNG helper these mutations use. */
export interface FuzzRng {
  next(): number;
  int(lo: number, hi: number): number;
  pick<T>(xs: readonly T[]): T;
  chance(p: number): boolean;
  u32(): number;
}

const HUGE_SIZES = [0, 1, 3, 0xffffffff, 0xfffffffe, 0x80000000, 0x7fffffff, 0xfffffff0, 0x10000000, 1 << 20];
const HUGE_COUNTS = [0, 1, 0xffffffff, 0x80000000, 0x7fffffff, 0x10000000, 0x01000000, 1 << 20, 65536, 4097];

function idsOf(btf: Btf, pred: (t: BtfType) => boolean): number[] {
  const out: number[] = [];
  btf.types.forEach((t, id) => {
    if (id && pred(t)) out.push(id);
  });
  return out;
}

const isRecord = (t: BtfType): t is Struct => t.kind === 'struct' || t.kind === 'union';

/** A struct or union of `btf` (made when there is none). */
function someRecord(rng: FuzzRng, btf: Btf): number {
  const ids = idsOf(btf, isRecord);
  if (ids.length) return rng.pick(ids);
  return btf.add({ kind: 'struct', name: 'fuzz_rec', size: 4, members: [{ name: 'x', type: someInt(btf), bitOffset: 0, bitfieldSize: 0 }], kflag: false });
}

function someInt(btf: Btf): number {
  const id = btf.types.findIndex((t) => t.kind === 'int' && t.size === 4);
  return id > 0 ? id : btf.add({ kind: 'int', name: 'int', size: 4, encoding: 1, bitOffset: 0, bits: 32 });
}

function someId(rng: FuzzRng, btf: Btf): number {
  return rng.int(0, btf.count - 1);
}

/** A member to hang a new type on: a new member of some struct (or its first member's type). */
function attach(rng: FuzzRng, btf: Btf, type: number, what: string): string {
  const rid = someRecord(rng, btf);
  const r = btf.types[rid] as Struct;
  if (r.members.length && rng.chance(0.5)) {
    const m = rng.pick(r.members);
    m.type = type;
    return `${what} as member ${m.name || '(anon)'} of ${r.kind} ${r.name || '(anon)'} (id ${rid})`;
  }
  r.members.push({ name: `fuzz_m${r.members.length}`, type, bitOffset: r.size * 8, bitfieldSize: 0 });
  // Mostly a well-formed struct that grows by the member (when its size can be had).
  let grown = '';
  if (rng.chance(0.8)) {
    try {
      const size = Math.min(0xffffffff, r.size + btf.size(type));
      grown = ` (size ${r.size} -> ${size})`;
      r.size = size;
    } catch {
      // A type without a size (or a cycle): the member stays past the struct's end.
    }
  }
  return `${what} as a new last member of ${r.kind} ${r.name || '(anon)'} (id ${rid})${grown}`;
}

type ModelMutation =
  | 'struct-size' | 'array-nelems' | 'nested-arrays' | 'self-struct' | 'mutual-structs' | 'typedef-loop' | 'ptr-loop'
  | 'deep-chain' | 'many-members' | 'many-enumerators' | 'long-name' | 'odd-name' | 'member-offset' | 'int-weird'
  | 'enum-weird' | 'retarget' | 'dup-names' | 'anon' | 'fwd-by-value' | 'void-member' | 'datasec' | 'func-loop';

const MODEL: [ModelMutation, number][] = [
  ['struct-size', 10], ['array-nelems', 10], ['nested-arrays', 6], ['self-struct', 8], ['mutual-structs', 5], ['typedef-loop', 6],
  ['ptr-loop', 3], ['deep-chain', 6], ['many-members', 3], ['many-enumerators', 2], ['long-name', 4], ['odd-name', 4],
  ['member-offset', 6], ['int-weird', 5], ['enum-weird', 3], ['retarget', 8], ['dup-names', 4], ['anon', 4],
  ['fwd-by-value', 3], ['void-member', 3], ['datasec', 3], ['func-loop', 2],
];
const MODEL_WEIGHT = MODEL.reduce((a, [, w]) => a + w, 0);

function pickModel(rng: FuzzRng): ModelMutation {
  let r = rng.next() * MODEL_WEIGHT;
  for (const [m, w] of MODEL) if ((r -= w) < 0) return m;
  return 'struct-size';
}

/** One edit of the type graph, in place; returns its description. */
export function mutateModel(rng: FuzzRng, btf: Btf): string {
  const m = pickModel(rng);
  const types = btf.types;
  switch (m) {
    case 'struct-size': {
      const id = someRecord(rng, btf);
      const t = types[id] as Struct;
      const was = t.size;
      t.size = rng.pick(HUGE_SIZES);
      return `${m}: ${t.kind} ${t.name || '(anon)'} (id ${id}) size ${t.size} (was ${was})`;
    }
    case 'array-nelems': {
      let ids = idsOf(btf, (t) => t.kind === 'array');
      if (!ids.length || rng.chance(0.3)) {
        const id = btf.add({ kind: 'array', name: '', type: rng.chance(0.5) ? someInt(btf) : someRecord(rng, btf), indexType: someInt(btf), nelems: 4 });
        ids = [id];
        attach(rng, btf, id, 'new array');
      }
      const id = rng.pick(ids);
      const t = types[id] as Extract<BtfType, { kind: 'array' }>;
      t.nelems = rng.pick(HUGE_COUNTS);
      return `${m}: array id ${id} nelems ${t.nelems}`;
    }
    case 'nested-arrays': {
      // Arrays of arrays whose element counts multiply past 2^32 (or past 2^53).
      let inner = rng.chance(0.5) ? someInt(btf) : someRecord(rng, btf);
      const depth = rng.int(2, 6);
      const counts: number[] = [];
      for (let i = 0; i < depth; i++) {
        const n = rng.pick([0x10000, 0xffff, 0x1000, 0xffffffff, 2, 0]);
        counts.push(n);
        inner = btf.add({ kind: 'array', name: '', type: inner, indexType: someInt(btf), nelems: n });
      }
      return `${m}: ${counts.join(' x ')}; ${attach(rng, btf, inner, `array id ${inner}`)}`;
    }
    case 'self-struct': {
      const id = someRecord(rng, btf);
      const t = types[id] as Struct;
      const how = rng.pick(['by value', 'array', 'typedef', 'const'] as const);
      let ref = id;
      if (how === 'array') ref = btf.add({ kind: 'array', name: '', type: id, indexType: someInt(btf), nelems: rng.pick([1, 2, 0xffffffff]) });
      if (how === 'typedef') ref = btf.add({ kind: 'typedef', name: `${t.name || 'anon'}_t`, type: id });
      if (how === 'const') ref = btf.add({ kind: 'const', name: '', type: id });
      if (t.members.length && rng.chance(0.6)) rng.pick(t.members).type = ref;
      else t.members.push({ name: 'self', type: ref, bitOffset: 0, bitfieldSize: 0 });
      return `${m}: ${t.kind} ${t.name || '(anon)'} (id ${id}) contains itself ${how}`;
    }
    case 'mutual-structs': {
      const a = btf.add({ kind: 'struct', name: rng.chance(0.7) ? 'fuzz_a' : '', size: 8, members: [], kflag: false });
      const b = btf.add({ kind: rng.chance(0.7) ? 'struct' : 'union', name: rng.chance(0.7) ? 'fuzz_b' : '', size: 8, members: [], kflag: false });
      (types[a] as Struct).members.push({ name: 'b', type: b, bitOffset: 0, bitfieldSize: 0 });
      (types[b] as Struct).members.push({ name: 'a', type: a, bitOffset: 0, bitfieldSize: 0 });
      return `${m}: ids ${a} <-> ${b}; ${attach(rng, btf, a, `struct id ${a}`)}`;
    }
    case 'typedef-loop': {
      const refs = idsOf(btf, (t) => t.kind === 'typedef' || t.kind === 'const' || t.kind === 'volatile' || t.kind === 'restrict' || t.kind === 'type_tag');
      if (refs.length && rng.chance(0.5)) {
        const id = rng.pick(refs);
        const t = types[id] as Extract<BtfType, { type: number }>;
        t.type = id;
        return `${m}: ${t.kind} id ${id} refers to itself`;
      }
      const x = btf.add({ kind: 'typedef', name: 'fuzz_x_t', type: 0 });
      const y = btf.add({ kind: rng.pick(['typedef', 'const', 'volatile', 'type_tag'] as const), name: 'fuzz_y_t', type: x });
      (types[x] as Extract<BtfType, { type: number }>).type = y;
      return `${m}: ids ${x} <-> ${y}; ${attach(rng, btf, x, `typedef id ${x}`)}`;
    }
    case 'ptr-loop': {
      const p = btf.add({ kind: 'ptr', name: '', type: 0 });
      (types[p] as Extract<BtfType, { kind: 'ptr' }>).type = rng.chance(0.5) ? p : btf.add({ kind: 'const', name: '', type: p });
      return `${m}: ptr id ${p} points at itself; ${attach(rng, btf, p, `ptr id ${p}`)}`;
    }
    case 'deep-chain': {
      // N nested types, each containing the next: deeper than any depth limit.
      const n = rng.pick([63, 64, 65, 100, 1000, 10000, 30000]);
      const kind = rng.pick(['struct', 'typedef', 'array', 'const', 'ptr', 'mixed'] as const);
      let inner = someInt(btf);
      for (let i = 0; i < n; i++) {
        const k = kind === 'mixed' ? rng.pick(['struct', 'typedef', 'array', 'const', 'union'] as const) : kind;
        switch (k) {
          case 'struct': case 'union':
            inner = btf.add({ kind: k, name: rng.chance(0.5) ? `fuzz_deep${i}` : '', size: 4, members: [{ name: 'in', type: inner, bitOffset: 0, bitfieldSize: 0 }], kflag: false });
            break;
          case 'typedef':
            inner = btf.add({ kind: 'typedef', name: `fuzz_deep${i}_t`, type: inner });
            break;
          case 'array':
            inner = btf.add({ kind: 'array', name: '', type: inner, indexType: someInt(btf), nelems: 1 });
            break;
          case 'const':
            inner = btf.add({ kind: 'const', name: '', type: inner });
            break;
          case 'ptr':
            inner = btf.add({ kind: 'ptr', name: '', type: inner });
            break;
        }
      }
      return `${m}: ${n} nested ${kind}; ${attach(rng, btf, inner, `outermost id ${inner}`)}`;
    }
    case 'many-members': {
      const n = rng.pick([1000, 65535]);
      const int = someInt(btf);
      const members: Member[] = Array.from({ length: n }, (_, i) => ({ name: rng.chance(0.9) ? `m${i}` : '', type: int, bitOffset: rng.chance(0.8) ? i * 32 : 0, bitfieldSize: 0 }));
      const id = btf.add({ kind: rng.chance(0.8) ? 'struct' : 'union', name: 'fuzz_wide', size: n * 4, members, kflag: false });
      return `${m}: ${n} members; ${attach(rng, btf, id, `struct id ${id}`)}`;
    }
    case 'many-enumerators': {
      const n = rng.pick([1000, 65535]);
      const id = btf.add({ kind: 'enum', name: rng.chance(0.5) ? 'fuzz_enum' : '', size: 4, signed: false, values: Array.from({ length: n }, (_, i) => ({ name: `E${i % 500}`, value: i })) });
      return `${m}: ${n} enumerators (duplicate names); ${attach(rng, btf, id, `enum id ${id}`)}`;
    }
    case 'long-name': {
      const id = rng.int(1, btf.count - 1);
      const len = rng.pick([256, 4096, 65536, 1 << 20]);
      const t = types[id]!;
      (t as { name: string }).name = rng.pick(['a', '_', 'x9', '\u00e9'])[0]!.repeat(len);
      return `${m}: type ${id} (${t.kind}) name of ${len} characters`;
    }
    case 'odd-name': {
      const id = rng.int(1, btf.count - 1);
      const t = types[id]!;
      const name = rng.pick(['int', 'struct', 'char', '9lives', 'a b', 'a;b', '*', '\u00e9t\u00e9', '\ud83d\ude00', 'x\u0001y', '__int128', 'a\\b', '"q"', 'long long']);
      (t as { name: string }).name = name;
      if (isRecord(t) && t.members.length && rng.chance(0.5)) rng.pick(t.members).name = name;
      return `${m}: type ${id} (${t.kind}) name ${JSON.stringify(name)}`;
    }
    case 'member-offset': {
      const id = someRecord(rng, btf);
      const t = types[id] as Struct;
      if (!t.members.length) return `${m}: ${t.kind} id ${id} has no members`;
      const mem = rng.pick(t.members);
      if (rng.chance(0.3)) t.kflag = !t.kflag;
      mem.bitOffset = rng.pick([0xffffff, 0xffffffff >>> (t.kflag ? 8 : 0), t.size * 8, t.size * 8 + 1, 7, 0x7fffffff, rng.int(0, 4096)]);
      if (t.kflag || rng.chance(0.3)) mem.bitfieldSize = rng.pick([0, 1, 7, 31, 32, 33, 64, 65, 255]);
      if (t.kflag) mem.bitOffset &= 0xffffff;
      return `${m}: ${t.kind} id ${id} member ${mem.name || '(anon)'} bitOffset ${mem.bitOffset} bitfieldSize ${mem.bitfieldSize} kflag ${t.kflag}`;
    }
    case 'int-weird': {
      const ids = idsOf(btf, (t) => t.kind === 'int');
      const id = ids.length ? rng.pick(ids) : someInt(btf);
      const t = types[id] as Extract<BtfType, { kind: 'int' }>;
      t.size = rng.pick([0, 1, 3, 5, 16, 32, 0xffffffff]);
      t.bits = rng.pick([0, 1, 7, 33, 64, 65, 128, 255]);
      t.bitOffset = rng.pick([0, 1, 7, 64, 255]);
      t.encoding = rng.pick([0, 1, 2, 4, 3, 7]);
      return `${m}: int id ${id} size ${t.size} bits ${t.bits} offset ${t.bitOffset} encoding ${t.encoding}`;
    }
    case 'enum-weird': {
      const ids = idsOf(btf, (t) => t.kind === 'enum' || t.kind === 'enum64');
      if (!ids.length) {
        const id = btf.add({ kind: 'enum64', name: 'fuzz_e64', size: rng.pick([0, 3, 8, 16]), signed: rng.chance(0.5), values: [{ name: 'BIG', value: 0xffffffffffffffffn }, { name: 'NEG', value: 1n << 63n }] });
        return `${m}: new enum64 id ${id}; ${attach(rng, btf, id, `enum64 id ${id}`)}`;
      }
      const id = rng.pick(ids);
      const t = types[id] as Extract<BtfType, { kind: 'enum' | 'enum64' }>;
      t.size = rng.pick([0, 1, 3, 5, 16, 0xffffffff]);
      t.signed = !t.signed;
      return `${m}: ${t.kind} id ${id} size ${t.size} signed ${t.signed}`;
    }
    case 'retarget': {
      const refs = idsOf(btf, (t) => isRecord(t) || t.kind === 'array' || t.kind === 'func_proto' || 'type' in t);
      if (!refs.length) return `${m}: nothing refers to a type`;
      const id = rng.pick(refs);
      const t = types[id]!;
      const to = rng.chance(0.3) ? id : someId(rng, btf);
      if (isRecord(t)) {
        if (!t.members.length) return `${m}: ${t.kind} id ${id} has no members`;
        rng.pick(t.members).type = to;
      } else if (t.kind === 'array') {
        if (rng.chance(0.7)) t.type = to;
        else t.indexType = to;
      } else if (t.kind === 'func_proto') {
        if (t.params.length && rng.chance(0.6)) rng.pick(t.params).type = to;
        else t.returnType = to;
      } else (t as Extract<BtfType, { type: number }>).type = to;
      return `${m}: a reference of type ${id} (${t.kind}) -> ${to} (${types[to]?.kind})`;
    }
    case 'dup-names': {
      const id = someRecord(rng, btf);
      const n = rng.pick([2, 10, 1000]);
      for (let i = 0; i < n; i++) btf.add(structuredClone(types[id]!));
      return `${m}: ${n} copies of type ${id} (${types[id]!.name || '(anon)'})`;
    }
    case 'anon': {
      const ids = idsOf(btf, (t) => isRecord(t) || t.kind === 'typedef' || t.kind === 'enum' || t.kind === 'fwd' || t.kind === 'func' || t.kind === 'var');
      if (!ids.length) return `${m}: nothing named`;
      const n = rng.int(1, Math.min(ids.length, 8));
      const done: number[] = [];
      for (let i = 0; i < n; i++) {
        const id = rng.pick(ids);
        (types[id] as { name: string }).name = '';
        done.push(id);
      }
      return `${m}: names of ${done.join(', ')} cleared`;
    }
    case 'fwd-by-value': {
      const fwd = btf.add({ kind: 'fwd', name: rng.chance(0.5) ? (types[someRecord(rng, btf)]!.name || 'fuzz_fwd') : 'fuzz_fwd', union: rng.chance(0.3) });
      return `${m}: fwd id ${fwd} embedded by value; ${attach(rng, btf, fwd, `fwd id ${fwd}`)}`;
    }
    case 'void-member': {
      const what = rng.pick(['void', 'array of void', 'func_proto', 'array of func_proto', 'func', 'var', 'datasec'] as const);
      let ref = 0;
      if (what === 'array of void') ref = btf.add({ kind: 'array', name: '', type: 0, indexType: someInt(btf), nelems: 4 });
      else if (what !== 'void') {
        const kind = what === 'array of func_proto' ? 'func_proto' : what;
        const ids = idsOf(btf, (t) => t.kind === kind);
        ref = ids.length ? rng.pick(ids) : btf.add({ kind: 'func_proto', name: '', returnType: 0, params: [] });
        if (what === 'array of func_proto') ref = btf.add({ kind: 'array', name: '', type: ref, indexType: someInt(btf), nelems: 2 });
      }
      return `${m}: ${what} (id ${ref}) by value; ${attach(rng, btf, ref, `id ${ref}`)}`;
    }
    case 'datasec': {
      const ids = idsOf(btf, (t) => t.kind === 'datasec');
      if (!ids.length) return `${m}: no datasec`;
      const id = rng.pick(ids);
      const t = types[id] as Extract<BtfType, { kind: 'datasec' }>;
      if (t.vars.length && rng.chance(0.7)) {
        const v = rng.pick(t.vars);
        v.offset = rng.pick(HUGE_SIZES);
        v.size = rng.pick(HUGE_SIZES);
        if (rng.chance(0.3)) v.type = someId(rng, btf);
      } else t.size = rng.pick(HUGE_SIZES);
      return `${m}: datasec ${t.name} (id ${id}) offsets/sizes changed`;
    }
    case 'func-loop': {
      const fp = btf.add({ kind: 'func_proto', name: '', returnType: 0, params: [] });
      const f = btf.add({ kind: 'func', name: 'fuzz_fn', type: fp, linkage: rng.int(0, 3) });
      const p = btf.add({ kind: 'ptr', name: '', type: fp });
      const proto = types[fp] as Extract<BtfType, { kind: 'func_proto' }>;
      proto.returnType = rng.chance(0.5) ? p : fp;
      proto.params = Array.from({ length: rng.pick([1, 3, 1000]) }, (_, i) => ({ name: rng.chance(0.5) ? `a${i}` : '', type: rng.pick([p, fp, f, 0]) }));
      return `${m}: func_proto id ${fp} returns/takes itself; ${attach(rng, btf, p, `ptr id ${p}`)}`;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Encoded BTF: string-table attacks and field positions

const u32 = (b: Uint8Array, o: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(o, true);
const setU32 = (b: Uint8Array, o: number, v: number) => new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(o, v >>> 0, true);

/** The offsets of every name_off (types, members, enumerators, params) in encoded BTF (stops at anything odd). */
export function nameOffsets(b: Uint8Array): number[] {
  if (b.length < 24) return [];
  const hdr = u32(b, 4);
  const start = hdr + u32(b, 8);
  const end = Math.min(b.length, start + u32(b, 12));
  const out: number[] = [];
  let o = start;
  while (o + 12 <= end) {
    out.push(o);
    const info = u32(b, o + 4);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const x = o + 12;
    switch (kind) {
      case 4: case 5: for (let i = 0; i < vlen; i++) out.push(x + i * 12); o = x + 12 * vlen; break;
      case 6: for (let i = 0; i < vlen; i++) out.push(x + i * 8); o = x + 8 * vlen; break;
      case 19: for (let i = 0; i < vlen; i++) out.push(x + i * 12); o = x + 12 * vlen; break;
      case 13: for (let i = 0; i < vlen; i++) out.push(x + i * 8); o = x + 8 * vlen; break;
      case 1: case 14: case 17: o = x + 4; break;
      case 3: o = x + 12; break;
      case 15: o = x + 12 * vlen; break;
      default: o = x;
    }
  }
  return out.filter((p) => p + 4 <= end);
}

/** One attack on the string section of encoded BTF; may return a longer array. */
export function mutateBtfStrings(rng: FuzzRng, b: Uint8Array): { bytes: Uint8Array; desc: string } {
  if (b.length < 24) return { bytes: b, desc: 'strings: BTF too short' };
  const hdr = u32(b, 4);
  const strStart = hdr + u32(b, 16);
  const strLen = u32(b, 20);
  const strEnd = strStart + strLen;
  if (strEnd > b.length || strLen < 2) return { bytes: b, desc: 'strings: no string section' };
  const names = nameOffsets(b);
  const kind = rng.pick(['no-nul-tail', 'no-nul-all', 'no-nul-run', 'one-long-string', 'names-at-one', 'names-mid', 'non-utf8'] as const);
  switch (kind) {
    case 'no-nul-tail': {
      // The last string loses its terminator: the section ends mid-string.
      b[strEnd - 1] = rng.pick([0x41, 0x5f, 0xff, 0x2e]);
      return { bytes: b, desc: `${kind}: last byte of the string section (at ${strEnd - 1}) is not NUL` };
    }
    case 'no-nul-all': {
      for (let i = strStart + 1; i < strEnd; i++) if (b[i] === 0) b[i] = 0x61;
      return { bytes: b, desc: `${kind}: every NUL after the first of ${strLen} string bytes is 'a'` };
    }
    case 'no-nul-run': {
      const a = rng.int(strStart + 1, strEnd - 1);
      const n = rng.int(1, strEnd - a);
      for (let i = a; i < a + n; i++) if (b[i] === 0) b[i] = 0x5f;
      return { bytes: b, desc: `${kind}: NULs in [${a - strStart}, ${a - strStart + n}) of the string section are '_'` };
    }
    case 'one-long-string': {
      // A long string appended (with or without NUL), and many names pointing at it.
      const len = rng.pick([1024, 65536, 1 << 20, 4 << 20]);
      const terminated = rng.chance(0.5);
      const extra = len + (terminated ? 1 : 0);
      const out = new Uint8Array(b.length + extra);
      out.set(b.subarray(0, strEnd));
      out.fill(rng.pick([0x61, 0x5f, 0x7a]), strEnd, strEnd + len);
      out.set(b.subarray(strEnd), strEnd + extra);
      setU32(out, 20, strLen + extra);
      const frac = rng.pick([0.1, 0.5, 1]);
      let n = 0;
      for (const p of names) {
        if (p < strEnd && rng.next() < frac) {
          setU32(out, p, strLen + rng.pick([0, 0, 0, 1, 7]));
          n++;
        }
      }
      return { bytes: out, desc: `${kind}: ${len}-byte string${terminated ? '' : ' without NUL'} appended, ${n} of ${names.length} names point at it` };
    }
    case 'names-at-one': {
      const at = rng.int(0, strLen - 1);
      let n = 0;
      for (const p of names) if (rng.chance(0.7)) { setU32(b, p, at); n++; }
      return { bytes: b, desc: `${kind}: ${n} of ${names.length} names at string offset ${at}` };
    }
    case 'names-mid': {
      let n = 0;
      for (const p of names) if (rng.chance(0.3)) { setU32(b, p, rng.pick([strLen - 1, strLen, strLen + 1, rng.int(0, strLen - 1), 0xffffffff])); n++; }
      return { bytes: b, desc: `${kind}: ${n} of ${names.length} names at odd offsets (mid-string, last byte, past the end)` };
    }
    case 'non-utf8': {
      const n = rng.int(1, 16);
      for (let i = 0; i < n; i++) b[rng.int(strStart + 1, strEnd - 1)] = rng.pick([0xff, 0xc3, 0x80, 0xed, 0xf4, 0x01, 0x7f]);
      return { bytes: b, desc: `${kind}: ${n} bytes of the string section are non-UTF-8 or control bytes` };
    }
  }
}

/** Replaces section `name`'s contents: the new bytes go at the end of the file, its header points at them. */
export function replaceSection(obj: Uint8Array, name: string, data: Uint8Array): Uint8Array {
  const elf = parseElf(obj);
  const s = elf.sectionByName(name);
  if (!s) return obj;
  const at = (obj.length + 7) & ~7;
  const out = new Uint8Array(at + data.length);
  out.set(obj);
  out.set(data, at);
  const dv = new DataView(out.buffer);
  const h = Number(dv.getBigUint64(40, true)) + s.index * 64;
  dv.setBigUint64(h + 24, BigInt(at), true);
  dv.setBigUint64(h + 32, BigInt(data.length), true);
  return out;
}

/**
 * Fixture BTF -> mutated encoded BTF: `model` edits of the parsed graph, then `strings`
 * string-table attacks on the encoding. Returns undefined when the fixture has no BTF.
 */
export function mutatedBtf(rng: FuzzRng, original: Uint8Array, model: number, strings: number, out: string[]): Uint8Array {
  const btf = parseBtf(original).clone();
  for (let i = 0; i < model; i++) out.push(`model ${mutateModel(rng, btf)}`);
  let bytes: Uint8Array = encodeBtf(btf).slice();
  for (let i = 0; i < strings; i++) {
    const r = mutateBtfStrings(rng, bytes);
    bytes = r.bytes;
    out.push(`strings ${r.desc}`);
  }
  return bytes;
}
