/** `tsbpf run PACKAGE -h`: the program's own options, as eunomia's ecli lists them. */
import { cell } from '../decode/index.js';
import type { ObjectSpec } from '../object/index.js';
import type { BpfSkel } from '../package/index.js';
import { optionValue, programOptions } from '../runner/index.js';
import { printable, printableLines } from '../text.js';

export function usage(spec: ObjectSpec, skel?: BpfSkel): string {
  const opts = programOptions(spec, skel);
  const doc = skel?.doc;
  const lines = [`Usage: tsbpf run ${printable(spec.name)} [-j|--json] [-v] [options]`, ''];
  // As ecli: the package's brief (else its description) before the options, details after.
  // Every string here is the package's: doc text keeps its lines, nothing keeps escapes.
  const about = doc?.brief ?? doc?.description;
  if (about) lines.push(printableLines(about) + (doc?.version ? ` (version ${printable(doc.version)})` : ''), '');
  lines.push('Program options (global variables, set before load):');
  for (const o of opts) {
    const names = printable(`${o.short ? `-${o.short}, ` : '    '}--${o.long}${o.bool ? '' : ` <${o.type}>`}`);
    const now = optionValue(spec, o);
    const shown = o.default !== undefined ? cell(o.default) : o.value !== undefined ? cell(o.value) : now === '' ? '""' : cell(now);
    // An array's default (int[100]) would fill the screen: its start is enough.
    const what = `${printable(o.type)}, in ${printable(o.variable.section)}, default ${shown.length > 48 ? shown.slice(0, 45) + '...' : shown}`;
    lines.push(`  ${names.padEnd(32)} ${o.help ? `${printable(o.help)} (${what})` : what}`);
  }
  if (!opts.length) lines.push('  (none)');
  lines.push('  -h, --help'.padEnd(34) + ' this help');
  if (doc?.details) lines.push('', printableLines(doc.details));
  return lines.join('\n') + '\n';
}
