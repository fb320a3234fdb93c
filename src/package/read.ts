/**
 * eunomia package.json -> the ELF object and its description, validated: every problem
 * is a PackageError that names the key at fault. Unknown keys are ignored, `maps` and
 * `progs` may be null.
 */
import { parseBtf, type Btf } from '../btf/index.js';
import { parseElf } from '../elf/index.js';
import { TsbpfError } from '../errors.js';
import {
  STACK_TRACE_FIELDS, type BpfSkel, type CustomMember, type DataSectionEntry, type EunomiaPackage, type ExportConfig, type ExportType, type MapEntry, type ProgEntry,
  type StackTraceField, type StackTraceInterpreter,
} from './format.js';
import { quoted } from '../text.js';

/** A package.json that cannot be used: says which key is wrong and how. */
export class PackageError extends TsbpfError {
  override name = 'PackageError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(`package: ${message}`, options);
  }
}

export interface Package {
  /** The ELF object, inflated. */
  objectBytes: Uint8Array;
  /** The object name to open the object with (libbpf's): meta.bpf_skel.obj_name. */
  name: string;
  skel: BpfSkel;
  exportTypes: ExportType[];
  /** BTF id of the event struct: export_types[0].type_id. */
  exportTypeId?: number;
  /** meta.enable_multiple_export_types: each map exports as its export_config says. */
  multipleExport: boolean;
  /** Each map's export_config, by map name (kind 'none' when it has none). */
  exportConfigs: Map<string, ExportConfig>;
  /** The maps whose records are stack trace samples (`intepreter: {stack_trace: ...}`), by name. */
  stackTraces: Map<string, StackTraceInterpreter>;
  /** The object's BTF (the export type ids refer to it). */
  btf?: Btf;
  eunomiaVersion?: string;
  pollTimeoutMs?: number;
  /** The whole document, with maps/progs/export_types normalized to arrays. */
  json: EunomiaPackage;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const describe = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v);

/** Reads a package from its text (or bytes), or from the parsed JSON value. */
export function readPackage(input: string | Uint8Array | object): Package {
  let doc: unknown = input;
  if (typeof input === 'string' || input instanceof Uint8Array) {
    const text = typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8');
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new PackageError(`not JSON: ${(e as Error).message}`, { cause: e });
    }
  }
  if (!isObj(doc)) throw new PackageError(`the document is ${describe(doc)}, not a JSON object with bpf_object and meta`);

  const objectBytes = decodeObject(doc);
  let btf: Btf | undefined;
  try {
    const elf = parseElf(objectBytes);
    const btfSec = elf.sectionByName('.BTF');
    if (btfSec) btf = parseBtf(btfSec.data);
  } catch (e) {
    throw new PackageError(`bpf_object is not a valid BPF object: ${(e as Error).message}`, { cause: e });
  }

  const meta = doc.meta;
  if (!isObj(meta)) throw new PackageError(meta === undefined ? 'no meta (the skeleton ecc writes: meta.bpf_skel)' : `meta is ${describe(meta)}, not an object`);
  const skel = readSkel(meta.bpf_skel);
  const exportTypes = readExportTypes(meta.export_types, btf);
  const multipleExport = meta.enable_multiple_export_types === true;
  if (meta.enable_multiple_export_types !== undefined && typeof meta.enable_multiple_export_types !== 'boolean')
    throw new PackageError(`meta.enable_multiple_export_types is ${describe(meta.enable_multiple_export_types)}, not a boolean`);
  const exportConfigs = new Map<string, ExportConfig>();
  // Read only in multiple-export mode, where ecli reads it too.
  if (multipleExport) skel.maps.forEach((m, i) => exportConfigs.set(m.name, readExportConfig(m.export_config, `meta.bpf_skel.maps[${i}] (${m.name}).export_config`, btf)));

  const stackTraces = new Map<string, StackTraceInterpreter>();
  skel.maps.forEach((m, i) => {
    const st = readInterpreter(m.intepreter, `meta.bpf_skel.maps[${i}] (${m.name}).intepreter`);
    if (st) stackTraces.set(m.name, st);
  });

  const eunomiaVersion = optional(meta.eunomia_version, 'string', 'meta.eunomia_version');
  const pollTimeoutMs = optional(meta.poll_timeout_ms, 'number', 'meta.poll_timeout_ms');
  const json: EunomiaPackage = {
    ...(doc as unknown as EunomiaPackage),
    meta: { ...(meta as EunomiaPackage['meta']), bpf_skel: skel, export_types: exportTypes },
  };
  return {
    objectBytes,
    name: skel.obj_name,
    skel,
    exportTypes,
    exportTypeId: exportTypes[0]?.type_id,
    multipleExport,
    exportConfigs,
    stackTraces,
    btf,
    eunomiaVersion,
    pollTimeoutMs,
    json,
  };
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The largest object a package may inflate to (the largest BPF objects are a few MiB). */
const MAX_OBJECT_BYTES = 64 << 20;

