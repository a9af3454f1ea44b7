/**
 * Stdio links: length-prefixed frames (wire-spec §3.1) over a child
 * process's stdin and stdout, or over this process's own. A parent calls
 * {@linkcode spawnLink} to start a program and talk roam to it; the program
 * calls {@linkcode stdioLink} to be that child. Works on Deno
 * (`Deno.Command`, `Deno.stdin`), Bun (`Bun.spawn`, `Bun.stdin`) and Node
 * (`node:child_process`, `process.stdin`); each runtime loads only its own
 * code.
 *
 * Stdout belongs to the link: a child must log to stderr, never to stdout
 * (a stray `console.log` breaks the framing, and the parent's session ends
 * with a protocol error).
 *
 * @example A parent calling a child program
 * ```ts
 * import { initiate, service, t } from "@roam/roam";
 * import { spawnLink } from "@roam/roam/transports/stdio";
 *
 * const Echo = service("Echo", { echo: { args: [t.string], returns: t.string } });
 *
 * export async function echoViaChild(serverScript: string): Promise<string> {
 *   await using child = await spawnLink("deno", ["run", serverScript]);
 *   const session = await initiate(child);
 *   const reply = await session.client(Echo).echo("hi");
 *   await session.close();
 *   console.log(await child.status); // { code: 0, signal: null, success: true }
 *   return reply;
 * }
 * ```
 *
 * @module
 */

import { DEFAULT_MAX_FRAME_SIZE, type FramingOptions } from "../lib/link/framing/errors.ts";
import { streamLink } from "../lib/link/framing/stream_link.ts";
import type { Link } from "../lib/link/link.ts";

export { FramingError } from "../lib/link/framing/errors.ts";
export type { FramingOptions } from "../lib/link/framing/errors.ts";
export type { Link } from "../lib/link/link.ts";

/** How a child process ended. */
export interface ChildStatus {
  /** The exit code, or null when a signal ended the process. */
  readonly code: number | null;
  /** The signal that ended the process (such as `"SIGTERM"`), or null. */
  readonly signal: string | null;
  /** True when the process exited with code 0. */
  readonly success: boolean;
}

/** A signal {@linkcode ChildLink.kill} can send. */
export type ChildSignal =
  | "SIGTERM"
  | "SIGKILL"
  | "SIGINT"
  | "SIGHUP"
  | "SIGQUIT"
  | "SIGUSR1"
  | "SIGUSR2";

/** Options of {@linkcode spawnLink}. */
export interface SpawnLinkOptions extends FramingOptions {
  /** The child's working directory (default: this process's). */
  readonly cwd?: string;
  /** Variables added to (or replacing those of) this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * What happens to the child's stderr: shared with this process
   * (`"inherit"`, the default), discarded (`"null"`), or readable from
   * {@linkcode ChildLink.stderr} (`"piped"`: read it, or the child may
   * stall once the pipe is full).
   */
  readonly stderr?: "inherit" | "null" | "piped";
  /**
   * Milliseconds {@linkcode ChildLink.close} waits for the child to exit
   * after closing its stdin, and again after `SIGTERM`, before it sends
   * `SIGKILL` (default 2000).
   */
  readonly exitTimeout?: number;
}

/**
 * A framed link to a child process, plus control over the process. The
 * link's writable feeds the child's stdin, its readable reads the child's
 * stdout. Dispose it (`await using`, or `close()`) so the process never
 * outlives its use.
 */
export interface ChildLink extends Link, AsyncDisposable {
  /** The child's process id. */
  readonly pid: number;
  /** Resolves when the child has exited. */
  readonly status: Promise<ChildStatus>;
  /** The child's stderr when spawned with `stderr: "piped"`, else null. */
  readonly stderr: ReadableStream<Uint8Array> | null;
  /**
   * Sends a signal to the child. Does nothing once it has exited.
   *
   * @param signal The signal (default `"SIGTERM"`).
   * @throws {TypeError} For a signal not in {@linkcode ChildSignal}.
   */
  kill(signal?: ChildSignal): void;
  /**
   * Ends the child: closes its stdin (a roam server then ends its session
   * and exits), waits up to `exitTimeout` ms for it to exit, then sends
   * `SIGTERM` and, after another `exitTimeout` ms, `SIGKILL`. Calling it
   * again returns the same promise.
   *
   * @returns How the child ended.
   */
  close(): Promise<ChildStatus>;
}

/**
 * A spawned process as a runtime adapter reports it.
 *
 * @internal
 */
export interface SpawnedProcess {
  /** The process id. */
  readonly pid: number;
  /** The child's stdin. */
  readonly stdin: WritableStream<Uint8Array>;
  /** The child's stdout. */
  readonly stdout: ReadableStream<Uint8Array>;
  /** The child's stderr, when piped. */
  readonly stderr: ReadableStream<Uint8Array> | null;
  /** Resolves when the process has exited. */
  readonly status: Promise<ChildStatus>;
  /** Sends a signal; may throw once the process has exited. */
  kill(signal: ChildSignal): void;
}

