/**
 * What a benchmark row is, and how one is measured: every series of the
 * row (what it measures, its baseline, references) is warmed up, then
 * sampled in turn, A, B, A, B ..., so that a slow stretch of the machine
 * falls on all of them rather than on one.
 *
 * @module
 */

import { type Environment, type RowResult, rowResult } from "./_results.ts";

/** Performs `n` operations (synchronously, or resolving when they are done). */
export type Run = (n: number) => void | Promise<void>;

/** What an opened rate row measures; `close` releases its sockets and sessions. */
export interface Fixture {
  /** What the row measures. */
  subject: Run;
  /** Its baseline (required when the row names one). */
  baseline?: Run;
  /** Reference series, one per name in the row's `references`. */
  references?: Run[];
  /** Releases what `open` made. */
  close?(): void | Promise<void>;
}

/** A row that measures a rate against a baseline. */
export interface RateRow {
  /** Rate rows are the default. */
  kind?: "rate";
  /** Unique name; `--filter` matches it. */
  name: string;
  /** The section of the table it belongs to. */
  group: string;
  /** Unit of the figures. */
  unit: string;
  /** Units per operation of a `Run` (calls per batch, megabytes per echo); default 1. */
  scale?: number;
  /** What the baseline is; a row without one reports an absolute rate. */
  baseline?: string;
  /** What each reference series is. */
  references?: string[];
  /** Fresh fixtures to open in turn, the samples of each pooled (default 1). */
  rounds?: number;
  /** The time one call of a `Run` should take once warm, in ms (default 1 for sync rows, else 5). */
  batchMs?: number;
  /** Synchronous work (codec rows): more, shorter samples. */
  sync?: boolean;
  /** Opens what the row measures. */
  open(): Fixture | Promise<Fixture>;
}

/** A row that reports an absolute figure, taken a few times (no baseline). */
export interface ValueRow {
  /** Marks a value row. */
  kind: "value";
  /** Unique name; `--filter` matches it. */
  name: string;
  /** The section of the table it belongs to. */
  group: string;
  /** Unit of the figure. */
  unit: string;
  /** Takes one sample. */
  measure(): Promise<number>;
}

/** A benchmark row. */
export type Row = RateRow | ValueRow;

/** How long and how often to sample. */
export interface Plan {
  /** Samples of each series (per round). */
  samples: number;
  /** Length of one sample in ms. */
  sampleMs: number;
  /** Warm-up of each series in ms. */
  warmupMs: number;
}

/**
 * The sampling plan for a row.
 *
 * @param quick Whether `--quick` was given.
 * @param sync Whether the row's work is synchronous.
 * @returns The plan.
 */
export function planFor(quick: boolean, sync: boolean): Plan {
  if (sync) {
    return quick
      ? { samples: 5, sampleMs: 80, warmupMs: 100 }
      : { samples: 11, sampleMs: 150, warmupMs: 300 };
  }
  return quick
    ? { samples: 4, sampleMs: 150, warmupMs: 150 }
    : { samples: 7, sampleMs: 300, warmupMs: 400 };
}

/** Reports what a row is doing (for progress on stderr). */
export type Progress = (text: string) => void;

/**
 * Measures one row.
 *
 * @param row The row.
 * @param env Where and when, recorded with the result.
 * @param quick Whether `--quick` was given.
 * @param progress Called as the row goes along.
 * @param plan Replaces the plan of {@linkcode planFor} (for a rate row).
 * @returns The row's record.
 * @throws {Error} Whatever the row's work throws.
 */
export async function measureRow(
  row: Row,
  env: Environment,
  quick: boolean,
  progress: Progress = () => {},
  plan: Plan = planFor(quick, row.kind !== "value" && row.sync === true),
): Promise<RowResult> {
  if (row.kind === "value") {
    const n = quick ? 1 : 3;
    const samples: number[] = [];
    for (let i = 0; i < n; i++) {
      progress(`sample ${i + 1}/${n}`);
      samples.push(await row.measure());
    }
    return rowResult(env, row, samples);
  }
  const rounds = row.rounds ?? 1;
  const perRound = rounds === 1 ? plan.samples : Math.max(3, Math.ceil(plan.samples / rounds));
  const batchMs = row.batchMs ?? (row.sync === true ? 1 : 5);
  const scale = row.scale ?? 1;
  const names = [row.baseline, ...(row.references ?? [])];
  const series: number[][] = [[], ...names.map(() => [])];
  for (let round = 0; round < rounds; round++) {
    const at = rounds > 1 ? `connection ${round + 1}/${rounds}, ` : "";
    const fixture = await row.open();
    try {
      const runs = runsOf(row, fixture);
      const batches: number[] = [];
      for (const run of runs) {
        progress(`${at}warm-up ${batches.length + 1}/${runs.length}`);
        batches.push(await sizeBatch(run, plan.warmupMs, batchMs));
      }
      for (let s = 0; s < perRound; s++) {
        progress(`${at}sample ${s + 1}/${perRound}`);
        for (let i = 0; i < runs.length; i++) {
          series[i]!.push((await sample(runs[i]!, batches[i]!, plan.sampleMs)) * scale);
        }
      }
    } finally {
      await fixture.close?.();
    }
  }
  return rowResult(
    env,
    row,
    series[0]!,
    row.baseline === undefined ? undefined : { name: row.baseline, samples: series[1]! },
    (row.references ?? []).map((name, i) => ({
      name,
      samples: series[i + (row.baseline === undefined ? 1 : 2)]!,
    })),
  );
}

/** The fixture's runs in sampling order: subject, baseline, references. */
function runsOf(row: RateRow, f: Fixture): Run[] {
  const runs = [f.subject];
  if (row.baseline !== undefined) {
    if (f.baseline === undefined) throw new TypeError(`Row ${row.name} lacks its baseline`);
    runs.push(f.baseline);
  }
  const refs = f.references ?? [];
  if (refs.length !== (row.references ?? []).length) {
    throw new TypeError(`Row ${row.name} has ${refs.length} reference runs for its names`);
  }
  return [...runs, ...refs];
}

/** Runs `run(n)` and waits for it when it returns a promise. */
async function call(run: Run, n: number): Promise<void> {
  const r = run(n);
  if (r !== undefined) await r;
}

/** Runs `run(batch)` repeatedly for about `ms` and returns its operations per second. */
async function sample(run: Run, batch: number, ms: number): Promise<number> {
  let ops = 0;
  const t0 = performance.now();
  let t1 = t0;
  while (t1 - t0 < ms) {
    await call(run, batch);
    ops += batch;
    t1 = performance.now();
  }
  return (ops * 1000) / (t1 - t0);
}

/** A bound on the operations of one call, should a `Run` take no longer for more. */
const MAX_BATCH = 2 ** 30;

/**
 * Warms `run` up for at least `warmupMs` and returns an operation count
 * that takes about `batchMs` (doubling from 1).
 */
async function sizeBatch(run: Run, warmupMs: number, batchMs: number): Promise<number> {
  let batch = 1;
  const t0 = performance.now();
  for (;;) {
    const s = performance.now();
    await call(run, batch);
    const now = performance.now();
    const took = now - s;
    if (took < batchMs) batch = Math.min(batch * 2, MAX_BATCH);
    if (now - t0 >= warmupMs && (took >= batchMs / 2 || now - t0 >= 10 * warmupMs)) {
      return batch;
    }
  }
}