function decodeObject(doc: Obj): Uint8Array {
  const b64 = doc.bpf_object;
  if (b64 === undefined) throw new PackageError('no bpf_object (the base64 of the zlib-compressed BPF object)');
  if (typeof b64 !== 'string') throw new PackageError(`bpf_object is ${describe(b64)}, not a base64 string`);
  const compact = b64.replace(/\s+/g, '');
  if (!compact.length) throw new PackageError('bpf_object is empty');
  if (!BASE64.test(compact)) {
    const bad = /[^A-Za-z0-9+/=]/.exec(compact);
    throw new PackageError(
      bad
        ? `bpf_object is not valid base64: character ${quoted(bad[0])} at ${bad.index}`
        : `bpf_object is not valid base64: ${compact.length} characters is not a padded multiple of 4`,
    );
  }
  const size = doc.bpf_object_size;
  if (size !== undefined && (typeof size !== 'number' || !Number.isInteger(size) || size < 0)) {
    throw new PackageError(`bpf_object_size is ${quoted(size)}, not a byte count`);
  }
  // zlib inflates up to ~1000:1, so the output is capped, at the declared size when there
  // is one (one byte over it tells a larger object), else at MAX_OBJECT_BYTES.
  const limit = size !== undefined && size < MAX_OBJECT_BYTES ? size + 1 : MAX_OBJECT_BYTES;
  let bytes: Buffer;
  try {
    bytes = process.getBuiltinModule('node:zlib').inflateSync(Buffer.from(compact, 'base64'), { maxOutputLength: limit });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      if (limit !== MAX_OBJECT_BYTES) throw new PackageError(`bpf_object_size says ${size} but the object inflates to more`, { cause: e });
      throw new PackageError(`bpf_object inflates to more than ${MAX_OBJECT_BYTES >> 20} MiB, which is no BPF object`, { cause: e });
    }
    throw new PackageError(`bpf_object is not zlib-compressed data (${(e as Error).message})`, { cause: e });
  }
  if (size !== undefined) {
    if (size !== bytes.byteLength) {
      throw new PackageError(`bpf_object_size says ${size} but the object is ${bytes.byteLength} bytes`);
    }
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function optional<T extends 'string' | 'number'>(v: unknown, type: T, path: string): (T extends 'string' ? string : number) | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== type) throw new PackageError(`${path} is ${describe(v)}, not a ${type}`);
  return v as T extends 'string' ? string : number;
}

function str(o: Obj, key: string, path: string): string {
  const v = o[key];
  if (typeof v !== 'string') throw new PackageError(`${path}.${key} is ${v === undefined ? 'missing' : describe(v)}, not a string`);
  return v;
}

/** An array, or [] for null/absent; each entry must be an object. */
function list(v: unknown, path: string): Obj[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new PackageError(`${path} is ${describe(v)}, not an array`);
  return v.map((e, i) => {
    if (!isObj(e)) throw new PackageError(`${path}[${i}] is ${describe(e)}, not an object`);
    return e;
  });
}

