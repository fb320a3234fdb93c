/**
 * Memoised feature probes. They run only to explain a failure ("not supported" rather
 * than a bare EINVAL), so a successful load never pays for them.
 */
import { Btf, encodeBtf, StringTable, type BtfType } from '../btf/index.js';
import type { BtfFeatures } from '../btf/sanitize.js';
import { NotSupportedError } from '../errors.js';
import * as C from '../sys/constants.js';
import type { Sys } from '../sys/types.js';

const cache = new WeakMap<Sys, Map<string, boolean>>();

function memo(sys: Sys, key: string, probe: () => boolean): boolean {
  let m = cache.get(sys);
  if (!m) cache.set(sys, (m = new Map()));
  let v = m.get(key);
  if (v === undefined) {
    try {
      v = probe();
    } catch {
      v = false;
    }
    m.set(key, v);
  }
  return v;
}

/** Whether the kernel can create maps of this type at all. */
export function haveMapType(sys: Sys, type: number): boolean {
  return memo(sys, `map:${type}`, () => {
    const ring = type === C.BPF_MAP_TYPE_RINGBUF || type === C.BPF_MAP_TYPE_USER_RINGBUF;
    const fd = sys.mapCreate({
      mapType: type,
      keySize: ring ? 0 : 4,
      valueSize: ring ? 0 : 4,
      maxEntries: ring ? sys.pageSize() : 1,
      mapFlags: type === C.BPF_MAP_TYPE_LPM_TRIE || type === C.BPF_MAP_TYPE_HASH_OF_MAPS ? C.BPF_F_NO_PREALLOC : 0,
    });
    sys.close(fd);
    return true;
  });
}

/** Whether the kernel knows this program type (a trivial "return 0" loads). */
export function haveProgType(sys: Sys, type: number): boolean {
  return memo(sys, `prog:${type}`, () => {
    // mov r0, 0; exit
    const insns = new Uint8Array([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
    const fd = sys.progLoad({ progType: type, insns, license: 'GPL' });
    sys.close(fd);
    return true;
  });
}

/**
 * Whether BPF_PROG_LOAD takes core_relos (Linux >= 5.17). An older kernel refuses an
 * attr whose bytes past its own end are not zero (E2BIG), so a trivial program with
 * core_relo_rec_size set and no records tells.
 */
export function haveKernelCoreRelos(sys: Sys): boolean {
  return memo(sys, 'kernel-core', () => {
    const insns = new Uint8Array([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
    const fd = sys.progLoad({ progType: C.BPF_PROG_TYPE_SOCKET_FILTER, insns, license: 'GPL', coreReloRecSize: 16, coreReloCnt: 0 });
    sys.close(fd);
    return true;
  });
}

/** The oldest kernel tsbpf supports: 5.8 brought the BPF ring buffer. */
export const KERNEL_FLOOR: readonly [number, number] = [5, 8];

/** True when a uname release ("5.4.0-150-generic") is older than KERNEL_FLOOR; false when unparsable. */
export function belowKernelFloor(release: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major < KERNEL_FLOOR[0] || (major === KERNEL_FLOOR[0] && minor < KERNEL_FLOOR[1]);
}

/**
 * Says in one line that the kernel is too old, instead of letting a map or program fail
 * obscurely later. A kernel that reports an older version but has the ring buffer
 * (RHEL 8's 4.18 backports it) is let through.
 */
export function checkKernelFloor(sys: Sys): void {
  const release = sys.kernelRelease();
  if (!belowKernelFloor(release) || haveMapType(sys, C.BPF_MAP_TYPE_RINGBUF)) return;
  throw new NotSupportedError(
    `the BPF ring buffer (Linux >= ${KERNEL_FLOOR.join('.')}), which tsbpf needs`,
    `running Linux ${release}; tsbpf supports Linux ${KERNEL_FLOOR.join('.')} and later`,
  );
}

/** A tiny BTF with one construct, for the BTF feature probes. */
function probeBtf(types: BtfType[]): Uint8Array {
  return encodeBtf(new Btf([{ kind: 'void', name: '' }, ...types], StringTable.empty()));
}

const INT: BtfType = { kind: 'int', name: 'int', size: 4, encoding: 1, bitOffset: 0, bits: 32 };
const BTF_PROBES: Record<keyof BtfFeatures, BtfType[]> = {
  float: [{ kind: 'float', name: 'float', size: 4 }],
  declTag: [INT, { kind: 'struct', name: 's', size: 4, kflag: false, members: [{ name: 'a', type: 1, bitOffset: 0, bitfieldSize: 0 }] }, { kind: 'decl_tag', name: 'tag', type: 2, componentIdx: -1 }],
  typeTag: [INT, { kind: 'type_tag', name: 'tag', type: 1 }, { kind: 'ptr', name: '', type: 2 }],
  enum64: [{ kind: 'enum64', name: 'e', size: 8, signed: false, values: [{ name: 'E', value: 1n << 40n }] }],
};

/** Whether BPF_BTF_LOAD takes this construct (each probed once, when an object has it). */
export function haveBtfFeature(sys: Sys, feature: keyof BtfFeatures): boolean {
  return memo(sys, `btf:${feature}`, () => {
    const fd = sys.btfLoad({ btf: probeBtf(BTF_PROBES[feature]) });
    sys.close(fd);
    return true;
  });
}

/** The kernel's BTF features, probed lazily: only what an object's BTF uses is asked. */
export function btfFeatures(sys: Sys): BtfFeatures {
  return {
    get float() { return haveBtfFeature(sys, 'float'); },
    get declTag() { return haveBtfFeature(sys, 'declTag'); },
    get typeTag() { return haveBtfFeature(sys, 'typeTag'); },
    get enum64() { return haveBtfFeature(sys, 'enum64'); },
  };
}
