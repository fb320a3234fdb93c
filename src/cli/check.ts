/**
 * tsbpf check: does every program of this object pass the verifier on this kernel?
 */
import { Collection, VerifierError } from '../loader/index.js';
import { coreCause } from '../loader/core.js';
import { linkProgram, loadObjectFile, PIN_BY_NAME, PIN_NONE } from '../object/index.js';
import { mapTypeName, progTypeName } from '../sys/constants.js';
import { reportError } from './main.js';
import { applyMapSizes, type MapSizes } from '../runner/index.js';

export function checkCommand(path: string, opts: { logLevel: number; mapSizes?: MapSizes; btf?: string }): number {
  const spec = loadObjectFile(path);
  applyMapSizes(spec, opts.mapSizes);
  // A check leaves nothing behind: maps pinned by name are created unpinned, and it says so.
  const unpinned = spec.maps.filter((m) => m.pinning === PIN_BY_NAME).map((m) => m.name);
  for (const m of spec.maps) if (m.pinning === PIN_BY_NAME) m.pinning = PIN_NONE;
  const coll = Collection.load(spec, { collectFailures: true, logLevel: opts.logLevel, targetBtf: opts.btf });
  try {
    const rows: string[][] = [['PROGRAM', 'TYPE', 'SECTION', 'INSNS', 'VERIFIED']];
    const skipped: string[] = [];
    for (const p of spec.programs) {
      const loaded = coll.programs.get(p.name);
      const failed = coll.failures.has(p.name);
      if (!loaded && !failed) skipped.push(p.name);
      rows.push([
        p.name,
        shortName(progTypeName(p.progType), 'BPF_PROG_TYPE_'),
        p.section,
        String(loaded ? loaded.insnCount : linkProgram(spec, p).insns.byteLength / 8),
        loaded ? String(loaded.info().verifiedInsns) : failed ? 'REJECTED' : 'NOT LOADED',
      ]);
    }
    if (spec.programs.length) process.stdout.write(table(rows));
    const maps = [...coll.maps.values()].map((m) => `${m.name} (${shortName(mapTypeName(m.type), 'BPF_MAP_TYPE_')})`);
    process.stdout.write(`maps: ${maps.join(', ') || 'none'}\n`);
    if (unpinned.length) process.stdout.write(`not pinned by check (LIBBPF_PIN_BY_NAME): ${unpinned.join(', ')}\n`);
    for (const p of coll.programs.values()) {
      if (p.log) process.stderr.write(`--- verifier log of ${p.name}\n${p.log.trimEnd()}\n`);
    }
    for (const [name, err] of coll.failures) {
      if (err instanceof VerifierError) {
        const cause = coreCause(err); // an unresolved CO-RE relocation the verifier reached
        process.stderr.write(`--- program ${name} rejected (${err.code})${cause ? `: ${cause}` : ''}; verifier log:\n${err.log.trimEnd()}\n`);
      }
      else reportError(err);
    }
    const ok = coll.programs.size;
    const bad = coll.failures.size;
    if (spec.programs.length === 0) {
      process.stdout.write('0 programs\n');
    } else {
      // SEC("?...") programs load only when asked, as with libbpf.
      const notLoaded = skipped.length ? `, ${skipped.length} not loaded (autoload off: ${skipped.join(', ')})` : '';
      process.stdout.write(`${ok} program${ok === 1 ? '' : 's'} accepted, ${bad} rejected${notLoaded}\n`);
    }
    return bad ? 1 : 0;
  } finally {
    coll.close();
  }
}

function shortName(full: string, prefix: string): string {
  return full.startsWith(prefix) ? full.slice(prefix.length).toLowerCase() : full;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const numeric = new Set([3, 4]);
  return rows
    .map((r) => r.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd() + '\n')
    .join('');
}
