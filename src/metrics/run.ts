/**
 * `tsbpf run PACKAGE --metrics [HOST:]PORT`, in the spirit of cloudflare's ebpf_exporter: a
 * package's maps and events as Prometheus metrics.
 *
 *   sample maps (the package's `sample`, eunomia's @sample):
 *     log2_hist, linear_hist  a histogram `tsbpf_<map>` per key; log2 slot i holds the integers
 *                             [2^i, 2^(i+1)) (slot 0: 0 and 1), so its bucket is le = 2^(i+1)-1;
 *                             linear slot i holds i, le = i. `_sum` adds each slot's lower bound
 *                             (the exact values are not in the map): a lower estimate.
 *     default_kv              `tsbpf_<map>` (or `tsbpf_<map>_<member>` per numeric member of a
 *                             struct value), the key as labels: a counter when the package
 *                             clears the map each interval (walks are added up), else a gauge.
 *   every export map          `tsbpf_events_total{map, type}` and `tsbpf_events_lost_total{map}`
 *   a config file (JSON, --metrics-config):
 *     { "events": [{ "name": "exits_by_code", "labels": ["exit_code", "comm"] }],
 *       "maps": { "counts": { "type": "counter", "labels": ["cpu"] },
 *                 "hists": { "labels": ["pid"] } },
 *       "maxLabelSets": 500 }
 *     events: a counter `tsbpf_<name>_total` of exported events by those fields' values;
 *     maps: a hash or array map of integers read at every scrape (counter or gauge), or the
 *     label names of a sample map's key (default "key" for a scalar key, member names for a struct).
 *
 * Keys become labels (struct keys one per member); a histogram's string members (a comm)
 * too. Every group of labels is capped (metrics/cap.ts).
 */
import { readFileSync } from 'node:fs';
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import type { Sample } from '../decode/index.js';
import { TsbpfError } from '../errors.js';
import type { ExportedEvent, LostRecords, Runner } from '../runner/index.js';
import * as C from '../sys/constants.js';
import { LabelSetCap } from './cap.js';
import { DEFAULT_MAX_LABEL_SETS } from './labels.js';
import { MetricsServer, type ListenAddress } from './server.js';

export interface RunMetricsConfig {
  events?: { name: string; labels: string[]; help?: string }[];
  maps?: Record<string, { type?: 'counter' | 'gauge'; labels?: string[]; help?: string }>;
  maxLabelSets?: number;
}

const NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Reads and checks a --metrics-config file; errors name the file and the entry. */
export function readRunMetricsConfig(path: string): RunMetricsConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new TsbpfError(`--metrics-config ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let c: unknown;
  try {
    c = JSON.parse(text);
  } catch (e) {
    throw new TsbpfError(`--metrics-config ${path}: not JSON: ${(e as Error).message.slice(0, 100)}`);
  }
  const bad = (what: string) => new TsbpfError(`--metrics-config ${path}: ${what}`);
  if (typeof c !== 'object' || c === null || Array.isArray(c)) throw bad('expected an object with "events" and/or "maps"');
  const o = c as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['events', 'maps', 'maxLabelSets'].includes(k)) throw bad(`unknown key "${k.slice(0, 40)}" (events, maps, maxLabelSets)`);
  const labels = (v: unknown, where: string) => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && NAME.test(x))) throw bad(`${where}.labels: expected an array of label names ([a-zA-Z_][a-zA-Z0-9_]*)`);
    return v as string[];
  };
  const events = o.events === undefined ? undefined : Array.isArray(o.events) ? o.events : (() => { throw bad('"events" must be an array'); })();
  const out: RunMetricsConfig = {};
  if (events) {
    out.events = events.map((e: unknown, i: number) => {
      const r = e as Record<string, unknown>;
      if (typeof r?.name !== 'string' || !NAME.test(r.name)) throw bad(`events[${i}].name: a metric name ([a-zA-Z_][a-zA-Z0-9_]*)`);
      return { name: r.name, labels: labels(r.labels, `events[${i}]`), help: typeof r.help === 'string' ? r.help : undefined };
    });
  }
  if (o.maps !== undefined) {
    if (typeof o.maps !== 'object' || o.maps === null || Array.isArray(o.maps)) throw bad('"maps" must be an object of map name -> settings');
    out.maps = {};
    for (const [name, v] of Object.entries(o.maps as Record<string, unknown>)) {
      const r = (v ?? {}) as Record<string, unknown>;
      if (r.type !== undefined && r.type !== 'counter' && r.type !== 'gauge') throw bad(`maps.${name}.type: counter or gauge`);
      out.maps[name] = { type: r.type as 'counter' | 'gauge' | undefined, labels: r.labels === undefined ? undefined : labels(r.labels, `maps.${name}`), help: typeof r.help === 'string' ? r.help : undefined };
    }
  }
  if (o.maxLabelSets !== undefined) {
    if (!Number.isInteger(o.maxLabelSets) || (o.maxLabelSets as number) < 1) throw bad('maxLabelSets: a positive whole number');
    out.maxLabelSets = o.maxLabelSets as number;
  }
  return out;
}

type Labels = Record<string, string>;
interface Value { labels: Labels; value: number; metricName?: string }

/** A metric whose values tsbpf computes (from map walks) and prom-client only prints. */
class ComputedMetric {
  readonly aggregator = 'sum';
  constructor(readonly name: string, readonly help: string, readonly type: 'counter' | 'gauge' | 'histogram', private readonly values: () => Value[]) {}
  get(): { name: string; help: string; type: string; aggregator: string; values: Value[] } {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: this.values() };
  }
  reset(): void {}
}

const metricName = (map: string, member?: string) => `tsbpf_${map.replace(/[^a-zA-Z0-9_]/g, '_')}${member ? `_${member.replace(/[^a-zA-Z0-9_]/g, '_')}` : ''}`;
const labelName = (s: string) => (NAME.test(s) ? s : s.replace(/[^a-zA-Z0-9_]/g, '_').replace(/^(\d)/, '_$1'));
const text = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean' ? String(v) : JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? String(x) : x)));
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);

export class RunMetrics {
  private readonly cap: LabelSetCap;
  private readonly events: Counter<string>;
  private readonly lostCounter: Counter<string>;
  private readonly counted: { name: string; labels: string[]; counter: Counter<string> }[] = [];
  private readonly hists = new Map<string, Map<string, { labels: Labels; counts: number[] }>>();
  private readonly kvs = new Map<string, Map<string, { labels: Labels; values: Map<string, number> }>>();

  constructor(registry: Registry, private readonly runner: Runner, private readonly config: RunMetricsConfig = {}) {
    this.cap = new LabelSetCap(registry, config.maxLabelSets ?? DEFAULT_MAX_LABEL_SETS);
    const registers = [registry];
    this.events = new Counter({ name: 'tsbpf_events_total', help: 'Records exported by the package, by map and type', labelNames: ['map', 'type'], registers });
    this.lostCounter = new Counter({ name: 'tsbpf_events_lost_total', help: 'Records the perf buffer had no room for, by map', labelNames: ['map'], registers });
    for (const e of config.events ?? []) {
      const name = `tsbpf_${e.name.replace(/_total$/, '')}_total`;
      this.counted.push({ name: e.name, labels: e.labels, counter: new Counter({ name, help: e.help ?? `Exported events by ${e.labels.join(', ')}`, labelNames: e.labels, registers }) });
    }
    for (const s of runner.samplers) {
      const hist = s.config.type !== 'default_kv';
      if (hist) {
        const series = new Map<string, { labels: Labels; counts: number[] }>();
        this.hists.set(s.mapName, series);
        const log2 = s.config.type === 'log2_hist';
        registry.registerMetric(new ComputedMetric(metricName(s.mapName), `${s.config.type} of map ${s.mapName}${s.config.unit ? ` (${s.config.unit})` : ''}`, 'histogram', () => histValues(metricName(s.mapName), series, log2)) as never);
      } else {
        this.kvs.set(s.mapName, new Map());
      }
    }
    for (const [map, m] of Object.entries(config.maps ?? {})) {
      if (!m.type) {
        if (!runner.samplers.some((s) => s.mapName === map)) throw new TsbpfError(`--metrics-config: maps.${map}: not a sample map of the package: give it a "type" (counter or gauge) to read it at every scrape`);
        continue;
      }
      const bpf = runner.collection.map(map);
      if (bpf.type !== C.BPF_MAP_TYPE_HASH && bpf.type !== C.BPF_MAP_TYPE_ARRAY && bpf.type !== C.BPF_MAP_TYPE_PERCPU_HASH && bpf.type !== C.BPF_MAP_TYPE_PERCPU_ARRAY && bpf.type !== C.BPF_MAP_TYPE_LRU_HASH) {
        throw new TsbpfError(`--metrics-config: maps.${map}: a ${m.type} is read from a hash or array map of integers; this map is of type ${bpf.type}`);
      }
      const perCpu = bpf.type === C.BPF_MAP_TYPE_PERCPU_HASH || bpf.type === C.BPF_MAP_TYPE_PERCPU_ARRAY;
      registry.registerMetric(new ComputedMetric(metricName(map), m.help ?? `map ${map}`, m.type, () => {
        const values: Value[] = [];
        for (const [k, v] of bpf.entries()) {
          const n = perCpu ? (v as unknown[]).reduce<number>((a, x) => a + Number(x), 0) : Number(v);
          if (!Number.isFinite(n)) throw new TsbpfError(`map ${map}: its values are not integers (${typeof v}): it cannot be a ${m.type}`);
          values.push({ labels: this.keyLabels(k, m.labels), value: n });
        }
        return values;
      }) as never);
    }
    for (const [map] of this.kvs) {
      const series = this.kvs.get(map)!;
      const counter = !!runner.samplers.find((s) => s.mapName === map)!.config.clear_map;
      // One metric per member name, found as walks come in: registered lazily in values().
      registry.registerMetric(new KvMetrics(map, series, counter) as never);
    }
  }

  /** A sample map's walk: histograms and key/value metrics updated. */
  sample(s: Sample): void {
    const clear = !!this.runner.samplers.find((x) => x.mapName === s.map)?.config.clear_map;
    const names = this.config.maps?.[s.map]?.labels;
    const hist = this.hists.get(s.map);
    if (hist) {
      if (!clear) for (const v of hist.values()) v.counts.fill(0);
      for (const { key, value } of s.entries) {
        const labels = this.keyLabels(key, names, isRecord(value) ? value : undefined);
        const id = JSON.stringify(labels);
        let series = hist.get(id);
        const slots = ((isRecord(value) ? value.slots : undefined) ?? []) as (number | bigint)[];
        if (!series) hist.set(id, (series = { labels, counts: new Array(slots.length).fill(0) }));
        slots.forEach((c, i) => (series!.counts[i] = (series!.counts[i] ?? 0) + Number(c)));
      }
      return;
    }
    const kv = this.kvs.get(s.map);
    if (!kv) return;
    for (const { key, value } of s.entries) {
      const labels = this.keyLabels(key, names);
      const id = JSON.stringify(labels);
      let series = kv.get(id);
      if (!series) kv.set(id, (series = { labels, values: new Map() }));
      const members = isRecord(value) ? Object.entries(value).filter(([, x]) => typeof x === 'number' || typeof x === 'bigint') : [['', value] as [string, unknown]];
      for (const [m, x] of members) series.values.set(m, (clear ? (series.values.get(m) ?? 0) : 0) + Number(x));
    }
  }

  /** One exported record (counted whether or not it is decoded). */
  record(map: string, type: string): void {
    this.events.inc({ map, type });
  }

  /** A decoded event, for the config's counters by field values. */
  event(e: ExportedEvent): void {
    for (const c of this.counted) {
      const values = c.labels.map((l) => {
        if (!(l in e.value)) throw new TsbpfError(`--metrics-config: events "${c.name}": ${e.type} has no field ${l} (fields: ${Object.keys(e.value).join(', ')})`);
        return text(e.value[l]);
      });
      const kept = this.cap.admit(values);
      c.counter.inc(Object.fromEntries(c.labels.map((l, i) => [l, kept[i]!])));
    }
  }

  lost(l: LostRecords): void {
    this.lostCounter.inc({ map: l.map }, l.count);
  }

  /** A key (and a histogram value's string members) as labels, capped. */
  private keyLabels(key: unknown, names?: string[], value?: Record<string, unknown>): Labels {
    const pairs: [string, string][] = isRecord(key) ? Object.entries(key).map(([k, v], i) => [names?.[i] ?? labelName(k), text(v)]) : [[names?.[0] ?? 'key', text(key)]];
    if (value) for (const [k, v] of Object.entries(value)) if (typeof v === 'string' && k !== 'slots') pairs.push([labelName(k), v]);
    const kept = this.cap.admit(pairs.map(([, v]) => v));
    return Object.fromEntries(pairs.map(([k], i) => [k, kept[i]!]));
  }
}

/** A default_kv map's metrics: one name per numeric member, known once walks come in. */
class KvMetrics {
  readonly aggregator = 'sum';
  readonly help: string;
  readonly name: string;
  readonly type: string;
  constructor(map: string, private readonly series: Map<string, { labels: Labels; values: Map<string, number> }>, counter: boolean) {
    this.name = metricName(map);
    this.type = counter ? 'counter' : 'gauge';
    this.help = `default_kv map ${map}${counter ? ' (walks added up: the package clears it each interval)' : ''}`;
  }
  get(): { name: string; help: string; type: string; aggregator: string; values: Value[] } {
    const values: Value[] = [];
    for (const s of this.series.values()) for (const [m, v] of s.values) values.push({ labels: s.labels, value: v, metricName: m ? `${this.name}_${m.replace(/[^a-zA-Z0-9_]/g, '_')}` : this.name });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
  reset(): void {}
}

function histValues(name: string, series: Map<string, { labels: Labels; counts: number[] }>, log2: boolean): Value[] {
  const values: Value[] = [];
  for (const { labels, counts } of series.values()) {
    let cum = 0;
    let sum = 0;
    counts.forEach((c, i) => {
      cum += c;
      const upper = log2 ? 2 ** (i + 1) - 1 : i;
      const lower = log2 ? (i === 0 ? 0 : 2 ** i) : i;
      sum += c * lower;
      values.push({ labels: { ...labels, le: String(upper) }, value: cum, metricName: `${name}_bucket` });
    });
    values.push({ labels: { ...labels, le: '+Inf' }, value: cum, metricName: `${name}_bucket` });
    values.push({ labels, value: sum, metricName: `${name}_sum` });
    values.push({ labels, value: cum, metricName: `${name}_count` });
  }
  return values;
}

/** The metrics of `runner` served at `at`; `handlers` are what the run loop feeds it. */
export async function serveRunMetrics(runner: Runner, at: ListenAddress, config: RunMetricsConfig = {}): Promise<{ metrics: RunMetrics; server: MetricsServer }> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = new RunMetrics(registry, runner, config);
  const server = await MetricsServer.listen(registry, at);
  return { metrics, server };
}
