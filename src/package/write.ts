/**
 * ObjectSpec (+ the ELF bytes) -> eunomia package.json, laid out as ecc writes it:
 * the object deflated and base64'd, and the skeleton (`bpf_skel`) and export types
 * described from the object's own BTF.
 */
import { basename } from 'node:path';
import { decodeValue, type Btf } from '../btf/index.js';
import { TsbpfError } from '../errors.js';
import { internalMapName, type ObjectSpec } from '../object/index.js';
import * as C from '../sys/constants.js';
import {
  EUNOMIA_VERSION,
  type BpfSkel, type DataSectionEntry, type EunomiaPackage, type ExportType, type MapEntry, type PackageDoc,
  type VariableEntry,
} from './format.js';

export interface WritePackageOptions {
  /** `obj_name` as is; otherwise derived from objectFile, otherwise from spec.name. */
  objName?: string;
  /** The object file's path or name ("exitsnoop.bpf.o" gives obj_name "exitsnoop_bpf"). */
  objectFile?: string;
  doc?: PackageDoc;
  pollTimeoutMs?: number;
  eunomiaVersion?: string;
}

/**
 * The skeleton name of an object file, as bpftool and ecc make it: the base name without
 * ".o", every character outside [A-Za-z0-9_] replaced by "_" ("exitsnoop.bpf.o" ->
 * "exitsnoop_bpf").
 */
export function objNameOf(objectFile: string): string {
  return basename(objectFile).replace(/\.o$/, '').replace(/[^A-Za-z0-9_]/g, '_');
}

/**
 * Builds the package: `exportTypes` are BTF ids of structs in the object's BTF (or
 * ready entries), first one being the event layout ecli decodes.
 */
export function writePackage(
  objectBytes: Uint8Array,
  spec: ObjectSpec,
  exportTypes: readonly (number | ExportType)[] = [],
  opts: WritePackageOptions = {},
): EunomiaPackage {
  const objName = opts.objName ?? (opts.objectFile ? objNameOf(opts.objectFile) : spec.name.replace(/[^A-Za-z0-9_]/g, '_'));
  const pkg: EunomiaPackage = {
    bpf_object: process.getBuiltinModule('node:zlib').deflateSync(objectBytes).toString('base64'),
    bpf_object_size: objectBytes.byteLength,
    meta: {
      bpf_skel: makeSkel(spec, objName, opts.doc),
      export_types: exportTypes.map((t) => (typeof t === 'number' ? exportType(spec.btf, t) : t)),
      eunomia_version: opts.eunomiaVersion ?? EUNOMIA_VERSION,
    },
  };
  if (opts.pollTimeoutMs !== undefined) pkg.meta.poll_timeout_ms = opts.pollTimeoutMs;
  return pkg;
}

/** The `bpf_skel` object: what bpftool's skeleton generator reports about the object. */
export function makeSkel(spec: ObjectSpec, objName: string, doc?: PackageDoc): BpfSkel {
  const maps: MapEntry[] = spec.maps.map((m) => {
    if (!m.data) return { name: m.name, ident: m.name };
    // libbpf names data maps after the object name it is opened with, which is obj_name.
    const entry: MapEntry = { name: internalMapName(objName, m.data.section), ident: m.data.section.slice(1).replace(/[^A-Za-z0-9_]/g, '_') };
    if (m.flags & C.BPF_F_MMAPABLE) entry.mmaped = true;
    return entry;
  });
  const dataSections: DataSectionEntry[] = [];
  for (const m of spec.maps) {
    const data = m.data;
    if (!data) continue;
    // As the skeleton: static variables are not exposed.
    const vars = data.variables.filter((v) => v.global).sort((a, b) => a.offset - b.offset);
    if (!vars.length) continue;
    const hasValues = data.section !== '.bss';
    const view = new DataView(data.bytes.buffer, data.bytes.byteOffset, data.bytes.byteLength);
    dataSections.push({
      name: data.section,
      variables: vars.map((v) => {
        const entry: VariableEntry = { name: v.name, type: plainTypeName(spec.btf, v.typeId) };
        if (hasValues) {
          const value = initialValue(spec.btf, v.typeId, view, v.offset);
          if (value !== undefined) entry.value = value;
        }
        return entry;
      }),
    });
  }
  const skel: BpfSkel = {
    obj_name: objName,
    data_sections: dataSections,
    maps,
    progs: spec.programs.map((p) => ({ name: p.name, attach: p.section, link: true })),
  };
  if (doc) skel.doc = doc;
  return skel;
}

/** An export_types entry for the struct at `typeId` of `btf`. */
export function exportType(btf: Btf, typeId: number): ExportType {
  const t = btf.type(typeId);
  if (t.kind !== 'struct') throw new TsbpfError(`export type ${typeId} is ${t.kind === 'void' ? 'void' : `${t.kind} ${t.name}`}, not a struct`);
  return {
    name: t.name,
    size: t.size,
    type_id: typeId,
    members: t.members.map((m) => ({ name: m.name, type: memberTypeName(btf, m.type) })),
  };
}

/** Ids of every STRUCT named in `names`, in BTF id order (ecc's export types). */
export function structIds(btf: Btf, names: Iterable<string>): number[] {
  const wanted = new Set(names);
  const ids: number[] = [];
  btf.types.forEach((t, id) => {
    if (t.kind === 'struct' && wanted.has(t.name)) ids.push(id);
  });
  return ids;
}

/** A member's type string: C spelling, "composite" for structs and unions, "enum" for enums. */
export function memberTypeName(btf: Btf, id: number): string {
  const t = btf.type(btf.resolve(id));
  if (t.kind === 'struct' || t.kind === 'union') return 'composite';
  if (t.kind === 'enum' || t.kind === 'enum64') return 'enum';
  return plainTypeName(btf, id);
}

/** btf.typeName without const/volatile/restrict at any level (as the skeleton prints variables). */
export function plainTypeName(btf: Btf, id: number, depth = 0): string {
  if (depth > 64) return '...';
  const t = btf.type(id);
  switch (t.kind) {
    case 'const': case 'volatile': case 'restrict': case 'type_tag':
      return plainTypeName(btf, t.type, depth + 1);
    case 'ptr':
      return `${plainTypeName(btf, t.type, depth + 1)} *`;
    case 'array':
      return `${plainTypeName(btf, t.type, depth + 1)}[${t.nelems}]`;
    default:
      return btf.typeName(id);
  }
}

/** The variable's initial value as JSON: bigints as numbers when exact, else as decimal strings. */
function initialValue(btf: Btf, typeId: number, view: DataView, offset: number): unknown {
  try {
    return toJsonValue(decodeValue(btf, typeId, view, offset));
  } catch {
    return undefined;
  }
}

function toJsonValue(v: unknown): unknown {
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (Array.isArray(v)) return v.map(toJsonValue);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJsonValue(x)]));
  return v;
}
