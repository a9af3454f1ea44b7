/**
 * The results of a benchmark run: one record per row (its samples, median
 * and spread, its baseline's, the ratio of the medians), the JSON document
 * that holds them with the runtime and the machine, and the text table.
 *
 * @module
 */

import os from "node:os";
import { pairedRatios, type Spread, summarize } from "./_stats.ts";

/** The `format` field of a results document. */
export const FORMAT = "roam-bench/1";

/** The machine a run took place on. */
export interface Machine {
  /** CPU model, as the OS names it. */
  cpu: string;
  /** Logical cores. */
  cores: number;
  /** OS, kernel release and architecture. */
  os: string;
}

/** Where and when a run took place. */
export interface Environment {
  /** `deno`, `bun` or `node`. */
  runtime: string;
  /** The runtime's version. */
  version: string;
  /** When the run started (ISO 8601). */
  date: string;
  /** The machine. */
  machine: Machine;
}

/** One measured series: a row's subject, its baseline, or a reference. */
export interface SeriesResult {
  /** What the series is. */
  name: string;
  /** Every sample, in the order taken, in the row's unit. */
  samples: number[];
  /** Median of the samples. */
  median: number;
  /** Spread of the samples. */
  spread: Spread;
}

/** One row of results. */
export interface RowResult extends Environment {
  /** The row's name. */
  name: string;
  /** The section it belongs to. */
  group: string;
  /** Unit of every figure of the row (for a row with a baseline, a rate: higher is better). */
  unit: string;
  /** The samples of what the row measures, in the order taken. */
  samples: number[];
  /** Their median. */
  median: number;
  /** Their spread. */
  spread: Spread;
  /** The baseline, sampled alternately with the row; `null` for an absolute figure. */
  baseline: SeriesResult | null;
  /** Figures sampled in the same rotation for reference, not compared with. */
  references: SeriesResult[];
  /** `median / baseline.median`, or `null` without a baseline. */
  ratio: number | null;
  /** Spread of the ratios of paired samples (each sample over the baseline's next one). */
  ratioSpread: Spread | null;
}

/** A run's results file. */
export interface ResultsDocument extends Environment {
  /** Always {@linkcode FORMAT}. */
  format: typeof FORMAT;
  /** Whether `--quick` was given. */
  quick: boolean;
  /** The `--filter` patterns given. */
  filters: string[];
  /** The rows, in the order run. */
  rows: RowResult[];
}

/**
 * The runtime, its version, the date and the machine of this process.
 *
 * @returns The environment.
 */
export function environment(): Environment {
  const g = globalThis as { Deno?: { version: { deno: string } }; Bun?: { version: string } };
  const runtime = g.Deno !== undefined ? "deno" : g.Bun !== undefined ? "bun" : "node";
  const version = g.Deno?.version.deno ?? g.Bun?.version ??
    (globalThis as { process?: { version?: string } }).process?.version ?? "unknown";
  const cpus = os.cpus();
  return {
    runtime,
    version,
    date: new Date().toISOString(),
    machine: {
      cpu: cpus[0]?.model.trim() || "unknown",
      cores: cpus.length,
      os: `${os.platform()} ${os.release()} ${os.arch()}`,
    },
  };
}

/**
 * Builds a row's record from its samples.
 *
 * @param env Where and when.
 * @param row The row's name, group and unit.
 * @param samples The subject's samples.
 * @param baseline The baseline's name and samples, if the row has one.
 * @param references Reference series.
 * @returns The record.
 * @throws {RangeError} When a series has no samples.
 */
export function rowResult(
  env: Environment,
  row: { name: string; group: string; unit: string },
  samples: number[],
  baseline?: { name: string; samples: number[] },
  references: { name: string; samples: number[] }[] = [],
): RowResult {
  const own = summarize(samples);
  const base = baseline === undefined ? null : series(baseline.name, baseline.samples);
  const paired = base === null ? [] : pairedRatios(samples, base.samples);
  return {
    name: row.name,
    group: row.group,
    unit: row.unit,
    ...env,
    samples,
    median: own.median,
    spread: own.spread,
    baseline: base,
    references: references.map((r) => series(r.name, r.samples)),
    ratio: base === null || base.median === 0 ? null : own.median / base.median,
    ratioSpread: paired.length === 0 ? null : summarize(paired).spread,
  };
}

