/**
 * A package's sample map (`maps[].sample`): walked every `interval` ms and once more when
 * the run stops, as eunomia's ecli does. Each walk is a Sample: every key and value,
 * per-CPU values summed; decode/sample-text.ts prints it. log2_hist and linear_hist
 * values are structs with a `slots` array of counts. clear_map deletes what was read, so
 * each interval holds only its own counts.
 */
import { toJson, type Sample, type SampleType } from '../decode/index.js';
import { TsbpfError } from '../errors.js';
import type { BpfMap } from '../loader/index.js';
import type { ObjectSpec } from '../object/index.js';
import type { MapEntry } from '../package/index.js';
import * as C from '../sys/constants.js';

type SampleConfig = NonNullable<MapEntry['sample']>;
const TYPES: SampleType[] = ['log2_hist', 'linear_hist', 'default_kv'];
const PER_CPU = new Set<number>([C.BPF_MAP_TYPE_PERCPU_HASH, C.BPF_MAP_TYPE_PERCPU_ARRAY, C.BPF_MAP_TYPE_LRU_PERCPU_HASH]);

export class MapSampler {
  readonly interval: number;
  private readonly hist: boolean;
  private readonly keyType: string;
  private readonly valueType: string;

  /** Checks the config against the object before anything is loaded. */
  constructor(spec: ObjectSpec, readonly mapName: string, readonly config: SampleConfig) {
    const m = spec.maps.find((x) => x.name === mapName);
    if (!m) throw new TsbpfError(`sample map ${mapName}: the object has no map of that name`);
    if (!TYPES.includes(config.type as SampleType)) throw new TsbpfError(`sample map ${mapName}: type "${config.type}" is not one of ${TYPES.join(', ')}`);
    if (!(config.interval > 0)) throw new TsbpfError(`sample map ${mapName}: interval must be a positive number of ms, not ${config.interval}`);
    this.interval = config.interval;
    this.hist = config.type !== 'default_kv';
    const name = (id: number, none: string) => (id ? spec.btf.typeName(id).replace(/^((const|volatile) )+/, '') : none);
    this.keyType = name(m.keyTypeId, 'key');
    this.valueType = name(m.valueTypeId, 'value');
    if (this.hist) {
      const t = m.valueTypeId ? spec.btf.type(spec.btf.resolve(m.valueTypeId)) : undefined;
      const slots = t?.kind === 'struct' ? t.members.find((x) => x.name === 'slots') : undefined;
      const arr = slots && spec.btf.type(spec.btf.resolve(slots.type));
      if (arr?.kind !== 'array') {
        throw new TsbpfError(`sample map ${mapName}: ${config.type} needs a BTF value type that is a struct with a "slots" array of counts`);
      }
    }
  }

  /** One walk of the map: its entries, sorted by key (and, with clear_map, deleted). */
  read(map: BpfMap): Sample {
    const perCpu = PER_CPU.has(map.type);
    const entries = [...map.entries()].map(([key, v]) => ({ key, value: perCpu ? this.combine(v as unknown[]) : v }));
    entries.sort((a, b) => compareKeys(a.key, b.key));
    if (this.config.clear_map) {
      // Array maps cannot delete: their entries are zeroed instead.
      const array = map.type === C.BPF_MAP_TYPE_ARRAY || map.type === C.BPF_MAP_TYPE_PERCPU_ARRAY;
      for (const { key, value } of entries) {
        if (array) map.update(key, zero(value));
        else map.delete(key);
      }
    }
    return { map: this.mapName, type: this.config.type as SampleType, unit: this.config.unit, keyType: this.keyType, valueType: this.valueType, entries };
  }

  /** Per-CPU values summed: slots element-wise, other members from the first CPU. */
  private combine(values: unknown[]): unknown {
    if (!this.hist) return values.every((v) => typeof v === 'number') ? (values as number[]).reduce((a, b) => a + b, 0) : values;
    const first = { ...(values[0] as Record<string, unknown>) };
    const sum = (first.slots as (number | bigint)[]).map((_, i) =>
      values.reduce<number>((acc, v) => acc + Number(((v as Record<string, unknown>).slots as (number | bigint)[])[i]), 0),
    );
    return { ...first, slots: sum };
  }
}

/** The same shape with every number 0, string empty and flag false. */
function zero(v: unknown): unknown {
  if (typeof v === 'number') return 0;
  if (typeof v === 'bigint') return 0n;
  if (typeof v === 'string') return '';
  if (typeof v === 'boolean') return false;
  if (Array.isArray(v)) return v.map(zero);
  if (typeof v === 'object' && v !== null) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, zero(x)]));
  return v;
}

function compareKeys(a: unknown, b: unknown): number {
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) return a < b ? -1 : a > b ? 1 : 0;
  const x = toJson(a);
  const y = toJson(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
