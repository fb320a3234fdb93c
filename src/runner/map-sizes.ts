/**
 * `--max-entries NAME=N` and `--value-size NAME=N` (check, run): sizes user space sets
 * before load, as libbpf's bpf_map__set_max_entries / set_value_size.
 */
import { TsbpfError } from '../errors.js';
import { setMapSizes } from '../loader/index.js';
import type { ObjectSpec } from '../object/index.js';

export type MapSizes = Map<string, { maxEntries?: number; valueSize?: number }>;

/** Adds one NAME=N option to `sizes` (a new map when undefined); `option` names it in errors. */
export function addMapSize(option: '--max-entries' | '--value-size', text: string, sizes: MapSizes = new Map()): MapSizes {
  const m = /^([^=]+)=(\d+|0x[0-9a-fA-F]+)$/.exec(text);
  const n = m ? Number(m[2]) : NaN;
  if (!m || !Number.isSafeInteger(n) || n > 0xffffffff) throw new TsbpfError(`${option} ${text}: expected MAP=N, N a u32 (e.g. ${option} stacks=1016)`);
  const entry = sizes.get(m[1]!) ?? {};
  entry[option === '--max-entries' ? 'maxEntries' : 'valueSize'] = n;
  sizes.set(m[1]!, entry);
  return sizes;
}

export function applyMapSizes(spec: ObjectSpec, sizes: MapSizes | undefined): void {
  for (const [name, s] of sizes ?? []) setMapSizes(spec, name, s);
}
