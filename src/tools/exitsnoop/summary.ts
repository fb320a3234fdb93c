/**
 * --summary: what exited while exitsnoop ran, by name and by reason, how many failed,
 * how many were lost, and a log2 histogram of lifetimes (ms).
 */
import { log2Histogram, printable, toJson } from '../../decode/index.js';
import { failed, signalName, type ExitEvent } from './event.js';

const TOP = 10;

export class Summary {
  private exits = 0;
  private failures = 0;
  private readonly byComm = new Map<string, number>();
  private readonly byReason = new Map<string, number>();
  /** slots[i]: lifetimes in [2^i, 2^(i+1)) ms; slot 0 also holds < 1 ms. */
  private readonly slots: number[] = new Array(40).fill(0);
  private readonly started = Date.now();

  add(e: ExitEvent): void {
    this.exits++;
    if (failed(e)) this.failures++;
    this.byComm.set(e.comm, (this.byComm.get(e.comm) ?? 0) + 1);
    const reason = reasonOf(e);
    this.byReason.set(reason, (this.byReason.get(reason) ?? 0) + 1);
    const ms = Number(e.durationNs / 1_000_000n);
    this.slots[Math.min(ms < 1 ? 0 : Math.floor(Math.log2(ms)), this.slots.length - 1)]!++;
  }

  text(lost: number, now = Date.now()): string {
    const secs = ((now - this.started) / 1000).toFixed(1);
    let s = `\n${this.exits} exits in ${secs} s: ${this.failures} failed, ${lost} events lost\n`;
    if (!this.exits) return s;
    s += '\nBy reason:\n' + table(this.byReason, Infinity);
    s += `\nBy name${this.byComm.size > TOP ? ` (top ${TOP} of ${this.byComm.size})` : ''}:\n` + table(this.byComm, TOP);
    s += '\nLifetimes:\n' + log2Histogram(this.slots, 'msecs');
    return s;
  }

  json(lost: number, now = Date.now()): string {
    return toJson({
      type: 'summary',
      time: new Date(now).toISOString(),
      seconds: (now - this.started) / 1000,
      exits: this.exits,
      failed: this.failures,
      lost,
      by_reason: Object.fromEntries(sorted(this.byReason)),
      by_comm: Object.fromEntries(sorted(this.byComm)),
      lifetime_ms_log2: this.slots.slice(0, lastNonZero(this.slots) + 1),
    });
  }
}

/** "exit 0", "exit 1", "SIGKILL", "SIGSEGV (core)". */
export function reasonOf(e: ExitEvent): string {
  if (!e.signal) return `exit ${e.exitCode}`;
  return `${signalName(e.signal)}${e.coreDumped ? ' (core)' : ''}`;
}

function sorted(m: Map<string, number>): [string, number][] {
  return [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

function table(m: Map<string, number>, top: number): string {
  return sorted(m).slice(0, top).map(([k, n]) => `  ${printable(k).padEnd(20)} ${String(n).padStart(8)}\n`).join('');
}

function lastNonZero(a: number[]): number {
  for (let i = a.length - 1; i >= 0; i--) if (a[i]) return i;
  return -1;
}
