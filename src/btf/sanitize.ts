/**
 * Object BTF for kernels older than the compiler: BTF kinds a kernel does not know make
 * it refuse the whole BTF, so they are rewritten into kinds it knows, keeping every type
 * id (map key/value ids, func_info and CO-RE records refer to them). libbpf does the
 * same (bpf_object__sanitize_btf) with the same replacements. Pure.
 */
import type { Btf } from './btf.js';
import type { BtfType } from './types.js';

/** BTF features that came after Linux 5.8, tsbpf's floor. */
export interface BtfFeatures {
  /** BTF_KIND_FLOAT (5.13). */
  float: boolean;
  /** BTF_KIND_DECL_TAG (5.16). */
  declTag: boolean;
  /** BTF_KIND_TYPE_TAG (5.17). */
  typeTag: boolean;
  /** BTF_KIND_ENUM64 and signed enums (kflag) (6.0). */
  enum64: boolean;
}

export const ALL_BTF_FEATURES: BtfFeatures = { float: true, declTag: true, typeTag: true, enum64: true };

/**
 * The BTF with what the kernel lacks replaced: FLOAT by an anonymous empty struct of its
 * size, DECL_TAG by a 1-byte int, TYPE_TAG by const, ENUM64 by a union of 1-byte ints
 * (one per enumerator), and an enum's signedness flag cleared. Returns `btf` itself when
 * nothing needs to change.
 */
export function sanitizeBtf(btf: Btf, has: BtfFeatures): Btf {
  const needs = (t: BtfType) =>
    (t.kind === 'float' && !has.float) ||
    (t.kind === 'decl_tag' && !has.declTag) ||
    (t.kind === 'type_tag' && !has.typeTag) ||
    (t.kind === 'enum64' && !has.enum64) ||
    (t.kind === 'enum' && t.signed && !has.enum64);
  if (!btf.types.some(needs)) return btf;
  const out = btf.clone();
  let placeholder = 0;
  const n = out.types.length;
  for (let id = 1; id < n; id++) {
    const t = out.types[id]!;
    if (!needs(t)) continue;
    switch (t.kind) {
      case 'float':
        out.types[id] = { kind: 'struct', name: '', size: t.size, members: [], kflag: false };
        break;
      case 'decl_tag':
        // 1 byte: a larger int could exceed the variable it replaces (libbpf's reasoning).
        out.types[id] = { kind: 'int', name: t.name, size: 1, encoding: 0, bitOffset: 0, bits: 8 };
        break;
      case 'type_tag':
        out.types[id] = { kind: 'const', name: '', type: t.type };
        break;
      case 'enum':
        out.types[id] = { ...t, signed: false };
        break;
      case 'enum64':
        if (!placeholder) placeholder = out.add({ kind: 'int', name: 'enum64_placeholder', size: 1, encoding: 0, bitOffset: 0, bits: 8 });
        out.types[id] = {
          kind: 'union', name: t.name, size: t.size, kflag: false,
          members: t.values.map((v) => ({ name: v.name, type: placeholder, bitOffset: 0, bitfieldSize: 0 })),
        };
        break;
      default:
    }
  }
  return out;
}
