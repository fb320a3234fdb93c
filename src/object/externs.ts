/**
 * Externs: symbols an object leaves to the loader. `__kconfig` ones (.kconfig) are values
 * of the running kernel's configuration, placed in a read-only internal map; `__ksym`
 * ones (.ksyms) are kernel variables, addresses and kfuncs. Collected as libbpf collects
 * them (bpf_object__collect_externs), and the object's BTF is rewritten the way libbpf
 * rewrites it, since the kernel refuses extern VARs and FUNCs. Pure: no syscalls.
 */
import type { Btf } from '../btf/index.js';
import { BTF_FUNC_EXTERN, BTF_FUNC_GLOBAL, BTF_INT_BOOL, BTF_INT_SIGNED, BTF_VAR_GLOBAL_ALLOCATED, BTF_VAR_GLOBAL_EXTERN, type Datasec } from '../btf/types.js';
import { SHN_UNDEF, STB_GLOBAL, STB_WEAK, STT_NOTYPE, type ElfFile } from '../elf/index.js';
import { ParseError } from '../errors.js';
import * as C from '../sys/constants.js';
import type { MapSpec } from './spec.js';

export const KCONFIG_SEC = '.kconfig';
export const KSYMS_SEC = '.ksyms';

/** How a .kconfig value is stored (libbpf's kcfg_type). */
export type KconfigType = 'bool' | 'char' | 'tristate' | 'int' | 'char_array';

/** libbpf's enum libbpf_tristate. */
export const TRI_NO = 0;
export const TRI_YES = 1;
export const TRI_MODULE = 2;

interface ExternBase {
  name: string;
  /** STB_WEAK: absent, it reads 0 instead of failing the load. */
  weak: boolean;
  /** Id of the VAR or FUNC in the object's BTF. */
  btfId: number;
}

export interface KconfigExtern extends ExternBase {
  kind: 'kconfig';
  type: KconfigType;
  /** The variable's type in the object's BTF (the VAR's target, unchanged). */
  typeId: number;
  size: number;
  align: number;
  signed: boolean;
  /** Offset in the .kconfig map's value. */
  offset: number;
}

export interface KsymExtern extends ExternBase {
  kind: 'ksym';
  /** func: a kfunc; var: a typed kernel variable (BTF); typeless: an address (kallsyms). */
  ksym: 'func' | 'var' | 'typeless';
  /** func: its FUNC_PROTO; var: its type with modifiers and typedefs skipped; typeless: 0. */
  typeId: number;
}

export type ExternSpec = KconfigExtern | KsymExtern;

/** The name a kfunc is looked up by: libbpf's flavours, "bpf_foo___v2" is bpf_foo. */
export function essentialName(name: string): string {
  const i = name.indexOf('___');
  return i > 0 ? name.slice(0, i) : name;
}

/**
 * Collects the externs of an object and rewrites its BTF (in place) for the kernel:
 * .kconfig VARs become allocated with their offsets in the .kconfig map, .ksyms VARs
 * become 4-byte int placeholders and kfunc FUNCs become global, with a "dummy_ksym"
 * VAR in their DATASEC slot, as libbpf does. Returns the externs in libbpf's order
 * (kconfig by alignment, size, name; then ksyms by name) and the .kconfig map.
 */
