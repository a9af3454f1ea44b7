/**
 * The spy's plumbing: listening and connecting on stream (TCP, Unix) and
 * WebSocket addresses, splitting a byte stream into frames to look at
 * without changing it, and relaying one client to its own upstream
 * connection, both ways, with back-pressure.
 *
 * @module
 */

import type { Link } from "../../mod.ts";
import type { Address } from "./_address.ts";
import type { Side } from "./_tracker.ts";

/** One end of a relayed pair: bytes (or WebSocket messages) in and out. */
export interface Port {
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  /** Drops the connection at once (idempotent). */
  close(): void;
}

/** Accepts clients. */
export interface PortListener {
  /** The bound address, e.g. `tcp://127.0.0.1:40123`. */
  readonly url: string;
  /** The next client, or undefined once closed. */
  accept(): Promise<Port | undefined>;
  /** Stops accepting. */
  close(): Promise<void>;
}

/** A WebSocket link as a port; the relay ends it by cancelling and aborting its streams. */
function linkPort(link: Link): Port {
  return { readable: link.readable, writable: link.writable, close: () => {} };
}

/**
 * Listens for clients: raw byte streams on `tcp:` and `unix:`, WebSocket
 * connections (one payload per binary message) on `ws:`.
 *
 * @param a Where to listen.
 * @param maxMessageSize The largest WebSocket message taken.
 * @returns The listener.
 */
export async function listen(a: Address, maxMessageSize: number): Promise<PortListener> {
  switch (a.kind) {
    case "tcp": {
      const { listenTcpStream } = await import("../../transports/tcp.ts");
      const l = await listenTcpStream({ hostname: a.hostname, port: a.port });
      const bound = l.address as { hostname: string; port: number };
      const host = bound.hostname.includes(":") ? `[${bound.hostname}]` : bound.hostname;
      return {
        url: `tcp://${host}:${bound.port}`,
        accept: () => l.accept(),
        close: () => l.close(),
      };
    }
    case "unix": {
      const { listenUnixStream } = await import("../../transports/unix.ts");
      const l = await listenUnixStream({ path: a.path });
      return { url: `unix:${a.path}`, accept: () => l.accept(), close: () => l.close() };
    }
    case "ws": {
      const { listenWebSocket } = await import("../../transports/websocket_server.ts");
      const l = await listenWebSocket({
        hostname: a.url.hostname.replace(/^\[|\]$/g, ""),
        port: Number(a.url.port),
        path: a.url.pathname || "/",
        maxMessageSize,
      });
      return {
        url: l.url,
        accept: async () => {
          const link = await l.accept();
          return link === undefined ? undefined : linkPort(link);
        },
        close: () => l.close(),
      };
    }
  }
}

/**
 * Connects to the upstream server.
 *
 * @param a Where to.
 * @param maxMessageSize The largest WebSocket message taken.
 * @returns The connection.
 */
export async function dial(a: Address, maxMessageSize: number): Promise<Port> {
  switch (a.kind) {
    case "tcp": {
      const { connectTcpStream } = await import("../../transports/tcp.ts");
      return await connectTcpStream({ hostname: a.hostname, port: a.port });
    }
    case "unix": {
      const { connectUnixStream } = await import("../../transports/unix.ts");
      return await connectUnixStream({ path: a.path });
    }
    case "ws": {
      const { connectWebSocket } = await import("../../transports/websocket.ts");
      return linkPort(await connectWebSocket(a.url, { maxMessageSize }));
    }
  }
}

/** What the splitter found in a chunk. */
export type Piece =
  | { readonly type: "frame"; readonly bytes: Uint8Array }
  | { readonly type: "skipped"; readonly length: number };

/**
 * Finds the frames (`[u32 LE length][payload]`) in a byte stream, chunk by
 * chunk, without changing the chunks. A frame up to `maxDecode` bytes is
 * gathered and returned whole; a longer one is reported by its length
 * once, and its bytes are counted off without being kept, so a huge
 * length prefix costs no memory.
 */
export class FrameSplitter {
  readonly #maxDecode: number;
  readonly #head = new Uint8Array(4);
  #headLength = 0;
  /** Payload bytes still to come in the current frame; -1 between frames. */
  #left = -1;
  #frameLength = 0;
  #skipping = false;
  #parts: Uint8Array[] = [];