/**
 * What the runtime adapters get to start a process (checked already).
 *
 * @internal
 */
export interface SpawnRequest {
  /** Working directory, or the parent's. */
  readonly cwd: string | undefined;
  /** Variables added to the parent's environment. */
  readonly env: Readonly<Record<string, string>> | undefined;
  /** What happens to the child's stderr. */
  readonly stderr: "inherit" | "null" | "piped";
}

/**
 * What a runtime's stdio adapter provides.
 *
 * @internal
 */
export interface StdioRuntime {
  /** Starts a process with piped stdin and stdout; throws (or rejects) when it cannot. */
  spawn(
    command: string,
    args: readonly string[],
    options: SpawnRequest,
  ): SpawnedProcess | Promise<SpawnedProcess>;
  /** This process's stdin and stdout as byte streams. */
  ownStdio(): { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> };
}

const DEFAULT_EXIT_TIMEOUT = 2000;

const SIGNALS: ReadonlySet<string> = new Set<ChildSignal>([
  "SIGTERM",
  "SIGKILL",
  "SIGINT",
  "SIGHUP",
  "SIGQUIT",
  "SIGUSR1",
  "SIGUSR2",
]);

let loaded: Promise<StdioRuntime> | undefined;

function loadRuntime(): Promise<StdioRuntime> {
  return loaded ??= (async () => {
    if ("Deno" in globalThis) return (await import("./stdio_deno.ts")).stdio;
    if ("Bun" in globalThis) return (await import("./stdio_bun.ts")).stdio;
    const process = (globalThis as { process?: { versions?: { node?: unknown } } }).process;
    if (typeof process?.versions?.node === "string") return (await import("./stdio_node.ts")).stdio;
    throw new TypeError(
      "Stdio links need Deno, Bun or Node; in a browser, use a MessagePort link",
    );
  })();
}

function checkMaxFrameSize(max: number | undefined): void {
  if (max === undefined) return;
  if (!Number.isInteger(max) || max < 1 || max > 0xffff_ffff) {
    throw new RangeError(`Invalid maxFrameSize: expected 1 to 4294967295 bytes, got ${max}`);
  }
}

function checkSpawn(command: string, args: readonly string[], options: SpawnLinkOptions): void {
  if (typeof command !== "string") {
    throw new TypeError(
      `Cannot spawn a process: the command must be a string, got ${typeof command}`,
    );
  }
  if (command.length === 0) throw new TypeError("Cannot spawn a process: the command is empty");
  if (!Array.isArray(args) || args.some((a) => typeof a !== "string")) {
    throw new TypeError(`Cannot spawn "${command}": args must be an array of strings`);
  }
  if (options.cwd !== undefined && typeof options.cwd !== "string") {
    throw new TypeError(`Cannot spawn "${command}": cwd must be a string`);
  }
  const env = options.env;
  if (env !== undefined) {
    if (typeof env !== "object" || env === null) {
      throw new TypeError(`Cannot spawn "${command}": env must be an object of strings`);
    }
    for (const [k, v] of Object.entries(env)) {
      if (typeof v !== "string") {
        throw new TypeError(`Cannot spawn "${command}": env variable ${k} is not a string`);
      }
    }
  }
  const stderr = options.stderr;
  if (stderr !== undefined && stderr !== "inherit" && stderr !== "null" && stderr !== "piped") {
    throw new TypeError(
      `Cannot spawn "${command}": stderr must be "inherit", "null" or "piped", got ${
        String(stderr)
      }`,
    );
  }
  const t = options.exitTimeout;
  if (t !== undefined && (typeof t !== "number" || !(t >= 0 && t <= 0x7fff_ffff))) {
    throw new RangeError(`Invalid exitTimeout: expected 0 to 2147483647 milliseconds, got ${t}`);
  }
  checkMaxFrameSize(options.maxFrameSize);
}

/** Resolves true when `p` settles within `ms`, false otherwise; the timer is always cleared. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p.then(() => true, () => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Spawns a program and returns a framed link over its stdin (what this
 * side writes) and stdout (what this side reads), plus control of the
 * process. The child's stderr is shared with this process unless
 * `options.stderr` says otherwise.
 *
 * @param command The program: a path, or a name looked up in `PATH`.
 * @param args Its arguments.
 * @param options Working directory, environment, stderr handling, frame
 * size limit and exit timeout.
 * @returns The link to the running child.
 * @throws {TypeError} For an empty command, malformed arguments or options, or a
 * runtime other than Deno, Bun and Node.
 * @throws {RangeError} For an invalid `maxFrameSize` or `exitTimeout`.
 * @throws {Error} When the program cannot be started (not found, not
 * executable, no such working directory); the runtime's error is the `cause`.
 *
 * @example Serving a session to a child and ending it
 * ```ts
 * import { initiate } from "@roam/roam";
 * import { spawnLink } from "@roam/roam/transports/stdio";
 *
 * export async function ping(program: string): Promise<number> {
 *   await using child = await spawnLink(program, [], { stderr: "null" });
 *   const session = await initiate(child);
 *   const rtt = await session.ping();
 *   await session.close();
 *   return rtt;
 * }
 * ```
 */
