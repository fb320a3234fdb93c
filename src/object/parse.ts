/**
 * ELF -> ObjectSpec. Deterministic and free of syscalls: the same bytes give the same
 * spec on any machine.
 */
import { basename } from 'node:path';
import { ByteView } from '../binary.js';
import { Btf, parseBtf, parseBtfExt, StringTable, type BtfExt, type Datasec } from '../btf/index.js';
import { BTF_FUNC_GLOBAL, BTF_FUNC_STATIC, BTF_VAR_STATIC } from '../btf/types.js';
import {
  parseElf, R_BPF_64_ABS64, SHF_ALLOC, SHF_EXECINSTR, SHN_UNDEF, SHT_NOBITS, STB_LOCAL, STV_HIDDEN, STV_INTERNAL, SHT_PROGBITS, STT_FUNC, STT_SECTION,
  type ElfFile, type ElfSection, type ElfSymbol,
} from '../elf/index.js';
import { ParseError, TsbpfError } from '../errors.js';
import { naming, readUserFile } from '../files.js';
import * as C from '../sys/constants.js';
import { collectExterns, KCONFIG_SEC } from './externs.js';
import { matchSection, sectionError } from './sections.js';
import {
  INSN_SIZE, PIN_BY_NAME, PIN_NONE, type DataSection, type FunctionSpec, type MapSlot, type MapSpec, type ObjectSpec, type ProgramSpec, type Reference,
} from './spec.js';

const LD_IMM64 = C.BPF_LD | C.BPF_IMM | C.BPF_DW;
const CALL = C.BPF_JMP | C.BPF_CALL;

/** Reads and parses an object file; a missing or unreadable file is a TsbpfError. */
export function loadObjectFile(path: string): ObjectSpec {
  const bytes = readUserFile(path);
  return naming(path, () => parseObject(bytes, objectName(path)));
}

