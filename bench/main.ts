/**
 * The benchmark tool: `deno task bench [options]` or
 * `bun run bench/main.ts [options]`; `--help` describes the options.
 *
 * @module
 */

import process from "node:process";
import { readFile, writeFile } from "node:fs/promises";
import { HELP, type Options, parseOptions, select, UsageError } from "./_cli.ts";
import { chartPathFor, renderChart } from "./_chart.ts";
import { measureRow, type Row } from "./_measure.ts";
import { renderSummary } from "./_summary.ts";
import {
  asResultsDocument,
  environment,
  FORMAT,
  formatRow,
  type ResultsDocument,
  type RowResult,
  tableHeader,
} from "./_results.ts";
import { allRows } from "./_rows.ts";

function err(text: string): void {
  process.stderr.write(text);
}

/** Writes a file; says why not on stderr and returns false when it cannot. */
async function write(path: string, text: string): Promise<boolean> {
  try {
    await writeFile(path, text);
    return true;
  } catch (e) {
    err(`Cannot write ${path}: ${e instanceof Error ? e.message : String(e)}\n`);
    return false;
  }
}

/** Reads results files; says why not on stderr and returns undefined when one cannot be used. */
async function readResults(files: string[]): Promise<ResultsDocument[] | undefined> {
  const docs: ResultsDocument[] = [];
  for (const file of files) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(file, "utf8"));
    } catch (e) {
      err(`Cannot read ${file}: ${e instanceof Error ? e.message : String(e)}\n`);
      return undefined;
    }
    try {
      docs.push(asResultsDocument(parsed, file));
    } catch (e) {
      err(`${(e as Error).message}\n`);
      return undefined;
    }
  }
  return docs;
}

/** Writes `text` to `out`, or to stdout without one. */
async function emit(text: string, out: string | undefined): Promise<number> {
  if (out === undefined) process.stdout.write(text);
  else {
    if (!await write(out, text)) return 1;
    err(`Wrote ${out}\n`);
  }
  return 0;
}

async function drawChart(files: string[], out: string | undefined): Promise<number> {
  const docs = await readResults(files);
  return docs === undefined ? 1 : await emit(renderChart(docs), out);
}

async function summarise(files: string[], out: string | undefined): Promise<number> {
  const docs = await readResults(files);
  return docs === undefined ? 1 : await emit(renderSummary(docs), out);
}

async function run(options: Options, rows: Row[]): Promise<number> {
  const env = environment();
  const tty = process.stderr.isTTY === true;
  const table = !options.json;
  if (table) {
    console.log(
      `roam benchmarks · ${env.runtime} ${env.version} · ${env.machine.cpu}, ` +
        `${env.machine.cores} cores · ${env.machine.os} · ${env.date}` +
        (options.quick ? " · --quick" : ""),
    );
  }
  const results: RowResult[] = [];
  let failed = 0;
  let group = "";
  const width = Math.max(...rows.map((r) => r.name.length));
  const t0 = performance.now();
  for (const [i, row] of rows.entries()) {
    const at = `[${i + 1}/${rows.length}] ${row.name}`;
    if (!tty) err(`${at}\n`);
    const progress = (text: string) => {
      if (tty) err(`\r\x1b[K${at}: ${text}`);
    };
    try {
      const result = await measureRow(row, env, options.quick, progress);
      if (tty) err("\r\x1b[K");
      results.push(result);
      if (table) {
        if (row.group !== group) console.log(tableHeader(row.group, env, width));
        group = row.group;
        console.log(formatRow(result, width));
      }
    } catch (e) {
      if (tty) err("\r\x1b[K");
      failed++;
      err(`!! ${row.name} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    }
  }
  err(`${results.length} rows in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  const doc: ResultsDocument = {
    format: FORMAT,
    ...env,
    quick: options.quick,
    filters: options.filters,
    rows: results,
  };
  if (options.json) console.log(JSON.stringify(doc));
  if (options.out !== undefined) {
    const svgPath = chartPathFor(options.out);
    if (!await write(options.out, `${JSON.stringify(doc, null, 2)}\n`)) return 1;
    if (!await write(svgPath, renderChart([doc]))) return 1;
    err(`Wrote ${options.out} and ${svgPath}\n`);
  }
  if (failed > 0) err(`${failed} row(s) failed\n`);
  return failed > 0 ? 1 : 0;
}

async function main(args: string[]): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`${e.message}\n`);
    return 2;
  }
  if (options.help) {
    console.log(HELP);
    return 0;
  }
  if (options.chart !== undefined) return await drawChart(options.chart, options.out);
  if (options.summary !== undefined) return await summarise(options.summary, options.out);
  const rows = select(allRows(options.quick), options.filters);
  if (rows.length === 0) {
    err(
      `No row matches --filter ${options.filters.map((f) => JSON.stringify(f)).join(", ")} ` +
        `(--list shows the rows)\n`,
    );
    return 2;
  }
  if (options.list) {
    for (const r of rows) console.log(`${r.group}: ${r.name}`);
    return 0;
  }
  return await run(options, rows);
}

process.exit(await main(process.argv.slice(2)));
