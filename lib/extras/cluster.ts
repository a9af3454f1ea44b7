/**
 * A server that uses every core: `cluster()` runs several worker processes
 * of the same runtime (Deno or Bun) on one module, each of which serves
 * the same TCP port with `reusePort` (Linux), so that the kernel spreads
 * connections over them. A worker knows it is one through
 * {@linkcode clusterWorker}. Workers that exit are restarted (or only
 * reported, by option); closing the cluster stops them all.
 *
 * @module
 */

/** Environment variables that mark a cluster worker. */
const WORKER_ENV = "ROAM_CLUSTER_WORKER";
const COUNT_ENV = "ROAM_CLUSTER_WORKERS";

/** Restart delays: doubling from the first while a worker keeps failing quickly, up to the last. */
const FIRST_RESTART_MS = 100;
const MAX_RESTART_MS = 5000;
/** A worker that ran this long before it exited is restarted after the first delay again. */
const HEALTHY_MS = 10_000;

/** A worker's exit, as `ClusterOptions.onExit` hears it. */
export interface WorkerExit {
  /** The worker's index, from 0. */
  readonly index: number;
  /** Its process id. */
  readonly pid: number;
  /** Its exit code, or null when a signal ended it. */
  readonly code: number | null;
  /** The signal that ended it, if any (e.g. `"SIGKILL"`). */
  readonly signal: string | null;
  /** Milliseconds until it is started again, or undefined when it is not restarted. */
  readonly restartIn: number | undefined;
}

/** Options of {@linkcode cluster}. */
export interface ClusterOptions {
  /** How many worker processes (default: `navigator.hardwareConcurrency`). */
  readonly workers?: number;
  /** The module each worker runs (a path or a `file:` URL; default: the main module). */
  readonly script?: string | URL;
  /** Arguments for the script. */
  readonly args?: readonly string[];
  /**
   * Deno only: flags of `deno run` before the script (default
   * `["--allow-all"]`: a process allowed to run its own binary can do
   * anything anyway). `--unstable-net`, which `reusePort` needs, is always
   * added.
   */
  readonly denoFlags?: readonly string[];
  /** Environment variables for the workers, on top of this process's. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Whether a worker that exits while the cluster runs is started again
   * (default true): after 100 ms, doubling up to 5 s while it keeps
   * exiting within 10 s of its start. Either way `onExit` hears of it.
   */
  readonly restart?: boolean;
  /**
   * Called when a worker exits while the cluster runs (default: a line on
   * `console.error`); not for the exits `close()` causes.
   */
  readonly onExit?: (exit: WorkerExit) => void;
  /**
   * Milliseconds `close()` gives workers to exit once told to (their stdin
   * closes, see {@linkcode ClusterWorker.stopping}) before it kills them
   * (default 5000).
   */
  readonly closeTimeout?: number;
}

/** Worker processes sharing a port (see {@linkcode cluster}). */
export interface Cluster extends AsyncDisposable {
  /** The process ids of the workers running now, by index (undefined while one restarts). */
  readonly pids: readonly (number | undefined)[];
  /**
   * Stops the workers: closes their stdin, waits up to `closeTimeout` for
   * them to exit, then kills those still running. Resolves when all exited.
   */
  close(): Promise<void>;
}

/** What a worker process knows of its cluster (see {@linkcode clusterWorker}). */
export interface ClusterWorker {
  /** This worker's index, from 0. */
  readonly index: number;
  /** How many workers the cluster runs. */
  readonly count: number;
  /**
   * Resolves when the cluster asks this worker to stop (`close()` closed
   * its stdin) or the cluster's process is gone: close the server then,
   * and let the process end.
   */
  readonly stopping: Promise<void>;
}

interface ChildProcess {
  readonly pid?: number;
  readonly stdin: { end(): void; on(event: "error", f: () => void): void } | null;
  kill(signal?: string): boolean;
  once(event: "exit", f: (code: number | null, signal: string | null) => void): void;
  once(event: "error", f: (e: Error) => void): void;
}

/** The parts of `node:child_process` and `node:url` a cluster uses. */
interface ChildProcessModule {
  spawn(
    command: string,
    args: readonly string[],
    options: { stdio: readonly string[]; env: Record<string, string | undefined> },
  ): ChildProcess;
}
interface UrlModule {
  fileURLToPath(url: string | URL): string;
}

