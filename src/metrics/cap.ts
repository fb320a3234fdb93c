/**
 * The cap on distinct label sets of a group of metrics: the first `max` combinations are
 * kept, later ones are counted with every label "other", and both facts are metrics
 * themselves (tsbpf_metric_label_sets, _max, tsbpf_metric_label_overflow_total).
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export const OTHER = 'other';

export class LabelSetCap {
  private readonly admitted = new Set<string>();
  private readonly sets: Gauge<string>;
  private readonly overflow: Counter<string>;

  constructor(registry: Registry, readonly max: number) {
    const registers = [registry];
    this.overflow = new Counter({ name: 'tsbpf_metric_label_overflow_total', help: 'Observations counted with labels "other" because the label-set cap was reached', registers });
    this.sets = new Gauge({ name: 'tsbpf_metric_label_sets', help: 'Distinct label sets in use (at most tsbpf_metric_label_sets_max)', registers });
    new Gauge({ name: 'tsbpf_metric_label_sets_max', help: 'The cap on distinct label sets', registers }).set(max);
    this.overflow.inc(0);
  }

  /** `values` if their combination is (or can still be) kept, else as many "other"s. */
  admit(values: string[]): string[] {
    if (!values.length) return values;
    const key = values.join('\0');
    if (this.admitted.has(key)) return values;
    if (this.admitted.size < this.max) {
      this.admitted.add(key);
      this.sets.set(this.admitted.size);
      return values;
    }
    this.overflow.inc();
    return values.map(() => OTHER);
  }
}
