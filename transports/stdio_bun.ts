/**
 * Stdio on Bun (`Bun.spawn`, `Bun.stdin`, `Bun.stdout`). Loaded only on
 * Bun, by dynamic import. The few Bun types used are declared here.
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

/** The parts of Bun's `FileSink` used here: a buffered writer to a pipe or file. */
interface FileSink {
  write(chunk: Uint8Array): number | boolean;
  flush(): number | Promise<number> | undefined;
  end(): number | Promise<number> | undefined;
}

/** The parts of Bun's `Subprocess` used here. */
interface Subprocess {
  readonly pid: number;
  readonly stdin: FileSink;
  readonly stdout: ReadableStream<Uint8Array>;
  readonly stderr: ReadableStream<Uint8Array> | number | undefined;
  readonly exited: Promise<number>;
  readonly exitCode: number | null;
  readonly signalCode: string | null;
  kill(signal?: string): void;
}

interface BunApi {
  spawn(options: {
    cmd: string[];
    cwd?: string;
    env?: Record<string, string | undefined>;
    stdin: "pipe";
    stdout: "pipe";
    stderr: "inherit" | "ignore" | "pipe";
  }): Subprocess;
  readonly env: Record<string, string | undefined>;
  readonly stdin: { stream(): ReadableStream<Uint8Array> };
  readonly stdout: { writer(): FileSink };
}

const Bun = (globalThis as unknown as { Bun: BunApi }).Bun;

/** Adapts a `FileSink` to a `WritableStream`: each write is flushed before the next. */
function sinkStream(sink: FileSink): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({
    async write(chunk) {
      sink.write(chunk);
      await sink.flush();
    },
    async close() {
      await sink.end();
    },
    async abort() {
      try {
        await sink.end();
      } catch {
        // Already ended.
      }
    },
  });
}

const STDERR = { inherit: "inherit", null: "ignore", piped: "pipe" } as const;

function spawn(
  command: string,
  args: readonly string[],
  options: SpawnRequest,
): SpawnedProcess {
  const proc = Bun.spawn({
    cmd: [command, ...args],
    stdin: "pipe",
    stdout: "pipe",
    stderr: STDERR[options.stderr],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    // Bun replaces the environment with `env`; add to it instead, as Deno does.
    ...(options.env === undefined ? {} : { env: { ...Bun.env, ...options.env } }),
  });
  const status: Promise<ChildStatus> = proc.exited.then(() => {
    const signal = proc.signalCode ?? null;
    const code = signal === null ? proc.exitCode : null;
    return { code, signal, success: code === 0 };
  });
  const stderr = proc.stderr;
  return {
    pid: proc.pid,
    stdin: sinkStream(proc.stdin),
    stdout: proc.stdout,
    stderr: options.stderr === "piped" && stderr instanceof ReadableStream ? stderr : null,
    status,
    kill: (signal: ChildSignal) => proc.kill(signal),
  };
}

function ownStdio(): {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
} {
  return { readable: Bun.stdin.stream(), writable: sinkStream(Bun.stdout.writer()) };
}

/** The Bun stdio runtime. */
export const stdio: StdioRuntime = { spawn, ownStdio };
