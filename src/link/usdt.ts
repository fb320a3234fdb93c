/**
 * USDT probes (SystemTap SDT, <sys/sdt.h>), the way libbpf's usdt.bpf.h expects them:
 * the program reads its arguments through the spec this module writes into its
 * __bpf_usdt_specs map, found by the BPF cookie (or, on kernels without cookies, by
 * the probe's IP in __bpf_usdt_ip_to_spec_id). One uprobe per probe location, with the
 * semaphore counted by the kernel (ref_ctr_offset), all owned by one Link.
 */
import { readFileSync } from 'node:fs';
import { TsbpfError } from '../errors.js';
import { usdtLocations, type UsdtLocation } from '../elf/notes.js';
import { BPF_PERF_EVENT, PERF_EVENT_IOC_ENABLE, PERF_EVENT_IOC_SET_BPF, PERF_FLAG_FD_CLOEXEC } from '../sys/constants.js';
import { EINVAL, EOPNOTSUPP, SysError } from '../sys/errors.js';
import type { PerfEventAttr } from '../sys/types.js';
import type { Collection } from '../loader/index.js';
import { AttachError, guard, Link, noTarget, type Ctx } from './link.js';
import { PMU_DIR, pmuType } from './perf-event.js';
import { readBinary, resolveBinary } from './uprobe.js';

export const USDT_ARG_CONST = 0;
export const USDT_ARG_REG = 1;
export const USDT_ARG_REG_DEREF = 2;
/** usdt.bpf.h's BPF_USDT_MAX_ARG_CNT, and the sizes of its structs (x86-64). */
export const USDT_MAX_ARGS = 12;
export const USDT_ARG_SPEC_SIZE = 16;
export const USDT_SPEC_SIZE = 208;

export interface UsdtArgSpec {
  type: typeof USDT_ARG_CONST | typeof USDT_ARG_REG | typeof USDT_ARG_REG_DEREF;
  /** The constant (CONST) or the displacement (REG_DEREF); 0 for REG. */
  valOff: bigint;
  /** Offset of the register in struct pt_regs; 0 for CONST. */
  regOff: number;
  signed: boolean;
  /** 64 - 8 * size: bits shifted out (and back, sign-extending when signed). */
  bitshift: number;
}

// Offsets in x86-64 struct pt_regs (arch/x86/include/asm/ptrace.h), by every name a
// sub-register of the 64-bit register goes by.
const PT_REGS_X86_64: [number, string[]][] = [
  [0, ['r15', 'r15d', 'r15w', 'r15b']],
  [8, ['r14', 'r14d', 'r14w', 'r14b']],
  [16, ['r13', 'r13d', 'r13w', 'r13b']],
  [24, ['r12', 'r12d', 'r12w', 'r12b']],
  [32, ['rbp', 'ebp', 'bp', 'bpl']],
  [40, ['rbx', 'ebx', 'bx', 'bl', 'bh']],
  [48, ['r11', 'r11d', 'r11w', 'r11b']],
  [56, ['r10', 'r10d', 'r10w', 'r10b']],
  [64, ['r9', 'r9d', 'r9w', 'r9b']],
  [72, ['r8', 'r8d', 'r8w', 'r8b']],
  [80, ['rax', 'eax', 'ax', 'al', 'ah']],
  [88, ['rcx', 'ecx', 'cx', 'cl', 'ch']],
  [96, ['rdx', 'edx', 'dx', 'dl', 'dh']],
  [104, ['rsi', 'esi', 'si', 'sil']],
  [112, ['rdi', 'edi', 'di', 'dil']],
  [128, ['rip', 'eip', 'ip']],
  [152, ['rsp', 'esp', 'sp', 'spl']],
];
const REG_OFF = new Map(PT_REGS_X86_64.flatMap(([off, names]) => names.map((n): [string, number] => [n, off])));

/**
 * One x86-64 argument spec: SIZE@OPERAND with a signed size ("-4" = signed 4 bytes)
 * and an operand of $CONST, %REG, DISP(%REG) or (%REG).
 */
