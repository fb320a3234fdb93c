/**
 * exitsnoop's outputs, one line per exit:
 *   table  the seed's columns in the seed's layout, then TID and SIGNAL
 *   seed   exactly the seed's five columns
 *   json   NDJSON; field names are a stable interface, documented in
 *          tools/exitsnoop/event.schema.json and the README
 * Loss notices go in the same stream, so a reader sees where events are missing.
 */
import { TableFormatter, toJson } from '../../decode/index.js';
import type { CgroupInfo } from './container.js';
import { signalName, type ExitEvent } from './event.js';

export type OutputFormat = 'table' | 'seed' | 'json';

export interface TimeStyle {
  /** clock: HH:MM:SS (the seed's); ms: HH:MM:SS.mmm; iso: date and time with ms and zone. */
  style: 'clock' | 'ms' | 'iso';
  utc: boolean;
}

const SEED_COLUMNS = ['pid', 'ppid', 'exit_code', 'duration_ns', 'comm'];

export class ExitFormatter {
  private readonly table?: TableFormatter;

  constructor(
    readonly format: OutputFormat,
    private readonly time: TimeStyle = { style: 'clock', utc: false },
    /** cgroup id -> path and container, for JSON. */
    private readonly cgroupInfo: (id: bigint) => CgroupInfo = () => NO_CGROUP,
  ) {
    if (format !== 'json') {
      const width = formatTime(0, time).length + 1;
      this.table = new TableFormatter(format === 'seed' ? SEED_COLUMNS : [...SEED_COLUMNS, 'tid', 'signal'], width);
    }
  }

  /** The header line (with its newline), or '' for JSON. */
  get header(): string {
    return this.table ? this.table.header + '\n' : '';
  }

  line(e: ExitEvent): string {
    if (!this.table) return jsonLine(e, this.cgroupInfo(e.cgroupId));
    const values: unknown[] = [e.pid, e.ppid, e.exitCode, e.durationNs, e.comm];
    if (this.format === 'table') values.push(e.tid, e.signal ? `${signalName(e.signal)}${e.coreDumped ? ' (core)' : ''}` : '-');
    return this.table.row(values, formatTime(e.timeMs, this.time));
  }

  /** A loss notice: `count` records were dropped since the last one, `total` so far. */
  lost(count: number, total: number, timeMs: number): string {
    if (!this.table) return `{"type":"lost","time":"${new Date(timeMs).toISOString()}","lost":${count},"total_lost":${total}}`;
    return `${formatTime(timeMs, this.time)} ${count} events lost (ring buffer full; ${total} in all)`;
  }
}

const NO_CGROUP: CgroupInfo = { path: null, container: { id: null, runtime: null, podUid: null, podQos: null } };

export function jsonLine(e: ExitEvent, cgroup: CgroupInfo = NO_CGROUP): string {
  return toJson({
    type: 'exit',
    time: new Date(e.timeMs).toISOString(),
    pid: e.pid,
    tid: e.tid,
    ppid: e.ppid,
    ns_pid: e.nsPid,
    uid: e.uid,
    comm: e.comm,
    exit_code: e.exitCode,
    signal: e.signal || null,
    signal_name: e.signal ? signalName(e.signal) : null,
    core_dumped: e.coreDumped,
    status: e.status,
    duration_ns: e.durationNs,
    cgroup_id: e.cgroupId,
    cgroup: cgroup.path,
    container_id: cgroup.container.id,
    container_runtime: cgroup.container.runtime,
    pod_uid: cgroup.container.podUid,
    pod_qos: cgroup.container.podQos,
  });
}

export function formatTime(ms: number, t: TimeStyle): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const [h, m, s, milli] = t.utc
    ? [d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds()]
    : [d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds()];
  const clock = `${p(h)}:${p(m)}:${p(s)}`;
  if (t.style === 'clock') return clock;
  if (t.style === 'ms') return `${clock}.${p(milli, 3)}`;
  const [y, mo, day] = t.utc ? [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()] : [d.getFullYear(), d.getMonth() + 1, d.getDate()];
  let zone = 'Z';
  if (!t.utc) {
    const off = -d.getTimezoneOffset();
    zone = `${off < 0 ? '-' : '+'}${p(Math.floor(Math.abs(off) / 60))}:${p(Math.abs(off) % 60)}`;
  }
  return `${y}-${p(mo)}-${p(day)}T${clock}.${p(milli, 3)}${zone}`;
}
