/**
 * Attach loaded programs by their section name, as libbpf's bpf_program__attach does:
 *
 *   tp/ tracepoint/      perf_event_open(PERF_TYPE_TRACEPOINT, tracefs id) + BPF link
 *   raw_tp/ raw_tracepoint/   BPF_RAW_TRACEPOINT_OPEN(name)
 *   tp_btf/ fentry/ fexit/ fmod_ret/ lsm/   BPF_RAW_TRACEPOINT_OPEN(NULL): the kernel
 *                        knows the target from the program's attach_btf_id
 *   uprobe/ uretprobe/   perf_event_open(uprobe PMU, path, file offset) + BPF link
 *   kprobe/ kretprobe/ ksyscall/ kretsyscall/   the kprobe PMU, the same way
 *
 * Perf-event attachments use BPF_LINK_CREATE(BPF_PERF_EVENT) (Linux 5.15+) and fall back
 * to ioctl(PERF_EVENT_IOC_SET_BPF) on older kernels. Every attachment lives as long as
 * its fds: Link.close() (or the process's end, crash included) detaches it.
 */
import { NotSupportedError, TsbpfError } from '../errors.js';
import type { Collection, Program } from '../loader/index.js';
import { PinState } from '../loader/pin.js';
import {
  BPF_PERF_EVENT,
  PERF_EVENT_IOC_ENABLE,
  PERF_EVENT_IOC_SET_BPF,
  PERF_FLAG_FD_CLOEXEC,
  PERF_TYPE_TRACEPOINT,
} from '../sys/constants.js';
import { EEXIST, EINVAL, EOPNOTSUPP, SysError } from '../sys/errors.js';
import { defaultSys } from '../sys/index.js';
import type { LinkInfo, PerfEventAttr, Sys } from '../sys/types.js';
import { realHost, tracefsPath, type Host } from '../loader/fs.js';
import { resolveUprobe } from './uprobe.js';

export type LinkKind =
  | 'tracepoint'
  | 'raw_tracepoint'
  | 'tp_btf'
  | 'tracing'
  | 'lsm'
  | 'uprobe'
  | 'uretprobe'
  | 'kprobe'
  | 'kretprobe';

export interface AttachOptions {
  /**
   * What to attach to, overriding the section's target: "sched/sched_process_exec" for a
   * tracepoint, "sys_enter" for a raw tracepoint, "/usr/bin/bash:readline" for a uprobe,
   * "do_unlinkat" for a kprobe. Needed when the section names none (SEC("uprobe")).
   */
  target?: string;
  sys?: Sys;
  /** uprobes only: probe this process only (default: every process that runs the binary). */
  pid?: number;
  /** The files and privilege attach consults; tests replace it. */
  host?: Host;
}

/** An attachment failed in a system call; `cause` is the SysError. */
export class AttachError extends TsbpfError {
  override name = 'AttachError';
  /** The errno name of the failed call ("EPERM"...). */
  readonly code: string;
  constructor(
    readonly program: string,
    readonly section: string,
    readonly what: string,
    cause: SysError,
    hint?: string,
  ) {
    super(`cannot attach program ${program} (section ${section}) to ${what}: ${cause.message}${hint ? `: ${hint}` : ''}`, { cause });
    this.code = cause.code;
  }
}

/**
 * An attached program. `fd` is the BPF link (or, on kernels without perf links, the perf
 * event the program was set on); `perfFd` the perf event behind a perf-based link.
 */
export class Link {
  private closed = false;
  private readonly pins = new PinState();

  constructor(
    private readonly sys: Sys,
    readonly fd: number,
    readonly program: Program,
    readonly kind: LinkKind,
    /** What it is attached to: "sched/sched_process_exec", "/usr/bin/bash:readline"... */
    readonly target: string,
    readonly perfFd?: number,
    /** False when attached with PERF_EVENT_IOC_SET_BPF: `fd` is then a perf event, not a BPF link. */
    readonly bpfLink = true,
  ) {}

  /** The kernel's view of the link: type, id and program id. */
  info(): LinkInfo {
    if (this.closed) throw new TsbpfError(`link of program ${this.program.name} is closed`);
    if (!this.bpfLink) {
      throw new TsbpfError(`program ${this.program.name} was attached with PERF_EVENT_IOC_SET_BPF (kernel without BPF perf links): there is no BPF link to describe`);
    }
    return this.sys.linkGetInfo(this.fd);
  }

