/**
 * Which maps a package exports records from, and which struct each record is: the
 * package's export types (single mode) or each map's export_config (multiple mode), the
 * header's structs by record size, or --event NAME.
 */
import { compileDecoder, compileMembersDecoder, EventTypeChooser, type Decoder } from '../decode/index.js';
import { TsbpfError } from '../errors.js';
import type { MapSpec, ObjectSpec } from '../object/index.js';
import { headerStructIds, type CustomMember, type ExportConfig, type StackTraceInterpreter } from '../package/index.js';
import * as C from '../sys/constants.js';
import { checkStackFields } from './stack.js';

/** What an export map's records are: a struct of the object's BTF, or custom members. */
export interface EventType {
  /** The struct's name, or `MAP` for a map's custom members. */
  readonly name: string;
  /** The BTF struct id, or the custom members (eunomia's custom_members). */
  readonly type: number | CustomMember[];
  /** A record -> an owned JS value (btf/codec's values). */
  readonly decode: Decoder;
}

/** An export map and how its records are typed. */
export interface ExportStream {
  map: MapSpec;
  /** The type of a record of `length` bytes; throws when the size fits no struct. */
  typeOf(length: number): EventType;
  /** The type known before any record, when there is one. */
  known?: EventType;
  /** The records are stack trace samples (the map's `intepreter`). */
  stack?: StackTraceInterpreter;
}

export interface ExportSource {
  /** BTF ids of the package's export types (export_types[].type_id), in order. */
  exportTypeIds?: number[];
  /** meta.enable_multiple_export_types, and each map's export_config then. */
  multipleExport?: boolean;
  exportConfigs?: Map<string, ExportConfig>;
  /** Maps whose records are stack trace samples, by name. */
  stackTraces?: Map<string, StackTraceInterpreter>;
}

/**
 * The maps whose records are exported: in multiple-export mode each map its export_config
 * names; else every ring buffer and perf event array (ecli reads only one), each decoded
 * as the export type, or the struct of its records' size.
 */
export function exportStreams(spec: ObjectSpec, input: ExportSource, event?: string): ExportStream[] {
  const types = eventTypes(spec, input, event);
  const cache = new Map<number, EventType>();
  const structType = (id: number): EventType => {
    let t = cache.get(id);
    if (!t) {
      t = { name: spec.btf.type(id).name, type: id, decode: compileDecoder(spec.btf, id).decode };
      cache.set(id, t);
    }
    return t;
  };
  const byStruct = (map: MapSpec, ids: number[], fixed: boolean): ExportStream => {
    if (!ids.length) throw new TsbpfError(`Export map named \`${map.name}\` found, but no export type is provided`);
    const chooser = new EventTypeChooser(spec.btf, ids, { map: map.name, padded: map.type === C.BPF_MAP_TYPE_PERF_EVENT_ARRAY, fixed });
    // The last struct, so a record costs the size check and no lookup.
    let lastId = -1;
    let last: EventType | undefined;
    return {
      map,
      typeOf: (length) => {
        const id = chooser.forRecord(length);
        if (id !== lastId) {
          last = structType(id);
          lastId = id;
        }
        return last!;
      },
      known: chooser.typeId !== undefined ? structType(chooser.typeId) : undefined,
    };
  };
  const custom = (map: MapSpec, members: CustomMember[]): ExportStream => {
    const end = (m: CustomMember) => m.offset + m.size;
    const last = members.reduce((a, b) => (end(b) > end(a) ? b : a));
    const type: EventType = { name: map.name, type: members, decode: compileMembersDecoder(spec.btf, members).decode };
    return {
      map,
      typeOf: (length) => {
        if (length < end(last))
          throw new TsbpfError(`map ${map.name}: a record of ${length} bytes ends before custom member ${last.name} (bytes ${last.offset}..${end(last) - 1})`);
        return type;
      },
      known: type,
    };
  };
  const isStream = (m: MapSpec) => m.type === C.BPF_MAP_TYPE_RINGBUF || m.type === C.BPF_MAP_TYPE_PERF_EVENT_ARRAY;
  const withStack = (st: ExportStream): ExportStream => {
    const stack = input.stackTraces?.get(st.map.name);
    if (!stack) return st;
    if (st.known && typeof st.known.type === 'number') checkStackFields(spec.btf, st.known.type, stack, st.map.name);
    return { ...st, stack };
  };
  if (!input.multipleExport) return spec.maps.filter(isStream).map((m) => withStack(byStruct(m, types.ids, types.fixed)));
  const streams: ExportStream[] = [];
  for (const map of spec.maps) {
    const config = input.exportConfigs?.get(map.name) ?? { kind: 'none' };
    if (config.kind === 'none') continue;
    if (!isStream(map)) throw new TsbpfError(`map ${map.name}: export_config ${config.kind} on a map that is neither a ring buffer nor a perf event array`);
    if (config.kind === 'default') streams.push(byStruct(map, types.ids, types.fixed));
    else if (config.kind === 'type') streams.push(byStruct(map, [config.typeId], true));
    else streams.push(custom(map, config.members));
  }
  return streams.map(withStack);
}

/**
 * The structs an export map's records may be, and whether the first is the one: --event
 * NAME, else the package's export types (one: it), else the header's structs (ecc's dummy
 * variables name them), else a struct named event.
 */
function eventTypes(spec: ObjectSpec, input: ExportSource, event?: string): { ids: number[]; fixed: boolean } {
  if (event !== undefined) {
    const id = spec.btf.idByName(event.replace(/^struct\s+/, ''), 'struct');
    if (!id) throw new TsbpfError(`--event ${event}: the object's BTF has no struct of that name${headerNames(spec)}`);
    return { ids: [id], fixed: true };
  }
  const given = input.exportTypeIds ?? [];
  if (given.length) return { ids: given, fixed: given.length === 1 };
  const header = headerStructIds(spec);
  if (header.length) return { ids: header, fixed: header.length === 1 };
  const id = spec.btf.idByName('event', 'struct');
  return { ids: id ? [id] : [], fixed: true };
}

function headerNames(spec: ObjectSpec): string {
  const names = headerStructIds(spec).map((id) => spec.btf.type(id).name);
  return names.length ? ` (the header's structs: ${names.join(', ')})` : '';
}
