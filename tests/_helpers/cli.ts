/**
 * Running the `roam` command line in a child process of this runtime,
 * once (`runCli`) or as a long-running spy (`startCli`) whose output is
 * read as it comes.
 *
 * @module
 */

import { spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { scriptCommand, SELF, selfExecPath } from "../fixtures/runtimes.ts";

/** The entry point under test. */
export const CLI: string = fileURLToPath(new URL("../../cli.ts", import.meta.url));
/** The services module of the tests. */
export const API: string = fileURLToPath(new URL("../fixtures/cli_api.ts", import.meta.url));

/** What a finished command printed, and its exit code. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A running command. */
export interface CliProcess {
  /** Everything printed on stdout so far. */
  readonly stdout: () => string;
  /** Everything printed on stderr so far. */
  readonly stderr: () => string;
  /**
   * Waits until `stream` has printed text matching `pattern`.
   *
   * @returns The match.
   */
  waitFor(
    stream: "stdout" | "stderr",
    pattern: RegExp,
    timeoutMs: number,
  ): Promise<RegExpMatchArray>;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
  /** Sends a signal. */
  kill(signal: "SIGTERM" | "SIGINT" | "SIGKILL"): void;
  /** The child's pid. */
  readonly pid: number;
}

/**
 * Starts `roam <args>` with this runtime.
 *
 * @param args The command line.
 * @param stdin Text for its stdin (closed after); undefined leaves stdin open.
 * @returns The running command.
 */
export function startCli(args: readonly string[], stdin?: string): CliProcess {
  const [cmd, argv] = scriptCommand(SELF, selfExecPath(), CLI, [...args]);
  const child = spawn(cmd, argv, { env: { ...process.env, NO_COLOR: "1" } });
  const text = { stdout: "", stderr: "" };
  const wake = new Set<() => void>();
  let code: number | null | undefined;
  child.stdout!.setEncoding("utf8");
  child.stderr!.setEncoding("utf8");
  child.stdout!.on("data", (s: string) => {
    text.stdout += s;
    for (const w of wake) w();
  });
  child.stderr!.on("data", (s: string) => {
    text.stderr += s;
    for (const w of wake) w();
  });
  child.stdin!.on("error", () => {});
  if (stdin !== undefined) child.stdin!.end(stdin);
  const exited = new Promise<number | null>((resolve) => {
    // "close" comes after the output streams ended, so everything printed is in `text`.
    child.on("close", (c, signal) => {
      code = c ?? (signal === null ? null : -1);
      for (const w of wake) w();
      resolve(code);
    });
    child.on("error", (e) => {
      text.stderr += `spawn failed: ${e.message}`;
      code = null;
      resolve(null);
    });
  });
  const waitFor = (
    stream: "stdout" | "stderr",
    pattern: RegExp,
    timeoutMs: number,
  ): Promise<RegExpMatchArray> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        const m = text[stream].match(pattern);
        if (m !== null) {
          done();
          resolve(m);
          return true;
        }
        if (code !== undefined) {
          done();
          reject(
            new Error(
              `roam ${
                args.join(" ")
              } exited (${code}) before printing ${pattern} on ${stream}:\n${text.stdout}\n${text.stderr}`,
            ),
          );
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `Timed out waiting for ${pattern} on ${stream}:\n${text.stdout}\n${text.stderr}`,
          ),
        );
      }, timeoutMs);
      const w = (): void => void check();
      const done = (): void => {
        clearTimeout(timer);
        wake.delete(w);
      };
      if (!check()) wake.add(w);
    });
  return {
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    waitFor,
    exited,
    // Not `child.kill()`: Deno then reports the child as killed by the signal even when it
    // handled it and exited with a code of its own.
    kill: (signal) => {
      if (code === undefined && child.pid !== undefined) process.kill(child.pid, signal);
    },
    pid: child.pid ?? -1,
  };
}

/**
 * Runs `roam <args>` with this runtime to its end (killed after `timeoutMs`).
 *
 * @param args The command line.
 * @param options Text for stdin, and the time limit.
 * @returns Its output and exit code.
 */
export async function runCli(
  args: readonly string[],
  options: { stdin?: string; timeoutMs?: number } = {},
): Promise<CliResult> {
  const p = startCli(args, options.stdin ?? "");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((
    r,
  ) => (timer = setTimeout(() => r("late"), options.timeoutMs ?? 20_000)));
  const first = await Promise.race([p.exited, late]);
  clearTimeout(timer);
  if (first === "late") {
    p.kill("SIGKILL");
    await p.exited;
    throw new Error(`roam ${args.join(" ")} did not finish:\n${p.stdout()}\n${p.stderr()}`);
  }
  return { code: first, stdout: p.stdout(), stderr: p.stderr() };
}

/** The resident set size of a process in bytes (Linux), or undefined elsewhere. */
export async function residentBytes(pid: number): Promise<number | undefined> {
  try {
    const { readFile } = await import("node:fs/promises");
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const m = status.match(/^VmRSS:\s+(\d+) kB/m);
    return m === null ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}
