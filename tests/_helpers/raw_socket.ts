/**
 * A raw client socket (`node:net`, which Deno and Bun both provide) that
 * speaks roam's framing, or WebSocket by hand, byte by byte, so a test can
 * behave as a hostile, broken or vanishing peer would: stop reading, send
 * half a frame, reset the connection.
 *
 * @module
 */

import assert from "node:assert/strict";
import net from "node:net";
import { decodeMessage, type Message, type MessagePayload } from "../../wire.ts";
import { concat, frame } from "./bytes.ts";
import { HELLO } from "./messages.ts";
import { within } from "./timing.ts";

/** Where a raw client connects. */
export type RawTarget = { readonly port: number } | { readonly path: string };

/** The target of a `tcp://host:port`, `unix:/path` or `ws://host:port/path` URL. */
export function targetOf(url: string): RawTarget {
  const u = new URL(url);
  if (u.protocol === "unix:") return { path: decodeURIComponent(u.pathname) };
  return { port: Number(u.port) };
}

/** How a {@linkcode RawSocket} connects. */
export interface RawSocketOptions {
  /**
   * Keep our writing side open when the server ends its side, so we can
   * go on writing to a server that stopped. Default true; with false, the
   * server's end ends ours too and the socket closes.
   */
  readonly allowHalfOpen?: boolean;
}

/**
 * A client socket driven by hand. Everything received is buffered in
 * `received` unless reading is paused, in which case it stays in the
 * kernel (and closing then makes Linux reset the connection).
 */
export class RawSocket {
  readonly socket: net.Socket;
  /** Resolves once the socket is fully closed. */
  readonly closed: Promise<void>;
  /** Bytes received and not yet consumed. */
  received: Uint8Array = new Uint8Array(0);
  /** Total bytes received. */
  total = 0;
  /** True once the peer ended its side or the connection closed. */
  ended = false;
  /** The socket's error, if any (a reset is one way a connection ends here). */
  error: Error | undefined;
  #wake: (() => void) | undefined;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on("data", (d: Uint8Array) => {
      this.total += d.length;
      this.received = concat(this.received, d);
      this.#notify();
    });
    socket.on("error", (e: Error) => {
      this.error = e;
    });
    socket.on("end", () => {
      this.ended = true;
      this.#notify();
    });
    this.closed = new Promise((r) =>
      socket.once("close", () => {
        this.ended = true;
        this.#notify();
        r();
      })
    );
  }

  /** Connects to `target` on loopback. */
  static connect(target: RawTarget, options: RawSocketOptions = {}): Promise<RawSocket> {
    const allowHalfOpen = options.allowHalfOpen ?? true;
    return new Promise((resolve, reject) => {
      const s = "port" in target
        ? net.createConnection({ host: "127.0.0.1", port: target.port, allowHalfOpen })
        : net.createConnection({ path: target.path, allowHalfOpen });
      s.once("error", reject);
      s.once("connect", () => {
        s.off("error", reject);
        resolve(new RawSocket(s));
      });
    });
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  /** Waits until `cond` holds, failing after `ms`. */
  async waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = performance.now() + ms;
    while (!cond()) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        this.#wake = r;
        timer = setTimeout(r, left);
      });
      clearTimeout(timer);
    }
  }

  /** Writes bytes without waiting (an error shows up as `error`). */
  write(bytes: Uint8Array): void {
    if (!this.socket.destroyed) this.socket.write(bytes, () => {});
  }

  /** Writes bytes; resolves once the socket took them, rejects on a write error. */
  send(bytes: Uint8Array): Promise<void> {
    return new Promise((resolve, reject) =>
      this.socket.write(bytes, (e?: Error | null) => (e ? reject(e) : resolve()))
    );
  }

  /** Stops reading: what arrives stays in the kernel. */
  pause(): void {
    this.socket.pause();
  }

  /** Takes `n` bytes from the front of `received`. */
  take(n: number): Uint8Array {
    const out = this.received.slice(0, n);
    this.received = this.received.slice(n);
    return out;
  }

  /** Ends the writing side (a FIN); reading goes on. */
  end(): void {
    this.socket.end();
  }

  /** Closes the socket at once (a reset when received data is unread). */
  async destroy(): Promise<void> {
    this.socket.destroy();
    await this.closed;
  }

  // ---------------------------------------------------------------- roam framing

  /** The next frame's payload, or undefined when the stream ended first. */
  async readFrame(ms = 3000): Promise<Uint8Array | undefined> {
    const ready = (): boolean =>
      this.received.length >= 4 &&
      this.received.length >= 4 + new DataView(this.received.buffer).getUint32(0, true);
    await this.waitFor(() => ready() || this.ended, ms, "a frame");
    if (!ready()) return undefined;
    const n = new DataView(this.received.buffer).getUint32(0, true);
    this.take(4);
    return this.take(n);
  }

  /** The next framed message, decoded; fails when the stream ends first. */
  async readMessage(ms = 3000): Promise<Message> {
    const payload = await this.readFrame(ms);
    if (payload === undefined) {
      throw new Error(`The stream ended instead of a message (${this.error?.message ?? "EOF"})`);
    }
    return decodeMessage(payload);
  }

  /** Reads one message, asserts it is a `type` on connection 0, and returns its payload. */
  async expect<K extends MessagePayload["type"]>(
    type: K,
    ms = 3000,
  ): Promise<Extract<MessagePayload, { type: K }>> {
    const bytes = await this.readFrame(ms);
    if (bytes === undefined) {
      assert.equal(this.received.length, 0, "the server ended the stream between frames");
    }
    assert.ok(bytes !== undefined, `expected ${type}, but the server ended the stream`);
    const message = decodeMessage(bytes);
    assert.equal(message.connectionId, 0);
    assert.equal(message.payload.type, type);
    return message.payload as Extract<MessagePayload, { type: K }>;
  }

  /** Waits until the server ends the connection between frames, with nothing else sent. */
  async expectEnd(ms = 3000): Promise<void> {
    assert.equal(await this.readFrame(ms), undefined, "no more frames");
    assert.equal(this.received.length, 0, "the server ended the stream between frames");
    await within(this.closed, ms, "the connection to close");
  }

  /** Sends `Hello` and reads the server's `HelloYourself`. */
  async handshake(): Promise<Extract<MessagePayload, { type: "helloYourself" }>> {
    await this.send(frame(HELLO));
    return await this.expect("helloYourself");
  }

  // ---------------------------------------------------------------- WebSocket by hand

  /**
   * Sends an HTTP upgrade request for `path` and waits for the `101`
   * answer (its bytes are consumed).
   */
  async upgrade(path: string, ms = 3000): Promise<void> {
    this.write(new TextEncoder().encode(upgradeRequest(path)));
    const end = (): number => indexOfCrlfCrlf(this.received);
    await this.waitFor(() => end() >= 0 || this.ended, ms, "the 101 response");
    const at = end();
    if (at < 0) throw new Error("The server closed the connection instead of upgrading it");
    const head = new TextDecoder().decode(this.take(at + 4));
    if (!head.startsWith("HTTP/1.1 101")) {
      throw new Error(`Upgrade refused: ${head.split("\r\n")[0]}`);
    }
  }

  /** The next WebSocket message from the server (binary payload), or undefined at the end. */
  async readWsMessage(ms: number): Promise<Uint8Array | undefined> {
    let parsed: { payload: Uint8Array; opcode: number; size: number } | undefined;
    await this.waitFor(
      () => (parsed = parseServerFrame(this.received)) !== undefined || this.ended,
      ms,
      "a WebSocket message",
    );
    if (parsed === undefined) return undefined;
    this.take(parsed.size);
    if (parsed.opcode === 8) return undefined; // a Close frame
    return parsed.payload;
  }

  /** The next roam message over WebSocket, decoded. */
  async readWsRoam(ms: number): Promise<Message> {
    const payload = await this.readWsMessage(ms);
    if (payload === undefined) throw new Error("The WebSocket ended instead of a message");
    return decodeMessage(payload);
  }
}