export function collectExterns(elf: ElfFile, btf: Btf, mapName: string): { externs: ExternSpec[]; kconfigMap?: MapSpec } {
  const syms = elf.symbols.filter(
    (s) => s.shndx === SHN_UNDEF && s.name !== '' && s.type === STT_NOTYPE && (s.bind === STB_GLOBAL || s.bind === STB_WEAK),
  );
  if (syms.length === 0) return { externs: [] };

  const secOf = new Map<number, Datasec>();
  for (const t of btf.types) {
    if (t.kind !== 'datasec') continue;
    for (const vsi of t.vars) secOf.set(vsi.type, t);
  }

  const kconfig: KconfigExtern[] = [];
  const ksyms: KsymExtern[] = [];
  const seen = new Set<string>();
  for (const sym of syms) {
    if (seen.has(sym.name)) throw new ParseError('object', `extern ${sym.name} has two ELF symbols`);
    seen.add(sym.name);
    const btfId = btf.idsByName(sym.name).find((id) => {
      const t = btf.types[id]!;
      return (t.kind === 'var' && t.linkage === BTF_VAR_GLOBAL_EXTERN) || (t.kind === 'func' && t.linkage === BTF_FUNC_EXTERN);
    });
    if (btfId === undefined) {
      throw new ParseError('object', `extern ${sym.name} has no extern VAR or FUNC in BTF: declare it with __kconfig or __ksym (and compile with clang -g)`);
    }
    const t = btf.type(btfId) as { kind: 'var' | 'func'; type: number };
    const sec = secOf.get(btfId);
    const weak = sym.bind === STB_WEAK;
    if (!sec) throw new ParseError('object', `extern ${sym.name} is in no BTF DATASEC: declare it with __kconfig or __ksym`);
    if (sec.name === KCONFIG_SEC) {
      if (t.kind === 'func') throw new ParseError('object', `extern function ${sym.name} cannot be in ${KCONFIG_SEC}: only variables are`);
      const { type, signed } = kconfigType(btf, t.type);
      if (!type) {
        throw new ParseError('object', `extern ${sym.name} (.kconfig): type ${btf.typeName(t.type)} is unsupported; use bool, char, enum libbpf_tristate, an integer of 1, 2, 4 or 8 bytes, or a char array`);
      }
      kconfig.push({ kind: 'kconfig', name: sym.name, weak, btfId, type, typeId: t.type, size: btf.size(t.type), align: alignOf(btf, t.type), signed, offset: 0 });
    } else if (sec.name === KSYMS_SEC) {
      const target = t.kind === 'func' ? t.type : btf.resolve(t.type);
      const ksym = t.kind === 'func' ? 'func' : target === 0 ? 'typeless' : 'var';
      ksyms.push({ kind: 'ksym', name: sym.name, weak, btfId, ksym, typeId: target });
    } else {
      throw new ParseError('object', `extern ${sym.name} is in section ${sec.name}: only ${KCONFIG_SEC} and ${KSYMS_SEC} externs exist`);
    }
  }
  kconfig.sort((a, b) => b.align - a.align || a.size - b.size || cmp(a.name, b.name));
  ksyms.sort((a, b) => cmp(a.name, b.name));

  let kconfigMap: MapSpec | undefined;
  const kcfgSecId = btf.idByName(KCONFIG_SEC, 'datasec');
  if (kcfgSecId !== undefined) {
    let off = 0;
    for (const e of kconfig) {
      e.offset = Math.ceil(off / e.align) * e.align;
      off = e.offset + e.size;
    }
    const sec = btf.type(kcfgSecId) as Datasec;
    for (const vsi of sec.vars) {
      const v = btf.type(vsi.type);
      const e = kconfig.find((x) => x.name === v.name);
      if (v.kind !== 'var' || !e) throw new ParseError('object', `${KCONFIG_SEC} DATASEC holds ${v.kind} ${v.name}, which has no extern symbol`);
      v.linkage = BTF_VAR_GLOBAL_ALLOCATED;
      vsi.offset = e.offset;
      vsi.size = e.size;
    }
    sec.vars.sort((a, b) => a.offset - b.offset);
    sec.size = off;
    if (off > 0) {
      kconfigMap = {
        name: mapName,
        type: C.BPF_MAP_TYPE_ARRAY,
        keySize: 4,
        valueSize: off,
        maxEntries: 1,
        flags: C.BPF_F_RDONLY_PROG | C.BPF_F_MMAPABLE,
        numaNode: 0,
        pinning: 0,
        mapExtra: 0n,
        keyTypeId: 0,
        valueTypeId: kcfgSecId,
        data: {
          section: KCONFIG_SEC,
          bytes: new Uint8Array(off),
          readonly: true,
          datasecId: kcfgSecId,
          variables: kconfig.map((e) => ({ name: e.name, section: KCONFIG_SEC, offset: e.offset, size: e.size, typeId: e.typeId, global: true })),
        },
      };
    }
  } else if (kconfig.length) {
    throw new ParseError('object', `extern ${kconfig[0]!.name} is in ${KCONFIG_SEC}, which has no BTF DATASEC`);
  }

  const ksymSecId = btf.idByName(KSYMS_SEC, 'datasec');
  if (ksymSecId !== undefined) rewriteKsymsBtf(btf, ksymSecId, ksyms);
  return { externs: [...kconfig, ...ksyms], kconfigMap };
}

