/**
 * The benchmark tool's own logic: its command line, row selection, the
 * median and spread arithmetic, the alternation of samples, the framing of
 * the raw baselines, the varied codec data, and the shape of the JSON and
 * SVG it writes. No benchmark runs here (the sampling test runs trivial
 * work for a few milliseconds).
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { decode, encode } from "../../postcard.ts";
import { compileFilter, parseOptions, select, UsageError } from "../../bench/_cli.ts";
import { pairedRatios, quantile, summarize } from "../../bench/_stats.ts";
import { measureRow, type Row } from "../../bench/_measure.ts";
import {
  asResultsDocument,
  type Environment,
  FORMAT,
  type ResultsDocument,
  rowResult,
} from "../../bench/_results.ts";
import { chartPathFor, renderChart } from "../../bench/_chart.ts";
import { renderSummary } from "../../bench/_summary.ts";
import { FrameCutter, frameOf, FrameSplitter } from "../../bench/_raw_tcp.ts";
import { people, Person, pointLists, Points } from "../../bench/_data.ts";
import { allRows } from "../../bench/_rows.ts";
import { prng } from "../_helpers/mod.ts";

const ENV: Environment = {
  runtime: "deno",
  version: "2.0.0",
  date: "2026-01-02T03:04:05.000Z",
  machine: { cpu: "Test CPU", cores: 2, os: "linux test x64" },
};

// ------------------------------------------------------------------ command line

test("parseOptions() reads every flag, short and long", () => {
  const o = parseOptions(["-q", "--filter", "TCP", "-f", "/^memory/", "--out", "r.json", "--json"]);
  assert.deepEqual(o, {
    help: false,
    list: false,
    quick: true,
    json: true,
    filters: ["TCP", "/^memory/"],
    out: "r.json",
    chart: undefined,
    summary: undefined,
  });
  assert.equal(parseOptions(["-h"]).help, true);
  assert.equal(parseOptions(["--list"]).list, true);
  assert.deepEqual(parseOptions(["--chart", "a.json", "b.json", "--out", "c.svg"]).chart, [
    "a.json",
    "b.json",
  ]);
});

test("parseOptions() rejects unknown flags, missing values and stray arguments with a UsageError", () => {
  const cases: [string[], RegExp][] = [
    [["--bogus"], /^Unknown option --bogus/],
    [["--filter"], /^Option --filter needs a value/],
    [["--out"], /^Option --out needs a value/],
    [["--quick=yes"], /^Option --quick takes no value/],
    [["--filter", "--quick"], /--filter/],
    [["results.json"], /^Unexpected argument "results.json"/],
    [["--chart"], /give one or more JSON results files/],
    [["--chart", "a.json", "--filter", "TCP"], /Cannot use --chart with --filter/],
    [["--filter", "/(/"], /^Cannot use --filter \/\(\/: /],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseOptions(args), (e: unknown) => {
      assert.ok(e instanceof UsageError, `${args.join(" ")}: ${e}`);
      assert.match(e.message, message, args.join(" "));
      return true;
    });
  }
});

test("a filter matches a substring ignoring case, or a /regex/ with its flags", () => {
  assert.equal(compileFilter("tcp")("TCP: unary calls, sequential"), true);
  assert.equal(compileFilter("tcp")("memory: unary calls, sequential"), false);
  assert.equal(compileFilter("/^TCP:/")("TCP: 1 MiB bytes echo"), true);
  assert.equal(compileFilter("/^tcp:/")("TCP: 1 MiB bytes echo"), false);
  assert.equal(compileFilter("/^tcp:/i")("TCP: 1 MiB bytes echo"), true);
  // A global flag would make test() stateful; it is dropped.
  const g = compileFilter("/echo/g");
  assert.equal(g("raw echo"), true);
  assert.equal(g("raw echo"), true);
});

test("select() keeps exactly the rows some filter matches, in order", () => {
  const rows = [
    { name: "memory: unary calls, sequential" },
    { name: "TCP: unary calls, sequential" },
    { name: "WebSocket: unary calls, sequential" },
    { name: "TCP: 1 MiB bytes echo" },
  ];
  assert.deepEqual(select(rows, []), rows);
  assert.deepEqual(select(rows, ["TCP: unary calls, sequential"]), [rows[1]]);
  assert.deepEqual(select(rows, ["/^TCP/", "websocket"]), [rows[1], rows[2], rows[3]]);
  assert.deepEqual(select(rows, ["nothing like it"]), []);
});

test("every row of the tool has a unique name that selects it alone, and a baseline unless absolute", () => {
  const rows = allRows(false);
  assert.ok(rows.length >= 25);
  for (const row of rows) {
    const exact = `/^${row.name.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}$/`;
    assert.deepEqual(select(rows, [exact]).map((r) => r.name), [row.name]);
    if (row.kind !== "value") assert.ok(row.baseline, `${row.name} has no baseline`);
  }
});

// ------------------------------------------------------------------ statistics

test("quantile() interpolates between ranks; summarize() gives median, p25-p75 and min-max", () => {
  assert.equal(quantile([1, 2, 3, 4], 0.5), 2.5);
  assert.equal(quantile([1, 2, 3, 4], 0.25), 1.75);
  assert.equal(quantile([7], 0.75), 7);
  assert.deepEqual(summarize([5, 1, 4, 2, 3]), {
    median: 3,
    spread: { p25: 2, p75: 4, min: 1, max: 5 },
  });
  assert.equal(summarize([10, 40, 20, 30]).median, 25);
  assert.throws(() => summarize([]), RangeError);
  assert.throws(() => summarize([1, Number.NaN]), RangeError);
  assert.throws(() => quantile([1], 1.5), RangeError);
});

test("pairedRatios() divides each sample by the baseline's sample of the same turn", () => {
  assert.deepEqual(pairedRatios([2, 6, 9], [1, 3, 3, 100]), [2, 2, 3]);
  assert.deepEqual(pairedRatios([2, 6], [0, 3]), [2]);
});

// ------------------------------------------------------------------ sampling

test("measureRow() alternates subject, baseline and reference samples and pools rounds", async () => {
  const calls: string[] = [];
  let work = 0;
  const fake = (letter: string) => (n: number) => {
    calls.push(letter);
    for (let i = 0; i < n; i++) work++;
  };
  let opened = 0;
  let closed = 0;
  const row: Row = {
    name: "fake row",
    group: "fake",
    unit: "things/s",
    scale: 10,
    rounds: 2,
    batchMs: 0.2,
    baseline: "fake baseline",
    references: ["fake reference"],
    open() {
      opened++;
      return {
        subject: fake("A"),
        baseline: fake("B"),
        references: [fake("R")],
        close: () => void closed++,
      };
    },
  };
  const plan = { samples: 3, sampleMs: 1, warmupMs: 1 };
  const r = await measureRow(row, ENV, false, () => {}, plan);
  assert.equal(opened, 2);
  assert.equal(closed, 2);
  // Once warm, the three series are sampled in turn: A..., B..., R..., A..., B..., R...
  const turns = calls.join("").replace(/(.)\1+/g, "$1");
  assert.match(turns, /(ABR){3}$/);
  assert.equal(r.samples.length, 6);
  assert.equal(r.baseline?.samples.length, 6);
  assert.equal(r.references[0]?.samples.length, 6);
  assert.equal(r.references[0]?.name, "fake reference");
  assert.equal(r.ratio, r.median / r.baseline!.median);
  assert.ok(r.samples.every((x) => x > 0) && work > 0);
});

test("measureRow() closes the fixture when the work throws", async () => {
  let closed = false;
  const row: Row = {
    name: "failing row",
    group: "fake",
    unit: "x/s",
    baseline: "b",
    open: () => ({
      subject: () => {
        throw new Error("boom");
      },
      baseline: () => {},
      close: () => void (closed = true),
    }),
  };
  await assert.rejects(
    measureRow(row, ENV, false, () => {}, { samples: 2, sampleMs: 1, warmupMs: 1 }),
    /boom/,
  );
  assert.equal(closed, true);
});

// ------------------------------------------------------------------ raw framing

test("FrameCutter returns whole frames only, however the stream is cut", () => {
  const rng = prng(0x19);
  const frames = Array.from(
    { length: 200 },
    (_, i) => frameOf(new Uint8Array(Math.floor(rng() * (i % 10 === 0 ? 5000 : 40))).fill(i)),
  );
  const stream = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  const boundaries = new Set<number>([0]);
  let at = 0;
  for (const f of frames) {
    stream.set(f, at);
    at += f.length;
    boundaries.add(at);
  }
  const cutter = new FrameCutter();
  const out: number[] = [];
  let emitted = 0;
  for (let pos = 0; pos < stream.length;) {
    const n = 1 + Math.floor(rng() * 700);
    const whole = cutter.cut(stream.slice(pos, pos + n));
    pos += n;
    if (whole === undefined) continue;
    out.push(...whole);
    emitted += whole.length;
    assert.ok(boundaries.has(emitted), "a cut ends at a frame boundary");
  }
  assert.deepEqual(new Uint8Array(out), stream);
});

test("FrameSplitter hands each frame over in its own array", () => {
  const frames = [frameOf(new Uint8Array([1, 2, 3])), frameOf(new Uint8Array(0))];
  const stream = new Uint8Array([...frames[0]!, ...frames[1]!]);
  const got: Uint8Array[] = [];
  const splitter = new FrameSplitter();
  splitter.push(stream.subarray(0, 2), (f) => got.push(f));
  splitter.push(stream.subarray(2), (f) => got.push(f));
  assert.deepEqual(got, frames);
  for (const f of got) assert.notEqual(f.buffer, stream.buffer);
});

// ------------------------------------------------------------------ varied data

test("the codec data is seeded, varied (1,024+ distinct values) and round-trips", () => {
  const a = people(4096, 7);
  assert.deepEqual(people(4096, 7), a);
  assert.notDeepEqual(people(16, 8), a.slice(0, 16));
  assert.ok(new Set(a.map((p) => JSON.stringify(p))).size === 4096);
  assert.ok(new Set(a.map((p) => p.name)).size >= 1024);
  assert.ok(a.some((p) => p.email === undefined) && a.some((p) => /[^ -~]/.test(p.name)));
  for (const p of a.slice(0, 256)) assert.deepEqual(decode(Person, encode(Person, p)), p);
  const lists = pointLists(1024, 100, 7);
  assert.ok(new Set(lists.map((l) => JSON.stringify(l))).size === 1024);
  assert.deepEqual(decode(Points, encode(Points, lists[3]!)), lists[3]);
});

// ------------------------------------------------------------------ JSON and SVG

function fakeDoc(env: Environment, rows: ResultsDocument["rows"]): ResultsDocument {
  return { format: FORMAT, ...env, quick: false, filters: [], rows };
}

test("a row's record holds its samples, median, spread, baseline, ratio and environment", () => {
  const r = rowResult(ENV, { name: "n", group: "g", unit: "ops/s" }, [4, 2, 6], {
    name: "base",
    samples: [2, 2, 2],
  });
  assert.deepEqual(r.samples, [4, 2, 6]);
  assert.equal(r.median, 4);
  assert.deepEqual(r.spread, { p25: 3, p75: 5, min: 2, max: 6 });
  assert.equal(r.baseline?.name, "base");
  assert.equal(r.ratio, 2);
  assert.deepEqual(r.ratioSpread, { p25: 1.5, p75: 2.5, min: 1, max: 3 });
  assert.equal(r.runtime, "deno");
  assert.equal(r.version, "2.0.0");
  assert.equal(r.date, ENV.date);
  assert.deepEqual(r.machine, ENV.machine);
  const absolute = rowResult(ENV, { name: "heap", group: "g", unit: "MiB" }, [3]);
  assert.equal(absolute.baseline, null);
  assert.equal(absolute.ratio, null);
  // It survives JSON and is recognised as a results document.
  const doc = JSON.parse(JSON.stringify(fakeDoc(ENV, [r, absolute])));
  assert.deepEqual(asResultsDocument(doc, "x.json").rows[0], r);
  assert.throws(() => asResultsDocument([{ name: "n" }], "y.json"), /not a results file/);
});

/** Asserts that every tag of `svg` is closed in order. */
function assertBalanced(svg: string): void {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    if (m[3] === "/") continue;
    if (m[1] === "/") assert.equal(stack.pop(), m[2]);
    else stack.push(m[2]!);
  }
  assert.deepEqual(stack, []);
}

