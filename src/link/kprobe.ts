/**
 * kprobe/ kretprobe/ ksyscall/ kretsyscall/: the kprobe PMU (perf_event_open with the
 * function's name and offset) and a perf link.
 */
import { NotSupportedError, TsbpfError } from '../errors.js';
import { PERF_FLAG_FD_CLOEXEC } from '../sys/constants.js';
import type { PerfEventAttr } from '../sys/types.js';
import { guard, noTarget, type Ctx, type Link, type LinkKind } from './link.js';
import { attachPerfEvent, PMU_DIR, pmuType, retprobeBit } from './perf-event.js';

/** The prefix of syscall entry functions (ksyscall/NAME probes __<arch>_sys_NAME). */
const SYSCALL_PREFIX: Partial<Record<NodeJS.Architecture, string>> = {
  x64: '__x64_sys_',
  arm64: '__arm64_sys_',
  s390x: '__s390x_sys_',
  riscv64: '__riscv_sys_',
};

export function attachKprobe(ctx: Ctx, ret: boolean, syscall: boolean): Link {
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
