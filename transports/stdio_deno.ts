/**
 * Stdio on Deno (`Deno.Command`, `Deno.stdin`, `Deno.stdout`). Loaded only
 * on Deno, by dynamic import.
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
