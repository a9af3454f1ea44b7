/**
 * A small portable benchmark harness: warms up, takes several timed
 * samples, reports the median rate beside a baseline measured in the same
 * run, and prints a table or (with `--json`) one JSON array.
 *
 * @module
 */

import process from "node:process";

/** One reported figure. */
export interface BenchResult {
  /** What was measured. */
  name: string;
  /** `deno`, `bun` or `node`. */
  runtime: string;
  /** The measured rate. */
  value: number;
  /** Unit of `value` and `baseline`. */
  unit: string;
  /** The baseline's rate in the same unit, measured in the same run. */
  baseline: number;
  /** `value / baseline`. */
  ratio: number;
  /** What the baseline is. */
  baselineName: string;
}

/** The runtime executing the benchmark. */
export const runtime: string = "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node";

/** Options for one measurement. */
export interface MeasureOptions {
  /** Timed samples; the median is reported. */
  samples?: number;
  /** Length of one sample in milliseconds. */
  sampleMs?: number;
  /** Warm-up time in milliseconds. */
  warmupMs?: number;
}

/** Command-line flags common to every benchmark. */
export const flags: { json: boolean; quick: boolean; filter: string | undefined } = (() => {
  const args = process.argv.slice(2);
  const i = args.indexOf("--filter");
  return {
    json: args.includes("--json"),
    quick: args.includes("--quick"),
    filter: i >= 0 ? args[i + 1] : undefined,
  };
})();

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * Measures how many times per second `fn` runs (synchronous work).
 * Returns the median of the samples.
 */
export function opsPerSecond(fn: () => void, options: MeasureOptions = {}): number {
  const samples = options.samples ?? (flags.quick ? 3 : 7);
  const sampleMs = options.sampleMs ?? (flags.quick ? 100 : 250);
  const warmupMs = options.warmupMs ?? (flags.quick ? 100 : 300);
  const batch = sizeBatch(fn, warmupMs);
  const rates: number[] = [];
  for (let s = 0; s < samples; s++) rates.push(sample(fn, batch, sampleMs));
  return median(rates);
}

/**
 * Measures two synchronous operations, `fn` and its `baseline`, in
 * alternating samples (fn, baseline, fn, baseline, ...), so that a slow
 * stretch of the machine falls on both rather than on one. Returns the
 * median rate of each.
 */
export function opsPerSecondPair(
  fn: () => void,
  baseline: () => void,
  options: MeasureOptions = {},
): [number, number] {
  const samples = options.samples ?? (flags.quick ? 3 : 9);
  const sampleMs = options.sampleMs ?? (flags.quick ? 100 : 150);
  const warmupMs = options.warmupMs ?? (flags.quick ? 100 : 300);
  const batches = [sizeBatch(fn, warmupMs), sizeBatch(baseline, warmupMs)];
  const fns = [fn, baseline];
  const rates: [number[], number[]] = [[], []];
  for (let s = 0; s < samples * 2; s++) {
    const which = s % 2;
    rates[which]!.push(sample(fns[which]!, batches[which]!, sampleMs));
  }
  return [median(rates[0]), median(rates[1])];
}

/** Runs `fn` in batches of `batch` for about `ms` and returns its rate per second. */
function sample(fn: () => void, batch: number, ms: number): number {
  let ops = 0;
  const t0 = performance.now();
  let t1 = t0;
  while (t1 - t0 < ms) {
    for (let i = 0; i < batch; i++) fn();
    ops += batch;
    t1 = performance.now();
  }
  return (ops * 1000) / (t1 - t0);
}

/** Warms `fn` up for `ms` and returns a batch size that runs for about 1 ms. */
function sizeBatch(fn: () => void, ms: number): number {
  let batch = 1;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) fn();
    if (performance.now() - t0 < 1) batch *= 2;
  }
  return batch;
}

/**
 * Measures an asynchronous operation: `run(n)` performs `n` operations and
 * resolves when they are done. Returns the median operations per second.
 */
