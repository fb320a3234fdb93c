/**
 * Resolving an object's externs against the running kernel, as libbpf does
 * (bpf_object__resolve_externs): .kconfig values from uname, feature probes and the
 * kernel config; typeless ksyms from /proc/kallsyms; typed ksyms and kfuncs from the
 * kernel's BTF (vmlinux, then module BTFs). Unlike libbpf, an extern that cannot be
 * resolved fails only the programs that use it, so an unused helper never blocks a load.
 */
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { kernelBtf, parseBtf, type Btf } from '../btf/index.js';
import { TsbpfError } from '../errors.js';
import {
  essentialName, parseKconfig, setKconfigNumber, setKconfigValue, INSN_SIZE,
  type ExternSpec, type KconfigExtern, type KsymExtern, type LinkedProgram, type ObjectSpec,
} from '../object/index.js';
import * as C from '../sys/constants.js';
import type { Sys } from '../sys/types.js';

export interface ExternOptions {
  /**
   * Config text (CONFIG_X=value lines) that takes precedence over the system's kernel
   * config for CONFIG_* externs (libbpf's `kconfig` open option).
   */
  kconfig?: string;
  kernelBtf?: () => Btf;
  /** Where kernel module BTFs are read from, as <dir>/<module> (default /sys/kernel/btf). */
  kernelBtfDir?: string;
}

/** What an extern resolved to. */
type Resolution =
  | { kind: 'kconfig' }
  /** A weak extern that is absent: reads 0, its kfunc calls are poisoned. */
  | { kind: 'zero' }
  | { kind: 'addr'; addr: bigint }
  /** Kernel BTF id; objFd is the module BTF fd (0: vmlinux), fdIndex its fd_array slot. */
  | { kind: 'btf'; id: number; objFd: number; fdIndex: number };

/** libbpf's mark for a call to a missing weak kfunc: the verifier says "unknown#2002000000+N" if it is reachable. */
export const POISON_CALL_KFUNC_BASE = 2002000000;

const CALL = C.BPF_JMP | C.BPF_CALL;

export class ResolvedExterns {
  readonly values = new Map<string, Resolution>();
  /** Why an extern could not be resolved; the error of any program that uses it. */
  readonly failures = new Map<string, string>();
  /** fd_array for BPF_PROG_LOAD: module BTF fds from index 1 (empty: none needed). */
  readonly fdArray: number[] = [];
  /** Kernel BTF objects that could not be searched for ksyms, and why. */
  readonly skippedModules: string[] = [];
  /** Bytes of the .kconfig map. */
  kconfig?: Uint8Array;
  private readonly fds: number[] = [];

  constructor(
    private readonly sys: Sys,
    readonly externs: ExternSpec[],
  ) {}

