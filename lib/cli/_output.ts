/**
 * Writing lines to stdout with back-pressure (a slow reader of the spy's
 * output slows the proxy rather than growing its memory), and the two
 * renderings of a spy event: an aligned human line and a JSON line.
 *
 * @module
 */

import process from "node:process";
import type { SpyEvent } from "./_tracker.ts";
import type { Json } from "./_json.ts";

/** What `Output` needs of a stream: `process.stdout` and `process.stderr` fit. */
export interface LineStream {
  /** Writes; false when the caller should wait for `drain`. */
  write(chunk: string, callback?: (error?: Error | null) => void): boolean;
  /** Calls `f` once on `drain`. */
  once(event: "drain", f: () => void): unknown;
  /** Calls `f` on every error (a closed pipe). */
  on(event: "error", f: (e: unknown) => void): unknown;
}

/** A line writer over a Node-style stream (stdout or stderr). */
export class Output {
  readonly #stream: LineStream;
  readonly #broken: () => void;
  #closed = false;

  /**
   * @param stream Where lines go (default: stdout).
   * @param broken Called once when the stream fails (its reader went away, as with
   * `roam spy | head`); writes are dropped from then on.
   */
  constructor(stream: LineStream = process.stdout, broken: () => void = () => {}) {
    this.#stream = stream;
    this.#broken = broken;
    stream.on("error", () => this.#fail());
  }

  #fail(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#broken();
  }

  /**
   * Writes one line.
   *
   * @param text The line, without its newline.
   * @returns A promise to wait for before writing more, when the stream's buffer is full.
   */
  line(text: string): Promise<void> | undefined {
    if (this.#closed) return undefined;
    try {
      if (this.#stream.write(`${text}\n`)) return undefined;
    } catch {
      this.#fail(); // Deno throws EPIPE at once; Bun reports it as an "error" event
      return undefined;
    }
    return new Promise((resolve) => this.#stream.once("drain", () => resolve()));
  }

  /** Resolves once everything written so far has been handed to the system. */
  flush(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      try {
        this.#stream.write("", () => resolve());
      } catch {
        this.#fail();
        resolve();
      }
    });
  }
}

function two(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

/** `HH:MM:SS.mmm` in local time. */
export function clock(ms: number): string {
  const d = new Date(ms);
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${
    String(d.getMilliseconds()).padStart(3, "0")
  }`;
}

/** Width of the kind column (`hello-yourself`). */
const KIND_WIDTH = 14;

/**
 * A spy event as one aligned line:
 * `12:00:01.250 #1 → c0 call           r1     Calculator.add(2, 3)`.
 *
 * @param e The event.
 * @returns The line.
 */
export function humanLine(e: SpyEvent): string {
  const arrow = e.from === "client" ? "→" : e.from === "server" ? "←" : "·";
  const conn = e.conn === undefined ? "" : `c${e.conn}`;
  const id = e.request !== undefined
    ? `r${e.request}`
    : e.channel !== undefined
    ? `ch${e.channel}`
    : "";
  const head = `${clock(e.time)} ${`#${e.link}`.padEnd(3)} ${arrow} ${conn.padEnd(3)} ${
    e.kind.padEnd(KIND_WIDTH)
  } ${id.padEnd(6)}`;
  return e.text === "" ? head.trimEnd() : `${head} ${e.text}`;
}

/**
 * A spy event as one line of JSON.
 *
 * @param e The event.
 * @returns The line.
 */
export function jsonLine(e: SpyEvent): string {
  const o: { [key: string]: Json } = { time: new Date(e.time).toISOString(), link: e.link };
  if (e.from !== undefined) o.from = e.from;
  if (e.conn !== undefined) o.conn = e.conn;
  o.kind = e.kind;
  if (e.request !== undefined) o.request = e.request;
  if (e.channel !== undefined) o.channel = e.channel;
  if (e.size !== undefined) o.size = e.size;
  return JSON.stringify({ ...o, ...e.json });
}
