/**
 * kprobe/ kretprobe/ ksyscall/ kretsyscall/, as libbpf does: the kprobe PMU
 * (perf_event_open with the function's name and offset) and a perf link; where the kernel
 * has no kprobe PMU but tracefs has kprobe_events, the legacy path (a tsbpf_<pid>_<n>
 * probe event written to kprobe_events, opened as a tracepoint, removed again on detach).
 * kprobe.multi/ kretprobe.multi/: BPF_LINK_CREATE(BPF_TRACE_KPROBE_MULTI) on the functions
 * a glob matches in available_filter_functions.
 */
import { appendFileSync } from 'node:fs';
import { NotSupportedError, TsbpfError } from '../errors.js';
import { BPF_F_KPROBE_MULTI_RETURN, BPF_TRACE_KPROBE_MULTI, PERF_FLAG_FD_CLOEXEC, PERF_TYPE_TRACEPOINT } from '../sys/constants.js';
import { hasSyscallWrapper, syscallPrefix } from '../loader/externs.js';
import { tracefsPath } from '../loader/fs.js';
import { SysError } from '../sys/errors.js';
import type { PerfEventAttr } from '../sys/types.js';
import { AttachError, guard, Link, noTarget, type Ctx, type LinkKind } from './link.js';
import { attachPerfEvent, PMU_DIR, pmuType, retprobeBit } from './perf-event.js';

/** The tracefs whose kprobe_events the legacy path writes, if there is one (mounted when needed). */
function legacyTracefs(ctx: Ctx): string | undefined {
  let dir: string;
  try {
    dir = tracefsPath(ctx.sys, ctx.host);
  } catch {
    return undefined;
  }
  return ctx.host.exists(`${dir}/kprobe_events`) ? dir : undefined;
}

/** Appends to a tracefs control file (the host may supply its own writer, as tests do). */
function writeTracefs(ctx: Ctx, path: string, line: string): void {
  const h = ctx.host as { appendFile?: (p: string, s: string) => void };
  if (h.appendFile) h.appendFile(path, line);
  else appendFileSync(path, line);
}

let legacyCount = 0;

/** ksyscall/NAME: __x64_sys_NAME where the kernel has syscall wrappers, else sys_NAME. */
function syscallFunction(name: string): string {
  const prefix = syscallPrefix();
  return prefix && hasSyscallWrapper() ? `${prefix}${name}` : `sys_${name}`;
}