  /** Module BTF fds; the kernel holds its own references once programs are loaded. */
  close(): void {
    for (const fd of this.fds.splice(0)) this.sys.close(fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  keep(fd: number): void {
    this.fds.push(fd);
  }
}

/** Resolves every extern of `spec`; never throws for an extern (see `failures`). */
export function resolveExterns(sys: Sys, spec: ObjectSpec, opts: ExternOptions = {}): ResolvedExterns {
  const out = new ResolvedExterns(sys, spec.externs);
  if (spec.externs.length === 0) return out;
  try {
    const kconfig = spec.externs.filter((e): e is KconfigExtern => e.kind === 'kconfig');
    const ksyms = spec.externs.filter((e): e is KsymExtern => e.kind === 'ksym');
    let kallsyms: Kallsyms | undefined;
    const needKallsyms = ksyms.some((e) => e.ksym === 'typeless') || kconfig.some((e) => e.name === 'LINUX_HAS_SYSCALL_WRAPPER');
    if (needKallsyms) kallsyms = readKallsyms(new Set([...ksyms.filter((e) => e.ksym === 'typeless').map((e) => e.name), syscallWrapperSymbol() ?? '']));
    if (kconfig.length) resolveKconfig(sys, spec, kconfig, out, opts, kallsyms);
    if (ksyms.length) resolveKsyms(sys, spec.btf, ksyms, out, opts, kallsyms);
  } catch (e) {
    out.close();
    throw e;
  }
  return out;
}

function resolveKconfig(sys: Sys, spec: ObjectSpec, exts: KconfigExtern[], out: ResolvedExterns, opts: ExternOptions, kallsyms?: Kallsyms): void {
  const map = spec.maps.find((m) => m.data?.section === '.kconfig');
  const bytes = new Uint8Array(map?.valueSize ?? 0);
  out.kconfig = bytes;
  const view = (e: KconfigExtern) => new DataView(bytes.buffer, e.offset, e.size);
  const fail = (e: KconfigExtern, why: string) => out.failures.set(e.name, why);
  const configs: KconfigExtern[] = [];
  for (const e of exts) {
    if (e.name.startsWith('CONFIG_')) {
      configs.push(e);
      continue;
    }
    let value: bigint;
    if (e.name === 'LINUX_KERNEL_VERSION') {
      const v = kernelVersion();
      if (!v) {
        fail(e, `cannot read the kernel version from uname release "${release()}"`);
        continue;
      }
      value = BigInt(v);
    } else if (e.name === 'LINUX_HAS_BPF_COOKIE') {
      value = haveBpfCookie(sys) ? 1n : 0n;
    } else if (e.name === 'LINUX_HAS_SYSCALL_WRAPPER') {
      value = hasSyscallWrapper(kallsyms, opts) ? 1n : 0n;
    } else if (e.name.startsWith('LINUX_') && e.weak) {
      // An unknown weak LINUX_ extern reads 0, as in libbpf.
      out.values.set(e.name, { kind: 'zero' });
      continue;
    } else {
      fail(e, 'is neither CONFIG_* nor a LINUX_* value tsbpf knows (LINUX_KERNEL_VERSION, LINUX_HAS_SYSCALL_WRAPPER, LINUX_HAS_BPF_COOKIE)');
      continue;
    }
    const why = setKconfigNumber(e, value, view(e));
    if (why) fail(e, why);
    else out.values.set(e.name, { kind: 'kconfig' });
  }
  if (configs.length === 0) return;

  const apply = (values: Map<string, string>, source: string) => {
    for (const e of configs) {
      if (out.values.has(e.name) || out.failures.has(e.name)) continue;
      const v = values.get(e.name);
      if (v === undefined) continue;
      const why = setKconfigValue(e, v, view(e));
      if (why) fail(e, `${source} says ${e.name}=${v.length > 40 ? `${v.slice(0, 37)}...` : v}: ${why}`);
      else out.values.set(e.name, { kind: 'kconfig' });
    }
  };
  if (opts.kconfig !== undefined) apply(parseKconfig(opts.kconfig, 'kconfig option'), 'the kconfig option');
  const pending = () => configs.some((e) => !out.values.has(e.name) && !out.failures.has(e.name));
  let source = '';
  if (pending()) {
    const sys = readSystemKconfig();
    if (sys) {
      source = sys.source;
      apply(parseKconfig(sys.text, sys.source), sys.source);
    }
  }
  for (const e of configs) {
    if (out.values.has(e.name) || out.failures.has(e.name)) continue;
    if (e.weak) out.values.set(e.name, { kind: 'zero' });
    else if (source) fail(e, `is not set in ${source}`);
    else fail(e, `needs the kernel config, and neither /boot/config-${release()} nor /proc/config.gz exists`);
  }
}

/** The running kernel's config: /boot/config-$(uname -r), else /proc/config.gz, as libbpf looks. */
export function readSystemKconfig(): { text: string; source: string } | undefined {
  const boot = `/boot/config-${release()}`;
  if (existsSync(boot)) return { text: readFileSync(boot, 'latin1'), source: boot };
  if (existsSync('/proc/config.gz')) {
    return { text: process.getBuiltinModule('node:zlib').gunzipSync(readFileSync('/proc/config.gz')).toString('latin1'), source: '/proc/config.gz' };
  }
  return undefined;
}

/**
 * KERNEL_VERSION(a, b, c) of the running kernel, c capped at 255, as libbpf computes
 * it (Ubuntu's /proc/version_signature first, which carries the upstream version).
 * 0 when the release does not start with a.b.c.
 */
export function kernelVersion(releaseText = release()): number {
  try {
    const sig = readFileSync('/proc/version_signature', 'utf8');
    const m = /^\S+\s+\S+\s+(\d+)\.(\d+)\.(\d+)/.exec(sig);
    if (m) return kv(+m[1]!, +m[2]!, +m[3]!);
  } catch {
    // not Ubuntu
  }
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(releaseText);
  return m ? kv(+m[1]!, +m[2]!, +m[3]!) : 0;
}

const kv = (a: number, b: number, c: number) => ((a << 16) + (b << 8) + Math.min(c, 255)) >>> 0;

/** The arch prefix of syscall entry points (__x64_sys_bpf), as libbpf names them. */
/**
 * The arch's prefix of syscall entry points with pt_regs wrappers ("__x64_sys_"), as the
 * kernel names them: what ksyscall/ probes and LINUX_HAS_SYSCALL_WRAPPER look for.
 */
export function syscallPrefix(): string | undefined {
  const pfx: Record<string, string> = {
    x64: 'x64', ia32: 'ia32', arm64: 'arm64', arm: 'arm', s390x: 's390x', s390: 's390',
    riscv64: 'riscv', ppc64: 'powerpc', loong64: 'loongarch', mips: 'mips', mipsel: 'mips',
  };
  const p = pfx[process.arch];
  return p ? `__${p}_sys_` : undefined;
}

function syscallWrapperSymbol(): string | undefined {
  const p = syscallPrefix();
  return p && `${p}bpf`;
}

/**
 * Whether syscalls go through pt_regs wrappers (BPF_KSYSCALL reads arguments through
 * them): the arch's __<arch>_sys_bpf exists. libbpf asks by creating a kprobe on it;
 * kprobes may be missing where programs still load, so tsbpf looks the symbol up in
 * kallsyms (or the kernel's BTF when kallsyms is unreadable). Reads kallsyms itself when
 * not given it.
 */
export function hasSyscallWrapper(kallsyms?: Kallsyms, opts: ExternOptions = {}): boolean {
  const sym = syscallWrapperSymbol();
  if (!sym) return false;
  kallsyms ??= readKallsyms(new Set([sym]));
  if (kallsyms.readable) return kallsyms.addrs.has(sym);
  try {
    return (opts.kernelBtf ?? (() => kernelBtf()))().idByName(sym, 'func') !== undefined;
  } catch {
    return false;
  }
}

const cookieProbe = new WeakMap<Sys, boolean>();

/** bpf_get_attach_cookie() exists (5.15+): libbpf's probe, a tracepoint program calling it. */
function haveBpfCookie(sys: Sys): boolean {
  let v = cookieProbe.get(sys);
  if (v === undefined) {
    const insns = new Uint8Array(16);
    const dv = new DataView(insns.buffer);
    dv.setUint8(0, CALL);
    dv.setInt32(4, C.BPF_FUNC_get_attach_cookie, true);
    dv.setUint8(8, C.BPF_JMP | C.BPF_EXIT);
    try {
      sys.close(sys.progLoad({ progType: C.BPF_PROG_TYPE_TRACEPOINT, insns, license: 'GPL' }));
      v = true;
    } catch {
      v = false;
    }
    cookieProbe.set(sys, v);
  }
  return v;
}

interface Kallsyms {
  readable: boolean;
  /** Every address a wanted name has (more than one: ambiguous). */
  addrs: Map<string, bigint[]>;
}

/** The addresses of `wanted` names in /proc/kallsyms ("name.llvm.123" data symbols count as "name", as in libbpf). */
export function readKallsyms(wanted: Set<string>, path = '/proc/kallsyms'): Kallsyms {
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch {
    return { readable: false, addrs: new Map() };
  }
  const addrs = new Map<string, bigint[]>();
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    const a = line.indexOf(' ');
    const b = line.indexOf(' ', a + 1);
    if (a < 0 || b < 0) continue;
    let name = line.slice(b + 1);
    const tab = name.search(/[\t ]/);
    if (tab >= 0) name = name.slice(0, tab);
    const llvm = name.indexOf('.llvm.');
    if (line[a + 1] === 'd' && llvm > 0) name = name.slice(0, llvm);
    if (!wanted.has(name)) continue;
    const addr = BigInt(`0x${line.slice(0, a)}`);
    const l = addrs.get(name);
    if (!l) addrs.set(name, [addr]);
    else if (!l.includes(addr)) l.push(addr);
  }
  return { readable: true, addrs };
}

interface ModuleBtf {
  name: string;
  fd: number;
  btf: Btf;
  fdIndex: number;
}

function resolveKsyms(sys: Sys, local: Btf, exts: KsymExtern[], out: ResolvedExterns, opts: ExternOptions, kallsyms?: Kallsyms): void {
  const fail = (e: KsymExtern, why: string) => out.failures.set(e.name, why);
  let vmlinux: Btf | undefined;
  let modules: ModuleBtf[] | undefined;

  for (const e of exts) {
    if (e.ksym === 'typeless') {
      const addrs = kallsyms?.addrs.get(e.name);
      if (!kallsyms?.readable) {
        if (e.weak) out.values.set(e.name, { kind: 'zero' });
        else fail(e, 'needs /proc/kallsyms, which cannot be read');
      } else if (!addrs) {
        if (e.weak) out.values.set(e.name, { kind: 'zero' });
        else fail(e, 'is not in /proc/kallsyms');
      } else if (addrs.length > 1) {
        fail(e, `is ambiguous in /proc/kallsyms: ${addrs.map((a) => `0x${a.toString(16)}`).join(' or ')}`);
      } else if (addrs[0] === 0n) {
        fail(e, 'has address 0 in /proc/kallsyms: kernel addresses are hidden (kptr_restrict); run as root');
      } else {
        out.values.set(e.name, { kind: 'addr', addr: addrs[0]! });
      }
      continue;
    }
    vmlinux ??= (opts.kernelBtf ?? (() => kernelBtf()))();
    const kind = e.ksym === 'func' ? 'func' : 'var';
    const lookup = e.ksym === 'func' ? essentialName(e.name) : e.name;
    let target: { btf: Btf; id: number; mod?: ModuleBtf } | undefined;
    const id = vmlinux.idByName(lookup, kind);
    if (id !== undefined) target = { btf: vmlinux, id };
    else {
      modules ??= loadModuleBtfs(sys, vmlinux, out, opts.kernelBtfDir ?? '/sys/kernel/btf');
      for (const m of modules) {
        const mid = m.btf.ownIdsByName(lookup, kind)[0];
        if (mid !== undefined) {
          target = { btf: m.btf, id: mid, mod: m };
          break;
        }
      }
    }
    const what = e.ksym === 'func' ? 'kfunc' : 'kernel variable';
    if (!target) {
      if (e.weak) out.values.set(e.name, { kind: 'zero' });
      else {
        const skipped = out.skippedModules.length ? `; unreadable kernel BTFs: ${out.skippedModules.join(', ')}` : '';
        fail(e, `is not a ${what} in the kernel's BTF (vmlinux${modules?.length ? ` or ${modules.length} module BTFs` : ''})${skipped}`);
      }
      continue;
    }
    const t = target.btf.type(target.id) as { type: number };
    const targType = e.ksym === 'func' ? t.type : target.btf.resolve(t.type);
    const compat = typesAreCompat(local, e.typeId, target.btf, targType, 32);
    if (!compat) {
      const why = `does not match the kernel's type: object has ${local.typeName(e.typeId)}, kernel has ${target.btf.typeName(targType)} ([${target.id}])`;
      // libbpf lets an incompatible weak kfunc read as absent, never a variable.
      if (e.ksym === 'func' && e.weak) out.values.set(e.name, { kind: 'zero' });
      else fail(e, why);
      continue;
    }
    let fdIndex = 0;
    if (target.mod && e.ksym === 'func') {
      if (!target.mod.fdIndex) {
        if (out.fdArray.length === 0) out.fdArray.push(0); // index 0 means vmlinux in a kfunc call
        if (out.fdArray.length >= 0x7fff) {
          fail(e, 'needs a module BTF fd index beyond what a call instruction can hold');
          continue;
        }
        target.mod.fdIndex = out.fdArray.length;
        out.fdArray.push(target.mod.fd);
      }
      fdIndex = target.mod.fdIndex;
    }
    out.values.set(e.name, { kind: 'btf', id: target.id, objFd: target.mod?.fd ?? 0, fdIndex });
  }
}

/** Kernel module BTFs (split on vmlinux), found by walking the kernel's BTF objects as libbpf does. */
function loadModuleBtfs(sys: Sys, vmlinux: Btf, out: ResolvedExterns, dir: string): ModuleBtf[] {
  const mods: ModuleBtf[] = [];
  for (let id = sys.btfGetNextId(0); id !== null; id = sys.btfGetNextId(id)) {
    let fd: number;
    try {
      fd = sys.btfGetFdById(id);
    } catch {
      continue; // gone between the walk and the lookup
    }
    let keep = false;
    try {
      const info = sys.btfGetInfo(fd);
      if (!info.kernelBtf || info.name === 'vmlinux' || !info.name) continue;
      const bytes = readFileSync(`${dir}/${info.name}`);
      mods.push({ name: info.name, fd, btf: parseBtf(bytes, { base: vmlinux }), fdIndex: 0 });
      keep = true;
      out.keep(fd);
    } catch (e) {
      // A module whose BTF cannot be read cannot provide ksyms; "not found" says so.
      out.skippedModules.push(`${id}: ${(e as Error).message}`);
    } finally {
      if (!keep) sys.close(fd);
    }
  }
  return mods;
}

/**
 * libbpf's bpf_core_types_are_compat: same kinds through pointers, arrays and function
 * prototypes (parameter by parameter); structs, unions, enums and fwds match by kind;
 * integers unless they are bitfield-like.
 */
export function typesAreCompat(lb: Btf, lid: number, tb: Btf, tid: number, level: number): boolean {
  for (let depth = 0; depth < 32; depth++) {
    lid = lb.resolve(lid);
    tid = tb.resolve(tid);
    const l = lb.type(lid);
    const t = tb.type(tid);
    const kindOk = l.kind === t.kind || ((l.kind === 'enum' || l.kind === 'enum64') && (t.kind === 'enum' || t.kind === 'enum64'));
    if (!kindOk) return false;
    switch (l.kind) {
      case 'void': case 'struct': case 'union': case 'enum': case 'enum64': case 'fwd':
        return true;
      case 'int':
        return l.bitOffset === 0 && t.kind === 'int' && t.bitOffset === 0;
      case 'ptr':
        lid = l.type;
        tid = (t as { type: number }).type;
        continue;
      case 'array':
        lid = l.type;
        tid = (t as { type: number }).type;
        continue;
      case 'func_proto': {
        if (t.kind !== 'func_proto' || l.params.length !== t.params.length) return false;
        for (let i = 0; i < l.params.length; i++) {
          if (level <= 0) return false;
          if (!typesAreCompat(lb, l.params[i]!.type, tb, t.params[i]!.type, level - 1)) return false;
        }
        lid = l.returnType;
        tid = t.returnType;
        continue;
      }
      default:
        return false;
    }
  }
  return false;
}

/**
 * Patches a linked program's .ksyms references (the .kconfig ones are map values, already
 * in mapRefs) and throws, with one line, for an extern it uses that did not resolve.
 */
export function patchExterns(linked: LinkedProgram, ext: ResolvedExterns, prog: string): void {
  const v = new DataView(linked.insns.buffer, linked.insns.byteOffset, linked.insns.byteLength);
  for (const ref of linked.externRefs) {
    const index = ext.externs.findIndex((e) => e.name === ref.symbol);
    const e = ext.externs[index]!;
    const section = e.kind === 'kconfig' ? '.kconfig' : e.ksym === 'func' ? '.ksyms kfunc' : e.ksym === 'var' ? '.ksyms' : '.ksyms typeless';
    const why = ext.failures.get(e.name);
    if (why) {
      const hint = why.startsWith('is not') && !e.weak ? '; declare it __weak if the program can do without it' : '';
      throw new TsbpfError(`program ${prog}: extern ${e.name} (${section}) ${why}${hint}`);
    }
    const r = ext.values.get(e.name);
    if (!r) throw new TsbpfError(`program ${prog}: extern ${e.name} (${section}) was not resolved`);
    if (e.kind === 'kconfig') continue;
    const o = ref.insn * INSN_SIZE;
    const code = v.getUint8(o);
    const regs = v.getUint8(o + 1);
    if (code === CALL) {
      if (e.ksym !== 'func') throw new TsbpfError(`program ${prog}: calls extern ${e.name}, which is a variable, not a kfunc`);
      if (r.kind === 'btf') {
        v.setUint8(o + 1, (regs & 0x0f) | (C.BPF_PSEUDO_KFUNC_CALL << 4));
        v.setInt16(o + 2, r.fdIndex, true);
        v.setInt32(o + 4, r.id, true);
      } else {
        // A missing weak kfunc: an unknown helper id that names it; the verifier drops
        // the call as dead code behind bpf_ksym_exists(), and names it if reachable.
        v.setUint8(o + 1, 0);
        v.setInt16(o + 2, 0, true);
        v.setInt32(o + 4, POISON_CALL_KFUNC_BASE + index, true);
      }
      continue;
    }
    // ld_imm64: an address, or the kernel BTF object the verifier knows the type of.
    if (r.kind === 'btf') {
      v.setUint8(o + 1, (regs & 0x0f) | (C.BPF_PSEUDO_BTF_ID << 4));
      v.setInt32(o + 4, r.id, true);
      v.setInt32(o + INSN_SIZE + 4, r.objFd, true);
    } else {
      const addr = r.kind === 'addr' ? r.addr : 0n;
      v.setUint8(o + 1, regs & 0x0f);
      v.setUint32(o + 4, Number(addr & 0xffffffffn), true);
      v.setUint32(o + INSN_SIZE + 4, Number(addr >> 32n), true);
    }
  }
}

/** The missing weak kfunc whose poisoned call the verifier reached ("unknown#2002000003"), if any. */
export function poisonedKfunc(log: string, ext: ResolvedExterns): string | undefined {
  const m = /unknown#(\d+)/.exec(log);
  if (!m) return undefined;
  const e = ext.externs[Number(m[1]) - POISON_CALL_KFUNC_BASE];
  return e?.kind === 'ksym' && e.ksym === 'func' ? e.name : undefined;
}
