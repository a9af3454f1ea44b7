/**
 * The chart of a run (or of several, one per runtime, merged): an SVG with
 * one bar per row and runtime showing the ratio of the row's median to its
 * baseline's, on a log scale around a 1.0 line, with a whisker for the
 * middle half of the paired sample ratios. Readable on its own: it names
 * each row's baseline, the runtimes, the machine and the date.
 *
 * @module
 */

import { formatNumber, type ResultsDocument, type RowResult } from "./_results.ts";

const WIDTH = 1180;
const LABEL_X = 16;
const PLOT_X0 = 470;
const PLOT_X1 = 900;
/** The right-hand columns: the ratio, then the two medians. */
const RATIO_X = 965;
const FIGURES_X = 975;
const LANE = 14;
const BAR = 10;
const COLORS = ["#2f6fb0", "#d9730d", "#3a8a3a", "#8e4fa0", "#b03a3a", "#5b6b7a"];

/**
 * Where the chart of a results file goes: beside it, `.json` replaced by `.svg`.
 *
 * @param jsonPath The results file.
 * @returns The chart's path.
 */
export function chartPathFor(jsonPath: string): string {
  return jsonPath.endsWith(".json") ? `${jsonPath.slice(0, -5)}.svg` : `${jsonPath}.svg`;
}

/** Escapes text for SVG content and attributes. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function ratioText(r: number): string {
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`;
}

function tickText(e: number): string {
  return e >= 0 ? `${2 ** e}×` : `1/${2 ** -e}×`;
}

/** One series of the chart: a run, labelled by its runtime and version. */
interface Series {
  label: string;
  color: string;
  rows: Map<string, RowResult>;
  doc: ResultsDocument;
}

/**
 * Renders one chart from one or more results documents (a Deno run and a
 * Bun run, say): a bar per row and document. Rows without a baseline are
 * left out (and counted in a note).
 *
 * @param docs The results, one series each, in legend order.
 * @returns The SVG text.
 * @throws {RangeError} When `docs` is empty.
 */