function readSkel(v: unknown): BpfSkel {
  const path = 'meta.bpf_skel';
  if (!isObj(v)) throw new PackageError(v === undefined ? `no ${path} (obj_name, maps, progs)` : `${path} is ${describe(v)}, not an object`);
  const objName = str(v, 'obj_name', path);
  const maps = list(v.maps, `${path}.maps`).map((m, i): MapEntry => {
    const at = `${path}.maps[${i}]`;
    const entry: MapEntry = { ...m, name: str(m, 'name', at), ident: typeof m.ident === 'string' ? m.ident : str(m, 'name', at) };
    if (m.mmaped !== undefined && typeof m.mmaped !== 'boolean') throw new PackageError(`${at}.mmaped is ${describe(m.mmaped)}, not a boolean`);
    if (m.sample !== undefined && m.sample !== null) {
      if (!isObj(m.sample) || typeof m.sample.interval !== 'number') throw new PackageError(`${at}.sample needs a numeric interval (ms)`);
    }
    return entry;
  });
  const progs = list(v.progs, `${path}.progs`).map((p, i): ProgEntry => {
    const at = `${path}.progs[${i}]`;
    return { ...p, name: str(p, 'name', at), attach: str(p, 'attach', at), link: p.link === undefined ? true : p.link === true };
  });
  const dataSections = list(v.data_sections, `${path}.data_sections`).map((d, i): DataSectionEntry => {
    const at = `${path}.data_sections[${i}]`;
    return {
      ...d,
      name: str(d, 'name', at),
      variables: list(d.variables, `${at}.variables`).map((x, j) => ({ ...x, name: str(x, 'name', `${at}.variables[${j}]`), type: typeof x.type === 'string' ? x.type : '' })),
    };
  });
  const skel: BpfSkel = { ...v, obj_name: objName, data_sections: dataSections, maps, progs };
  if (v.doc === null || v.doc === undefined) delete skel.doc;
  else if (!isObj(v.doc)) throw new PackageError(`${path}.doc is ${describe(v.doc)}, not an object`);
  return skel;
}

/**
 * A map's interpreter: absent or "default_struct" (the struct), or a stack trace, written
 * {"stack_trace": {...}} (ecc's) or {"type": "stack_trace", "stack_trace": {...}}.
 */
function readInterpreter(v: unknown, at: string): StackTraceInterpreter | undefined {
  if (v === undefined || v === null || v === 'default_struct') return undefined;
  if (isObj(v) && v.type === 'default_struct') return undefined;
  const body = isObj(v) && (v.type === undefined || v.type === 'stack_trace') ? v.stack_trace : undefined;
  if (!isObj(body)) throw new PackageError(`${at} is ${quoted(v)}: expected "default_struct" or {"stack_trace": {"field_map": {...}, "with_symbols": true}}`);
  const map = body.field_map ?? {};
  if (!isObj(map)) throw new PackageError(`${at}.stack_trace.field_map is ${describe(map)}, not an object`);
  const fieldMap = {} as Record<StackTraceField, string>;
  for (const f of STACK_TRACE_FIELDS) {
    const name = map[f] ?? f;
    if (typeof name !== 'string') throw new PackageError(`${at}.stack_trace.field_map.${f} is ${describe(name)}, not a field name`);
    fieldMap[f] = name;
  }
  for (const k of Object.keys(map)) {
    if (!STACK_TRACE_FIELDS.includes(k as StackTraceField)) throw new PackageError(`${at}.stack_trace.field_map has ${quoted(k)}, which is none of ${STACK_TRACE_FIELDS.join(', ')}`);
  }
  const withSymbols = body.with_symbols ?? false;
  if (typeof withSymbols !== 'boolean') throw new PackageError(`${at}.stack_trace.with_symbols is ${describe(withSymbols)}, not a boolean`);
  return { fieldMap, withSymbols };
}