export function parseUsdtArg(text: string): UsdtArgSpec {
  const m = /^(-?)(1|2|4|8)@(.+)$/.exec(text);
  if (!m) throw new TsbpfError(`USDT argument "${text}" is not SIZE@OPERAND with SIZE 1, 2, 4 or 8 (optionally negative for signed)`);
  const signed = m[1] === '-';
  const bitshift = 64 - 8 * Number(m[2]);
  const op = m[3]!;
  const reg = (name: string): number => {
    const off = REG_OFF.get(name);
    if (off === undefined) throw new TsbpfError(`USDT argument "${text}": register %${name} is not an x86-64 register tsbpf knows`);
    return off;
  };
  let k: RegExpExecArray | null;
  if ((k = /^\$(-?(?:0x[0-9a-f]+|\d+))$/i.exec(op))) {
    const s = k[1]!;
    const v = s.startsWith('-') ? -BigInt(s.slice(1)) : BigInt(s);
    return { type: USDT_ARG_CONST, valOff: BigInt.asUintN(64, v), regOff: 0, signed, bitshift };
  }
  if ((k = /^%([a-z0-9]+)$/.exec(op))) return { type: USDT_ARG_REG, valOff: 0n, regOff: reg(k[1]!), signed, bitshift };
  if ((k = /^(-?(?:0x[0-9a-f]+|\d+))?\(%([a-z0-9]+)\)$/i.exec(op))) {
    const s = k[1] ?? '0';
    const d = s.startsWith('-') ? -BigInt(s.slice(1)) : BigInt(s);
    return { type: USDT_ARG_REG_DEREF, valOff: BigInt.asUintN(64, d), regOff: reg(k[2]!), signed, bitshift };
  }
  throw new TsbpfError(`USDT argument "${text}": operand ${op} is not $CONST, %REG or DISP(%REG) (index registers are not supported)`);
}

export function parseUsdtArgs(args: string): UsdtArgSpec[] {
  const parts = args.split(/\s+/).filter(Boolean);
  if (parts.length > USDT_MAX_ARGS) throw new TsbpfError(`USDT probe has ${parts.length} arguments; usdt.bpf.h holds at most ${USDT_MAX_ARGS}`);
  return parts.map(parseUsdtArg);
}

/** struct __bpf_usdt_spec's bytes: 12 arg specs, then usdt_cookie (u64), arg_cnt (s16). */
export function encodeUsdtSpec(args: UsdtArgSpec[], cookie = 0n): Uint8Array {
  const b = new Uint8Array(USDT_SPEC_SIZE);
  const v = new DataView(b.buffer);
  args.forEach((a, i) => {
    const o = i * USDT_ARG_SPEC_SIZE;
    v.setBigUint64(o, a.valOff, true);
    v.setUint32(o + 8, a.type, true);
    v.setInt16(o + 12, a.regOff, true);
    v.setUint8(o + 14, a.signed ? 1 : 0);
    v.setInt8(o + 15, a.bitshift);
  });
  v.setBigUint64(USDT_MAX_ARGS * USDT_ARG_SPEC_SIZE, cookie, true);
  v.setInt16(USDT_MAX_ARGS * USDT_ARG_SPEC_SIZE + 8, args.length, true);
  return b;
}

/** "BINARY:PROVIDER:NAME" (BINARY may itself hold no colon). */
export function parseUsdtTarget(target: string): { binary: string; provider: string; name: string } {
  const parts = target.split(':');
  if (parts.length !== 3 || parts.some((p) => !p)) {
    throw new TsbpfError(`USDT target "${target}" is not BINARY:PROVIDER:NAME (for example ./app:myapp:request)`);
  }
  return { binary: parts[0]!, provider: parts[1]!, name: parts[2]! };
}

/** Where the probe's file offset is mapped in process `pid` (/proc/PID/maps), for the IP map. */
function absoluteIp(pid: number, path: string, fileOffset: number): bigint {
  const maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
  for (const line of maps.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ ([0-9a-f]+) \S+ \d+\s+(.*)$/.exec(line);
    if (!m || m[4] !== path) continue;
    const start = BigInt(`0x${m[1]}`);
    const end = BigInt(`0x${m[2]}`);
    const off = BigInt(`0x${m[3]}`);
    const fo = BigInt(fileOffset);
    if (fo >= off && fo < off + (end - start)) return start + (fo - off);
  }
  throw new TsbpfError(`USDT: ${path} offset 0x${fileOffset.toString(16)} is not mapped in process ${pid}`);
}

// Spec ids in use per collection: every USDT attachment of a collection shares its
// __bpf_usdt_specs map, so each location needs an id no live attachment holds.
const usedIds = new WeakMap<Collection, Set<number>>();

/** Bit where the uprobe PMU takes ref_ctr_offset in attr.config (PERF_UPROBE_REF_CTR_OFFSET_SHIFT). */
const REF_CTR_OFFSET_SHIFT = 32n;

