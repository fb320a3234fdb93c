/**
 * ecc's dummy variables: `__eunomia_dummy_NAME_ptr` pointers it adds so that the header's
 * structs stay in BTF. They name the structs an object's records may be, and are not
 * program options.
 */
import type { ObjectSpec } from '../object/index.js';

export const DUMMY_VARIABLE = /^__eunomia_dummy_(.+)_ptr$/;

/** The BTF ids of the structs the object's dummy variables name, in declaration order. */
export function headerStructIds(spec: ObjectSpec): number[] {
  const ids: number[] = [];
  for (const m of spec.maps) {
    for (const v of m.data?.variables ?? []) {
      const d = DUMMY_VARIABLE.exec(v.name);
      const id = d && spec.btf.idByName(d[1]!, 'struct');
      if (id && !ids.includes(id)) ids.push(id);
    }
  }
  return ids;
}
