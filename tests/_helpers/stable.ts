/**
 * Helpers for the stable conduit tests (part of `tests/_helpers/mod.ts`): link pairs that
 * a test can cut, a "server" of memory links that accepts every link into
 * one resume registry, and the byte layouts of wire-spec §5.
 *
 * @module
 */

import {
  accept,
  type Link,
  type ResumeRegistry,
  type Session,
  type SessionOptions,
} from "../../mod.ts";
import { hex, toHex } from "./bytes.ts";

/** Two links joined to each other that a test can cut: both readables error at once. */
export interface CuttablePair {
  readonly a: Link;
  readonly b: Link;
  /** Drops the pair: both ends see their link fail; later writes vanish. */
  cut(): void;
}

/** Makes a {@linkcode CuttablePair} (streams only, no fast path). */
export function cuttablePair(): CuttablePair {
  let toA!: ReadableStreamDefaultController<Uint8Array>;
  let toB!: ReadableStreamDefaultController<Uint8Array>;
  let cut = false;
  const readableA = new ReadableStream<Uint8Array>({ start: (c) => void (toA = c) });
  const readableB = new ReadableStream<Uint8Array>({ start: (c) => void (toB = c) });
  const into = (
    target: () => ReadableStreamDefaultController<Uint8Array>,
  ): WritableStream<Uint8Array> =>
    new WritableStream<Uint8Array>({
      write(p) {
        if (!cut) target().enqueue(p.slice());
      },
      close() {
        if (!cut) target().close();
      },
      abort(e) {
        if (!cut) target().error(e);
      },
    });
  return {
    a: { readable: readableA, writable: into(() => toB) },
    b: { readable: readableB, writable: into(() => toA) },
    cut() {
      if (cut) return;
      cut = true;
      const e = new Error("the test cut the link");
      try {
        toA.error(e);
      } catch { /* already done */ }
      try {
        toB.error(e);
      } catch { /* already done */ }
    },
  };
}

/**
 * A server of cuttable links: every `connect()` makes a pair, accepts its
 * far end with the given options (into one registry), and keeps the pair
 * so that the test can cut it.
 */
export class PairServer {
  readonly #options: SessionOptions;
  /** Every pair made, the newest last. */
  readonly pairs: CuttablePair[] = [];
  /** What each `accept` resolved with or rejected with, in order. */
  readonly accepts: Promise<Session>[] = [];

  /** @param options The acceptor's options (`conduit: "stable"` and a registry). */
  constructor(options: SessionOptions) {
    this.#options = options;
  }

  /** A new link to the server (the client's end). */
  connect = (): Link => {
    const pair = cuttablePair();
    this.pairs.push(pair);
    const accepted = accept(pair.b, this.#options);
    accepted.catch(() => {});
    this.accepts.push(accepted);
    return pair.a;
  };

  /** Cuts the newest pair. */
  cut(): void {
    this.pairs.at(-1)?.cut();
  }
}

/** The registry-less options of a stable acceptor with `registry`. */
export function stableAcceptor(
  registry: ResumeRegistry,
  more: SessionOptions = {},
): SessionOptions {
  return { keepalive: false, ...more, conduit: "stable", stable: { registry } };
}

/** A 16-byte key 01 02 ... 10. */
export const KEY_A: Uint8Array = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
/** Another key: f0 f1 ... ff. */
export const KEY_B: Uint8Array = Uint8Array.from({ length: 16 }, (_, i) => 0xf0 + i);

/** A ClientHello or ServerHello as hex: magic, flags, key, last received (u32 LE). */
export function linkHelloHex(
  magic: "ROCH" | "ROSH",
  flags: number,
  key: Uint8Array | undefined,
  last: number,
): string {
  const m = magic === "ROCH" ? "52 4f 43 48" : "52 4f 53 48";
  const k = key === undefined ? "00 ".repeat(16).trim() : toHex(key);
  const l = toHex(
    Uint8Array.of(last & 0xff, (last >>> 8) & 0xff, (last >>> 16) & 0xff, last >>> 24),
  );
  return `${m} ${flags.toString(16).padStart(2, "0")} ${k} ${l}`;
}

/** A hello's bytes (see {@linkcode linkHelloHex}). */
export function linkHello(
  magic: "ROCH" | "ROSH",
  flags: number,
  key: Uint8Array | undefined,
  last: number,
): Uint8Array {
  return hex(linkHelloHex(magic, flags, key, last));
}

/** A frame: header hex then message bytes. */
export function stableFrame(headerHex: string, message: Uint8Array | string): Uint8Array {
  const m = typeof message === "string" ? hex(message) : message;
  const h = hex(headerHex);
  const out = new Uint8Array(h.length + m.length);
  out.set(h);
  out.set(m, h.length);
  return out;
}