export function attachUsdt(ctx: Ctx, collection: Collection | undefined): Link {
  const { sys, host, program, target, opts } = ctx;
  if (!target) throw noTarget(program, 'BINARY:PROVIDER:NAME, such as ./app:myapp:request');
  const t = parseUsdtTarget(target);
  if (!collection) throw new TsbpfError(`USDT needs the program's collection (its __bpf_usdt_specs map): attach with attachAll() or AttachOptions.collection`);
  let specs;
  try {
    specs = collection.map('__bpf_usdt_specs');
  } catch {
    throw new TsbpfError(`no __bpf_usdt_specs map: build the program with <bpf/usdt.bpf.h>`);
  }
  const path = resolveBinary(t.binary);
  const elf = readBinary(path);
  const locs: UsdtLocation[] = usdtLocations(elf).filter((l) => l.provider === t.provider && l.name === t.name);
  if (locs.length === 0) throw new TsbpfError(`${path} has no USDT probe ${t.provider}:${t.name}`);
  if (!host.exists(`${PMU_DIR}/uprobe`)) throw new TsbpfError(`no uprobe PMU (kernel built without CONFIG_UPROBE_EVENTS)`);
  const type = pmuType(host, 'uprobe');
  const pid = opts.pid ?? -1;
  const fds: number[] = [];
  const ipKeys: Uint8Array[] = [];
  let ipMap: ReturnType<Collection['map']> | undefined;
  const used = usedIds.get(collection) ?? new Set<number>();
  usedIds.set(collection, used);
  const maxIds = specs.maxEntries;
  const ids: number[] = [];
  // The IP entries outlive the perf events unless removed: a later attach could reuse them.
  const forgetIps = (): void => {
    for (const k of ipKeys.splice(0)) if (ipMap) sys.mapDeleteElem(ipMap.fd, k);
    for (const id of ids.splice(0)) used.delete(id);
  };
  const close = (): void => {
    for (const fd of fds.reverse()) sys.close(fd);
    forgetIps();
  };
  let firstLink = -1;
  let bpfLink = true;
  try {
    for (const loc of locs) {
      let id = 0;
      while (used.has(id)) id++;
      if (id >= maxIds) throw new TsbpfError(`__bpf_usdt_specs is full (${maxIds} specs in use; raise BPF_USDT_MAX_SPEC_CNT)`);
      used.add(id);
      ids.push(id);
      const key = new Uint8Array(4);
      new DataView(key.buffer).setUint32(0, id, true);
      sys.mapUpdateElem(specs.fd, key, encodeUsdtSpec(parseUsdtArgs(loc.args)), 0n);
      const attr: PerfEventAttr = {
        type,
        config: BigInt(loc.semaphoreOffset) << REF_CTR_OFFSET_SHIFT,
        path,
        config2: BigInt(loc.fileOffset),
      };
      const what = `usdt ${path}:${t.provider}:${t.name} (file offset 0x${loc.fileOffset.toString(16)})`;
      const pfd = guard(ctx, what, () => sys.perfEventOpen(attr, pid, pid === -1 ? 0 : -1, -1, PERF_FLAG_FD_CLOEXEC));
      fds.push(pfd);
      try {
        const lfd = sys.linkCreate({ progFd: program.fd, targetFd: pfd, attachType: BPF_PERF_EVENT, bpfCookie: BigInt(id) });
        fds.push(lfd);
        if (firstLink < 0) firstLink = lfd;
      } catch (e) {
        if (!(e instanceof SysError) || (e.errno !== EINVAL && e.errno !== EOPNOTSUPP)) throw e instanceof SysError ? new AttachError(program.name, program.spec.section, what, e) : e;
        // No perf links, so no cookies (< 5.15): the program finds its spec by IP instead.
        if (opts.pid === undefined) {
          throw new TsbpfError(`this kernel has no BPF cookies (Linux < 5.15), so USDT needs a pid (AttachOptions.pid) to key specs by address`);
        }
        ipMap ??= collection.map('__bpf_usdt_ip_to_spec_id');
        const ip = new Uint8Array(8);
        new DataView(ip.buffer).setBigUint64(0, absoluteIp(opts.pid, path, loc.fileOffset), true);
        sys.mapUpdateElem(ipMap.fd, ip, key, 0n);
        ipKeys.push(ip);
        bpfLink = false;
        guard(ctx, what, () => sys.ioctl(pfd, PERF_EVENT_IOC_SET_BPF, program.fd));
      }
      guard(ctx, what, () => sys.ioctl(pfd, PERF_EVENT_IOC_ENABLE, 0));
    }
  } catch (e) {
    close();
    throw e;
  }
  const main = bpfLink ? firstLink : fds[0]!;
  return new Link(sys, main, program, 'usdt', `${path}:${t.provider}:${t.name} (${locs.length} location${locs.length === 1 ? '' : 's'})`, {
    perfFd: fds[0],
    bpfLink,
    fds,
    detach: forgetIps,
  });
}
