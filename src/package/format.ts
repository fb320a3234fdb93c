/**
 * The eunomia-bpf package.json format (what `ecc` writes and `ecli run` reads), as
 * eunomia-bpf v1.0.x defines it. Every key tsbpf does not use is optional on read and
 * kept as-is; unknown keys are ignored.
 */

/** The eunomia_version ecc of the tutorial writes. */
export const EUNOMIA_VERSION = '0.3.4';

export interface EunomiaPackage {
  /** base64 (standard alphabet, padded) of the zlib-deflated ELF object. */
  bpf_object: string;
  /** Length of the ELF object before compression. */
  bpf_object_size: number;
  meta: PackageMeta;
}

export interface PackageMeta {
  bpf_skel: BpfSkel;
  export_types: ExportType[];
  eunomia_version: string;
  /** Ring buffer / perf buffer poll timeout of ecli (100 ms when absent). */
  poll_timeout_ms?: number;
  [key: string]: unknown;
}

export interface BpfSkel {
  /** The object file's base name with non-identifier characters as "_": "exitsnoop_bpf". */
  obj_name: string;
  data_sections: DataSectionEntry[];
  maps: MapEntry[];
  progs: ProgEntry[];
  doc?: PackageDoc;
  [key: string]: unknown;
}

export interface DataSectionEntry {
  /** ".rodata", ".data", ".bss", ".data.custom"... */
  name: string;
  variables: VariableEntry[];
}

export interface VariableEntry {
  name: string;
  /** C type without qualifiers: "unsigned long long", "char[16]", "struct event *". */
  type: string;
  /** Initial value (.rodata and .data): what the object's bytes hold. */
  value?: unknown;
  description?: string;
  cmdarg?: { default?: unknown; long?: string; short?: string; help?: string };
  [key: string]: unknown;
}

export interface MapEntry {
  /** The map's name in the kernel: the C name, or libbpf's "exitsnoo.bss" for global data. */
  name: string;
  /** Skeleton identifier: the C name, or "bss", "rodata", "data_custom" for global data. */
  ident: string;
  /** Global data maps (BPF_F_MMAPABLE). */
  mmaped?: boolean;
  sample?: { interval: number; type: 'log2_hist' | 'linear_hist' | 'default_kv' | string; unit?: string; clear_map?: boolean };
  [key: string]: unknown;
}

export interface ProgEntry {
  name: string;
  /** The ELF section name, which says how to attach: "tp/sched/sched_process_exit". */
  attach: string;
  link: boolean;
  [key: string]: unknown;
}

export interface PackageDoc {
  version?: string;
  brief?: string;
  details?: string;
  description?: string;
  [key: string]: unknown;
}

export interface ExportType {
  name: string;
  size: number;
  /** Id of the struct in the object's own BTF; decoding uses it, not the member strings. */
  type_id: number;
  members: ExportMember[];
  [key: string]: unknown;
}

export interface ExportMember {
  name: string;
  /** "int", "unsigned int", "char[16]"; "composite" for a struct or union, "enum" for an enum. */
  type: string;
  [key: string]: unknown;
}

/**
 * How a map exports its records in multiple-export mode (`meta.enable_multiple_export_types`),
 * from its `export_config`: not at all, as the package's default export type, as one struct
 * of the object's BTF, or assembled from typed members at byte offsets.
 */
export type ExportConfig =
  | { kind: 'none' }
  | { kind: 'default' }
  | { kind: 'type'; typeId: number }
  | { kind: 'custom'; members: CustomMember[] };

/**
 * How a map's records are shown (`maps[].intepreter`, spelled so by eunomia): as the
 * struct (default), or as a stack trace sample whose fields field_map names: pid, cpu_id,
 * comm, kstack_sz, ustack_sz, kstack, ustack (those names when not mapped).
 */
export interface StackTraceInterpreter {
  fieldMap: Record<StackTraceField, string>;
  /** Frames as symbol+offset (from /proc/kallsyms and the process's ELF files), else bare addresses. */
  withSymbols: boolean;
}

export type StackTraceField = 'pid' | 'cpu_id' | 'comm' | 'kstack_sz' | 'ustack_sz' | 'kstack' | 'ustack';
export const STACK_TRACE_FIELDS: readonly StackTraceField[] = ['pid', 'cpu_id', 'comm', 'kstack_sz', 'ustack_sz', 'kstack', 'ustack'];

export interface CustomMember {
  name: string;
  /** Byte offset in the record. */
  offset: number;
  /** The member's type in the object's BTF, and its size. */
  typeId: number;
  size: number;
}