export function renderChart(docs: readonly ResultsDocument[]): string {
  if (docs.length === 0) throw new RangeError("Cannot draw a chart: no results");
  const labels = new Map<string, number>();
  const series: Series[] = docs.map((doc, i) => {
    let label = `${doc.runtime} ${doc.version}`;
    const seen = (labels.get(label) ?? 0) + 1;
    labels.set(label, seen);
    if (seen > 1) label += ` (${seen})`;
    return {
      label,
      color: COLORS[i % COLORS.length]!,
      rows: new Map(doc.rows.map((r) => [r.name, r])),
      doc,
    };
  });

  // Rows in order of first appearance, grouped; rows without a ratio anywhere are left out.
  const groups = new Map<string, RowResult[]>();
  const seenNames = new Set<string>();
  let absolute = 0;
  for (const s of series) {
    for (const r of s.doc.rows) {
      if (seenNames.has(r.name)) continue;
      seenNames.add(r.name);
      if (!series.some((t) => typeof t.rows.get(r.name)?.ratio === "number")) {
        absolute++;
        continue;
      }
      const g = groups.get(r.group) ?? [];
      g.push(r);
      groups.set(r.group, g);
    }
  }

  // The scale: powers of two around every ratio and whisker, from 1/128 to 128.
  let lo = -1;
  let hi = 1;
  for (const s of series) {
    for (const r of s.rows.values()) {
      const xs = r.ratio === null ? [] : [r.ratio];
      if (r.ratioSpread !== null) xs.push(r.ratioSpread.p25, r.ratioSpread.p75);
      for (const x of xs) {
        if (!(x > 0)) continue;
        lo = Math.min(lo, Math.floor(Math.log2(x)));
        hi = Math.max(hi, Math.ceil(Math.log2(x)));
      }
    }
  }
  lo = Math.max(lo, -7);
  hi = Math.min(hi, 7);
  const xOf = (r: number) => {
    const e = Math.min(hi, Math.max(lo, Math.log2(r)));
    return PLOT_X0 + ((e - lo) / (hi - lo)) * (PLOT_X1 - PLOT_X0);
  };
  const one = xOf(1);

  const out: string[] = [];
  let y = 30;
  out.push(
    `<text x="${LABEL_X}" y="${y}" font-size="17" font-weight="bold">` +
      `roam benchmarks: each row's median beside its baseline's, in the same run</text>`,
  );
  y += 20;
  for (
    const line of [
      "Each bar is the ratio of a row's median to its baseline's median, on a log scale: right of the",
      "dashed 1× line, faster than the baseline. Samples alternate with the baseline's (A, B, A, B ...);",
      "the whisker spans p25–p75 of the ratios of paired samples. Under each row's name: its baseline.",
      "On the right: the ratio, then the row's median against the baseline's median.",
    ]
  ) {
    out.push(`<text x="${LABEL_X}" y="${y}" font-size="12" fill="#444">${escapeXml(line)}</text>`);
    y += 16;
  }
  y += 6;
  for (const s of series) {
    const d = s.doc;
    const text =
      `${s.label} · ${d.date.slice(0, 10)} · ${d.machine.cpu}, ${d.machine.cores} cores · ` +
      `${d.machine.os}${d.quick ? " · --quick" : ""}${
        d.filters.length > 0 ? ` · --filter ${d.filters.join(" ")}` : ""
      }`;
    out.push(`<rect x="${LABEL_X}" y="${y - 10}" width="12" height="12" fill="${s.color}"/>`);
    out.push(`<text x="${LABEL_X + 18}" y="${y}" font-size="12">${escapeXml(text)}</text>`);
    y += 18;
  }
  y += 10;

  const axis = (at: number) => {
    for (let e = lo; e <= hi; e++) {
      if (hi - lo > 8 && e % 2 !== 0 && e !== 0) continue;
      out.push(
        `<text x="${xOf(2 ** e).toFixed(1)}" y="${at}" font-size="11" text-anchor="middle" ` +
          `fill="#555">${tickText(e)}</text>`,
      );
    }
  };
  axis(y);
  y += 8;
  const plotTop = y;

  const body: string[] = [];
  for (const [group, rows] of groups) {
    y += 20;
    body.push(
      `<text x="${LABEL_X}" y="${y}" font-size="13" font-weight="bold">${escapeXml(group)}</text>`,
    );
    y += 6;
    for (const r of rows) {
      const height = Math.max(36, series.length * LANE + 12);
      const baselineName = series.map((s) => s.rows.get(r.name)?.baseline?.name)
        .find((n) => n !== undefined) ?? "";
      body.push(
        `<line x1="${LABEL_X}" x2="${WIDTH - LABEL_X}" y1="${y}" y2="${y}" stroke="#e4e4e4"/>`,
        `<text x="${LABEL_X}" y="${y + 15}" font-size="12">${escapeXml(r.name)}</text>`,
        `<text x="${LABEL_X}" y="${y + 29}" font-size="10" fill="#666">vs ${
          escapeXml(baselineName)
        }</text>`,
      );
      series.forEach((s, i) => {
        const top = y + 6 + i * LANE;
        const mid = top + BAR / 2;
        const row = s.rows.get(r.name);
        if (row === undefined || row.ratio === null) {
          body.push(
            `<text x="${one + 4}" y="${mid + 4}" font-size="10" fill="#888">` +
              `${row === undefined ? "not run" : "no ratio"} (${escapeXml(s.label)})</text>`,
          );
          return;
        }
        const x = xOf(row.ratio);
        const tip = `${r.name}, ${s.label}: ${ratioText(row.ratio)}` +
          (row.ratioSpread === null
            ? ""
            : ` (p25–p75 ${row.ratioSpread.p25.toFixed(2)}–${row.ratioSpread.p75.toFixed(2)})`) +
          `; ${formatNumber(row.median)} against ${formatNumber(row.baseline!.median)} ${row.unit}`;
        body.push(
          `<rect class="bar" x="${Math.min(x, one).toFixed(1)}" y="${top}" ` +
            `width="${
              Math.max(1, Math.abs(x - one)).toFixed(1)
            }" height="${BAR}" fill="${s.color}">` +
            `<title>${escapeXml(tip)}</title></rect>`,
        );
        if (row.ratioSpread !== null) {
          const a = xOf(row.ratioSpread.p25).toFixed(1);
          const b = xOf(row.ratioSpread.p75).toFixed(1);
          body.push(
            `<path d="M${a} ${mid}H${b}M${a} ${mid - 3}V${mid + 3}M${b} ${mid - 3}V${mid + 3}" ` +
              `stroke="#222" stroke-width="1" fill="none"/>`,
          );
        }
        body.push(
          `<text x="${RATIO_X}" y="${mid + 4}" font-size="11" font-weight="bold" ` +
            `text-anchor="end" fill="${s.color}">${ratioText(row.ratio)}</text>`,
          `<text x="${FIGURES_X}" y="${mid + 4}" font-size="10" fill="#444">` +
            `${formatNumber(row.median)} vs ${formatNumber(row.baseline!.median)} ` +
            `${escapeXml(row.unit)}</text>`,
        );
      });
      y += height;
    }
  }
  y += 8;
  const plotBottom = y;

  // Grid and the 1.0 line behind the bars.
  const grid: string[] = [];
  for (let e = lo; e <= hi; e++) {
    if (e === 0) continue;
    const x = xOf(2 ** e).toFixed(1);
    grid.push(`<line x1="${x}" x2="${x}" y1="${plotTop}" y2="${plotBottom}" stroke="#eee"/>`);
  }
  grid.push(
    `<line class="baseline" x1="${one.toFixed(1)}" x2="${one.toFixed(1)}" y1="${plotTop}" ` +
      `y2="${plotBottom}" stroke="#111" stroke-width="1.5" stroke-dasharray="4 3"/>`,
  );
  out.push(...grid, ...body);

  y += 8;
  axis(y);
  y += 22;
  const notes = [
    `1.0 = the baseline's median. Ratios beyond ${tickText(lo)} or ${
      tickText(hi)
    } are drawn at the edge.`,
  ];
  if (absolute > 0) {
    notes.push(`${absolute} row(s) without a baseline (absolute figures) are not charted.`);
  }
  for (const n of notes) {
    out.push(`<text x="${LABEL_X}" y="${y}" font-size="11" fill="#555">${escapeXml(n)}</text>`);
    y += 16;
  }
  y += 8;

  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" ` +
    `viewBox="0 0 ${WIDTH} ${y}" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif">\n` +
    `<rect width="100%" height="100%" fill="#fff"/>\n${out.join("\n")}\n</svg>\n`;
}
