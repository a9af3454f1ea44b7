/**
 * Stdio on Node (`node:child_process`, `process.stdin`, `process.stdout`).
 * Loaded only on Node, by dynamic import. The built-in modules are reached
 * through `process.getBuiltinModule` rather than imports, and the few Node
 * types used are declared here: a bundler building for the browser meets
 * no `node:` import, and `tsc` needs no Node types.
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

/** A Node stream, opaque here: only `node:stream` converts it. */
type NodeStream = { readonly __nodeStream?: never };

/** The parts of Node's `ChildProcess` used here. */
interface NodeChild {
  readonly pid?: number;
  readonly stdin: NodeStream;
  readonly stdout: NodeStream;
  readonly stderr: NodeStream | null;
  on(event: "error", listener: (error: Error) => void): void;
  once(event: "spawn", listener: () => void): void;
  once(event: "error", listener: (error: Error) => void): void;
  once(event: "exit", listener: (code: number | null, signal: string | null) => void): void;
  off(event: "spawn", listener: () => void): void;
  off(event: "error", listener: (error: Error) => void): void;
  kill(signal?: string): boolean;
}

interface NodeChildProcess {
  spawn(command: string, args: readonly string[], options: {
    cwd?: string;
    env: Record<string, string | undefined>;
    stdio: ["pipe", "pipe", "inherit" | "ignore" | "pipe"];
  }): NodeChild;
}

interface NodeStreams {
  Readable: { toWeb(stream: NodeStream): ReadableStream<Uint8Array> };
  Writable: { toWeb(stream: NodeStream): WritableStream<Uint8Array> };
}

interface NodeProcess {
  readonly env: Record<string, string | undefined>;
  readonly stdin: NodeStream;
  readonly stdout: NodeStream;
  getBuiltinModule?(id: string): unknown;
}

const process = (globalThis as unknown as { process: NodeProcess }).process;

function builtin<T>(id: string): T {
  const module = process.getBuiltinModule?.(id);
  if (module === undefined) {
    throw new TypeError(
      `Cannot load ${id}: stdio links on Node need Node 22 or later (process.getBuiltinModule)`,
    );
  }
  return module as T;
}

const STDERR = { inherit: "inherit", null: "ignore", piped: "pipe" } as const;

async function spawn(
  command: string,
  args: readonly string[],
  options: SpawnRequest,
): Promise<SpawnedProcess> {
  const { spawn } = builtin<NodeChildProcess>("node:child_process");
  const { Readable, Writable } = builtin<NodeStreams>("node:stream");
  const child = spawn(command, args, {
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    env: { ...process.env, ...options.env },
    stdio: ["pipe", "pipe", STDERR[options.stderr]],
  });
  // Exit may come right after spawning: listen before waiting.
  const status = new Promise<ChildStatus>((resolve) => {
    child.once("exit", (code, signal) => {
      resolve({ code: signal === null ? code : null, signal, success: code === 0 });
    });
  });
  // Node reports a program that cannot start (not found, not executable) asynchronously.
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error): void => {
      child.off("spawn", onSpawn);
      reject(e);
    };
    const onSpawn = (): void => {
      child.off("error", onError);
      resolve();
    };
    child.once("error", onError);
    child.once("spawn", onSpawn);
  });
  // A later failure (a signal that cannot be sent) shows in `status`; it must not end the process.
  child.on("error", () => {});
  return {
    pid: child.pid ?? -1,
    stdin: Writable.toWeb(child.stdin),
    stdout: Readable.toWeb(child.stdout),
    stderr: options.stderr === "piped" && child.stderr !== null
      ? Readable.toWeb(child.stderr)
      : null,
    status,
    kill: (signal: ChildSignal) => void child.kill(signal),
  };
}

function ownStdio(): {
  readable: ReadableStream<Uint8Array>;
  writable: WritableStream<Uint8Array>;
} {
  const { Readable, Writable } = builtin<NodeStreams>("node:stream");
  return { readable: Readable.toWeb(process.stdin), writable: Writable.toWeb(process.stdout) };
}

/** The Node stdio runtime. */
export const stdio: StdioRuntime = { spawn, ownStdio };
