/**
 * The BTF type model. Types reference each other by id (index into Btf.types; 0 is
 * void), exactly as on disk, so encoding gives back the same ids the object's
 * .BTF.ext and the kernel refer to.
 */

/** BTF_KIND_* numbers from linux/btf.h. */
export const BTF_KIND = {
  int: 1, ptr: 2, array: 3, struct: 4, union: 5, enum: 6, fwd: 7, typedef: 8, volatile: 9,
  const: 10, restrict: 11, func: 12, func_proto: 13, var: 14, datasec: 15, float: 16,
  decl_tag: 17, type_tag: 18, enum64: 19,
} as const;
export type KindName = keyof typeof BTF_KIND;

export const BTF_MAGIC = 0xeb9f;
export const BTF_INT_SIGNED = 1;
export const BTF_INT_CHAR = 2;
export const BTF_INT_BOOL = 4;
/** FUNC linkage and VAR linkage values. */
export const BTF_FUNC_STATIC = 0;
export const BTF_FUNC_GLOBAL = 1;
export const BTF_FUNC_EXTERN = 2;
export const BTF_VAR_STATIC = 0;
export const BTF_VAR_GLOBAL_ALLOCATED = 1;
export const BTF_VAR_GLOBAL_EXTERN = 2;

export interface Void { kind: 'void'; name: '' }
export interface Int { kind: 'int'; name: string; size: number; encoding: number; bitOffset: number; bits: number }
export interface Ptr { kind: 'ptr'; name: string; type: number }
export interface Array_ { kind: 'array'; name: string; type: number; indexType: number; nelems: number }
export interface Member { name: string; type: number; bitOffset: number; bitfieldSize: number }
export interface Struct { kind: 'struct' | 'union'; name: string; size: number; members: Member[]; kflag: boolean }
export interface EnumValue { name: string; value: number }
export interface Enum { kind: 'enum'; name: string; size: number; signed: boolean; values: EnumValue[] }
export interface Enum64Value { name: string; value: bigint }
export interface Enum64 { kind: 'enum64'; name: string; size: number; signed: boolean; values: Enum64Value[] }
export interface Fwd { kind: 'fwd'; name: string; union: boolean }
/** typedef and the qualifiers: a name (typedef only) and a target. */
export interface Ref {
  kind: 'typedef' | 'volatile' | 'const' | 'restrict' | 'type_tag';
  name: string;
  type: number;
  /** type_tag with kflag: a type attribute rather than btf_type_tag (kernel >= 6.14). */
  kflag?: boolean;
}
export interface Func { kind: 'func'; name: string; type: number; linkage: number }
export interface Param { name: string; type: number }
export interface FuncProto { kind: 'func_proto'; name: string; returnType: number; params: Param[] }
export interface Var { kind: 'var'; name: string; type: number; linkage: number }
export interface VarSecinfo { type: number; offset: number; size: number }
export interface Datasec { kind: 'datasec'; name: string; size: number; vars: VarSecinfo[] }
export interface Float { kind: 'float'; name: string; size: number }
export interface DeclTag {
  kind: 'decl_tag';
  name: string;
  type: number;
  componentIdx: number;
  /** With kflag the tag is a plain C attribute rather than btf_decl_tag. */
  kflag?: boolean;
}

export type BtfType =
  | Void | Int | Ptr | Array_ | Struct | Enum | Enum64 | Fwd | Ref | Func | FuncProto | Var | Datasec | Float | DeclTag;