  /** Where pin() pinned the link, if it did. */
  get pinnedPath(): string | undefined {
    return this.pins.path;
  }

  /**
   * Pins the BPF link at `path` on a bpffs: the program stays attached after this
   * process ends, until the pin is removed.
   */
  pin(path: string): void {
    if (this.closed) throw new TsbpfError(`link of program ${this.program.name} is closed`);
    if (!this.bpfLink) {
      throw new TsbpfError(`program ${this.program.name} was attached with PERF_EVENT_IOC_SET_BPF (kernel without BPF perf links): there is no BPF link to pin`);
    }
    this.pins.pin(this.sys, this.fd, path, `link of program ${this.program.name}`);
  }

  /** Removes the pin made by pin(); the link then lives as long as its fds. */
  unpin(): void {
    this.pins.unpin(`link of program ${this.program.name}`);
  }

  /** Detaches: closes the link and its perf event. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    let first: unknown;
    for (const fd of this.perfFd !== undefined && this.perfFd !== this.fd ? [this.fd, this.perfFd] : [this.fd]) {
      try {
        this.sys.close(fd);
      } catch (e) {
        first ??= e;
      }
    }
    if (first !== undefined) throw first;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** The links of attachAll(), by program name; closing it closes them all. */
export class LinkSet implements Iterable<Link> {
  constructor(readonly links: ReadonlyMap<string, Link>) {}

  get size(): number {
    return this.links.size;
  }

  get(program: string): Link {
    const l = this.links.get(program);
    if (!l) throw new TsbpfError(`no link for program ${program}; attached: ${[...this.links.keys()].join(', ') || 'none'}`);
    return l;
  }

  [Symbol.iterator](): Iterator<Link> {
    return this.links.values();
  }

