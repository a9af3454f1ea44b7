/**
 * The arithmetic of the benchmark tool: quantiles, the median and spread
 * of a series of samples, and the ratios of paired samples.
 *
 * @module
 */

/** Where the middle half and the whole of a series of samples lie. */
export interface Spread {
  /** 25th percentile. */
  p25: number;
  /** 75th percentile. */
  p75: number;
  /** Smallest sample. */
  min: number;
  /** Largest sample. */
  max: number;
}

/** The median of a series of samples and its spread. */
export interface Summary {
  /** The median (the mean of the two middle samples for an even count). */
  median: number;
  /** Percentiles and extremes. */
  spread: Spread;
}

/**
 * The `q`-quantile of sorted samples, interpolating linearly between the
 * two nearest ranks (the usual "type 7" definition: the median of
 * `[1, 2, 3, 4]` is 2.5, its 25th percentile 1.75).
 *
 * @param sorted Samples in ascending order.
 * @param q A fraction in [0, 1].
 * @returns The quantile.
 * @throws {RangeError} When `sorted` is empty or `q` is outside [0, 1].
 */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new RangeError("Cannot take a quantile: no samples");
  if (!(q >= 0 && q <= 1)) {
    throw new RangeError(`Cannot take a quantile: q must be in [0, 1], got ${q}`);
  }
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * The median and spread of `samples` (in any order).
 *
 * @param samples At least one finite number.
 * @returns The summary.
 * @throws {RangeError} When `samples` is empty or holds a value that is not finite.
 */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new RangeError("Cannot summarize samples: there are none");
  for (const x of samples) {
    if (!Number.isFinite(x)) throw new RangeError(`Cannot summarize samples: ${x} is not finite`);
  }
  const s = [...samples].sort((a, b) => a - b);
  return {
    median: quantile(s, 0.5),
    spread: { p25: quantile(s, 0.25), p75: quantile(s, 0.75), min: s[0]!, max: s[s.length - 1]! },
  };
}

/**
 * The ratio of each sample of `a` to the sample of `b` taken right after
 * it (samples alternate, so pair `i` shared the machine's state): what the
 * spread of a ratio is made of. Pairs beyond the shorter series are left out.
 *
 * @param a The measured samples.
 * @param b The baseline's samples, in the same order.
 * @returns One ratio per pair.
 */
export function pairedRatios(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.min(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(b[i] === 0 ? Number.NaN : a[i]! / b[i]!);
  return out.filter(Number.isFinite);
}