export function attachKprobe(ctx: Ctx, ret: boolean, syscall: boolean): Link {
  const { sys, host, program, target } = ctx;
  const hasPmu = host.exists(`${PMU_DIR}/kprobe`);
  const legacyDir = hasPmu ? undefined : legacyTracefs(ctx);
  if (!hasPmu && !legacyDir)
    throw new NotSupportedError('kprobes', 'kernel built without CONFIG_KPROBES');
  if (!target) throw noTarget(program, syscall ? 'a syscall name, such as openat' : 'a kernel function, such as do_unlinkat');
  const m = /^([A-Za-z_][\w.]*)(?:\+(0x[0-9a-f]+|\d+))?$/i.exec(target);
  if (!m) throw new TsbpfError(`program ${program.name}: kprobe target "${target}" is not FUNCTION[+OFFSET]`);
  const func = syscall ? syscallFunction(m[1]!) : m[1]!;
  const offset = m[2] ? BigInt(m[2]) : 0n;
  const kind: LinkKind = ret ? 'kretprobe' : 'kprobe';
  const what = `${kind} ${func}${offset ? `+0x${offset.toString(16)}` : ''}`;
  if (legacyDir) return attachLegacy(ctx, legacyDir, ret, func, offset, kind, what);
  const attr: PerfEventAttr = {
    type: pmuType(host, 'kprobe'),
    config: ret ? 1n << BigInt(retprobeBit(host, 'kprobe')) : 0n,
    path: func,
    config2: offset,
  };
  const pfd = guard(ctx, what, () => sys.perfEventOpen(attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
  return attachPerfEvent(ctx, pfd, kind, what);
}

function attachLegacy(ctx: Ctx, dir: string, ret: boolean, func: string, offset: bigint, kind: LinkKind, what: string): Link {
  const { sys, host, program } = ctx;
  const event = `tsbpf_${process.pid}_${legacyCount++}`;
  const control = `${dir}/kprobe_events`;
  try {
    writeTracefs(ctx, control, `${ret ? 'r' : 'p'}:kprobes/${event} ${func}${offset ? `+${offset}` : ''}\n`);
  } catch (e) {
    throw new TsbpfError(`program ${program.name} (section ${program.spec.section}): cannot add ${what} to ${control}: ${(e as Error).message.split('\n')[0]}`);
  }
  const remove = () => {
    try {
      writeTracefs(ctx, control, `-:kprobes/${event}\n`);
    } catch {
      /* already gone */
    }
  };
  try {
    const id = Number(host.readFile(`${dir}/events/kprobes/${event}/id`).trim());
    const pfd = guard(ctx, what, () => sys.perfEventOpen({ type: PERF_TYPE_TRACEPOINT, config: BigInt(id) }, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
    return attachPerfEvent(ctx, pfd, kind, what, remove);
  } catch (e) {
    remove();
    throw e;
  }
}

/** Glob (* and ?) to a RegExp. */
function globRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

/**
 * The kernel's function names a glob is matched against: tracefs's available_filter_functions
 * (what fprobe can attach), or, where that is unreadable (no ftrace, a locked-down tracefs),
 * the text symbols of /proc/kallsyms, as libbpf 1.1 does; the kernel then refuses what
 * cannot be attached.
 */
function kernelFunctions(ctx: Ctx): string[] {
  const { sys, host } = ctx;
  try {
    return host.readFile(`${tracefsPath(sys, host)}/available_filter_functions`).split('\n').map((l) => l.split(/\s+/)[0]!).filter(Boolean);
  } catch {
    /* fall back to kallsyms */
  }
  let kallsyms: string;
  try {
    kallsyms = host.readFile('/proc/kallsyms');
  } catch (e) {
    throw new NotSupportedError('kprobe.multi', `neither tracefs available_filter_functions nor /proc/kallsyms is readable (${(e as Error).message.split('\n')[0]})`);
  }
  const names: string[] = [];
  for (const line of kallsyms.split('\n')) {
    const [, type, name, mod] = line.split(/\s+/);
    if ((type === 't' || type === 'T') && name && !mod) names.push(name);
  }
  return names;
}

/** kprobe.multi/PATTERN, kretprobe.multi/PATTERN. */
export function attachKprobeMulti(ctx: Ctx, ret: boolean): Link {
  const { sys, program, target } = ctx;
  const where = `program ${program.name} (section ${program.spec.section})`;
  if (!target) throw noTarget(program, 'a kernel function glob, such as do_unlink*');
  const re = globRegExp(target);
  const syms = [...new Set(kernelFunctions(ctx).filter((s) => re.test(s)))].sort();
  if (syms.length === 0) throw new TsbpfError(`${where}: no kernel function matches "${target}" (tracefs available_filter_functions, else /proc/kallsyms)`);
  const kind: LinkKind = 'kprobe_multi';
  const what = `${ret ? 'kretprobe' : 'kprobe'}.multi ${target} (${syms.length} functions)`;
  try {
    const fd = sys.linkCreate({ progFd: program.fd, targetFd: 0, attachType: BPF_TRACE_KPROBE_MULTI, kprobeMulti: { syms, flags: ret ? BPF_F_KPROBE_MULTI_RETURN : 0 } });
    return new Link(sys, fd, program, kind, target);
  } catch (e) {
    if (e instanceof SysError) {
      if (e.code === 'EINVAL' || e.code === 'EOPNOTSUPP' || e.code === 'ENOTSUPP' || e.code === 'E2BIG')
        throw new NotSupportedError('kprobe.multi', `BPF_TRACE_KPROBE_MULTI link_create: ${e.code}; needs 5.18 with CONFIG_FPROBE`);
      throw new AttachError(program.name, program.spec.section, what, e);
    }
    throw e;
  }
}