export async function asyncOpsPerSecond(
  run: (n: number) => Promise<void>,
  options: MeasureOptions = {},
): Promise<number> {
  const samples = options.samples ?? (flags.quick ? 3 : 5);
  const sampleMs = options.sampleMs ?? (flags.quick ? 150 : 400);
  const warmupMs = options.warmupMs ?? (flags.quick ? 150 : 400);
  const batch = await sizeAsyncBatch(run, warmupMs);
  const rates: number[] = [];
  for (let s = 0; s < samples; s++) rates.push(await asyncSample(run, batch, sampleMs));
  return median(rates);
}

/** Runs `run(batch)` repeatedly for about `ms` and returns its rate per second. */
async function asyncSample(
  run: (n: number) => Promise<void>,
  batch: number,
  ms: number,
): Promise<number> {
  let ops = 0;
  const t0 = performance.now();
  let t1 = t0;
  while (t1 - t0 < ms) {
    await run(batch);
    ops += batch;
    t1 = performance.now();
  }
  return (ops * 1000) / (t1 - t0);
}

/**
 * Measures two asynchronous operations, `run` and its `baseline`, in
 * alternating samples, like {@linkcode opsPerSecondPair}: the machine's
 * slow and fast stretches fall on both. Returns the median rate of each.
 */
export async function asyncOpsPerSecondPair(
  run: (n: number) => Promise<void>,
  baseline: (n: number) => Promise<void>,
  options: MeasureOptions = {},
): Promise<[number, number]> {
  const samples = options.samples ?? (flags.quick ? 3 : 7);
  const sampleMs = options.sampleMs ?? (flags.quick ? 150 : 300);
  const warmupMs = options.warmupMs ?? (flags.quick ? 150 : 400);
  const fns = [run, baseline];
  const batches = [await sizeAsyncBatch(run, warmupMs), await sizeAsyncBatch(baseline, warmupMs)];
  const rates: [number[], number[]] = [[], []];
  for (let s = 0; s < samples * 2; s++) {
    const which = s % 2;
    rates[which]!.push(await asyncSample(fns[which]!, batches[which]!, sampleMs));
  }
  return [median(rates[0]), median(rates[1])];
}

/** Warms `run` up for `ms` and returns a batch size that takes about 5 ms. */
async function sizeAsyncBatch(run: (n: number) => Promise<void>, ms: number): Promise<number> {
  let batch = 1;
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const t0 = performance.now();
    await run(batch);
    if (performance.now() - t0 < 5) batch *= 2;
  }
  return batch;
}

/** Collects results and prints them. */
export class Report {
  readonly results: BenchResult[] = [];

  /** Returns true when `name` passes the `--filter` flag. */
  wants(name: string): boolean {
    return flags.filter === undefined || name.includes(flags.filter);
  }

  /** Records one figure beside its baseline. */
  add(name: string, value: number, unit: string, baseline: number, baselineName: string): void {
    const r: BenchResult = {
      name,
      runtime,
      value,
      unit,
      baseline,
      ratio: baseline === 0 ? 0 : value / baseline,
      baselineName,
    };
    this.results.push(r);
    if (!flags.json) {
      console.log(
        `${name.padEnd(44)} ${fmt(value).padStart(10)} ${unit.padEnd(8)} ` +
          `${fmt(baseline).padStart(10)} ${
            (baseline === 0 ? "-" : `${r.ratio.toFixed(2)}x`).padStart(7)
          }  vs ${baselineName}`,
      );
    }
  }

  /** Prints the header (table mode). */
  header(title: string): void {
    if (!flags.json) {
      console.log(`\n## ${title} (${runtime})`);
      console.log(
        `${"benchmark".padEnd(44)} ${"value".padStart(10)} ${"unit".padEnd(8)} ${
          "baseline".padStart(10)
        } ${"ratio".padStart(7)}`,
      );
    }
  }

  /** Prints the JSON array when `--json` was given. */
  finish(): void {
    if (flags.json) console.log(JSON.stringify(this.results));
  }
}

function fmt(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(2);
}
