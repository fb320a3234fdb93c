/**
 * Links: what attach() returns. A Link owns the fds (BPF link, perf events) and any
 * other state (a netlink filter, a tracefs probe) an attachment holds; closing it, or the
 * process's end for everything fd-based, detaches the program.
 */
import { TsbpfError } from '../errors.js';
import type { Collection, Program } from '../loader/index.js';
import { PinState } from '../loader/pin.js';
import { SysError } from '../sys/errors.js';
import type { LinkInfo, Sys } from '../sys/types.js';
import type { Host } from '../loader/fs.js';

export type LinkKind =
  | 'tracepoint'
  | 'raw_tracepoint'
  | 'tp_btf'
  | 'tracing'
  | 'lsm'
  | 'iter'
  | 'uprobe'
  | 'uretprobe'
  | 'usdt'
  | 'kprobe'
  | 'kretprobe'
  | 'kprobe_multi'
  | 'perf_event'
  | 'xdp'
  | 'tcx'
  | 'tc'
  | 'cgroup'
  | 'netns';

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
  /** xdp, tc: the network interface, by name ("eth0") or index. */
  interface?: string | number;
  /** xdp: generic (skb) or driver (native) mode; by default the kernel picks driver where the driver has it. */
  xdpMode?: 'generic' | 'driver';
  /** xdp: raw XDP_FLAGS_* bits (eunomia's @flags), or-ed with xdpMode's. */
  xdpFlags?: number;
  /**
   * tc: the hook (ingress unless the section says egress) and, for the netlink (clsact)
   * path, the filter's handle and priority (eunomia's @tchook/@tcopts; default 1 and 1).
   */
  tc?: { attachPoint?: 'ingress' | 'egress'; handle?: number; priority?: number; mode?: 'tcx' | 'netlink' };
  /** flow_dissector, sk_lookup: the network namespace file to attach to (default /proc/self/ns/net; `ip netns` ones are /run/netns/NAME). */
  netns?: string;
  /** cgroup programs: the cgroup v2 directory to attach to (default: the cgroup2 root). */
  cgroup?: string;
  /** perf_event programs: samples per second on each CPU (default 1, as ecli) and the event. */
  perfEvent?: { frequency?: number; event?: 'cycles' | 'cpu-clock' };
  /** usdt: the program's collection, whose __bpf_usdt_specs map attach fills (attachAll passes it). */
  collection?: Collection;
  /** iter/bpf_map_elem and other map iterators: the map to walk (its fd). */
  iterMapFd?: number;
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

/** What an attachment holds besides its main fd, and how to undo it. */
export interface LinkParts {
  /** The perf event behind a perf-based link. */
  perfFd?: number;
  /** False when `fd` is not a BPF link (a perf event set with PERF_EVENT_IOC_SET_BPF, a netlink filter). */
  bpfLink?: boolean;
  /** More fds the attachment owns: one perf event (and link) per CPU or per probe location. */
  fds?: number[];
  /**
   * What closing fds does not undo (a netlink tc filter, a clsact qdisc tsbpf added, a
   * tracefs probe event): run once, after the fds are closed.
   */
  detach?: () => void;
}

/**
 * An attached program. `fd` is the BPF link (or, on kernels without perf links, the perf
 * event the program was set on; -1 for attachments without an fd, such as a tc filter
 * made over netlink); `perfFd` the perf event behind a perf-based link.
 */
export class Link {
  private closed = false;
  private readonly pins = new PinState();
  readonly perfFd?: number;
  /** False when `fd` is not a BPF link (PERF_EVENT_IOC_SET_BPF, netlink tc). */
  readonly bpfLink: boolean;
  private readonly fds: number[];
  private readonly detach?: () => void;

  constructor(
    /** The kernel interface the link was made with (its fds belong to it). */
    readonly sys: Sys,
    readonly fd: number,
    readonly program: Program,
    readonly kind: LinkKind,
    /** What it is attached to: "sched/sched_process_exec", "/usr/bin/bash:readline", "lo (ingress)"... */
    readonly target: string,
    parts: LinkParts = {},
  ) {
    this.perfFd = parts.perfFd;
    this.bpfLink = parts.bpfLink ?? fd >= 0;
    this.fds = [...new Set([fd, parts.perfFd ?? -1, ...(parts.fds ?? [])])].filter((f) => f >= 0);
    this.detach = parts.detach;
    if (this.detach) openWithDetach.add(this);
  }

  /** The kernel's view of the link: type, id and program id. */
  info(): LinkInfo {
    if (this.closed) throw new TsbpfError(`link of program ${this.program.name} is closed`);
    if (!this.bpfLink) throw this.noBpfLink('describe');
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
    if (!this.bpfLink) throw this.noBpfLink('pin');
    this.pins.pin(this.sys, this.fd, path, `link of program ${this.program.name}`);
  }

  /** Removes the pin made by pin(); the link then lives as long as its fds. */
  unpin(): void {
    this.pins.unpin(`link of program ${this.program.name}`);
  }

  private noBpfLink(what: string): TsbpfError {
    const how = this.kind === 'tc' ? 'as a tc filter over netlink (kernel without tcx links)' : 'with PERF_EVENT_IOC_SET_BPF (kernel without BPF perf links)';
    return new TsbpfError(`program ${this.program.name} was attached ${how}: there is no BPF link to ${what}`);
  }

  /** Detaches: closes the link and the fds behind it, then undoes the rest. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    openWithDetach.delete(this);
    let first: unknown;
    for (const fd of this.fds) {
      try {
        this.sys.close(fd);
      } catch (e) {
        first ??= e;
      }
    }
    try {
      this.detach?.();
    } catch (e) {
      first ??= e;
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

/**
 * Open links whose undoing is more than closing fds (netlink filters, tracefs probe
 * events): process exit closes fds by itself, not these.
 */
const openWithDetach = new Set<Link>();

/**
 * Closes every open link that has a detach step, ignoring errors: for a forced exit
 * (process.exit skips the `using` and finally blocks that would close them).
 */
export function closeLinksBeforeExit(): void {
  for (const l of [...openWithDetach]) {
    try {
      l.close();
    } catch {
      /* exiting anyway */
    }
  }
}

export function closeAll(links: Link[]): void {
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

/** What every attach step needs: the kernel, the host's files, the program and its target. */
export interface Ctx {
  opts: AttachOptions;
  sys: Sys;
  host: Host;
  program: Program;
  target: string;
}

/** Runs a syscall step, turning its SysError into an AttachError naming program and target. */
export function guard<T>(ctx: Ctx, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof SysError) throw new AttachError(ctx.program.name, ctx.program.spec.section, what, e);
    throw e;
  }
}

export function noTarget(program: Program, what: string): TsbpfError {
  return new TsbpfError(`program ${program.name}: section ${program.spec.section} names no attach target; pass { target } with ${what}`);
}

