/**
 * The benchmark tool's command line: its flags, its help text, and the
 * `--filter` that selects rows by name.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** A bad command line: the tool prints the message and exits with code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** What the command line asks for. */
export interface Options {
  /** Print the help text and exit. */
  help: boolean;
  /** Print the names of the rows (those `--filter` selects) and exit. */
  list: boolean;
  /** Fewer, shorter samples (a full run in under two minutes). */
  quick: boolean;
  /** Print the results as one JSON document on stdout instead of the table. */
  json: boolean;
  /** The `--filter` patterns as given (a row runs when any matches). */
  filters: string[];
  /** Where to write the JSON results (and the SVG chart beside them), or the chart with `--chart`. */
  out: string | undefined;
  /** With `--chart`: the JSON results files to merge into one chart. */
  chart: string[] | undefined;
  /** With `--summary`: the JSON results files to fold into one Markdown table. */
  summary: string[] | undefined;
}

/** The help text. */
export const HELP: string =
  `Benchmarks of roam for Deno and Bun, each row beside a baseline in the same run.

Usage:
  deno task bench [options]       (deno run -A --v8-flags=--expose-gc bench/main.ts)
  deno task bench:bun [options]   (bun run bench/main.ts)
  deno task bench:chart A.json [B.json ...] [--out chart.svg]
  deno task bench:summary A.json [B.json ...] [--out table.md]

Every row alternates samples of what it measures and of its baseline
(A, B, A, B ...) and reports the median, the spread (p25-p75, min-max) and
the ratio of the medians. Progress goes to stderr, the table to stdout.

Options:
  -h, --help            Print this help and exit.
  -l, --list            List the rows (those selected by --filter) and exit.
  -q, --quick           Fewer and shorter samples (about a third of the time).
  -f, --filter PATTERN  Run only the rows whose name contains PATTERN (ignoring
                        case), or matches it when written /regex/flags.
                        Repeat it to run the rows matching any of them.
  -o, --out FILE        Also write the results as JSON to FILE, and a chart
                        (SVG) beside it (FILE with .svg for .json).
      --json            Print the results as JSON on stdout, not the table.
      --chart           Merge the JSON files given as arguments (a Deno run and
                        a Bun run, say) into one SVG chart, written to --out
                        or to stdout; runs no benchmark.
      --summary         Fold the JSON files given as arguments (several runs
                        per runtime) into one Markdown table, each figure the
                        range over the runs, written to --out or to stdout;
                        runs no benchmark.

Exit codes: 0 done, 1 a benchmark or a file failed, 2 a bad command line
(an unknown flag, a missing value, a filter that matches no row).

Examples:
  deno task bench --quick --filter TCP
  deno task bench --filter '/^(TCP|WebSocket):/' --out deno.json
  deno task bench:bun --out bun.json
  deno task bench:chart deno.json bun.json --out chart.svg
  deno task bench:summary deno-*.json bun-*.json > table.md`;

/**
 * Parses the command line (without the runtime and script).
 *
 * @param args The arguments, as `process.argv.slice(2)`.
 * @returns The options.
 * @throws {UsageError} On an unknown flag, a missing or misplaced value, an invalid filter.
 */
export function parseOptions(args: readonly string[]): Options {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: true,
      options: {
        help: { type: "boolean", short: "h" },
        list: { type: "boolean", short: "l" },
        quick: { type: "boolean", short: "q" },
        json: { type: "boolean" },
        filter: { type: "string", short: "f", multiple: true },
        out: { type: "string", short: "o" },
        chart: { type: "boolean" },
        summary: { type: "boolean" },
      },
    });
  } catch (e) {
    throw new UsageError(usageMessage(e));
  }
  const v = parsed.values;
  const filters = v.filter ?? [];
  for (const f of filters) {
    if (f === "" || f.startsWith("-")) {
      throw new UsageError(`Cannot use --filter ${JSON.stringify(f)}: give it a pattern`);
    }
    compileFilter(f);
  }
  if (v.out !== undefined && (v.out === "" || v.out.startsWith("-"))) {
    throw new UsageError(`Cannot use --out ${JSON.stringify(v.out)}: give it a file name`);
  }
  if (v.chart === true && v.summary === true) {
    throw new UsageError("Cannot use --chart with --summary: run them one at a time");
  }
  const chart = v.chart === true ? parsed.positionals : undefined;
  const summary = v.summary === true ? parsed.positionals : undefined;
  if (chart === undefined && summary === undefined && parsed.positionals.length > 0) {
    throw new UsageError(
      `Unexpected argument ${JSON.stringify(parsed.positionals[0])} ` +
        `(only --chart and --summary take file arguments; see --help)`,
    );
  }
  const merging = chart !== undefined ? "--chart" : summary !== undefined ? "--summary" : undefined;
  if (merging !== undefined) {
    if ((chart ?? summary)!.length === 0) {
      throw new UsageError(`Cannot use ${merging}: give one or more JSON results files`);
    }
    if (filters.length > 0 || v.quick === true || v.json === true || v.list === true) {
      throw new UsageError(`Cannot use ${merging} with --filter, --quick, --json or --list`);
    }
  }
  return {
    help: v.help === true,
    list: v.list === true,
    quick: v.quick === true,
    json: v.json === true,
    filters,
    out: v.out,
    chart,
    summary,
  };
}

/** Rewords `parseArgs`'s errors in the tool's terms. */
function usageMessage(e: unknown): string {
  const code = (e as { code?: unknown }).code;
  const message = e instanceof Error ? e.message : String(e);
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
    const flag = /'([^']*)'/.exec(message)?.[1] ?? message;
    return `Unknown option ${flag} (see --help)`;
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
    const flag = /'(?:-\w, )?(--?[\w-]+)/.exec(message)?.[1] ?? "an option";
    return message.includes("does not take")
      ? `Option ${flag} takes no value (see --help)`
      : `Option ${flag} needs a value (see --help)`;
  }
  return `${message} (see --help)`;
}

/**
 * Compiles one `--filter` pattern: `/source/flags` is a regular
 * expression; anything else matches names that contain it, ignoring case.
 *
 * @param pattern The pattern as given.
 * @returns A predicate on row names.
 * @throws {UsageError} When a `/regex/` does not compile.
 */
export function compileFilter(pattern: string): (name: string) => boolean {
  const re = /^\/(.+)\/([a-z]*)$/s.exec(pattern);
  if (re !== null) {
    let regex: RegExp;
    try {
      regex = new RegExp(re[1]!, re[2]!.replace("g", "").replace("y", ""));
    } catch (e) {
      throw new UsageError(
        `Cannot use --filter ${pattern}: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    return (name) => regex.test(name);
  }
  const needle = pattern.toLowerCase();
  return (name) => name.toLowerCase().includes(needle);
}

/**
 * The items whose `name` matches any of `filters` (all of them when there
 * is no filter), in their order.
 *
 * @param items Things with names (rows).
 * @param filters Patterns for {@linkcode compileFilter}.
 * @returns The selected items.
 * @throws {UsageError} When a pattern does not compile.
 */
export function select<T extends { name: string }>(
  items: readonly T[],
  filters: readonly string[],
): T[] {
  if (filters.length === 0) return [...items];
  const tests = filters.map(compileFilter);
  return items.filter((item) => tests.some((t) => t(item.name)));
}