  close(): void {
    closeAll([...this.links.values()].reverse());
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

function closeAll(links: Link[]): void {
  let first: unknown;
  for (const l of links) {
    try {
      l.close();
    } catch (e) {
      first ??= e;
    }
  }
  if (first !== undefined) throw first;
}

/** Attaches every program of `collection`; when one fails, the ones already attached are detached. */
export function attachAll(collection: Collection, opts: Omit<AttachOptions, 'target'> = {}): LinkSet {
  const links = new Map<string, Link>();
  try {
    for (const [name, prog] of collection.programs) links.set(name, attach(prog, opts));
  } catch (e) {
    try {
      closeAll([...links.values()].reverse());
    } catch {
      // The attach error is the one worth reporting.
    }
    throw e;
  }
  return new LinkSet(links);
}

/** Attaches `program` where its section (or `opts.target`) says. */
export function attach(program: Program, opts: AttachOptions = {}): Link {
  try {
    return attachBySection(program, opts);
  } catch (e) {
    // Every attach failure names the program and its section, whichever layer found it.
    if (e instanceof TsbpfError && !e.message.includes(`program ${program.name}`)) {
      e.message = `cannot attach program ${program.name} (section ${program.spec.section}): ${e.message}`;
    }
    throw e;
  }
}

function attachBySection(program: Program, opts: AttachOptions): Link {
  const sys = opts.sys ?? defaultSys();
  const host = opts.host ?? realHost;
  const spec = program.spec;
  const prefix = spec.sectionPrefix;
  const target = opts.target ?? spec.attachTarget;
  const ctx: Ctx = { sys, host, program, target };

  switch (prefix) {
    case 'tp':
    case 'tracepoint':
      return attachTracepoint(ctx);
    case 'raw_tp':
    case 'raw_tracepoint':
    case 'raw_tp.w':
    case 'raw_tracepoint.w': {
      if (!target) throw noTarget(program, 'a raw tracepoint name, such as sys_enter');
      const fd = guard(ctx, `raw tracepoint ${target}`, () => sys.rawTracepointOpen(target, program.fd));
      return new Link(sys, fd, program, 'raw_tracepoint', target);
    }
    case 'tp_btf':
    case 'fentry':
    case 'fentry.s':
    case 'fexit':
    case 'fexit.s':
    case 'fmod_ret':
    case 'fmod_ret.s':
    case 'lsm':
    case 'lsm.s': {
      // The target was fixed at load time (attach_btf_id); a different one needs a reload.
      if (opts.target !== undefined && opts.target !== spec.attachTarget) {
        throw new TsbpfError(
          `program ${program.name}: a ${prefix} program attaches where it was loaded for (${spec.attachTarget}); to attach to ${opts.target}, change the section and load it again`,
        );
      }
      const kind: LinkKind = prefix === 'tp_btf' ? 'tp_btf' : prefix.startsWith('lsm') ? 'lsm' : 'tracing';
      const fd = guard(ctx, `${prefix} ${spec.attachTarget}`, () => sys.rawTracepointOpen(null, program.fd));
      return new Link(sys, fd, program, kind, spec.attachTarget);
    }
    case 'uprobe':
    case 'uprobe.s':
    case 'uretprobe':
    case 'uretprobe.s':
      return attachUprobe(ctx, prefix.startsWith('uretprobe'), opts.pid);
    case 'kprobe':
    case 'kretprobe':
    case 'ksyscall':
    case 'kretsyscall':
      return attachKprobe(ctx, prefix === 'kretprobe' || prefix === 'kretsyscall', prefix.endsWith('syscall'));
    default:
      throw new TsbpfError(`cannot attach program ${program.name}: section ${spec.section} (${prefix}) is not supported by tsbpf attach yet`);
  }
}

interface Ctx {
  sys: Sys;
  host: Host;
  program: Program;
  target: string;
}

/** Runs a syscall step, turning its SysError into an AttachError naming program and target. */
function guard<T>(ctx: Ctx, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof SysError) throw new AttachError(ctx.program.name, ctx.program.spec.section, what, e);
    throw e;
  }
}

function noTarget(program: Program, what: string): TsbpfError {
  return new TsbpfError(`program ${program.name}: section ${program.spec.section} names no attach target; pass { target } with ${what}`);
}

function attachTracepoint(ctx: Ctx): Link {
  const { sys, host, program, target } = ctx;
  if (!target) throw noTarget(program, 'the tracepoint as "category/name", such as sched/sched_process_exec');
  const parts = target.split('/');
  if (parts.length !== 2 || !parts[0] || !parts[1]) {
    throw new TsbpfError(`program ${program.name}: tracepoint "${target}" is not "category/name" (such as sched/sched_process_exec)`);
  }
  const idPath = `${tracefsPath(sys, host)}/events/${target}/id`;
  if (!host.exists(idPath)) throw new TsbpfError(`tracepoint ${target} does not exist in this kernel (no ${idPath})`);
  const text = host.readFile(idPath).trim();
  if (!/^\d+$/.test(text)) throw new TsbpfError(`tracepoint ${target}: ${idPath} holds "${text}", not an id`);
  const what = `tracepoint ${target}`;
  const attr: PerfEventAttr = { type: PERF_TYPE_TRACEPOINT, config: BigInt(text), samplePeriod: 1n, wakeupEvents: 1 };
  const pfd = guard(ctx, what, () => sys.perfEventOpen(attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
  return attachPerfEvent(ctx, pfd, 'tracepoint', what);
}

/**
 * BPF_LINK_CREATE(BPF_PERF_EVENT) on `pfd`, or on kernels before 5.15 (EINVAL,
 * EOPNOTSUPP) ioctl SET_BPF; then ENABLE. Owns `pfd`: closed again on failure.
 */
function attachPerfEvent(ctx: Ctx, pfd: number, kind: LinkKind, what: string): Link {
  const { sys, program } = ctx;
  let linkFd: number | undefined;
  try {
    try {
      linkFd = sys.linkCreate({ progFd: program.fd, targetFd: pfd, attachType: BPF_PERF_EVENT });
    } catch (e) {
      if (!(e instanceof SysError) || (e.errno !== EINVAL && e.errno !== EOPNOTSUPP)) throw e;
      sys.ioctl(pfd, PERF_EVENT_IOC_SET_BPF, program.fd);
    }
    sys.ioctl(pfd, PERF_EVENT_IOC_ENABLE, 0);
  } catch (e) {
    if (linkFd !== undefined) sys.close(linkFd);
    sys.close(pfd);
    if (e instanceof SysError) {
      // The kernel keeps one program array per tracepoint/probe, and a program at most once in it.
      const hint = e.errno === EEXIST ? 'the program is already attached there (a program attaches at most once per tracepoint or probe)' : undefined;
      throw new AttachError(program.name, program.spec.section, what, e, hint);
    }
    throw e;
  }
  return linkFd === undefined
    ? new Link(sys, pfd, program, kind, ctx.target, pfd, false)
    : new Link(sys, linkFd, program, kind, ctx.target, pfd, true);
}

const PMU_DIR = '/sys/bus/event_source/devices';

/** The dynamic PMU's perf type (/sys/bus/event_source/devices/<pmu>/type). */
function pmuType(host: Host, pmu: string): number {
  const text = host.readFile(`${PMU_DIR}/${pmu}/type`).trim();
  if (!/^\d+$/.test(text)) throw new TsbpfError(`${PMU_DIR}/${pmu}/type holds "${text}", not a perf type`);
  return Number(text);
}

/** The config bit that makes a probe a return probe ("config:N" in format/retprobe). */
function retprobeBit(host: Host, pmu: string): number {
  const path = `${PMU_DIR}/${pmu}/format/retprobe`;
  const m = /^config:(\d+)$/.exec(host.readFile(path).trim());
  if (!m) throw new TsbpfError(`${path} is not "config:N": cannot make a return probe`);
  return Number(m[1]);
}

function attachUprobe(ctx: Ctx, ret: boolean, pid: number | undefined): Link {
  const { sys, host, program, target } = ctx;
  if (!target) throw noTarget(program, 'BINARY:FUNCTION[+OFFSET], such as /usr/bin/bash:readline');
  const loc = resolveUprobe(target);
  if (!host.exists(`${PMU_DIR}/uprobe`)) throw new NotSupportedError('uprobes', 'no uprobe PMU: kernel built without CONFIG_UPROBE_EVENTS');
  const attr: PerfEventAttr = {
    type: pmuType(host, 'uprobe'),
    config: ret ? 1n << BigInt(retprobeBit(host, 'uprobe')) : 0n,
    path: loc.path,
    config2: BigInt(loc.offset),
  };
  const p = pid ?? -1;
  const kind: LinkKind = ret ? 'uretprobe' : 'uprobe';
  const what = `${kind} ${loc.path}:${loc.func ? `${loc.func} (file offset 0x${loc.offset.toString(16)})` : `0x${loc.offset.toString(16)}`}`;
  const pfd = guard(ctx, what, () => sys.perfEventOpen(attr, p, p === -1 ? 0 : -1, -1, PERF_FLAG_FD_CLOEXEC));
  return attachPerfEvent(ctx, pfd, kind, what);
}

/** The prefix of syscall entry functions (ksyscall/NAME probes __<arch>_sys_NAME). */
const SYSCALL_PREFIX: Partial<Record<NodeJS.Architecture, string>> = {
  x64: '__x64_sys_',
  arm64: '__arm64_sys_',
  s390x: '__s390x_sys_',
  riscv64: '__riscv_sys_',
};

function attachKprobe(ctx: Ctx, ret: boolean, syscall: boolean): Link {
  const { sys, host, program, target } = ctx;
  if (!host.exists(`${PMU_DIR}/kprobe`)) throw new NotSupportedError('kprobes', 'kernel built without CONFIG_KPROBES');
  if (!target) throw noTarget(program, syscall ? 'a syscall name, such as openat' : 'a kernel function, such as do_unlinkat');
  const m = /^([A-Za-z_][\w.]*)(?:\+(0x[0-9a-f]+|\d+))?$/i.exec(target);
  if (!m) throw new TsbpfError(`program ${program.name}: kprobe target "${target}" is not FUNCTION[+OFFSET]`);
  const func = syscall ? `${SYSCALL_PREFIX[process.arch] ?? '__sys_'}${m[1]}` : m[1]!;
  const offset = m[2] ? BigInt(m[2]) : 0n;
  const kind: LinkKind = ret ? 'kretprobe' : 'kprobe';
  const attr: PerfEventAttr = {
    type: pmuType(host, 'kprobe'),
    config: ret ? 1n << BigInt(retprobeBit(host, 'kprobe')) : 0n,
    path: func,
    config2: offset,
  };
  const what = `${kind} ${func}${offset ? `+0x${offset.toString(16)}` : ''}`;
  const pfd = guard(ctx, what, () => sys.perfEventOpen(attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
  return attachPerfEvent(ctx, pfd, kind, what);
}