/** libbpf's object name: the base name up to the first dot ("exitsnoop.bpf.o" -> "exitsnoop"). */
export function objectName(path: string): string {
  const base = basename(path);
  const dot = base.indexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

export function parseObject(bytes: Uint8Array, name = 'object'): ObjectSpec {
  const elf = parseElf(bytes);
  const btfSec = elf.sectionByName('.BTF');
  const extSec = elf.sectionByName('.BTF.ext');
  if (!btfSec && extSec) {
    throw new ParseError('object', 'a .BTF.ext section but no .BTF section: the object is damaged; rebuild it with clang -g');
  }
  // Without -g there is no BTF, and libbpf still loads programs and global data (BTF
  // maps in .maps and CO-RE need it, and say so where they are parsed).
  const btf = btfSec ? parseBtf(btfSec.data) : new Btf([{ kind: 'void', name: '' }], StringTable.empty());
  const btfExt = extSec ? parseBtfExt(extSec.data, btf.strings) : undefined;

  const licenseSec = elf.sectionByName('license');
  const license = licenseSec ? new ByteView(licenseSec.data, 'object').cstring(0, 'license') : '';
  const versionSec = elf.sectionByName('version');
  const kernVersion = versionSec && versionSec.data.byteLength >= 4 ? new ByteView(versionSec.data, 'object').u32(0) : 0;

  fixupDatasecs(elf, btf);
  markHiddenStatic(elf, btf);
  const { externs, kconfigMap } = collectExterns(elf, btf, internalMapName(name, KCONFIG_SEC));

  const dataMaps = parseDataSections(elf, btf, name);
  const btfMaps = parseBtfMaps(elf, btf);
  const maps = [...btfMaps.maps, ...parseLegacyMaps(elf), ...dataMaps.values(), ...(kconfigMap ? [kconfigMap] : [])];
  const seen = new Set<string>();
  for (const m of maps) {
    if (seen.has(m.name)) throw new ParseError('object', `two maps are named ${m.name}`);
    seen.add(m.name);
  }
  const { functions, programs } = parseFunctions(elf, btfExt, dataMaps);
  if (programs.length === 0 && maps.length === 0) {
    throw new ParseError('object', 'no programs and no maps: nothing to load (programs live in SEC("...") sections other than .text)');
  }
  parseSlotInits(elf, btfMaps, maps, programs);
  return { name, license, kernVersion, btf, btfExt, maps, programs, functions, externs };
}

/**
 * struct bpf_map_def in SEC("maps"): five u32 (type, key_size, value_size, max_entries,
 * map_flags). libbpf >= 1.0 refuses these; tsbpf accepts them as cilium/ebpf and libbpf
 * 0.x do, so old objects keep loading. Each map symbol's size is its definition's size
 * (libbpf 0.x divided the section evenly: the same for clang's output). A shorter def
 * leaves the missing fields 0; a longer one (iproute2's bpf_elf_map) is accepted only
 * when the extra bytes are zero, since tsbpf would otherwise ignore what they ask for.
 */
const LEGACY_DEF_SIZE = 20;

function parseLegacyMaps(elf: ElfFile): MapSpec[] {
  const sec = elf.sectionByName('maps');
  if (!sec) return [];
  const syms = elf.symbols.filter((s) => s.shndx === sec.index && s.type !== STT_SECTION && s.name !== '');
  if (syms.length === 0) throw new ParseError('object', 'legacy "maps" section has no map symbols');
  const even = Math.floor(sec.size / syms.length);
  const out: MapSpec[] = [];
  for (const sym of syms) {
    const size = sym.size || even;
    const where = `legacy map ${sym.name} (section maps)`;
    if (sec.type === SHT_NOBITS) throw new ParseError('object', `${where}: the section has no contents (NOBITS); initialise the definitions`);
    if (size < 4 || size % 4) throw new ParseError('object', `${where}: a ${size}-byte definition is not a whole number of u32 fields`);
    if (sym.value + size > sec.data.byteLength) throw new ParseError('object', `${where}: definition at ${sym.value}..${sym.value + size} lies outside the ${sec.data.byteLength}-byte section`);
    const v = new ByteView(sec.data.subarray(sym.value, sym.value + size), 'object');
    const field = (i: number) => (i * 4 < size ? v.u32(i * 4) : 0);
    for (let o = LEGACY_DEF_SIZE; o < size; o++) {
      if (sec.data[sym.value + o] !== 0) {
        throw new ParseError('object', `${where}: the ${size}-byte definition has non-zero bytes past struct bpf_map_def's ${LEGACY_DEF_SIZE} (at byte ${o}), options tsbpf does not know; declare the map in SEC(".maps")`);
      }
    }
    const type = field(0);
    if (!type) throw new ParseError('object', `${where}: no type`);
    out.push({
      name: sym.name, type, keySize: field(1), valueSize: field(2), maxEntries: field(3), flags: field(4),
      numaNode: 0, pinning: PIN_NONE, mapExtra: 0n, keyTypeId: 0, valueTypeId: 0,
    });
  }
  return out;
}

const isDataSection = (s: ElfSection) =>
  (s.type === SHT_PROGBITS || s.type === SHT_NOBITS) &&
  (s.flags & BigInt(SHF_ALLOC)) !== 0n &&
  (s.flags & BigInt(SHF_EXECINSTR)) === 0n &&
  (s.name === '.data' || s.name === '.bss' || s.name === '.rodata' || s.name.startsWith('.data.') || s.name.startsWith('.rodata.'));

/**
 * clang leaves DATASEC sizes and VAR offsets at zero; the kernel needs them. Fill them
 * from the ELF section sizes and symbol values, and sort the variables by offset.
 */
function fixupDatasecs(elf: ElfFile, btf: Btf): void {
  for (const t of btf.types) {
    if (t.kind !== 'datasec') continue;
    const sec = elf.sectionByName(t.name);
    if (!sec) {
      // Extern sections (.kconfig, .ksyms) have no ELF section: collectExterns lays them out.
      continue;
    }
    t.size = sec.size;
    for (const vsi of t.vars) {
      const v = btf.type(vsi.type);
      if (v.kind !== 'var') continue;
      const sym = elf.symbols.find((s) => s.shndx === sec.index && s.name === v.name && s.type !== STT_SECTION);
      if (!sym) {
        if (v.linkage === BTF_VAR_STATIC) continue;
        throw new ParseError('object', `variable ${v.name} of ${t.name} has no ELF symbol`);
      }
      vsi.offset = sym.value;
    }
    t.vars.sort((a, b) => a.offset - b.offset);
  }
}

/**
 * A global function with hidden visibility (`__hidden`, as usdt.bpf.h's `__weak __hidden`
 * helpers) cannot be called from outside the object, so libbpf gives its BTF FUNC static
 * linkage: the verifier then checks it in its caller's context instead of on its own
 * (where, e.g., a pointer argument could be NULL and a store through it is rejected).
 */
function markHiddenStatic(elf: ElfFile, btf: Btf): void {
  const hidden = new Set(
    elf.symbols
      .filter((s) => s.type === STT_FUNC && s.bind !== STB_LOCAL && (s.visibility === STV_HIDDEN || s.visibility === STV_INTERNAL))
      .map((s) => s.name),
  );
  if (hidden.size === 0) return;
  for (const t of btf.types) {
    if (t.kind === 'func' && t.linkage === BTF_FUNC_GLOBAL && hidden.has(t.name)) t.linkage = BTF_FUNC_STATIC;
  }
}

const INTERNAL_SUFFIX_MIN = 7;
const OBJ_NAME_MAX = 15;

/** libbpf's internal map names, so tools that look maps up by name find ours. */
export function internalMapName(objName: string, section: string): string {
  const sfxLen = Math.min(Math.max(INTERNAL_SUFFIX_MIN, section.length), OBJ_NAME_MAX);
  const custom = section.indexOf('.', 1) >= 0;
  const pfxLen = custom ? 0 : Math.min(OBJ_NAME_MAX - sfxLen, objName.length);
  return (objName.slice(0, pfxLen) + section.slice(0, sfxLen)).replace(/[^A-Za-z0-9_.]/g, '_');
}

/**
 * A global data section becomes one array-map value, which the kernel caps at
 * KMALLOC_MAX_SIZE (E2BIG beyond): 4 MiB on x86-64, 512 MiB at most on any architecture.
 * A larger size (only .bss can claim one: its bytes are not in the file) is corrupt, and
 * must not make the parser allocate it.
 */
const MAX_DATA_SECTION = 512 * 1024 * 1024;

function parseDataSections(elf: ElfFile, btf: Btf, objName: string): Map<number, MapSpec> {
  const maps = new Map<number, MapSpec>();
  for (const sec of elf.sections) {
    if (!isDataSection(sec) || sec.size === 0) continue;
    if (sec.size > MAX_DATA_SECTION) {
      throw new ParseError('object', `section ${sec.name} is ${sec.size} bytes, larger than any kernel allows for global data (${MAX_DATA_SECTION})`);
    }
    const datasecId = btf.idByName(sec.name, 'datasec') ?? 0;
    const data: DataSection = {
      section: sec.name,
      bytes: sec.type === SHT_NOBITS ? new Uint8Array(sec.size) : sec.data.slice(),
      readonly: sec.name === '.rodata' || sec.name.startsWith('.rodata.'),
      datasecId,
      variables: [],
    };
    if (datasecId) {
      for (const vsi of (btf.type(datasecId) as Datasec).vars) {
        const v = btf.type(vsi.type);
        if (v.kind !== 'var') continue;
        if (vsi.offset + vsi.size > sec.size) {
          throw new ParseError('object', `variable ${v.name} (${vsi.size} bytes at ${vsi.offset}) lies outside ${sec.name}`);
        }
        data.variables.push({
          name: v.name, section: sec.name, offset: vsi.offset, size: vsi.size, typeId: v.type, global: v.linkage !== BTF_VAR_STATIC,
        });
      }
    }
    maps.set(sec.index, {
      name: internalMapName(objName, sec.name),
      type: C.BPF_MAP_TYPE_ARRAY,
      keySize: 4,
      valueSize: sec.size,
      maxEntries: 1,
      flags: (data.readonly ? C.BPF_F_RDONLY_PROG : 0) | C.BPF_F_MMAPABLE,
      numaNode: 0,
      pinning: 0,
      mapExtra: 0n,
      keyTypeId: 0,
      valueTypeId: datasecId,
      data,
    });
  }
  return maps;
}

interface BtfMaps {
  maps: MapSpec[];
  /** Where each map's `values` slots start in the .maps section (map-in-map, PROG_ARRAY). */
  values: Map<MapSpec, { start: number; end: number }>;
}

/** BTF-defined maps: each VAR of the ".maps" DATASEC is a struct whose members encode the definition. */
function parseBtfMaps(elf: ElfFile, btf: Btf): BtfMaps {
  const out: BtfMaps = { maps: [], values: new Map() };
  const sec = elf.sectionByName('.maps');
  if (!sec) return out;
  const datasecId = btf.idByName('.maps', 'datasec');
  if (datasecId === undefined) throw new ParseError('object', '.maps section has no BTF DATASEC: compile with clang -g');
  for (const vsi of (btf.type(datasecId) as Datasec).vars) {
    const v = btf.type(vsi.type);
    if (v.kind !== 'var') throw new ParseError('object', `.maps DATASEC entry ${vsi.type} is ${v.kind}, not a variable`);
    const valuesAt: { off?: number } = {};
    const spec = mapFromBtf(btf, v.name, v.type, false, valuesAt);
    out.maps.push(spec);
    if (valuesAt.off !== undefined) {
      const sym = elf.symbols.find((s) => s.shndx === sec.index && s.name === v.name && s.type !== STT_SECTION);
      const start = vsi.offset + valuesAt.off;
      out.values.set(spec, { start, end: Math.max(start, sym ? sym.value + sym.size : vsi.offset + vsi.size) });
    }
  }
  return out;
}

/**
 * `.values = { [i] = &x }` of a map-in-map or PROG_ARRAY: clang leaves the slots zero with
 * an R_BPF_64_ABS64 relocation each, in .rel.maps, against the inner map's (or program's)
 * symbol. Slot i is the i-th 8-byte pointer of the `values` member.
 */
function parseSlotInits(elf: ElfFile, btfMaps: BtfMaps, maps: MapSpec[], programs: ProgramSpec[]): void {
  const sec = elf.sectionByName('.maps');
  if (!sec) return;
  for (const rel of elf.relocationsFor(sec.index)) {
    const sym = elf.symbols[rel.symbol]!;
    const entry = [...btfMaps.values].find(([, r]) => rel.offset >= r.start && rel.offset < r.end);
    if (!entry) {
      throw new ParseError('object', `.maps: relocation at offset ${rel.offset} (against ${sym.name || 'a section'}) is not in any map's values: only map-in-map and PROG_ARRAY values can be initialised`);
    }
    const [map, range] = entry;
    if (rel.type !== R_BPF_64_ABS64) throw new ParseError('object', `map ${map.name}: relocation type ${rel.type} at offset ${rel.offset} of .maps is not R_BPF_64_ABS64 (a pointer)`);
    if ((rel.offset - range.start) % 8) throw new ParseError('object', `map ${map.name}: relocation at offset ${rel.offset} is not on a values slot`);
    const key = (rel.offset - range.start) / 8;
    if (key >= map.maxEntries) throw new ParseError('object', `map ${map.name}: values[${key}] is initialised but max_entries is ${map.maxEntries}`);
    let slot: MapSlot;
    if (map.type === C.BPF_MAP_TYPE_PROG_ARRAY) {
      const prog = programs.find((p) => sym.type === STT_FUNC && p.name === sym.name);
      if (!prog) throw new ParseError('object', `map ${map.name}: values[${key}] refers to ${sym.name || 'a symbol'}, which is not a program`);
      slot = { key, kind: 'program', target: prog.name };
    } else {
      const target = sym.shndx === sec.index ? maps.find((m) => m.name === sym.name && !m.data) : undefined;
      if (!target) throw new ParseError('object', `map ${map.name}: values[${key}] refers to ${sym.name || 'a symbol'}, which is not a map of .maps`);
      if (target === map) throw new ParseError('object', `map ${map.name}: values[${key}] refers to the map itself`);
      slot = { key, kind: 'map', target: target.name };
    }
    (map.initSlots ??= []).push(slot);
  }
  for (const m of maps) m.initSlots?.sort((a, b) => a.key - b.key);
}

function mapFromBtf(btf: Btf, name: string, typeId: number, inner: boolean, valuesAt: { off?: number } = {}): MapSpec {
  const def = btf.type(btf.resolve(typeId));
  if (def.kind !== 'struct') throw new ParseError('object', `map ${name}: definition is ${def.kind}, not a struct`);
  const spec: MapSpec = {
    name, type: 0, keySize: 0, valueSize: 0, maxEntries: 0, flags: 0, numaNode: 0, pinning: 0, mapExtra: 0n,
    keyTypeId: 0, valueTypeId: 0,
  };
  // __uint(name, N) is `int (*name)[N]`: the number is the array's length.
  const uint = (member: string, id: number) => {
    const p = btf.type(btf.resolve(id));
    const a = p.kind === 'ptr' ? btf.type(btf.resolve(p.type)) : undefined;
    if (!a || a.kind !== 'array') throw new ParseError('object', `map ${name}: ${member} must be declared with __uint()`);
    return a.nelems;
  };
  // __type(name, T) is `T *name`.
  const typeOf = (member: string, id: number) => {
    const p = btf.type(btf.resolve(id));
    if (p.kind !== 'ptr') throw new ParseError('object', `map ${name}: ${member} must be declared with __type()`);
    return p.type;
  };
  let valuesProg = false;
  for (const m of def.members) {
    switch (m.name) {
      case 'type': spec.type = uint(m.name, m.type); break;
      case 'max_entries': spec.maxEntries = uint(m.name, m.type); break;
      case 'map_flags': spec.flags = uint(m.name, m.type); break;
      case 'numa_node': spec.numaNode = uint(m.name, m.type); break;
      case 'pinning':
        spec.pinning = uint(m.name, m.type);
        if (spec.pinning !== PIN_NONE && spec.pinning !== PIN_BY_NAME) {
          throw new ParseError('object', `map ${name}: pinning ${spec.pinning} is not a known value (LIBBPF_PIN_NONE 0, LIBBPF_PIN_BY_NAME 1)`);
        }
        break;
      case 'map_extra': spec.mapExtra = BigInt(uint(m.name, m.type)); break;
      case 'key_size': checkSize(name, 'key', spec.keySize, (spec.keySize = uint(m.name, m.type))); break;
      case 'value_size': checkSize(name, 'value', spec.valueSize, (spec.valueSize = uint(m.name, m.type))); break;
      case 'key': {
        const t = typeOf(m.name, m.type);
        const size = btf.size(t);
        if (spec.keySize && spec.keySize !== size) throw new ParseError('object', `map ${name}: key_size ${spec.keySize} disagrees with key type size ${size}`);
        spec.keySize = size;
        spec.keyTypeId = t;
        break;
      }
      case 'value': {
        const t = typeOf(m.name, m.type);
        const size = btf.size(t);
        if (spec.valueSize && spec.valueSize !== size) throw new ParseError('object', `map ${name}: value_size ${spec.valueSize} disagrees with value type size ${size}`);
        spec.valueSize = size;
        spec.valueTypeId = t;
        break;
      }
      case 'values': {
        // Map-in-map: `values` is an array of pointers to the inner map's definition;
        // PROG_ARRAY: an array of function pointers. Either holds 4-byte fds.
        if (inner) throw new ParseError('object', `map ${name}: inner maps cannot have inner maps`);
        if (m.bitOffset % 64) throw new ParseError('object', `map ${name}: values is not 8-byte aligned`);
        const arr = btf.type(btf.resolve(m.type));
        const ptr = arr.kind === 'array' ? btf.type(btf.resolve(arr.type)) : undefined;
        if (!ptr || ptr.kind !== 'ptr') throw new ParseError('object', `map ${name}: values must be an array of map or function pointers`);
        const target = btf.type(btf.resolve(ptr.type));
        if (target.kind === 'func_proto') valuesProg = true;
        else spec.innerMap = mapFromBtf(btf, `${name}.inner`, ptr.type, true);
        valuesAt.off = m.bitOffset / 8;
        spec.valueSize = 4;
        break;
      }
      default:
        throw new ParseError('object', `map ${name}: unknown field "${m.name}"`);
    }
  }
  if (!spec.type) throw new ParseError('object', `map ${name}: no type`);
  // The inner definition is only a template: nothing of it is pinned (libbpf refuses it too).
  if (inner && spec.pinning !== PIN_NONE) throw new ParseError('object', `map ${name}: an inner map definition cannot be pinned`);
  const isMapInMap = spec.type === C.BPF_MAP_TYPE_ARRAY_OF_MAPS || spec.type === C.BPF_MAP_TYPE_HASH_OF_MAPS;
  if (valuesProg && spec.type !== C.BPF_MAP_TYPE_PROG_ARRAY) throw new ParseError('object', `map ${name}: values of function pointers need BPF_MAP_TYPE_PROG_ARRAY`);
  if (spec.innerMap && !isMapInMap) throw new ParseError('object', `map ${name}: values of maps need an ARRAY_OF_MAPS or HASH_OF_MAPS map`);
  if (isMapInMap && !spec.innerMap) throw new ParseError('object', `map ${name}: a map-in-map needs __array(values, struct inner_map) to describe its inner maps`);
  if (spec.type === C.BPF_MAP_TYPE_RINGBUF || spec.type === C.BPF_MAP_TYPE_USER_RINGBUF) {
    // The kernel takes no key or value for ring buffers, and no BTF for them.
    spec.keyTypeId = spec.valueTypeId = 0;
  }
  return spec;
}

function checkSize(map: string, what: string, before: number, now: number) {
  if (before && before !== now) throw new ParseError('object', `map ${map}: ${what}_size ${now} disagrees with ${what} type size ${before}`);
}

const isExec = (s: ElfSection) => s.type === SHT_PROGBITS && (s.flags & BigInt(SHF_EXECINSTR)) !== 0n;

interface Placed {
  fn: FunctionSpec;
  /** First instruction of the function within its section. */
  start: number;
}

function parseFunctions(elf: ElfFile, ext: BtfExt | undefined, dataMaps: Map<number, MapSpec>) {
  const functions = new Map<string, FunctionSpec>();
  const programs: ProgramSpec[] = [];
  const bySection = new Map<number, Placed[]>();

  for (const sec of elf.sections) {
    if (!isExec(sec) || sec.size === 0) continue;
    if (sec.size % INSN_SIZE !== 0) throw new ParseError('object', `section ${sec.name}: size ${sec.size} is not a whole number of instructions`);
    const syms = elf.symbols
      .filter((s) => s.shndx === sec.index && s.type === STT_FUNC)
      .sort((a, b) => a.value - b.value);
    if (syms.length === 0) throw new ParseError('object', `section ${sec.name} holds code but no function symbol`);
    const placed: Placed[] = [];
    syms.forEach((sym, i) => {
      const end = sym.size > 0 ? sym.value + sym.size : (syms[i + 1]?.value ?? sec.size);
      if (sym.value % INSN_SIZE || end % INSN_SIZE || end > sec.size || end <= sym.value) {
        throw new ParseError('object', `function ${sym.name} in ${sec.name} has a bad extent (${sym.value}..${end})`);
      }
      if (functions.has(sym.name)) throw new ParseError('object', `two functions are named ${sym.name}`);
      const start = sym.value / INSN_SIZE;
      const count = (end - sym.value) / INSN_SIZE;
      const inRange = <T extends { insnOff: number }>(list: T[] | undefined): T[] =>
        (list ?? [])
          .filter((r) => r.insnOff / INSN_SIZE >= start && r.insnOff / INSN_SIZE < start + count)
          .map((r) => ({ ...r, insnOff: r.insnOff / INSN_SIZE - start }));
      const fn: FunctionSpec = {
        name: sym.name,
        section: sec.name,
        insns: sec.data.slice(sym.value, end),
        references: [],
        funcInfo: inRange(ext?.funcInfo.get(sec.name)),
        lineInfo: inRange(ext?.lineInfo.get(sec.name)),
        coreRelos: inRange(ext?.coreRelos.get(sec.name)),
      };
      let entry: FunctionSpec = fn;
      if (sec.name !== '.text') {
        // SEC("?tp/...") is libbpf's way to declare a program that loads only when asked.
        const optional = sec.name.startsWith('?');
        const secName = optional ? sec.name.slice(1) : sec.name;
        const m = matchSection(secName);
        if (!m) throw sectionError(sec.name, sym.name);
        const prog: ProgramSpec = {
          ...fn,
          section: secName,
          autoload: !optional,
          progType: m.def.progType,
          expectedAttachType: m.def.attachType,
          attachTarget: m.target,
          sectionPrefix: m.def.prefix,
          flags: (m.def.sleepable ? C.BPF_F_SLEEPABLE : 0) | (m.def.xdpFrags ? C.BPF_F_XDP_HAS_FRAGS : 0),
        };
        programs.push(prog);
        entry = prog;
      }
      functions.set(sym.name, entry);
      placed.push({ fn: entry, start });
    });
    bySection.set(sec.index, placed);
  }

  const mapsSec = elf.sectionByName('.maps');
  const legacySec = elf.sectionByName('maps');
  const functionAt = (secIndex: number, insn: number, why: string): string => {
    const f = bySection.get(secIndex)?.find((p) => p.start === insn);
    if (!f) throw new ParseError('object', `${why}: no function starts at instruction ${insn} of section #${secIndex}`);
    return f.fn.name;
  };

  for (const [secIndex, placed] of bySection) {
    const sec = elf.sections[secIndex]!;
    const relocated = new Set<number>();
    for (const rel of elf.relocationsFor(secIndex)) {
      if (rel.offset % INSN_SIZE) throw new ParseError('object', `relocation at offset ${rel.offset} of ${sec.name} is not on an instruction`);
      const at = rel.offset / INSN_SIZE;
      const owner = placed.find((p) => at >= p.start && at < p.start + p.fn.insns.byteLength / INSN_SIZE);
      if (!owner) throw new ParseError('object', `relocation at instruction ${at} of ${sec.name} is outside every function`);
      const insn = at - owner.start;
      const sym = elf.symbols[rel.symbol]!;
      const where = `${owner.fn.name}+${insn}`;
      owner.fn.references.push(reference(owner.fn, insn, sym, where, { mapsSec, legacySec, dataMaps, functionAt, elf }));
      relocated.add(at);
    }
    // Calls without a relocation are pc-relative within the section.
    for (const p of placed) {
      const v = new DataView(p.fn.insns.buffer, p.fn.insns.byteOffset, p.fn.insns.byteLength);
      for (let i = 0; i < p.fn.insns.byteLength / INSN_SIZE; i++) {
        const code = v.getUint8(i * 8);
        const src = v.getUint8(i * 8 + 1) >> 4;
        if (code === CALL && src === C.BPF_PSEUDO_CALL && !relocated.has(p.start + i)) {
          const target = p.start + i + v.getInt32(i * 8 + 4, true) + 1;
          p.fn.references.push({ insn: i, kind: 'call', func: functionAt(secIndex, target, `${p.fn.name}+${i}`) });
        }
        if (code === LD_IMM64) i++;
      }
    }
  }
  return { functions, programs };
}

interface RefContext {
  mapsSec: ElfSection | undefined;
  legacySec: ElfSection | undefined;
  dataMaps: Map<number, MapSpec>;
  functionAt: (secIndex: number, insn: number, why: string) => string;
  elf: ElfFile;
}

function reference(fn: FunctionSpec, insn: number, sym: ElfSymbol, where: string, ctx: RefContext): Reference {
  if ((insn + 1) * INSN_SIZE > fn.insns.byteLength) throw new ParseError('object', `${where}: relocation past the end of the function`);
  const v = new DataView(fn.insns.buffer, fn.insns.byteOffset + insn * INSN_SIZE);
  const code = v.getUint8(0);
  const src = v.getUint8(1) >> 4;
  const imm = v.getInt32(4, true);
  if (sym.shndx === SHN_UNDEF) {
    if (code !== LD_IMM64 && code !== CALL) throw new ParseError('object', `${where}: extern ${sym.name} is used by an instruction (opcode 0x${code.toString(16)}) that cannot refer to one`);
    if (code === LD_IMM64 && (insn + 2) * INSN_SIZE > fn.insns.byteLength) throw new ParseError('object', `${where}: truncated ld_imm64`);
    return { insn, kind: 'extern', symbol: sym.name };
  }
  if (code === LD_IMM64) {
    if ((insn + 2) * INSN_SIZE > fn.insns.byteLength) throw new ParseError('object', `${where}: truncated ld_imm64`);
    for (const sec of [ctx.mapsSec, ctx.legacySec]) {
      if (!sec || sym.shndx !== sec.index) continue;
      if (sym.type === STT_SECTION) throw new ParseError('object', `${where}: reference to ${sec.name} without a map symbol`);
      return { insn, kind: 'map', map: sym.name };
    }
    const data = ctx.dataMaps.get(sym.shndx);
    if (data) {
      const offset = (sym.type === STT_SECTION ? 0 : sym.value) + imm;
      if (offset < 0 || offset >= data.valueSize) throw new ParseError('object', `${where}: offset ${offset} outside ${data.data!.section}`);
      return { insn, kind: 'map_value', map: data.name, offset };
    }
    const target = ctx.elf.sections[sym.shndx];
    if (target && isExec(target)) {
      const byteOff = sym.value + imm;
      if (byteOff % INSN_SIZE) throw new ParseError('object', `${where}: function address is not on an instruction`);
      return { insn, kind: 'func_addr', func: ctx.functionAt(sym.shndx, byteOff / INSN_SIZE, where) };
    }
    throw new ParseError('object', `${where}: ld_imm64 refers to ${sym.name || 'a symbol'} in section ${target?.name ?? sym.shndx}, which is neither a map nor global data`);
  }
  if (code === CALL && src === C.BPF_PSEUDO_CALL) {
    const target = sym.value / INSN_SIZE + imm + 1;
    return { insn, kind: 'call', func: ctx.functionAt(sym.shndx, target, where) };
  }
  throw new ParseError('object', `${where}: relocation on an instruction (opcode 0x${code.toString(16)}) that takes none`);
}