/** .ksyms has no storage: its VARs become int placeholders, kfunc FUNCs global (libbpf's scheme). */
function rewriteKsymsBtf(btf: Btf, secId: number, ksyms: KsymExtern[]): void {
  const sec = btf.type(secId) as Datasec;
  const intId = btf.types.findIndex((t) => t.kind === 'int' && t.bits === 32);
  let dummyId = 0;
  if (sec.vars.some((vsi) => btf.type(vsi.type).kind === 'func')) {
    if (intId < 0) throw new ParseError('object', `${KSYMS_SEC} holds kfuncs but the BTF has no 32-bit int to stand in for them`);
    dummyId = btf.add({ kind: 'var', name: 'dummy_ksym', type: intId, linkage: BTF_VAR_GLOBAL_ALLOCATED });
  }
  sec.vars.forEach((vsi, i) => {
    const t = btf.type(vsi.type);
    if ((t.kind !== 'var' && t.kind !== 'func') || !ksyms.some((e) => e.name === t.name)) {
      throw new ParseError('object', `${KSYMS_SEC} DATASEC holds ${t.kind} ${t.name}, which has no extern symbol`);
    }
    if (t.kind === 'func') {
      const proto = btf.type(t.type);
      // The kernel wants named parameters in a FUNC's prototype.
      if (proto.kind === 'func_proto') for (const p of proto.params) if (p.type && !p.name) p.name = 'dummy_ksym';
      t.linkage = BTF_FUNC_GLOBAL;
      vsi.type = dummyId;
    } else {
      if (intId < 0) throw new ParseError('object', `${KSYMS_SEC} holds variables but the BTF has no 32-bit int to stand in for them`);
      t.linkage = BTF_VAR_GLOBAL_ALLOCATED;
      t.type = intId;
    }
    vsi.offset = i * 4;
    vsi.size = 4;
  });
  sec.size = sec.vars.length * 4;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** libbpf's find_kcfg_type. */
export function kconfigType(btf: Btf, id: number): { type?: KconfigType; signed: boolean } {
  const t = btf.type(btf.resolve(id));
  switch (t.kind) {
    case 'int':
      if (t.encoding & BTF_INT_BOOL) return { type: t.size === 1 ? 'bool' : undefined, signed: false };
      if (t.size === 1) return { type: 'char', signed: (t.encoding & BTF_INT_SIGNED) !== 0 };
      if (t.size > 8 || (t.size & (t.size - 1)) !== 0) return { signed: false };
      return { type: 'int', signed: (t.encoding & BTF_INT_SIGNED) !== 0 };
    case 'enum':
    case 'enum64':
      return { type: t.name === 'libbpf_tristate' && (t.kind === 'enum64' || t.size === 4) ? 'tristate' : undefined, signed: false };
    case 'array':
      return { type: t.nelems > 0 && kconfigType(btf, t.type).type === 'char' ? 'char_array' : undefined, signed: false };
    default:
      return { signed: false };
  }
}

/** Alignment of the types a .kconfig extern can have (libbpf's btf__align_of for them). */
function alignOf(btf: Btf, id: number): number {
  const t = btf.type(btf.resolve(id));
  switch (t.kind) {
    case 'int': case 'enum': case 'enum64': return Math.min(8, t.size);
    case 'array': return alignOf(btf, t.type);
    default: return 1;
  }
}

/**
 * A kernel config file (/proc/config.gz unpacked, /boot/config-*): its CONFIG_ lines as
 * name -> raw value, the first of a name winning. Lines that do not start with CONFIG_
 * (comments, "# CONFIG_X is not set") are skipped; a CONFIG_ line without "=value" is
 * an error, as in libbpf.
 */
export function parseKconfig(text: string, source = 'kernel config'): Map<string, string> {
  const out = new Map<string, string>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line.startsWith('CONFIG_')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) throw new ParseError(source, `line ${i + 1}: "${clip(line)}" has no "=": not a kernel config file`);
    if (eq === line.length - 1) throw new ParseError(source, `line ${i + 1}: "${clip(line)}" has no value`);
    const name = line.slice(0, eq);
    if (!out.has(name)) out.set(name, line.slice(eq + 1));
  }
  return out;
}

