/**
 * A BPF program's own options, as eunomia's ecli makes them: one per global variable of
 * its data sections (`--NAME VALUE`, a bare `--NAME` for a bool, or ecli's
 * `--enable-NAME`/`--disable-NAME`), renamed and described by the package's `cmdarg` and
 * `description`, written into the object before it is loaded.
 */
import type { Btf } from '../btf/index.js';
import { decodeValue } from '../btf/index.js';
import { TsbpfError } from '../errors.js';
import { setGlobal } from '../loader/index.js';
import type { ObjectSpec, VariableSpec } from '../object/index.js';
import { DUMMY_VARIABLE, type BpfSkel, type VariableEntry } from '../package/index.js';
import { quoted } from '../text.js';

export { DUMMY_VARIABLE };


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
  /** The package's `value` of the variable (its initial value, as ecc writes it): written when there is no cmdarg.default. */
  value?: unknown;
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
        value: e?.value,
      };
    });
}

/** Whether the arguments ask for the program's help (-h, --help): nothing is then applied. */
export function wantsHelp(args: readonly string[]): boolean {
  return args.includes('-h') || args.includes('--help');
}

/** Whether the arguments ask for the program's version (-V, --version), as ecli's do. */
export function wantsVersion(args: readonly string[]): boolean {
  return args.includes('-V') || args.includes('--version');
}

/**
 * Writes cmdarg defaults, then the command line's `--name value` pairs, into the spec's
 * globals. Errors name the bad argument and list what the program takes.
 */
export function applyArgs(spec: ObjectSpec, args: readonly string[], skel?: BpfSkel): void {
  const opts = programOptions(spec, skel);
  const byName = new Map<string, ProgramOption>();
  for (const o of opts) {
    byName.set(`--${o.long}`, o);
    if (o.short) byName.set(`-${o.short}`, o);
  }
  for (const o of opts) {
    if (o.default !== undefined) setGlobal(spec, o.variable.name, parseValue(spec.btf, o, String(o.default)));
    else if (o.value !== undefined) setPackageValue(spec, o);
  }
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
}

/**
 * Typed values by option name (cmdarg.long) or variable name, as a program passes them:
 * numbers, bigints, booleans, strings. Written after the arguments.
 */
export function applyValues(spec: ObjectSpec, values: Readonly<Record<string, unknown>>, skel?: BpfSkel): void {
  const opts = programOptions(spec, skel);
  for (const [name, value] of Object.entries(values)) {
    const o = opts.find((x) => x.long === name) ?? opts.find((x) => x.variable.name === name);
    if (!o) throw new TsbpfError(`no program option or global variable named ${name}; this program takes: ${opts.map((x) => x.long).join(', ') || 'none'}`);
    setGlobal(spec, o.variable.name, value);
  }
}

/** The package's value of a variable, as ecli writes it into the object before load. */
function setPackageValue(spec: ObjectSpec, o: ProgramOption): void {
  try {
    setGlobal(spec, o.variable.name, o.value);
  } catch (e) {
    throw new TsbpfError(`package variable ${o.variable.name} (${o.type}): its "value" ${quoted(o.value)} does not fit: ${(e as Error).message}`);
  }
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
export function optionValue(spec: ObjectSpec, o: ProgramOption): unknown {
  const data = spec.maps.find((x) => x.data?.section === o.variable.section)!.data!;
  const view = new DataView(data.bytes.buffer, data.bytes.byteOffset + o.variable.offset, o.variable.size);
  return decodeValue(spec.btf, o.variable.typeId, view);
}
