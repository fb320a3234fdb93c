/**
 * What a BPF object describes, independent of any kernel: maps, global data, programs
 * and their functions. Built from the ELF by parse.ts without syscalls; turned into
 * kernel objects by loader/.
 */
import type { Btf, BtfExt, FuncInfo, LineInfo, CoreRelo } from '../btf/index.js';
import type { ExternSpec } from './externs.js';

export interface MapSpec {
  /** The name the kernel gets (internal maps: libbpf's "objname.bss" style). */
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  numaNode: number;
  /** LIBBPF_PIN_* (0 none, 1 by name). */
  pinning: number;
  mapExtra: bigint;
  /** BTF ids of the key and value types in the object's BTF (0: none). */
  keyTypeId: number;
  valueTypeId: number;
  /** Map-in-map: the inner map's definition, created as the template of the outer map. */
  innerMap?: MapSpec;
  /**
   * Static initialisation of a map-in-map or PROG_ARRAY (`.values = { [1] = &m }`):
   * after load, slot `key` holds the fd of map (or program) `target`.
   */
  initSlots?: MapSlot[];
  /** Set for maps that hold a global data section. */
  data?: DataSection;
}

export interface MapSlot {
  key: number;
  kind: 'map' | 'program';
  target: string;
}

/** LIBBPF_PIN_NONE, LIBBPF_PIN_BY_NAME: the pinning values an object may declare. */
export const PIN_NONE = 0;
export const PIN_BY_NAME = 1;

export interface DataSection {
  /** ELF section name: ".bss", ".data", ".rodata", ".rodata.str1.1", ".data.custom"... */
  section: string;
  /** Initial contents (zeroes for .bss); the loader writes them before program load. */
  bytes: Uint8Array;
  /** .rodata*: frozen before program load, so the verifier sees constants. */
  readonly: boolean;
  /** BTF DATASEC id, 0 when the object's BTF lacks one. */
  datasecId: number;
  variables: VariableSpec[];
}

export interface VariableSpec {
  name: string;
  section: string;
  offset: number;
  size: number;
  /** BTF type of the variable (not the VAR) in the object's BTF. */
  typeId: number;
  global: boolean;
}

/** A reference from an instruction to something resolved at load time. */
export type Reference =
  | { insn: number; kind: 'map'; map: string }
  | { insn: number; kind: 'map_value'; map: string; offset: number }
  | { insn: number; kind: 'call'; func: string }
  | { insn: number; kind: 'func_addr'; func: string }
  | { insn: number; kind: 'extern'; symbol: string };

/**
 * One function's code and metadata. Instruction indices (`insn`, and `insnOff` of the
 * func/line/CO-RE records) count 8-byte slots from the function's start; .BTF.ext's
 * byte offsets are converted on parse.
 */
export interface FunctionSpec {
  name: string;
  section: string;
  /** Encoded instructions, 8 bytes each, as in the ELF. */
  insns: Uint8Array;
  references: Reference[];
  funcInfo: FuncInfo[];
  lineInfo: LineInfo[];
  coreRelos: CoreRelo[];
}

export interface ProgramSpec extends FunctionSpec {
  progType: number;
  expectedAttachType: number;
  /** What the section names as attach target: "sched/sched_process_exit", "/bin/bash:readline"... */
  attachTarget: string;
  /** Prefix of the section (tp, raw_tp, uprobe, ...), which decides how to attach. */
  sectionPrefix: string;
  flags: number;
  /**
   * Whether Collection.load loads it when LoadOptions.programs does not choose
   * (libbpf's autoload): false for SEC("?...") programs; absent means true. Set it
   * before load.
   */
  autoload?: boolean;
}

export interface ObjectSpec {
  /** libbpf's object name: the file name up to its first dot. */
  name: string;
  license: string;
  kernVersion: number;
  /** The object's BTF with DATASEC sizes and offsets filled in, ready for the kernel. */
  btf: Btf;
  btfExt?: BtfExt;
  maps: MapSpec[];
  programs: ProgramSpec[];
  /** Every function by name, programs and subprograms alike. */
  functions: Map<string, FunctionSpec>;
  /** .kconfig and .ksyms externs, resolved at load (libbpf's order). */
  externs: ExternSpec[];
}

export const INSN_SIZE = 8;