/** A map's export_config, checked against the object's BTF: members must not overlap. */
function readExportConfig(v: unknown, at: string, btf: Btf | undefined): ExportConfig {
  if (v === undefined || v === null || v === 'no_export') return { kind: 'none' };
  if (v === 'default') return { kind: 'default' };
  const struct = (id: unknown, where: string): number => {
    if (typeof id !== 'number' || !Number.isInteger(id) || id <= 0) throw new PackageError(`${where}: btf_type_id is ${quoted(id)}, not a BTF type id`);
    if (!btf) throw new PackageError(`${where}: the object has no .BTF section, so btf_type_id ${id} names nothing`);
    if (id >= btf.count) throw new PackageError(`${where}: btf_type_id ${id} is not in the object's BTF (it has ${btf.count - 1} types)`);
    return id;
  };
  if (isObj(v) && 'btf_type_id' in v) {
    const id = struct(v.btf_type_id, at);
    const t = btf!.type(btf!.resolve(id));
    if (t.kind !== 'struct' && t.kind !== 'union') throw new PackageError(`${at}: btf_type_id ${id} is ${t.kind}${t.name ? ` ${t.name}` : ''}, not a struct`);
    return { kind: 'type', typeId: id };
  }
  if (isObj(v) && Array.isArray(v.custom_members)) {
    const members = v.custom_members.map((m: unknown, i: number): CustomMember => {
      const where = `${at}.custom_members[${i}]`;
      if (!isObj(m) || typeof m.name !== 'string' || !m.name) throw new PackageError(`${where}: a member is {"name": ..., "offset": BYTES, "btf_type_id": N}`);
      if (typeof m.offset !== 'number' || !Number.isInteger(m.offset) || m.offset < 0) throw new PackageError(`${where} (${m.name}): offset ${quoted(m.offset)} is not a byte offset`);
      const typeId = struct(m.btf_type_id, `${where} (${m.name})`);
      return { name: m.name, offset: m.offset, typeId, size: btf!.size(typeId) };
    });
    if (!members.length) throw new PackageError(`${at}: custom_members is empty`);
    const byOffset = [...members].sort((a, b) => a.offset - b.offset);
    for (let i = 1; i < byOffset.length; i++) {
      const a = byOffset[i - 1]!;
      const b = byOffset[i]!;
      if (b.offset < a.offset + a.size)
        throw new PackageError(`${at}: member ${b.name} (bytes ${b.offset}..${b.offset + b.size - 1}) overlaps member ${a.name} (bytes ${a.offset}..${a.offset + a.size - 1})`);
    }
    return { kind: 'custom', members };
  }
  throw new PackageError(`${at} is ${quoted(v)}: one of "no_export", "default", {"btf_type_id": N}, {"custom_members": [...]}`);
}

function readExportTypes(v: unknown, btf: Btf | undefined): ExportType[] {
  return list(v, 'meta.export_types').map((t, i): ExportType => {
    const at = `meta.export_types[${i}]`;
    const name = typeof t.name === 'string' ? t.name : '';
    const label = name ? `${at} (${name})` : at;
    const id = t.type_id;
    if (typeof id !== 'number' || !Number.isInteger(id) || id <= 0) {
      throw new PackageError(`${label}: type_id is ${quoted(id)}, not the BTF id of a struct`);
    }
    if (!btf) throw new PackageError(`${label}: the object has no .BTF section, so type_id ${id} names nothing (compile with clang -g)`);
    if (id >= btf.count) throw new PackageError(`${label}: type_id ${id} is not a struct in the object's BTF (it has ${btf.count - 1} types)`);
    const bt = btf.type(id);
    if (bt.kind !== 'struct') {
      throw new PackageError(`${label}: type_id ${id} is not a struct in the object's BTF (it is ${bt.kind}${bt.name ? ` ${bt.name}` : ''})`);
    }
    const members = list(t.members, `${at}.members`).map((m) => ({ ...m, name: typeof m.name === 'string' ? m.name : '', type: typeof m.type === 'string' ? m.type : '' }));
    return { ...t, name: name || bt.name, size: typeof t.size === 'number' ? t.size : bt.size, type_id: id, members };
  });
}
