/**
 * `--summary`: several JSON results files (say three runs on Deno and three
 * on Bun) folded into one Markdown table, each row's figure given as the
 * range over the runs, so that the README's table is generated, not typed.
 *
 * @module
 */

import { formatNumber, type ResultsDocument, type RowResult } from "./_results.ts";

/** The runs of one runtime, in the order given. */
interface RuntimeRuns {
  readonly runtime: string;
  readonly versions: Set<string>;
  readonly docs: ResultsDocument[];
}

/** `a–b`, or `a` when both ends read the same. */
function range(values: readonly number[], format: (n: number) => string): string {
  const lo = format(Math.min(...values));
  const hi = format(Math.max(...values));
  return lo === hi ? lo : `${lo}–${hi}`;
}

/** A Markdown table cell: pipes escaped. */
function cell(text: string): string {
  return text.replaceAll("|", "\\|");
}

/** One runtime's cell for one row: the ratio range and the row's own figures, or "—". */
function figure(results: readonly RowResult[], runs: number): string {
  if (results.length === 0) return "—";
  const count = results.length < runs ? ` (${results.length} of ${runs} runs)` : "";
  const own = `${range(results.map((r) => r.median), formatNumber)} ${results[0]!.unit}`;
  const ratios = results.flatMap((r) => r.ratio === null ? [] : [r.ratio]);
  if (ratios.length === 0) return `${own}${count}`;
  return `${range(ratios, (n) => n.toFixed(2))}× (${own})${count}`;
}

/**
 * Renders the table: one line per row (in the order of their first
 * appearance), one column per runtime with the range over its runs of the
 * ratio of medians and of the row's median, and the baseline's name.
 *
 * @param docs Results documents, any number per runtime.
 * @returns The Markdown text: a line naming the runs, then the table.
 * @throws {RangeError} When `docs` is empty.
 */
export function renderSummary(docs: readonly ResultsDocument[]): string {
  if (docs.length === 0) throw new RangeError("Cannot summarise: no results");
  const runtimes: RuntimeRuns[] = [];
  for (const doc of docs) {
    let r = runtimes.find((x) => x.runtime === doc.runtime);
    if (r === undefined) {
      r = { runtime: doc.runtime, versions: new Set(), docs: [] };
      runtimes.push(r);
    }
    r.versions.add(doc.version);
    r.docs.push(doc);
  }
  const names: string[] = [];
  const baselines = new Map<string, string>();
  for (const doc of docs) {
    for (const row of doc.rows) {
      if (!baselines.has(row.name)) {
        names.push(row.name);
        baselines.set(row.name, row.baseline?.name ?? "— (absolute figure)");
      }
    }
  }
  const dates = docs.map((d) => d.date).sort();
  const m = docs[0]!.machine;
  const about = runtimes.map((r) =>
    `${r.docs.length} run${r.docs.length === 1 ? "" : "s"} on ${r.runtime} ${
      [...r.versions].join(", ")
    }${
      r.docs.every((d) => d.quick)
        ? " (--quick)"
        : r.docs.some((d) => d.quick)
        ? " (some --quick)"
        : ""
    }`
  ).join(", ");
  const day = (iso: string) => iso.slice(0, 16).replace("T", " ");
  const lines = [
    `${about}; ${m.cpu}, ${m.cores} cores, ${m.os}; ${day(dates[0]!)}–${
      day(dates[dates.length - 1]!)
    } UTC. Each figure: the range over the runs of the ratio of medians to the baseline, and of ` +
    `the row's median.`,
    "",
    `| row | ${runtimes.map((r) => cell(r.runtime)).join(" | ")} | baseline |`,
    `| --- | ${runtimes.map(() => "---").join(" | ")} | --- |`,
  ];
  for (const name of names) {
    const cells = runtimes.map((r) =>
      cell(figure(r.docs.flatMap((d) => d.rows.filter((x) => x.name === name)), r.docs.length))
    );
    lines.push(`| ${cell(name)} | ${cells.join(" | ")} | ${cell(baselines.get(name)!)} |`);
  }
  return `${lines.join("\n")}\n`;
}
