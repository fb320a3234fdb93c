/**
 * A sample map's walks as text, as eunomia's ecli prints them each interval:
 *   log2_hist / linear_hist: per key `key = ` and the key's values (one, or each member
 *     of a struct key, each after a space), the value's other members as `name = value`,
 *     then the BCC-style histogram of `slots` (an entry whose slots are all zero keeps its
 *     key and members).
 *   default_kv: a header once, `TIME` and the key's and value's columns (member names, or
 *     the type's name for a key or value that is not a struct), then per entry the time,
 *     the key and the value as JSON.
 * With JSON each entry is one line: {"key": ..., "value": ...}.
 */
import { linearHistogram, log2Histogram } from './hist.js';
import { printable } from '../text.js';
import { cell, toJson } from './value-text.js';

export type SampleType = 'log2_hist' | 'linear_hist' | 'default_kv';

/** One walk of a sample map: its entries sorted by key, per-CPU values summed. */
export interface Sample {
  map: string;
  type: SampleType;
  /** The histogram's unit label (`@sample`'s unit). */
  unit?: string;
  /** The C names of the key and value types ("u32", "struct hist"). */
  keyType: string;
  valueType: string;
  entries: { key: unknown; value: unknown }[];
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);

/** Text of a sample map's walks; one per map, since default_kv prints its header once. */
export class SampleFormatter {
  private headed = false;

  constructor(readonly json = false) {}

  /** The text of one walk; `time` is the HH:MM:SS of default_kv rows. */
  text(sample: Sample, time = ''): string {
    let text = '';
    if (!this.json && sample.type === 'default_kv' && !this.headed && sample.entries.length) {
      this.headed = true;
      const first = sample.entries[0]!;
      const columns = [...columnNames(first.key, sample.keyType), ...columnNames(first.value, sample.valueType)];
      text += 'TIME'.padEnd(9) + columns.map((c) => printable(c.toUpperCase()).padEnd(6) + ' ').join('') + '\n';
    }
    for (const { key, value } of sample.entries) {
      if (this.json) {
        text += `{"key":${toJson(key)},"value":${toJson(value)}}\n`;
      } else if (sample.type === 'default_kv') {
        text += `${time} ${toJson(named(key, sample.keyType))} ${toJson(named(value, sample.valueType))}\n`;
      } else {
        const v = value as Record<string, unknown>;
        text += 'key = ' + (isRecord(key) ? Object.values(key) : [key]).map((x) => ' ' + cell(x)).join('') + '\n';
        for (const [name, x] of Object.entries(v)) if (name !== 'slots') text += `${name} = ${cell(x)}\n`;
        const slots = v.slots as (number | bigint)[];
        const unit = sample.unit ?? '(unit)';
        const hist = sample.type === 'log2_hist' ? log2Histogram(slots, unit) : linearHistogram(slots, unit);
        text += hist ? '\n' + hist + '\n' : '\n';
      }
    }
    return text;
  }
}

/** A struct's member names, else the type's own name as the one column. */
function columnNames(v: unknown, type: string): string[] {
  return isRecord(v) ? Object.keys(v) : [type];
}

/** A value that is not a struct, as ecli shows it in a default_kv row: {"TYPE": value}. */
function named(v: unknown, type: string): unknown {
  return isRecord(v) ? v : { [type]: v };
}