/** The HTTP request that asks to upgrade a connection on `path` to WebSocket. */
export function upgradeRequest(path: string): string {
  return [
    `GET ${path} HTTP/1.1`,
    "Host: 127.0.0.1",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
    "",
    "",
  ].join("\r\n");
}

function indexOfCrlfCrlf(b: Uint8Array): number {
  for (let i = 0; i + 3 < b.length; i++) {
    if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  }
  return -1;
}

/**
 * One client-to-server WebSocket frame (masked, as clients must): a final
 * binary frame unless `opcode` says otherwise.
 */
export function wsFrame(payload: Uint8Array, opcode = 2): Uint8Array {
  const n = payload.length;
  const head: number[] = [0x80 | opcode];
  if (n < 126) head.push(0x80 | n);
  else if (n < 65536) head.push(0x80 | 126, n >>> 8, n & 0xff);
  else {
    head.push(0x80 | 127, 0, 0, 0, 0);
    head.push((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
  }
  const mask = Uint8Array.of(0x37, 0xfa, 0x21, 0x3d);
  const body = new Uint8Array(n);
  for (let i = 0; i < n; i++) body[i] = payload[i]! ^ mask[i & 3]!;
  return concat(Uint8Array.from(head), mask, body);
}

/** Parses one unmasked frame from the server at the start of `b`, if complete. */
function parseServerFrame(
  b: Uint8Array,
): { payload: Uint8Array; opcode: number; size: number } | undefined {
  if (b.length < 2) return undefined;
  const opcode = b[0]! & 0x0f;
  let n = b[1]! & 0x7f;
  let at = 2;
  if (n === 126) {
    if (b.length < 4) return undefined;
    n = (b[2]! << 8) | b[3]!;
    at = 4;
  } else if (n === 127) {
    if (b.length < 10) return undefined;
    n = Number(new DataView(b.buffer, b.byteOffset + 2, 8).getBigUint64(0));
    at = 10;
  }
  if (b.length < at + n) return undefined;
  return { payload: b.slice(at, at + n), opcode, size: at + n };
}