interface NodeProcess {
  /** Node 22+, Bun and Deno 2: built-in modules without an import a bundler would follow. */
  getBuiltinModule?(id: string): unknown;
  readonly env: Record<string, string | undefined>;
  readonly argv: readonly string[];
  readonly execPath: string;
  readonly stdin: {
    on(event: string, f: () => void): void;
    resume(): void;
  };
}

function nodeProcess(): NodeProcess | undefined {
  return (globalThis as { process?: NodeProcess }).process;
}

function envVar(name: string): string | undefined {
  try {
    return nodeProcess()?.env[name];
  } catch {
    return undefined; // Deno without --allow-env for it
  }
}

let stopping: Promise<void> | undefined;

/**
 * Tells a cluster worker from the process that started the cluster: in a
 * worker, its index, the number of workers, and a promise that resolves
 * when it should stop; elsewhere, undefined.
 *
 * @returns The worker's view of its cluster, or undefined outside a worker.
 *
 * @example A module that is both the cluster and its workers
 * ```ts
 * import { cluster, clusterWorker, implement, serve, service, t } from "@roam/roam";
 *
 * const Adder = service("Adder", { add: { args: [t.u32, t.u32], returns: t.u32 } });
 * const worker = clusterWorker();
 * if (worker !== undefined) {
 *   await using _server = await serve("tcp://0.0.0.0:4000", {
 *     reusePort: true,
 *     services: [implement(Adder, { add: (a, b) => a + b })],
 *   });
 *   await worker.stopping;
 * } else if (import.meta.main) {
 *   await using _workers = await cluster(); // this module, once per core
 *   await new Promise(() => {}); // until the process is stopped
 * }
 * ```
 */
export function clusterWorker(): ClusterWorker | undefined {
  const index = Number(envVar(WORKER_ENV) ?? NaN);
  const count = Number(envVar(COUNT_ENV) ?? NaN);
  if (!Number.isInteger(index) || !Number.isInteger(count) || index < 0 || index >= count) {
    return undefined;
  }
  return {
    index,
    count,
    get stopping() {
      return stopping ??= new Promise<void>((resolve) => {
        const stdin = nodeProcess()?.stdin;
        if (stdin === undefined) return;
        const done = (): void => resolve();
        stdin.on("end", done);
        stdin.on("close", done);
        stdin.on("error", done);
        stdin.on("data", () => {});
        stdin.resume();
      });
    },
  };
}

function checkCount(name: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 1 || v > max) {
    throw new RangeError(`Invalid ${name}: expected an integer from 1 to ${max}, got ${v}`);
  }
  return v;
}

/**
 * Starts `workers` processes of this runtime (Deno, Bun or Node) running `script` (by default
 * this process's main module), each with `ROAM_CLUSTER_WORKER` set to its
 * index so that {@linkcode clusterWorker} tells it is a worker. Each
 * worker serves the shared port itself, e.g.
 * `serve("tcp://0.0.0.0:4000", { reusePort: true, … })`: the kernel
 * spreads new connections over the listening workers (Linux; elsewhere the
 * second listener fails to bind, and one process per port behind a load
 * balancer is the way). A worker that exits while the cluster runs is
 * reported to `onExit` and started again, unless `restart` is false.
 * Workers inherit stdout and stderr; their stdin tells them when to stop.
 *
 * @param options How many workers, what they run, restarts.
 * @returns The running cluster; `close()` (or `await using`) stops it.
 * @throws {RangeError} For a bad `workers` or `closeTimeout`.
 * @throws {TypeError} Outside Deno, Bun and Node 22+, or for no script to run.
 *
 * @example Four workers of a server module
 * ```ts
 * import { cluster } from "@roam/roam";
 *
 * const workers = await cluster({ workers: 4, script: new URL("./server.ts", import.meta.url) });
 * console.log(workers.pids);
 * await workers.close();
 * ```
 */
export function cluster(options: ClusterOptions = {}): Promise<Cluster> {
  try {
    return Promise.resolve(startCluster(options));
  } catch (e) {
    return Promise.reject(e);
  }
}

