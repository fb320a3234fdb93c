/**
 * Histograms as BCC's tools print them, from the bucket counts a BPF program keeps in a
 * `slots` array. Log2: bucket i counts values in [2^i, 2^(i+1)), bucket 0 also counts 0.
 *
 *          usecs               : count    distribution
 *              0 -> 1          : 3        |****************************************|
 *              2 -> 3          : 1        |*************                           |
 *
 * Only buckets up to the last non-empty one are shown; an all-zero histogram prints
 * nothing. Bars are 40 characters (20 past 32 buckets, where the ranges get wide), scaled
 * to the largest count.
 */

export function log2Histogram(slots: readonly (number | bigint)[], unit: string): string {
  const counts = slots.map(Number);
  const last = lastNonZero(counts);
  if (last < 0) return '';
  const wide = last > 32;
  const width = wide ? 20 : 10;
  const bar = wide ? 20 : 40;
  const max = Math.max(...counts);
  const lines = [`${' '.repeat(wide ? 15 : 5)}${unit.padEnd(wide ? 29 : 19)} : count    distribution`];
  for (let i = 0; i <= last; i++) {
    const high = (1n << BigInt(i + 1)) - 1n;
    const low = i === 0 ? 0n : 1n << BigInt(i);
    lines.push(`${String(low).padStart(width)} -> ${String(high).padEnd(width)} : ${String(counts[i]).padEnd(8)} |${stars(counts[i]!, max, bar)}|`);
  }
  return lines.join('\n') + '\n';
}

/** Linear buckets of width `step` from `base`: bucket i counts values in [base+i*step, base+(i+1)*step). */
export function linearHistogram(slots: readonly (number | bigint)[], unit: string, base = 0, step = 1): string {
  const counts = slots.map(Number);
  const last = lastNonZero(counts);
  if (last < 0) return '';
  const max = Math.max(...counts);
  const lines = [`     ${unit.padEnd(13)} : count     distribution`];
  for (let i = 0; i <= last; i++) {
    lines.push(`        ${String(base + i * step).padStart(5)} : ${String(counts[i]).padEnd(8)} |${stars(counts[i]!, max, 40)}|`);
  }
  return lines.join('\n') + '\n';
}

function lastNonZero(counts: number[]): number {
  for (let i = counts.length - 1; i >= 0; i--) if (counts[i]! > 0) return i;
  return -1;
}

function stars(n: number, max: number, width: number): string {
  const k = max > 0 ? Math.floor((Math.min(n, max) * width) / max) : 0;
  return '*'.repeat(k) + ' '.repeat(width - k);
}