  /** @param maxDecode The largest frame gathered for decoding. */
  constructor(maxDecode: number) {
    this.#maxDecode = maxDecode;
  }

  /**
   * Takes the next chunk of the stream.
   *
   * @param chunk Bytes as they arrived (views of them may be returned, not copies).
   * @returns The frames completed, and the long frames begun, in order.
   */
  push(chunk: Uint8Array): Piece[] {
    const out: Piece[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.#left < 0) {
        const take = Math.min(4 - this.#headLength, chunk.length - at);
        this.#head.set(chunk.subarray(at, at + take), this.#headLength);
        this.#headLength += take;
        at += take;
        if (this.#headLength < 4) break;
        this.#headLength = 0;
        const length = new DataView(this.#head.buffer).getUint32(0, true);
        this.#frameLength = length;
        this.#left = length;
        this.#skipping = length > this.#maxDecode;
        if (this.#skipping) out.push({ type: "skipped", length });
      }
      const take = Math.min(this.#left, chunk.length - at);
      if (!this.#skipping && take > 0) this.#parts.push(chunk.subarray(at, at + take));
      at += take;
      this.#left -= take;
      if (this.#left === 0) {
        this.#left = -1;
        if (!this.#skipping) out.push({ type: "frame", bytes: this.#gather() });
      }
    }
    return out;
  }

  #gather(): Uint8Array {
    const parts = this.#parts;
    this.#parts = [];
    if (parts.length === 1) return parts[0]!;
    const out = new Uint8Array(this.#frameLength);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  /**
   * What is left unfinished at the end of the stream.
   *
   * @returns The frame's length and the bytes of it that came, or undefined
   * when the stream ended between frames.
   */
  unfinished(): { expected: number; got: number } | undefined {
    if (this.#left >= 0) {
      return { expected: this.#frameLength, got: this.#frameLength - this.#left };
    }
    if (this.#headLength > 0) return { expected: 4, got: this.#headLength };
    return undefined;
  }
}

/** How one direction of a relay ended. */
export type Ending =
  | { readonly ok: true }
  | { readonly ok: false; readonly error: unknown; readonly where: "read" | "write" };

/** Looks at a chunk before it is passed on; may return a promise to wait for (output back-pressure). */
export type Inspect = (from: Side, chunk: Uint8Array) => void | Promise<void>;

/**
 * Relays a client and its upstream connection, both ways, until both
 * directions ended. Each chunk is inspected, then written to the other
 * side unchanged; a read waits for the previous write, so a side that does
 * not read slows the other down instead of growing memory. A graceful end
 * of one direction half-closes the other side; a failure of either drops
 * both connections.
 *
 * @param client The accepted client.
 * @param server Its upstream connection.
 * @param inspect Sees every chunk before it is passed on.
 * @returns How each direction ended.
 */
export async function relay(
  client: Port,
  server: Port,
  inspect: Inspect,
): Promise<{ client: Ending; server: Ending }> {
  const ends = [
    {
      from: "client" as const,
      reader: client.readable.getReader(),
      writer: server.writable.getWriter(),
    },
    {
      from: "server" as const,
      reader: server.readable.getReader(),
      writer: client.writable.getWriter(),
    },
  ];
  let failed = false;
  const fail = (): void => {
    if (failed) return;
    failed = true;
    for (const e of ends) {
      e.reader.cancel().catch(() => {});
      e.writer.abort().catch(() => {});
    }
    client.close();
    server.close();
  };
  const pump = async (e: (typeof ends)[number]): Promise<Ending> => {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await e.reader.read();
      } catch (error) {
        fail();
        return { ok: false, error, where: "read" };
      }
      if (chunk.done) break;
      try {
        await inspect(e.from, chunk.value);
        await e.writer.write(chunk.value);
      } catch (error) {
        fail();
        return { ok: false, error, where: "write" };
      }
    }
    if (failed) return { ok: false, error: new Error("the other side failed"), where: "read" };
    try {
      await e.writer.close(); // half close: the other direction may still carry replies
    } catch (error) {
      fail();
      return { ok: false, error, where: "write" };
    }
    return { ok: true };
  };
  const [c, s] = await Promise.all([pump(ends[0]!), pump(ends[1]!)]);
  client.close();
  server.close();
  return { client: c, server: s };
}
