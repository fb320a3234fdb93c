/**
 * One exit as exitsnoop reports it: the BPF record (tools/exitsnoop/exitsnoop.h) plus what
 * user space derives from it: the wait status decoded, the kernel timestamp as wall-clock
 * time, the cgroup's path.
 */
import { constants } from 'node:os';
import type { Btf } from '../../btf/index.js';
import { TsbpfError } from '../../errors.js';
import { decodeEvent } from './bindings.js';

/** sizeof(struct event) in tools/exitsnoop/exitsnoop.h, as the bindings decode it. */
const EVENT_SIZE = 64;

export interface ExitEvent {
  /** Wall-clock time of the exit, ms since the epoch (from the kernel's timestamp). */
  timeMs: number;
  pid: number;
  tid: number;
  ppid: number;
  /** The pid inside the process's own pid namespace (= pid outside containers). */
  nsPid: number;
  uid: number;
  comm: string;
  /** The raw wait(2) status the parent sees. */
  status: number;
  /** Exit status (0..255); 0 when killed by a signal. */
  exitCode: number;
  /** Terminating signal, 0 when the process exited. */
  signal: number;
  coreDumped: boolean;
  /** Age at exit: since the process (with --threads, the thread) started. */
  durationNs: bigint;
  cgroupId: bigint;
}

/** Non-zero exit code or any signal. */
export function failed(e: ExitEvent): boolean {
  return e.status !== 0;
}

const SIGNAL_NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(constants.signals)) if (!SIGNAL_NAMES.has(n)) SIGNAL_NAMES.set(n, name);

/** "SIGKILL"; real-time signals as glibc counts them ("SIGRTMIN+2"); "SIG99" when unknown. */
export function signalName(n: number): string {
  const name = SIGNAL_NAMES.get(n);
  if (name) return name;
  if (n >= 34 && n <= 64) return n === 34 ? 'SIGRTMIN' : `SIGRTMIN+${n - 34}`;
  return `SIG${n}`;
}

/**
 * Decodes records of `struct event` into ExitEvents, with the generated decoder of the
 * shipped object (bindings.ts: typed, no casts). `monoToWallMs` turns the record's
 * CLOCK_MONOTONIC nanoseconds into wall-clock ms.
 */
export class EventDecoder {
  readonly size: number;

  constructor(btf: Btf, private readonly monoToWallMs: (ns: bigint) => number) {
    const id = btf.idByName('event', 'struct');
    if (id === undefined) throw new TsbpfError('exitsnoop object: no struct event in its BTF');
    this.size = btf.size(id);
    if (this.size !== EVENT_SIZE) throw new TsbpfError(`exitsnoop object: struct event is ${this.size} bytes, its bindings ${EVENT_SIZE}: regenerate src/tools/exitsnoop/bindings.ts`);
  }

  event(view: DataView, offset: number): ExitEvent {
    const r = decodeEvent(view, offset);
    const signal = r.status & 0x7f;
    return {
      timeMs: this.monoToWallMs(r.ts_ns),
      pid: r.pid,
      tid: r.tid,
      ppid: r.ppid,
      nsPid: r.ns_pid,
      uid: r.uid,
      comm: r.comm,
      status: r.status,
      exitCode: signal ? 0 : (r.status >> 8) & 0xff,
      signal,
      coreDumped: (r.status & 0x80) !== 0,
      durationNs: r.duration_ns,
      cgroupId: r.cgroup_id,
    };
  }
}

/** CLOCK_MONOTONIC ns -> wall-clock ms, from one reading of both clocks now. */
export function monotonicToWall(): (ns: bigint) => number {
  const wall = performance.timeOrigin + performance.now(); // first: the first use of `performance` loads it (ms)
  const mono = process.hrtime.bigint(); // libuv's hrtime is CLOCK_MONOTONIC, as bpf_ktime_get_ns
  return (ns) => wall + Number(ns - mono) / 1e6;
}