function series(name: string, samples: number[]): SeriesResult {
  const s = summarize(samples);
  return { name, samples, median: s.median, spread: s.spread };
}

/**
 * Checks that `value` (parsed JSON) is a results document of this tool.
 *
 * @param value The parsed JSON.
 * @param source Where it came from, for the message.
 * @returns The document.
 * @throws {TypeError} When it is not one.
 */
export function asResultsDocument(value: unknown, source: string): ResultsDocument {
  const d = value as Partial<ResultsDocument> | null;
  if (typeof d !== "object" || d === null || d.format !== FORMAT || !Array.isArray(d.rows)) {
    throw new TypeError(`Cannot read ${source}: not a results file of bench/main.ts (${FORMAT})`);
  }
  for (const r of d.rows) {
    if (typeof r?.name !== "string" || typeof r.median !== "number") {
      throw new TypeError(`Cannot read ${source}: a row lacks its name or median`);
    }
  }
  return d as ResultsDocument;
}

// ------------------------------------------------------------------ text

/**
 * Formats a figure with three significant digits and a k/M/G suffix.
 *
 * @param n The figure.
 * @returns The text.
 */
export function formatNumber(n: number): string {
  const a = Math.abs(n);
  const [div, suffix] = a >= 1e9
    ? [1e9, "G"]
    : a >= 1e6
    ? [1e6, "M"]
    : a >= 1e3
    ? [1e3, "k"]
    : [1, ""];
  const x = n / div;
  const digits = Math.abs(x) >= 100 ? 0 : Math.abs(x) >= 10 ? 1 : 2;
  return `${x.toFixed(digits)}${suffix}`;
}

/**
 * The header of a section of the text table.
 *
 * @param group The section.
 * @param env The runtime.
 * @param width Width of the name column.
 * @returns The lines.
 */
export function tableHeader(group: string, env: Environment, width = 46): string {
  return `\n## ${group} (${env.runtime} ${env.version})\n` +
    `${"row".padEnd(width)} ${"median".padStart(8)} ${"p25–p75".padStart(15)} ${
      "unit".padEnd(8)
    } ` +
    `${"baseline".padStart(8)} ${"ratio".padStart(6)} ${"(p25–p75)".padStart(13)}`;
}

/**
 * One row of the text table, with its baseline and references on the lines below.
 *
 * @param r The row.
 * @param width Width of the name column.
 * @returns The lines.
 */
export function formatRow(r: RowResult, width = 46): string {
  const mid = `${formatNumber(r.spread.p25)}–${formatNumber(r.spread.p75)}`;
  const ratio = r.ratio === null ? "" : `${r.ratio.toFixed(2)}×`;
  const rs = r.ratioSpread === null
    ? ""
    : `(${r.ratioSpread.p25.toFixed(2)}–${r.ratioSpread.p75.toFixed(2)})`;
  let out = `${r.name.padEnd(width)} ${formatNumber(r.median).padStart(8)} ${mid.padStart(15)} ` +
    `${r.unit.padEnd(8)} ${
      (r.baseline === null ? "" : formatNumber(r.baseline.median)).padStart(8)
    } ` +
    `${ratio.padStart(6)} ${rs.padStart(13)}`;
  out = out.trimEnd();
  if (r.baseline !== null) out += `\n    vs ${r.baseline.name}`;
  else out += "\n    (absolute figure, no baseline)";
  for (const ref of r.references) {
    out += `\n    reference: ${ref.name}: ${formatNumber(ref.median)} ${r.unit} ` +
      `(${formatNumber(ref.spread.p25)}–${formatNumber(ref.spread.p75)})`;
  }
  return out;
}
