/**
 * Attachments through a perf event: tracepoints, uprobes, kprobes (the probe PMUs) and
 * perf_event sampling programs. The program goes on the event with
 * BPF_LINK_CREATE(BPF_PERF_EVENT) (Linux 5.15+) or, before that, ioctl SET_BPF.
 */
import { NotSupportedError, TsbpfError } from '../errors.js';
import {
  BPF_PERF_EVENT,
  PERF_EVENT_IOC_ENABLE,
  PERF_EVENT_IOC_SET_BPF,
  PERF_FLAG_FD_CLOEXEC,
  PERF_ATTR_FLAG_FREQ,
  PERF_COUNT_HW_CPU_CYCLES,
  PERF_COUNT_SW_CPU_CLOCK,
  PERF_TYPE_HARDWARE,
  PERF_TYPE_SOFTWARE,
  PERF_TYPE_TRACEPOINT,
} from '../sys/constants.js';
import { EEXIST, EINVAL, ENOENT, EOPNOTSUPP, SysError } from '../sys/errors.js';
import { parseCpuList } from '../sys/index.js';
import type { PerfEventAttr } from '../sys/types.js';
import { tracefsPath, type Host } from '../loader/fs.js';
import { AttachError, closeAll, guard, Link, noTarget, type Ctx, type LinkKind } from './link.js';
import { resolveUprobe } from './uprobe.js';

export function attachTracepoint(ctx: Ctx): Link {
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
export function attachPerfEvent(ctx: Ctx, pfd: number, kind: LinkKind, what: string, detach?: () => void): Link {
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
    ? new Link(sys, pfd, program, kind, ctx.target, { perfFd: pfd, bpfLink: false, detach })
    : new Link(sys, linkFd, program, kind, ctx.target, { perfFd: pfd, detach });
}

export const PMU_DIR = '/sys/bus/event_source/devices';

/** The dynamic PMU's perf type (/sys/bus/event_source/devices/<pmu>/type). */
export function pmuType(host: Host, pmu: string): number {
  const text = host.readFile(`${PMU_DIR}/${pmu}/type`).trim();
  if (!/^\d+$/.test(text)) throw new TsbpfError(`${PMU_DIR}/${pmu}/type holds "${text}", not a perf type`);
  return Number(text);
}

/** The config bit that makes a probe a return probe ("config:N" in format/retprobe). */
export function retprobeBit(host: Host, pmu: string): number {
  const path = `${PMU_DIR}/${pmu}/format/retprobe`;
  const m = /^config:(\d+)$/.exec(host.readFile(path).trim());
  if (!m) throw new TsbpfError(`${path} is not "config:N": cannot make a return probe`);
  return Number(m[1]);
}

export function attachUprobe(ctx: Ctx, ret: boolean, pid: number | undefined): Link {
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


/**
 * perf_event programs: one sampling event per online CPU (all processes), CPU cycles by
 * default and the software cpu-clock where there is no hardware PMU (virtual machines),
 * at `perfEvent.frequency` samples per second (default 1, as ecli).
 */
export function attachPerfSampling(ctx: Ctx): Link {
  const { sys, host, program, opts } = ctx;
  const freq = opts.perfEvent?.frequency ?? 1;
  if (!Number.isInteger(freq) || freq < 1) throw new TsbpfError(`program ${program.name}: perf_event frequency must be a whole number of samples per second >= 1, not ${freq}`);
  const cpus = parseCpuList(host.readFile('/sys/devices/system/cpu/online'));
  const event = opts.perfEvent?.event;
  const attrOf = (hw: boolean): PerfEventAttr => ({
    type: hw ? PERF_TYPE_HARDWARE : PERF_TYPE_SOFTWARE,
    config: hw ? PERF_COUNT_HW_CPU_CYCLES : PERF_COUNT_SW_CPU_CLOCK,
    samplePeriod: BigInt(freq),
    flags: PERF_ATTR_FLAG_FREQ,
  });
  let hw = event !== 'cpu-clock';
  const links: Link[] = [];
  try {
    for (const cpu of cpus) {
      let pfd: number;
      try {
        pfd = sys.perfEventOpen(attrOf(hw), -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
      } catch (e) {
        // No hardware PMU (ENOENT, EOPNOTSUPP in VMs): the software clock samples the same way.
        if (!(e instanceof SysError) || !hw || event === 'cycles' || (e.errno !== ENOENT && e.errno !== EOPNOTSUPP)) {
          throw e instanceof SysError ? new AttachError(program.name, program.spec.section, `${hw ? 'cpu-cycles' : 'cpu-clock'} perf event on CPU ${cpu}`, e) : e;
        }
        hw = false;
        host.notice(`tsbpf: program ${program.name}: no hardware cycle counter (${e.code}); sampling the software cpu-clock instead`);
        pfd = guard(ctx, `cpu-clock perf event on CPU ${cpu}`, () => sys.perfEventOpen(attrOf(false), -1, cpu, -1, PERF_FLAG_FD_CLOEXEC));
      }
      links.push(attachPerfEvent(ctx, pfd, 'perf_event', `${hw ? 'cpu-cycles' : 'cpu-clock'} on CPU ${cpu}`));
    }
  } catch (e) {
    closeAll(links);
    throw e;
  }
  const [first, ...rest] = links;
  if (!first) throw new TsbpfError(`program ${program.name}: no online CPU to sample`);
  // One Link for all CPUs: the first CPU's link is its fd, the others' fds come along.
  return new Link(sys, first.fd, program, 'perf_event', `${hw ? 'cpu-cycles' : 'cpu-clock'} at ${freq} Hz on CPUs ${cpus.join(',')}`, {
    perfFd: first.perfFd,
    bpfLink: first.bpfLink,
    fds: rest.flatMap((l) => [l.fd, l.perfFd ?? -1]),
  });
}
