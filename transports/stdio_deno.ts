/**
 * Stdio on Deno (`Deno.Command`, `Deno.stdin`, `Deno.stdout`). Loaded only
 * on Deno, by dynamic import. The few Deno types used are declared here,
 * so that `tsc` without Deno's types accepts this file.
 *
 * @module
 */

import type {
  ChildSignal,
  ChildStatus,
  SpawnedProcess,
  SpawnRequest,
  StdioRuntime,
} from "./stdio.ts";

/** The parts of `Deno.ChildProcess` used here. */
interface DenoChild {
  readonly pid: number;
  readonly stdin: WritableStream<Uint8Array>;
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array>;
  readonly status: Promise<{ code: number; signal: string | null; success: boolean }>;
  kill(signal?: string): void;
}

/** The parts of the `Deno` namespace used here. */
interface DenoApi {
  Command: new (command: string, options: {
    args: string[];
    stdin: "piped";
    stdout: "piped";
    stderr: "inherit" | "null" | "piped";
    cwd?: string;
    env?: Record<string, string>;
  }) => { spawn(): DenoChild };
  readonly stdin: { readonly readable: ReadableStream<Uint8Array> };
  readonly stdout: { readonly writable: WritableStream<Uint8Array> };
}

const Deno = (globalThis as unknown as { Deno: DenoApi }).Deno;

function spawn(
  command: string,
  args: readonly string[],
  options: SpawnRequest,
): SpawnedProcess {
  const child = new Deno.Command(command, {
    args: [...args],
    stdin: "piped",
    stdout: "piped",
    stderr: options.stderr,
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.env === undefined ? {} : { env: { ...options.env } }),
  }).spawn();
  const status: Promise<ChildStatus> = child.status.then((s) => ({
    // Deno reports 128 + the signal number as the code of a signalled process.
    code: s.signal === null ? s.code : null,
    signal: s.signal,
    success: s.success,
  }));
  return {
    pid: child.pid,
    stdin: child.stdin,
    stdout: child.stdout,
    stderr: options.stderr === "piped" ? child.stderr : null,
    status,
    kill: (signal: ChildSignal) => child.kill(signal),
  };
}

function ownStdio(): {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
} {
  return { readable: Deno.stdin.readable, writable: Deno.stdout.writable };
}

/** The Deno stdio runtime. */
export const stdio: StdioRuntime = { spawn, ownStdio };
