/**
 * Structure-aware mutations of eunomia package.json for the fuzz suite (test/fuzz.test.ts):
 * deep nesting (up to 100k levels), huge and non-integer numbers, wrong types, missing
 * keys, long strings, huge arrays, multiple-export configs and stack-trace interpreters
 * with bad ids and offsets, cmdarg defaults of the wrong type, corrupt base64/zlib, a zlib
 * bomb, and a mutated object re-embedded; plus mutations of the JSON text itself.
 */
import { deflateSync } from 'node:zlib';
import type { FuzzRng } from './fuzz-btf.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Slot = { parent: Json[] | { [k: string]: Json }; key: string | number; path: string };

/** Every (parent, key) of the tree, breadth-first, at most `limit`. */
function slots(doc: Json, limit = 5000): Slot[] {
  const out: Slot[] = [];
  const queue: { v: Json; path: string }[] = [{ v: doc, path: '' }];
  while (queue.length && out.length < limit) {
    const { v, path } = queue.shift()!;
    if (Array.isArray(v)) {
      v.forEach((c, i) => {
        out.push({ parent: v, key: i, path: `${path}[${i}]` });
        queue.push({ v: c, path: `${path}[${i}]` });
      });
    } else if (v && typeof v === 'object') {
      for (const k of Object.keys(v)) {
        // The base64 object is mutated by its own strategies.
        if (k === 'bpf_object') continue;
        out.push({ parent: v, key: k, path: path ? `${path}.${k}` : k });
        queue.push({ v: v[k]!, path: path ? `${path}.${k}` : k });
      }
    }
  }
  return out;
}

function set(s: Slot, v: Json): void {
  (s.parent as Record<string | number, Json>)[s.key] = v;
}

function get(s: Slot): Json {
  return (s.parent as Record<string | number, Json>)[s.key]!;
}

/** Raw JSON text spliced in where a marker string is, after JSON.stringify. */
export interface Splice {
  marker: string;
  text: string;
}

const WRONG: Json[] = [null, true, false, 0, -1, 1.5, '', 'x', [], {}, [null], { x: 1 }, 'default', 'stack_trace', '-1'];
const NUMBERS = ['1e308', '1e999', '-1e999', '-0', '4294967295', '4294967296', '9007199254740993', '18446744073709551616', '123456789012345678901234567890', '1e-400', '2.5', '-2147483649', '0.0'];

let bomb: string | undefined;
/** base64 of zlib data that inflates to 300 MiB of zeros (past the reader's 64 MiB cap). */
function zlibBomb(): string {
  bomb ??= deflateSync(Buffer.alloc(300 << 20), { level: 9 }).toString('base64');
  return bomb;
}

function deep(rng: FuzzRng, n: number): string {
  const kind = rng.pick(['array', 'object', 'mixed'] as const);
  if (kind === 'array') return '['.repeat(n) + ']'.repeat(n);
  if (kind === 'object') return '{"a":'.repeat(n) + '0' + '}'.repeat(n);
  let open = '';
  let close = '';
  for (let i = 0; i < n; i++) {
    if (i & 1) { open += '{"stack_trace":'; close = '}' + close; } else { open += '['; close = ']' + close; }
  }
  return `${open}null${close}`;
}

export type PackageMutation =
  | 'wrong-type' | 'delete' | 'huge-number' | 'deep' | 'long-string' | 'many' | 'multi-export' | 'interpreter'
  | 'cmdarg' | 'type-id' | 'object' | 'base64' | 'bomb';

const MUTATIONS: [PackageMutation, number][] = [
  ['wrong-type', 14], ['delete', 8], ['huge-number', 9], ['deep', 6], ['long-string', 4], ['many', 4],
  ['multi-export', 10], ['interpreter', 6], ['cmdarg', 7], ['type-id', 8], ['object', 16], ['base64', 7], ['bomb', 0.3],
];
const WEIGHT = MUTATIONS.reduce((a, [, w]) => a + w, 0);

function pick(rng: FuzzRng): PackageMutation {
  let r = rng.next() * WEIGHT;
  for (const [m, w] of MUTATIONS) if ((r -= w) < 0) return m;
  return 'wrong-type';
}