test("the chart has a bar per row and run, a 1.0 line, both runtimes, and escaped text", () => {
  const bun = { ...ENV, runtime: "bun", version: "1.2.3" };
  const row = (env: Environment, name: string, a: number[]) =>
    rowResult(env, { name, group: "TCP <loopback>", unit: "calls/s" }, a, {
      name: "raw & batched",
      samples: [10, 10, 10],
    });
  const deno = fakeDoc(ENV, [
    row(ENV, "A <fast>", [20, 21, 22]),
    row(ENV, "B", [5, 5, 5]),
    rowResult(ENV, { name: "heap", group: "g", unit: "MiB" }, [3]),
  ]);
  const svg = renderChart([deno, fakeDoc(bun, [row(bun, "A <fast>", [30, 30, 30])])]);
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  assertBalanced(svg);
  assert.equal(svg.match(/class="bar"/g)?.length, 3);
  assert.equal(svg.match(/class="baseline"/g)?.length, 1);
  assert.match(svg, /deno 2\.0\.0/);
  assert.match(svg, /bun 1\.2\.3/);
  assert.match(svg, /A &#60;fast&#62;/);
  assert.match(svg, /raw &#38; batched/);
  assert.match(svg, /2\.10×/);
  assert.match(svg, /not run \(bun 1\.2\.3\)/);
  assert.match(svg, /1 row\(s\) without a baseline/);
  assert.doesNotMatch(svg, /<fast>|& /);
  assert.throws(() => renderChart([]), RangeError);
});

test("the summary folds runs per runtime into ranges of ratios and medians, one line a row", () => {
  const bun = { ...ENV, runtime: "bun", version: "1.2.3" };
  const row = (env: Environment, name: string, a: number[]) =>
    rowResult(env, { name, group: "g", unit: "calls/s" }, a, {
      name: "raw | batched",
      samples: [1000, 1000, 1000],
    });
  const heap = (env: Environment, mib: number) =>
    rowResult(env, { name: "heap", group: "g", unit: "MiB" }, [mib]);
  const summary = renderSummary([
    fakeDoc(ENV, [row(ENV, "A", [400, 400, 400]), heap(ENV, 24)]),
    fakeDoc(ENV, [row(ENV, "A", [450, 450, 450]), heap(ENV, 24), row(ENV, "only once", [10])]),
    fakeDoc(bun, [row(bun, "A", [900, 900, 900]), heap(bun, 18.5)]),
  ]);
  const lines = summary.trimEnd().split("\n");
  assert.match(lines[0]!, /^2 runs on deno 2\.0\.0, 1 run on bun 1\.2\.3; Test CPU, 2 cores/);
  assert.equal(lines[2], "| row | deno | bun | baseline |");
  assert.equal(lines[3], "| --- | --- | --- | --- |");
  assert.deepEqual(lines.slice(4), [
    "| A | 0.40–0.45× (400–450 calls/s) | 0.90× (900 calls/s) | raw \\| batched |",
    "| heap | 24.0 MiB | 18.5 MiB | — (absolute figure) |",
    "| only once | 0.01× (10.0 calls/s) (1 of 2 runs) | — | raw \\| batched |",
  ]);
  assert.throws(() => renderSummary([]), RangeError);
});

test("the chart goes beside the results file", () => {
  assert.equal(chartPathFor("out/results.json"), "out/results.svg");
  assert.equal(chartPathFor("results"), "results.svg");
});

// ------------------------------------------------------------------ the process

const MAIN = fileURLToPath(new URL("../../bench/main.ts", import.meta.url));

function runMain(...args: string[]) {
  const argv = "Deno" in globalThis ? ["run", "-A", MAIN, ...args] : [MAIN, ...args];
  const r = spawnSync(process.execPath, argv, { encoding: "utf8", timeout: 30_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test("bench/main.ts exits with 2 and says why on a bad command line, 0 on --help", {
  timeout: 60_000,
}, () => {
  const bogus = runMain("--bogus");
  assert.equal(bogus.code, 2);
  assert.match(bogus.stderr, /Unknown option --bogus \(see --help\)/);
  const none = runMain("--filter", "no row is called this");
  assert.equal(none.code, 2);
  assert.match(none.stderr, /No row matches --filter "no row is called this"/);
  const help = runMain("--help");
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--filter PATTERN/);
  const summaryAlone = runMain("--summary");
  assert.equal(summaryAlone.code, 2);
  assert.match(summaryAlone.stderr, /Cannot use --summary: give one or more JSON results files/);
  const both = runMain("--summary", "--chart", "a.json");
  assert.equal(both.code, 2);
  const missing = runMain("--summary", "no-such-file.json");
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Cannot read no-such-file\.json/);
  const list = runMain("--list", "--filter", "/^TCP: unary/");
  assert.equal(list.code, 0);
  assert.deepEqual(list.stdout.trim().split("\n"), [
    "TCP loopback: TCP: unary calls, sequential",
    "TCP loopback: TCP: unary calls, 64 in flight",
  ]);
});
