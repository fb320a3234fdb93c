/**
 * A BPF program's own command-line options, as eunomia's ecli makes them: one per global
 * variable of its data sections (`--NAME VALUE`, a bare `--NAME` for a bool, or ecli's
 * `--enable-NAME`/`--disable-NAME`), renamed
 * and described by the package's `cmdarg` and `description`, written into the object
 * before it is loaded.
 */
import type { Btf } from '../btf/index.js';
import { decodeValue } from '../btf/index.js';
import { cell } from '../decode/index.js';
import { TsbpfError } from '../errors.js';
import { setGlobal } from '../loader/index.js';
import type { ObjectSpec, VariableSpec } from '../object/index.js';
import type { BpfSkel, VariableEntry } from '../package/index.js';

/** ecc's dummy pointers that keep the header's structs in BTF: not options. */
export const DUMMY_VARIABLE = /^__eunomia_dummy_(.+)_ptr$/;

export interface ProgramOption {
  variable: VariableSpec;
  /** Option name without dashes: cmdarg.long, else the variable's name. */
  long: string;
  /** One letter (cmdarg.short). */
  short?: string;
  /** C type without qualifiers: "int", "char[16]". */
  type: string;
  bool: boolean;
  help?: string;
  /** cmdarg.default: written before the command line's values. */
  default?: unknown;
}

/** The options of a program: its global variables minus ecc's dummies, with the package's names and docs. */
export function programOptions(spec: ObjectSpec, skel?: BpfSkel): ProgramOption[] {
  const entries = new Map<string, VariableEntry>();
  for (const s of skel?.data_sections ?? []) for (const v of s.variables) entries.set(`${s.name}/${v.name}`, v);
  return spec.maps
    .flatMap((m) => m.data?.variables ?? [])
    .filter((v) => v.global && !DUMMY_VARIABLE.test(v.name))
    .map((v) => {
      const e = entries.get(`${v.section}/${v.name}`);
      const long = typeof e?.cmdarg?.long === 'string' && e.cmdarg.long ? e.cmdarg.long : v.name;
      const short = typeof e?.cmdarg?.short === 'string' && e.cmdarg.short.length === 1 ? e.cmdarg.short : undefined;
      const help = typeof e?.cmdarg?.help === 'string' ? e.cmdarg.help : typeof e?.description === 'string' ? e.description : undefined;
      return {
        variable: v,
        long,
        short,
        type: spec.btf.typeName(v.typeId).replace(/^((const|volatile) )+/, ''),
        bool: isBool(spec.btf, v.typeId),
        help,
        default: e?.cmdarg?.default,
      };
    });
}

export function usage(spec: ObjectSpec, skel?: BpfSkel): string {
  const opts = programOptions(spec, skel);
  const doc = skel?.doc;
  const lines = [`Usage: tsbpf run ${spec.name} [-j|--json] [-v] [options]`, ''];
  // As ecli: the package's brief (else its description) before the options, details after.
  const about = doc?.brief ?? doc?.description;
  if (about) lines.push(about + (doc?.version ? ` (version ${doc.version})` : ''), '');
  lines.push('Program options (global variables, set before load):');
  for (const o of opts) {
    const names = `${o.short ? `-${o.short}, ` : '    '}--${o.long}${o.bool ? '' : ` <${o.type}>`}`;
    const what = `${o.type}, in ${o.variable.section}, default ${o.default !== undefined ? cell(o.default) : currentValue(spec, o)}`;
    lines.push(`  ${names.padEnd(32)} ${o.help ? `${o.help} (${what})` : what}`);
  }
  if (!opts.length) lines.push('  (none)');
  lines.push('  -h, --help'.padEnd(34) + ' this help');
  if (doc?.details) lines.push('', doc.details);
  return lines.join('\n') + '\n';
}

/**
 * Writes cmdarg defaults, then the command line's `--name value` pairs, into the spec's
 * globals. Errors name the bad argument and list what the program takes.
 */
export function applyArgs(spec: ObjectSpec, args: string[], skel?: BpfSkel): { help: boolean } {
  const opts = programOptions(spec, skel);
  const byName = new Map<string, ProgramOption>();
  for (const o of opts) {
    byName.set(`--${o.long}`, o);
    if (o.short) byName.set(`-${o.short}`, o);
  }
  if (args.includes('-h') || args.includes('--help')) return { help: true };
  for (const o of opts) if (o.default !== undefined) setGlobal(spec, o.variable.name, parseValue(spec.btf, o, String(o.default)));
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const m = /^(--?[^=]+)(?:=(.*))?$/.exec(a);
    // ecli's forms for a bool: --enable-NAME and --disable-NAME.
    const toggle = m && m[2] === undefined ? /^--(enable|disable)-(.+)$/.exec(m[1]!) : null;
    const toggled = toggle ? byName.get(`--${toggle[2]}`) : undefined;
    if (toggle && toggled?.bool && !byName.has(m![1]!)) {
      setGlobal(spec, toggled.variable.name, toggle[1] === 'enable');
      continue;
    }
    const o = m && byName.get(m[1]!);
    if (!m || !o) {
      throw new TsbpfError(`unknown program argument ${a}; this program takes: ${opts.map((x) => `--${x.long}`).join(', ') || 'none'}`);
    }
    if (o.bool && m[2] === undefined) {
      setGlobal(spec, o.variable.name, true);
      continue;
    }
    const text = m[2] ?? args[++i];
    if (text === undefined) throw new TsbpfError(`--${o.long} needs a value (${o.type})`);
    setGlobal(spec, o.variable.name, parseValue(spec.btf, o, text));
  }
  return { help: false };
}

function isBool(btf: Btf, id: number): boolean {
  const t = btf.type(btf.resolve(id));
  return t.kind === 'int' && t.name === '_Bool';
}

/** Command-line text -> what the codec takes; integers are parsed and range-checked there. */
function parseValue(btf: Btf, o: ProgramOption, text: string): unknown {
  if (o.bool) {
    if (text === 'true' || text === '1') return true;
    if (text === 'false' || text === '0') return false;
  }
  const t = btf.type(btf.resolve(o.variable.typeId));
  if (t.kind === 'float') return Number(text);
  return text;
}

/** The variable's value in the object now (its initializer, or what was written). */
function currentValue(spec: ObjectSpec, o: ProgramOption): string {
  const data = spec.maps.find((x) => x.data?.section === o.variable.section)!.data!;
  const view = new DataView(data.bytes.buffer, data.bytes.byteOffset + o.variable.offset, o.variable.size);
  const value = decodeValue(spec.btf, o.variable.typeId, view);
  return value === '' ? '""' : cell(value);
}