export async function spawnLink(
  command: string,
  args: readonly string[] = [],
  options: SpawnLinkOptions = {},
): Promise<ChildLink> {
  checkSpawn(command, args, options);
  const exitTimeout = options.exitTimeout ?? DEFAULT_EXIT_TIMEOUT;
  const runtime = await loadRuntime();
  let proc: SpawnedProcess;
  try {
    proc = await runtime.spawn(command, args, {
      cwd: options.cwd,
      env: options.env,
      stderr: options.stderr ?? "inherit",
    });
  } catch (e) {
    throw new Error(`Cannot spawn "${command}": ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  }
  let exited = false;
  const status = proc.status.then((s) => {
    exited = true;
    return s;
  });

  // Our own handles on the child's pipes, so close() can end them whatever the session does.
  const stdin = proc.stdin.getWriter();
  const stdout = proc.stdout.getReader();
  stdin.closed.catch(() => {}); // a write to an exited child fails the link, not the process
  let stdinClosed: Promise<void> | undefined;
  const closeStdin = (): Promise<void> => stdinClosed ??= stdin.close();
  const writable = new WritableStream<Uint8Array>({
    write: (chunk) => stdin.write(chunk),
    close: () => closeStdin(),
    abort: (reason) => stdin.abort(reason),
  });
  const readable = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await stdout.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel: (reason) => stdout.cancel(reason),
  }, { highWaterMark: 0 });
  const link = streamLink(readable, writable, options);

  const kill = (signal: ChildSignal = "SIGTERM"): void => {
    if (!SIGNALS.has(signal)) {
      throw new TypeError(`Cannot send signal ${String(signal)}: expected one of ${[...SIGNALS]}`);
    }
    if (exited) return;
    try {
      proc.kill(signal);
    } catch {
      // The child exited before its status was reported: nothing left to signal.
    }
  };
  let closing: Promise<ChildStatus> | undefined;
  const close = (): Promise<ChildStatus> =>
    closing ??= (async () => {
      if (!exited) {
        // A write the child does not read would block the close: do not wait on it.
        void closeStdin().catch(() => {});
        if (!await settlesWithin(status, exitTimeout)) {
          kill("SIGTERM");
          if (!await settlesWithin(status, exitTimeout)) kill("SIGKILL");
        }
      }
      const result = await status;
      void stdin.abort().catch(() => {});
      await stdout.cancel().catch(() => {});
      const err = proc.stderr;
      if (err !== null && !err.locked) await err.cancel().catch(() => {});
      return result;
    })();

  return {
    readable: link.readable,
    writable: link.writable,
    pid: proc.pid,
    status,
    stderr: proc.stderr,
    kill,
    close,
    [Symbol.asyncDispose]: async () => {
      await close();
    },
  };
}

let stdioTaken = false;

/**
 * Makes a framed link over this process's own stdin (what the peer sends)
 * and stdout (what this side sends), so this program can be the child of
 * a {@linkcode spawnLink} parent, or of any roam peer speaking stdio.
 *
 * Nothing else may write to stdout while the link is open: log to stderr
 * (`console.error`). Closing the link's writable closes stdout, which the
 * parent reads as the end of the stream. Call it once per process.
 *
 * @param options The frame size limit.
 * @returns The link.
 * @throws {RangeError} For an invalid `maxFrameSize`.
 * @throws {TypeError} On a runtime other than Deno, Bun and Node.
 * @throws {Error} When called a second time in the same process.
 *
 * @example A roam server on stdio
 * ```ts
 * import { accept, implement, service, t } from "@roam/roam";
 * import { stdioLink } from "@roam/roam/transports/stdio";
 *
 * const Echo = service("Echo", { echo: { args: [t.string], returns: t.string } });
 *
 * export async function serve(): Promise<void> {
 *   const session = await accept(await stdioLink(), {
 *     services: [implement(Echo, { echo: (s) => s })],
 *   });
 *   await session.closed; // ends when the parent closes our stdin
 * }
 * ```
 */
export async function stdioLink(options: FramingOptions = {}): Promise<Link> {
  checkMaxFrameSize(options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE);
  if (stdioTaken) {
    throw new Error("Cannot make a stdio link: this process's stdio is already in use by one");
  }
  stdioTaken = true;
  const runtime = await loadRuntime();
  const { readable, writable } = runtime.ownStdio();
  return streamLink(readable, writable, options);
}
