/**
 * Process exits as Prometheus metrics (prom-client), with labels that stay bounded:
 *
 *   tsbpf_exits_total{reason, code_class}        reason: exited, signaled, core_dumped;
 *                                                code_class: 0, 1-125, 126, 127, 128-255, signal
 *   tsbpf_exit_signals_total{signal}             SIGKILL, SIGSEGV, ... (at most 64 values)
 *   tsbpf_process_lifetime_seconds               histogram, buckets from 1 ms to 1 day
 *   tsbpf_events_lost_total                      exits the ring buffer had no room for
 *   tsbpf_metric_label_sets                      label sets in use, of the cap
 *   tsbpf_metric_label_overflow_total            exits counted under "other" past the cap
 *
 * `comm`, `container` (id, 12 digits as docker prints) and `pod` (UID) are added to the first
 * three only when asked. Each distinct combination of them is a label set; past `maxLabelSets`
 * new combinations are counted with every such label "other", so a machine running 10,000
 * differently named programs still exports at most maxLabelSets + 1 of them.
 */
import { Counter, Histogram, type Registry } from 'prom-client';
import { LabelSetCap } from './cap.js';
import { signalName, type ExitEvent } from '../tools/exitsnoop/event.js';
import type { ContainerIdentity } from '../tools/exitsnoop/container.js';

import { DEFAULT_MAX_LABEL_SETS, EXIT_LABELS, type ExitLabel } from './labels.js';

export interface ExitMetricsOptions {
  /** Extra labels (default none). */
  labels?: readonly ExitLabel[];
  /** Distinct label sets kept before the rest count as "other" (default DEFAULT_MAX_LABEL_SETS). */
  maxLabelSets?: number;
}

/** 1 ms to 1 day: short-lived helpers to daemons. */
export const LIFETIME_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400];

type Inc = { inc(n?: number): void };
type Observe = { observe(v: number): void };

export class ExitMetrics {
  private readonly labels: readonly ExitLabel[];
  private readonly max: number;
  private readonly exits: Counter<string>;
  private readonly signals: Counter<string>;
  private readonly lifetime: Histogram<string>;
  private readonly lost: Counter<string>;
  private readonly cap: LabelSetCap;
  /** prom-client children by our own key: no label hashing per exit. */
  private readonly children = new Map<string, { exits: Inc; signal?: Inc; lifetime: Observe }>();

  constructor(registry: Registry, opts: ExitMetricsOptions = {}) {
    this.labels = EXIT_LABELS.filter((l) => opts.labels?.includes(l));
    this.max = opts.maxLabelSets ?? DEFAULT_MAX_LABEL_SETS;
    const extra = [...this.labels];
    const registers = [registry];
    this.exits = new Counter({ name: 'tsbpf_exits_total', help: 'Processes that exited, by how (reason) and exit code class', labelNames: ['reason', 'code_class', ...extra], registers });
    this.signals = new Counter({ name: 'tsbpf_exit_signals_total', help: 'Processes killed by a signal, by signal', labelNames: ['signal', ...extra], registers });
    this.lifetime = new Histogram({ name: 'tsbpf_process_lifetime_seconds', help: 'How long processes lived, from start to exit', labelNames: extra, buckets: LIFETIME_BUCKETS, registers });
    this.lost = new Counter({ name: 'tsbpf_events_lost_total', help: 'Exits not seen because the ring buffer was full', registers });
    this.cap = new LabelSetCap(registry, this.max);
    this.lost.inc(0);
  }

  /** Counts one exit; `container` gives the container and pod labels. */
  exit(e: ExitEvent, container?: ContainerIdentity): void {
    const values = this.labelValues(e, container);
    const reason = e.signal ? (e.coreDumped ? 'core_dumped' : 'signaled') : 'exited';
    const klass = e.signal ? 'signal' : codeClass(e.exitCode);
    const key = `${values.join('\0')}\0${klass}\0${e.signal}\0${reason}`;
    let c = this.children.get(key);
    if (!c) {
      const extra = Object.fromEntries(this.labels.map((l, i) => [l, values[i]!]));
      c = {
        exits: this.exits.labels({ reason, code_class: klass, ...extra }),
        signal: e.signal ? this.signals.labels({ signal: signalName(e.signal), ...extra }) : undefined,
        lifetime: this.lifetime.labels(extra),
      };
      this.children.set(key, c);
    }
    c.exits.inc();
    c.signal?.inc();
    c.lifetime.observe(Number(e.durationNs) / 1e9);
  }

  /** `count` more exits were lost. */
  addLost(count: number): void {
    if (count > 0) this.lost.inc(count);
  }

  private labelValues(e: ExitEvent, container?: ContainerIdentity): string[] {
    if (!this.labels.length) return [];
    return this.cap.admit(this.labels.map((l) => (l === 'comm' ? e.comm : l === 'container' ? (container?.id?.slice(0, 12) ?? '') : (container?.podUid ?? ''))));
  }
}

/** The exit code's class: 0; 1-125 (the program's own failures); 126 and 127 (a shell could not run it); 128-255. */
export function codeClass(code: number): string {
  if (code === 0) return '0';
  if (code <= 125) return '1-125';
  if (code === 126 || code === 127) return String(code);
  return '128-255';
}
