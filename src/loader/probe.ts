/**
 * Memoised feature probes. They run only to explain a failure ("not supported" rather
 * than a bare EINVAL), so a successful load never pays for them.
 */
import { Btf, encodeBtf, StringTable, type BtfType } from '../btf/index.js';
import type { BtfFeatures } from '../btf/sanitize.js';
import { NotSupportedError } from '../errors.js';
import * as C from '../sys/constants.js';
import { BTF_INT_SIGNED, BTF_KIND, BTF_MAGIC } from '../btf/types.js';
import type { MapCreateAttr, Sys } from '../sys/types.js';

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

/**
 * Attributes a kernel that has the map type accepts, by the type's own rules (as
 * libbpf's probes use): a probe that fails for a wrong attribute would blame the kernel.
 */
function probeAttr(sys: Sys, type: number): MapCreateAttr {
  const base = { mapType: type, keySize: 4, valueSize: 4, maxEntries: 1 };
  switch (type) {
    case C.BPF_MAP_TYPE_RINGBUF:
    case C.BPF_MAP_TYPE_USER_RINGBUF:
      return { ...base, keySize: 0, valueSize: 0, maxEntries: sys.pageSize() };
    case C.BPF_MAP_TYPE_STACK_TRACE:
      return { ...base, valueSize: 8 };
    case C.BPF_MAP_TYPE_QUEUE:
    case C.BPF_MAP_TYPE_STACK:
    case C.BPF_MAP_TYPE_BLOOM_FILTER:
      return { ...base, keySize: 0 };
    case C.BPF_MAP_TYPE_LPM_TRIE:
      // struct bpf_lpm_trie_key: u32 prefixlen + data.
      return { ...base, keySize: 8, valueSize: 8, mapFlags: C.BPF_F_NO_PREALLOC };
    case C.BPF_MAP_TYPE_CGROUP_STORAGE:
    case C.BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE:
      // struct bpf_cgroup_storage_key: u64 cgroup id + u32 attach type, padded.
      return { ...base, keySize: 16, valueSize: 8, maxEntries: 0 };
    case C.BPF_MAP_TYPE_SK_STORAGE:
    case C.BPF_MAP_TYPE_INODE_STORAGE:
    case C.BPF_MAP_TYPE_TASK_STORAGE:
    case C.BPF_MAP_TYPE_CGRP_STORAGE:
      // These need BTF for key and value: an `int` type is enough.
      return { ...base, maxEntries: 0, mapFlags: C.BPF_F_NO_PREALLOC, btfKeyTypeId: 1, btfValueTypeId: 1 };
    case C.BPF_MAP_TYPE_ARENA:
      return { ...base, keySize: 0, valueSize: 0, mapFlags: C.BPF_F_MMAPABLE };
    default:
      return base;
  }
}

/** A BTF blob holding one type, `int` (id 1), for probes of maps that need BTF. */
function intBtf(): Uint8Array {
  const strings = new TextEncoder().encode('\0int\0');
  const types = new Uint8Array(16);
  const tv = new DataView(types.buffer);
  tv.setUint32(0, 1, true); // name_off: "int"
  tv.setUint32(4, BTF_KIND.int << 24, true);
  tv.setUint32(8, 4, true); // size
  tv.setUint32(12, (BTF_INT_SIGNED << 24) | 32, true);
  const out = new Uint8Array(24 + types.length + strings.length);
  const v = new DataView(out.buffer);
  v.setUint16(0, BTF_MAGIC, true);
  v.setUint8(2, 1);
  v.setUint32(4, 24, true); // hdr_len
  v.setUint32(8, 0, true); // type_off
  v.setUint32(12, types.length, true);
  v.setUint32(16, types.length, true); // str_off
  v.setUint32(20, strings.length, true);
  out.set(types, 24);
  out.set(strings, 24 + types.length);
  return out;
}

/** Whether the kernel can create maps of this type at all. */
export function haveMapType(sys: Sys, type: number): boolean {
  return memo(sys, `map:${type}`, () => {
    const attr = probeAttr(sys, type);
    const fds: number[] = [];
    try {
      if (type === C.BPF_MAP_TYPE_ARRAY_OF_MAPS || type === C.BPF_MAP_TYPE_HASH_OF_MAPS) {
        const inner = sys.mapCreate({ mapType: C.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1 });
        fds.push(inner);
        attr.innerMapFd = inner;
      }
      if (attr.btfValueTypeId) {
        attr.btfFd = sys.btfLoad({ btf: intBtf() });
        fds.push(attr.btfFd);
      }
      fds.push(sys.mapCreate(attr));
      return true;
    } finally {
      for (const fd of fds) sys.close(fd);
    }
  });
}

/** Whether the kernel knows this program type (a trivial "return 0" loads). */
export function haveProgType(sys: Sys, type: number): boolean {
  return memo(sys, `prog:${type}`, () => {
    // mov r0, 0; exit
    const insns = new Uint8Array([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
    // Syscall programs exist only sleepable: the kernel refuses them otherwise.
    const progFlags = type === C.BPF_PROG_TYPE_SYSCALL ? C.BPF_F_SLEEPABLE : 0;
    const fd = sys.progLoad({ progType: type, insns, license: 'GPL', progFlags });
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

/** True when a uname release is older than `major.minor` (false when unparsable). */
function releaseBefore(release: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  return Number(m[1]) < major || (Number(m[1]) === major && Number(m[2]) < minor);
}

const raised = new WeakSet<Sys>();
/**
 * Before 5.11 the kernel charges BPF maps and programs to RLIMIT_MEMLOCK (64 KiB on many
 * systems, so even exitsnoop's maps fail with EPERM); raise it once, as libbpf does. A
 * process that may not raise it keeps its limit and gets the kernel's answer.
 */
export function raiseMemlockIfNeeded(sys: Sys): void {
  if (raised.has(sys)) return;
  raised.add(sys);
  if (!releaseBefore(sys.kernelRelease(), 5, 11)) return;
  try {
    sys.raiseMemlockLimit();
  } catch {
    // Not privileged to raise it: map creation then says EPERM, with the hint.
  }
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
