/**
 * A sample map's walk as text, as eunomia's ecli prints it each interval:
 *   log2_hist / linear_hist: per key its key (`key = K`, or one `name = value` line per
 *     member of a struct key), the value's other members, then the BCC-style histogram of
 *     `slots` (an entry whose slots are all zero keeps its key and members).
 *   default_kv: each key and value on one line.
 * With JSON each entry is one line: {"key": ..., "value": ...}.
 */
import { linearHistogram, log2Histogram } from './hist.js';
import { cell, toJson } from './value-text.js';

export type SampleType = 'log2_hist' | 'linear_hist' | 'default_kv';

/** One walk of a sample map: its entries sorted by key, per-CPU values summed. */
export interface Sample {
  map: string;
  type: SampleType;
  /** The histogram's unit label (`@sample`'s unit). */
  unit?: string;
  entries: { key: unknown; value: unknown }[];
}

export function sampleText(sample: Sample, json = false): string {
  let text = '';
  for (const { key, value } of sample.entries) {
    if (json) {
      text += `{"key":${toJson(key)},"value":${toJson(value)}}\n`;
      continue;
    }
    const slots = sample.type === 'default_kv' ? undefined : ((value as Record<string, unknown>).slots as (number | bigint)[]);
    if (!slots) {
      text += `key = ${cell(key)}  value = ${cell(value)}\n`;
      continue;
    }
    text += describe('key', key);
    for (const [name, v] of Object.entries(value as Record<string, unknown>)) if (name !== 'slots') text += `${name} = ${cell(v)}\n`;
    const unit = sample.unit ?? '(unit)';
    const hist = sample.type === 'log2_hist' ? log2Histogram(slots, unit) : linearHistogram(slots, unit);
    text += hist ? '\n' + hist + '\n' : '\n';
  }
  return text;
}

/** `key = 42`, or one `name = value` line per member of a struct key. */
function describe(label: string, key: unknown): string {
  if (typeof key === 'object' && key !== null && !Array.isArray(key) && !(key instanceof Uint8Array)) {
    return Object.entries(key as Record<string, unknown>).map(([n, v]) => `${n} = ${cell(v)}\n`).join('');
  }
  return `${label} = ${cell(key)}\n`;
}