const clip = (s: string) => (s.length > 80 ? `${s.slice(0, 77)}...` : s);

/**
 * Stores a config value into an extern's bytes (`out`, ext.size long) as libbpf does:
 * y/n/m for bool, tristate and char; "quoted" for char arrays (truncated to fit);
 * integers (decimal, 0x hex, 0 octal) range-checked against the extern's size and sign.
 * Returns why the value does not fit the extern, or undefined when stored.
 */
export function setKconfigValue(ext: KconfigExtern, value: string, out: DataView): string | undefined {
  switch (value[0]) {
    case 'y': case 'n': case 'm': {
      const c = value[0];
      switch (ext.type) {
        case 'bool':
          if (c === 'm') return `value '${c}' implies tristate or char type`;
          out.setUint8(0, c === 'y' ? 1 : 0);
          return undefined;
        case 'tristate':
          out.setUint32(0, c === 'y' ? TRI_YES : c === 'm' ? TRI_MODULE : TRI_NO, true);
          if (ext.size === 8) out.setUint32(4, 0, true);
          return undefined;
        case 'char':
          out.setUint8(0, c.charCodeAt(0));
          return undefined;
        default:
          return `value '${c}' implies bool, tristate or char type, not ${ext.type}`;
      }
    }
    case '"': {
      if (ext.type !== 'char_array') return `value ${clip(value)} implies a char array, not ${ext.type}`;
      if (value.length < 2 || !value.endsWith('"')) return `invalid string value ${clip(value)}`;
      const bytes = Buffer.from(value.slice(1, -1), 'latin1');
      const len = Math.min(bytes.byteLength, ext.size - 1);
      for (let i = 0; i < len; i++) out.setUint8(i, bytes[i]!);
      for (let i = len; i < ext.size; i++) out.setUint8(i, 0);
      return undefined;
    }
    default: {
      const num = parseU64(value);
      if (num === undefined) return `value '${clip(value)}' is not a valid integer`;
      if (ext.type !== 'int' && ext.type !== 'char') return `value '${clip(value)}' implies an integer type, not ${ext.type}`;
      return setKconfigNumber(ext, num, out);
    }
  }
}

/** Stores a number (LINUX_* values, integer config values) with libbpf's range check. */
export function setKconfigNumber(ext: KconfigExtern, num: bigint, out: DataView): string | undefined {
  if (ext.type !== 'int' && ext.type !== 'char' && ext.type !== 'bool') return `a number implies an integer, char or bool type, not ${ext.type}`;
  if (ext.type === 'bool' && num > 1n) return `value ${num} is not a bool`;
  if (ext.type !== 'bool' && ext.size < 8) {
    const bits = BigInt(ext.size * 8);
    const fits = ext.signed ? BigInt.asUintN(64, num + (1n << (bits - 1n))) < 1n << bits : num >> bits === 0n;
    if (!fits) return `value ${ext.signed ? BigInt.asIntN(64, num) : num} does not fit in ${ext.size} ${ext.signed ? 'signed ' : ''}bytes`;
  }
  switch (ext.size) {
    case 1: out.setUint8(0, Number(num & 0xffn)); break;
    case 2: out.setUint16(0, Number(num & 0xffffn), true); break;
    case 4: out.setUint32(0, Number(num & 0xffffffffn), true); break;
    case 8: out.setBigUint64(0, num, true); break;
    default: return `size ${ext.size} is not an integer size`;
  }
  return undefined;
}

/** strtoull(value, &end, 0) that must consume everything, as libbpf's parse_u64; undefined when invalid or out of range. */
export function parseU64(value: string): bigint | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(value);
  if (!m) return undefined;
  const digits = m[2]!;
  const n = digits.length > 1 && digits[0] === '0' && (digits[1] === 'x' || digits[1] === 'X')
    ? BigInt(digits)
    : digits.length > 1 && digits[0] === '0' ? BigInt(`0o${digits.slice(1)}`) : BigInt(digits);
  if (n > 0xffffffffffffffffn) return undefined; // strtoull: ERANGE
  return m[1] === '-' ? BigInt.asUintN(64, -n) : n;
}