export interface PackageContext {
  /** A mutated object (bytes) to embed, made by the suite's object mutators. */
  mutatedObject(): { bytes: Uint8Array; desc: string };
  /** Type ids of the package's object's BTF: count, and the ids of its structs. */
  btfCount: number;
  structIds: number[];
}

/** One mutation of the document tree, in place; splices are raw text to put in later. */
export function mutatePackage(rng: FuzzRng, doc: Record<string, Json>, ctx: PackageContext, splices: Splice[]): string {
  const m = pick(rng);
  const all = () => slots(doc);
  const some = (): Slot | undefined => {
    const s = all();
    return s.length ? rng.pick(s) : undefined;
  };
  const meta = (doc.meta && typeof doc.meta === 'object' && !Array.isArray(doc.meta) ? doc.meta : (doc.meta = {})) as Record<string, Json>;
  const skel = (meta.bpf_skel && typeof meta.bpf_skel === 'object' && !Array.isArray(meta.bpf_skel) ? meta.bpf_skel : (meta.bpf_skel = {})) as Record<string, Json>;
  const maps = Array.isArray(skel.maps) ? (skel.maps as Record<string, Json>[]).filter((x) => x && typeof x === 'object' && !Array.isArray(x)) : [];
  const typeIdValue = (): Json => rng.pick<Json>([0, -1, 1, ctx.btfCount - 1, ctx.btfCount, ctx.btfCount + 1, 0xffffffff, 2 ** 53, 1.5, '1', null, rng.int(0, ctx.btfCount), ...(ctx.structIds.length ? [rng.pick(ctx.structIds)] : [])]);
  const marker = () => `__fuzz_splice_${splices.length}__`;
  switch (m) {
    case 'wrong-type': {
      const s = some();
      if (!s) return `${m}: empty document`;
      const v = rng.pick(WRONG);
      set(s, structuredClone(v));
      return `${m}: ${s.path} = ${JSON.stringify(v)}`;
    }
    case 'delete': {
      const s = some();
      if (!s) return `${m}: empty document`;
      if (Array.isArray(s.parent)) s.parent.splice(s.key as number, 1);
      else delete s.parent[s.key as string];
      return `${m}: ${s.path} removed`;
    }
    case 'huge-number': {
      const nums = all().filter((s) => typeof get(s) === 'number');
      const s = nums.length && rng.chance(0.8) ? rng.pick(nums) : some();
      if (!s) return `${m}: empty document`;
      const text = rng.pick(NUMBERS);
      const k = marker();
      splices.push({ marker: k, text });
      set(s, k);
      return `${m}: ${s.path} = ${text}`;
    }
    case 'deep': {
      const n = rng.pick([1000, 10000, 100000]);
      const s = rng.chance(0.15) ? undefined : some();
      const k = marker();
      splices.push({ marker: k, text: deep(rng, n) });
      if (!s) {
        doc.fuzz_deep = k;
        return `${m}: an unknown top-level key holds ${n} nested levels`;
      }
      set(s, k);
      return `${m}: ${s.path} holds ${n} nested levels`;
    }
    case 'long-string': {
      const strs = all().filter((s) => typeof get(s) === 'string');
      const s = strs.length ? rng.pick(strs) : some();
      if (!s) return `${m}: empty document`;
      const len = rng.pick([4096, 1 << 20, 4 << 20]);
      const ch = rng.pick(['a', '\u0000', '\ud800', '\u00e9', '"', '\\', '\n', '%s', '\u202e']);
      set(s, ch.repeat(Math.ceil(len / ch.length)));
      return `${m}: ${s.path} is ${len} characters of ${JSON.stringify(ch)}`;
    }
    case 'many': {
      const arrays = all().filter((s) => Array.isArray(get(s)));
      if (!arrays.length) return `${m}: no array`;
      const s = rng.pick(arrays);
      const arr = get(s) as Json[];
      const n = rng.pick([1000, 100000]);
      const proto = arr.length ? arr[rng.int(0, arr.length - 1)]! : {};
      set(s, Array.from({ length: n }, () => structuredClone(proto)));
      return `${m}: ${s.path} has ${n} copies of one entry`;
    }
    case 'multi-export': {
      meta.enable_multiple_export_types = rng.chance(0.9) ? true : rng.pick<Json>(['yes', 1, null]);
      const n = Math.min(64, Math.max(1, maps.length));
      const configs: string[] = [];
      for (let i = 0; i < n; i++) {
        const map = maps[i] ?? (skel.maps = [{ name: 'events', ident: 'events' }], (skel.maps as Record<string, Json>[])[0]!);
        const members = (): Json => Array.from({ length: rng.pick([0, 1, 2, 5, 1000]) }, (_, j) => ({
          name: rng.chance(0.9) ? `f${j}` : rng.pick<Json>(['', 1, null]),
          offset: rng.pick<Json>([0, j * 4, j * 8, 0xffffffff, 2 ** 53, -4, 1.5, 4294967292]),
          btf_type_id: typeIdValue(),
        }));
        const config = rng.pick<() => Json>([
          () => 'default', () => 'no_export', () => null, () => 'bogus', () => 7,
          () => ({ btf_type_id: typeIdValue() }),
          () => ({ custom_members: members() }),
          () => ({ custom_members: 'x' }),
        ])();
        map.export_config = config;
        configs.push(`${map.name}: ${JSON.stringify(config)?.slice(0, 80)}`);
      }
      return `${m}: ${configs.join('; ')}`;
    }
    case 'interpreter': {
      if (!maps.length) return `${m}: no maps`;
      const map = rng.pick(maps);
      const field = (): Json => rng.pick<Json>(['pid', 'cpu_id', 'comm', 'kstack', 'ustack', 'kstack_sz', 'ustack_sz', 'nope', '', 1, null]);
      const fm: Record<string, Json> = {};
      for (const f of ['pid', 'cpu_id', 'comm', 'kstack_sz', 'ustack_sz', 'kstack', 'ustack', 'extra']) if (rng.chance(0.4)) fm[f] = field();
      map.intepreter = rng.pick<Json>([
        'default_struct', 'stack_trace', { type: 'default_struct' },
        { stack_trace: { field_map: fm, with_symbols: rng.pick<Json>([true, false, 'yes']) } },
        { type: 'stack_trace', stack_trace: { field_map: fm } },
        { stack_trace: rng.pick<Json>([null, [], 'x']) },
      ]);
      return `${m}: ${map.name}.intepreter = ${JSON.stringify(map.intepreter).slice(0, 120)}`;
    }
    case 'cmdarg': {
      const secs = Array.isArray(skel.data_sections) ? (skel.data_sections as Record<string, Json>[]) : [];
      const vars = secs.flatMap((s) => (s && Array.isArray(s.variables) ? (s.variables as Record<string, Json>[]) : [])).filter((v) => v && typeof v === 'object');
      if (!vars.length) return `${m}: no variables`;
      const v = rng.pick(vars);
      const value = (): Json => rng.pick<Json>([1e308, -1, 2 ** 64, '0x' + 'f'.repeat(40), 'abc', true, null, [], {}, 'x'.repeat(10000), '-9223372036854775809', '18446744073709551616', 1.5, '']);
      if (rng.chance(0.5)) v.cmdarg = { default: value(), long: rng.pick<Json>(['x', '', 1, null, 'a b', v.name ?? 'x']), short: rng.pick<Json>(['x', 'xy', '', 1]), help: rng.pick<Json>(['h', 1]) };
      else v.value = value();
      return `${m}: variable ${String(v.name)}: ${JSON.stringify(v.cmdarg ?? v.value).slice(0, 100)}`;
    }
    case 'type-id': {
      // An earlier mutation may have left entries that are not objects.
      const ets = Array.isArray(meta.export_types) ? (meta.export_types as Json[]).filter((e): e is Record<string, Json> => typeof e === 'object' && e !== null && !Array.isArray(e)) : [];
      if (!ets.length || rng.chance(0.3)) {
        meta.export_types = Array.from({ length: rng.pick([1, 2, 3]) }, () => ({ name: 'e', size: rng.pick<Json>([0, 8, 0xffffffff]), type_id: typeIdValue(), members: [] }));
        return `${m}: export_types = ${JSON.stringify(meta.export_types).slice(0, 120)}`;
      }
      const et = rng.pick(ets);
      et.type_id = typeIdValue();
      if (rng.chance(0.3)) et.size = rng.pick<Json>([0, -1, 0xffffffff, 'x']);
      return `${m}: export type ${String(et.name)} type_id = ${JSON.stringify(et.type_id)}`;
    }
    case 'object': {
      const o = ctx.mutatedObject();
      doc.bpf_object = deflateSync(o.bytes).toString('base64');
      const stale = rng.chance(0.1);
      if (!stale) doc.bpf_object_size = o.bytes.length;
      return `${m}: re-embedded mutated object (${o.desc})${stale ? ', stale bpf_object_size' : ''}`;
    }
    case 'base64': {
      const b64 = typeof doc.bpf_object === 'string' ? doc.bpf_object : '';
      const how = rng.pick(['bad-char', 'unpadded', 'whitespace', 'empty', 'garbage-zlib', 'truncated-zlib', 'not-zlib', 'url-safe'] as const);
      switch (how) {
        case 'bad-char': { const i = rng.int(0, b64.length); doc.bpf_object = b64.slice(0, i) + rng.pick(['!', '-', '_', '\u00e9', '\u0000', '=']) + b64.slice(i); break; }
        case 'unpadded': doc.bpf_object = b64.replace(/=+$/, '') + rng.pick(['', 'A', 'AB']); break;
        case 'whitespace': doc.bpf_object = b64.replace(/(.{76})/g, '$1\n') + ' \t'; break;
        case 'empty': doc.bpf_object = rng.pick(['', '   ', '====']); break;
        case 'garbage-zlib': { const raw = Buffer.from(b64, 'base64'); for (let i = 0; i < 8 && raw.length; i++) raw[rng.int(0, raw.length - 1)] = rng.int(0, 255); doc.bpf_object = raw.toString('base64'); break; }
        case 'truncated-zlib': { const raw = Buffer.from(b64, 'base64'); doc.bpf_object = raw.subarray(0, rng.int(0, raw.length)).toString('base64'); break; }
        case 'not-zlib': doc.bpf_object = Buffer.from(Array.from({ length: rng.int(1, 200) }, () => rng.int(0, 255))).toString('base64'); break;
        case 'url-safe': doc.bpf_object = b64.replace(/\+/g, '-').replace(/\//g, '_'); break;
      }
      return `${m}: ${how}`;
    }
    case 'bomb': {
      doc.bpf_object = zlibBomb();
      delete doc.bpf_object_size;
      return `${m}: bpf_object inflates to 300 MiB`;
    }
  }
}

/** The document as text with the splices put in, then text-level mutations. */
export function packageText(rng: FuzzRng, doc: Json, splices: Splice[], out: string[]): string | Uint8Array {
  let text = JSON.stringify(doc, null, rng.chance(0.3) ? 2 : undefined);
  for (const s of splices) text = text.replace(JSON.stringify(s.marker), () => s.text);
  if (rng.chance(0.15)) {
    const how = rng.pick(['truncate', 'flip', 'insert', 'bom', 'dup-key', 'trailing', 'invalid-utf8'] as const);
    switch (how) {
      case 'truncate': { const n = rng.int(0, text.length); text = text.slice(0, n); out.push(`text: truncated to ${n} characters`); break; }
      case 'flip': { const i = rng.int(0, Math.max(0, text.length - 1)); text = text.slice(0, i) + rng.pick(['{', '}', '[', ']', ',', ':', '"', '\\', 'x', '0']) + text.slice(i + 1); out.push(`text: character ${i} replaced`); break; }
      case 'insert': { const i = rng.int(0, text.length); text = text.slice(0, i) + rng.pick(['\u0000', ',', '/*c*/', 'NaN', 'undefined', '\ufeff']) + text.slice(i); out.push(`text: junk inserted at ${i}`); break; }
      case 'bom': text = '\ufeff' + text; out.push('text: byte order mark'); break;
      case 'dup-key': text = text.replace(/^\{/, '{"meta": 1, "bpf_object": 2, '); out.push('text: duplicate keys before the real ones'); break;
      case 'trailing': text += rng.pick([' ', '\n', 'x', '{}', ',']); out.push('text: trailing characters'); break;
      case 'invalid-utf8': {
        const b = Buffer.from(text);
        const at = rng.int(0, b.length);
        out.push(`text: invalid UTF-8 at byte ${at}`);
        return Buffer.concat([b.subarray(0, at), Buffer.from([rng.pick([0xff, 0xc3, 0xed, 0x80])]), b.subarray(at)]);
      }
    }
  }
  return rng.chance(0.25) ? new Uint8Array(Buffer.from(text)) : text;
}