function startCluster(options: ClusterOptions): Cluster {
  const isDeno = "Deno" in globalThis;
  if (!isDeno && nodeProcess()?.getBuiltinModule === undefined) {
    throw new TypeError("Cannot start a cluster: it needs Deno, Bun or Node 22+");
  }
  const count = checkCount(
    "workers",
    options.workers ?? (globalThis.navigator?.hardwareConcurrency || 1),
    1024,
  );
  const closeTimeout = options.closeTimeout ?? 5000;
  if (!Number.isInteger(closeTimeout) || closeTimeout < 0 || closeTimeout > 0x7fff_ffff) {
    throw new RangeError(`Invalid closeTimeout: expected 0 to 2147483647 ms, got ${closeTimeout}`);
  }
  const proc = nodeProcess();
  const builtin = <T>(id: string): T => {
    const module = proc?.getBuiltinModule?.(id);
    if (module === undefined) {
      throw new TypeError(
        `Cannot start a cluster: this runtime has no ${id} (process.getBuiltinModule)`,
      );
    }
    return module as T;
  };
  const { spawn } = builtin<ChildProcessModule>("node:child_process");
  const { fileURLToPath } = builtin<UrlModule>("node:url");
  const given = options.script ?? proc?.argv[1];
  if (given === undefined || given === "") {
    throw new TypeError("Cannot start a cluster: no script to run (pass options.script)");
  }
  const script = given instanceof URL || /^file:/.test(given) ? fileURLToPath(given) : given;
  const args = [...(options.args ?? [])];
  const command = proc?.execPath ?? "";
  const argv = isDeno
    ? ["run", "--unstable-net", ...(options.denoFlags ?? ["--allow-all"]), script, ...args]
    : [script, ...args];
  const onExit = options.onExit ?? ((e: WorkerExit) => {
    const how = e.signal !== null ? `signal ${e.signal}` : `code ${e.code}`;
    const next = e.restartIn === undefined ? "" : `; restarting in ${e.restartIn} ms`;
    console.error(`roam: cluster worker ${e.index} (pid ${e.pid}) exited with ${how}${next}`);
  });

  const children: (ChildProcess | undefined)[] = Array.from({ length: count });
  const exits: Promise<void>[] = Array.from({ length: count }, () => Promise.resolve());
  const delays: number[] = Array.from({ length: count }, () => FIRST_RESTART_MS);
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let closing = false;

  const start = (index: number): void => {
    const child = spawn(command, argv, {
      stdio: ["pipe", "inherit", "inherit"],
      env: {
        ...proc?.env,
        ...options.env,
        [WORKER_ENV]: String(index),
        [COUNT_ENV]: String(count),
      },
    });
    child.stdin?.on("error", () => {}); // a worker gone first must not fail us through EPIPE
    children[index] = child;
    const started = performance.now();
    exits[index] = new Promise<void>((resolve) => {
      let over = false;
      const exited = (code: number | null, signal: string | null): void => {
        if (over) return;
        over = true;
        children[index] = undefined;
        resolve();
        if (closing) return;
        let restartIn: number | undefined;
        if (options.restart !== false) {
          if (performance.now() - started >= HEALTHY_MS) delays[index] = FIRST_RESTART_MS;
          restartIn = delays[index]!;
          delays[index] = Math.min(MAX_RESTART_MS, restartIn * 2);
          const timer = setTimeout(() => {
            timers.delete(timer);
            if (!closing) start(index);
          }, restartIn);
          timers.add(timer);
        }
        try {
          onExit({ index, pid: child.pid ?? -1, code, signal, restartIn });
        } catch {
          // A hook that throws must not stop the cluster.
        }
      };
      child.once("exit", exited);
      child.once("error", () => exited(null, null));
    });
  };
  for (let i = 0; i < count; i++) start(i);

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> =>
    closed ??= (async () => {
      closing = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const c of children) c?.stdin?.end();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const all = Promise.all(exits);
      const late = await Promise.race([
        all.then(() => false),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(true), closeTimeout))),
      ]);
      clearTimeout(timer);
      if (late) { for (const c of children) c?.kill("SIGKILL"); }
      await all;
    })();

  return {
    get pids() {
      return children.map((c) => c?.pid);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
