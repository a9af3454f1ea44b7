/**
 * Byte tunnels: a pair of channels of bytes, one each way, that carry a
 * byte stream (for example a TCP connection) through a roam call. A
 * service can expose a local socket to its peer this way; when the side
 * that dialled out is the one serving, that is a reverse tunnel.
 *
 * @module
 */

import { channel, type Rx, type Tx } from "../channel/channel.ts";
import { t } from "../channel/schema.ts";
import type { StructSchema } from "../postcard/schema.ts";

/** One side of a tunnel: what it sends and what it receives. */
export interface TunnelEnds {
  /** Bytes this side sends. */
  readonly tx: Tx<Uint8Array>;
  /** Bytes this side receives. */
  readonly rx: Rx<Uint8Array>;
}

/**
 * The schema of a tunnel in a method's arguments, as the handler sees it:
 * it receives on `rx` and sends on `tx`. Use it as an argument type, e.g.
 * `forward: { args: [t.u16, TunnelSchema] }`.
 */
export const TunnelSchema: StructSchema<TunnelEnds> = t.struct({
  rx: t.rx(t.bytes),
  tx: t.tx(t.bytes),
}) as StructSchema<TunnelEnds>;

/**
 * Makes a tunnel: `local` stays with the caller, `remote` goes into the
 * call as a {@linkcode TunnelSchema} argument.
 *
 * @returns The caller's ends and the ends to pass.
 *
 * @example Passing a tunnel
 * ```ts
 * import { tunnel } from "@roam/roam";
 *
 * const { local, remote } = tunnel();
 * // await client.forward(8080, remote); then pumpTunnel(socket, local)
 * ```
 */
export function tunnel(): { local: TunnelEnds; remote: TunnelEnds } {
  const [upTx, upRx] = channel<Uint8Array>();
  const [downTx, downRx] = channel<Uint8Array>();
  return { local: { tx: upTx, rx: downRx }, remote: { tx: downTx, rx: upRx } };
}

/** Options of {@linkcode pumpTunnel}. */
export interface PumpOptions {
  /** Largest item sent, in bytes; bigger chunks are split (default 64 KiB). */
  readonly chunkSize?: number;
  /** Aborting stops both directions. */
  readonly signal?: AbortSignal;
}

/**
 * Sends everything read from `readable` on `tx`, splitting large chunks,
 * then closes `tx`. Stops reading when the receiver resets the channel.
 *
 * @param readable The bytes to send.
 * @param tx The channel to send on.
 * @param options Chunk size and an abort signal.
 * @returns Resolves when the stream ended and `tx` is closed.
 *
 * @example Sending a file's bytes on a channel
 * ```ts
 * import { channel, pumpToChannel } from "@roam/roam";
 *
 * const [tx, rx] = channel<Uint8Array>();
 * const bytes = new Blob(["hello, ", "world"]).stream();
 * const sending = pumpToChannel(bytes, tx, { chunkSize: 4 });
 * let text = "";
 * for await (const chunk of rx) text += new TextDecoder().decode(chunk);
 * await sending;
 * console.log(text); // "hello, world"
 * ```
 */
export async function pumpToChannel(
  readable: ReadableStream<Uint8Array>,
  tx: Tx<Uint8Array>,
  options: PumpOptions = {},
): Promise<void> {
  const chunkSize = options.chunkSize ?? 64 * 1024;
  if (!Number.isInteger(chunkSize) || chunkSize < 1) {
    throw new RangeError(`Invalid chunkSize: expected a positive integer, got ${chunkSize}`);
  }
  const reader = readable.getReader();
  const signal = options.signal === undefined
    ? tx.signal
    : AbortSignal.any([tx.signal, options.signal]);
  const stop = (): void => void reader.cancel(signal.reason).catch(() => {});
  signal.addEventListener("abort", stop, { once: true });
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      for (let off = 0; off < value.length; off += chunkSize) {
        await tx.send(value.length <= chunkSize ? value : value.subarray(off, off + chunkSize), {
          signal,
        });
      }
    }
    await tx.close();
  } catch (e) {
    if (!signal.aborted) throw e;
  } finally {
    signal.removeEventListener("abort", stop);
    reader.releaseLock();
  }
}

/**
 * Writes every item received on `rx` to `writable`, then closes it when
 * the sender closes the channel. If writing fails, the channel is reset.
 *
 * @param rx The channel to receive from.
 * @param writable Where the bytes go.
 * @param options An abort signal.
 * @returns Resolves when the channel ended and `writable` is closed.
 *
 * @example Writing what a channel carries to a stream
 * ```ts
 * import { channel, pumpFromChannel } from "@roam/roam";
 *
 * const [tx, rx] = channel<Uint8Array>();
 * const chunks: Uint8Array[] = [];
 * const writing = pumpFromChannel(rx, new WritableStream({ write: (c) => void chunks.push(c) }));
 * await tx.send(new Uint8Array([1, 2, 3]));
 * await tx.close();
 * await writing;
 * console.log(chunks.length); // 1
 * ```
 */
export async function pumpFromChannel(
  rx: Rx<Uint8Array>,
  writable: WritableStream<Uint8Array>,
  options: Pick<PumpOptions, "signal"> = {},
): Promise<void> {
  const writer = writable.getWriter();
  const signal = options.signal;
  const stop = (): void => rx.reset();
  signal?.addEventListener("abort", stop, { once: true });
  try {
    for (;;) {
      const r = await rx.recv();
      if (r.done) break;
      await writer.write(r.value);
    }
    if (!signal?.aborted) await writer.close();
  } catch (e) {
    rx.reset();
    await writer.abort(e).catch(() => {});
    if (!signal?.aborted) throw e;
  } finally {
    signal?.removeEventListener("abort", stop);
    writer.releaseLock();
  }
}

/**
 * Pumps a byte stream through a tunnel in both directions: what `stream`
 * yields goes out on `ends.tx`, what arrives on `ends.rx` is written to
 * `stream`. Resolves when both directions have ended.
 *
 * @param stream A duplex byte stream, such as a TCP connection.
 * @param ends The tunnel ends of this side.
 * @param options Chunk size and an abort signal.
 * @returns Resolves when both directions are done.
 *
 * @example Exposing a local TCP port to the peer
 * ```ts
 * import { pumpTunnel, service, t, TunnelSchema } from "@roam/roam";
 * import { connectTcpStream } from "@roam/roam/transports/tcp";
 *
 * const Forward = service("Forward", { open: { args: [t.u16, TunnelSchema] } });
 * const handlers = {
 *   open: async (port: number, ends: { tx: import("@roam/roam").Tx<Uint8Array>; rx: import("@roam/roam").Rx<Uint8Array> }) => {
 *     const socket = await connectTcpStream({ port });
 *     // The tunnel outlives the call: keep both ends past the handler.
 *     const kept = { tx: ends.tx.keep(), rx: ends.rx.keep() };
 *     // A peer that vanishes rejects the pump: handle it (Deno ends a process on an unhandled rejection).
 *     pumpTunnel(socket, kept).catch(() => {}).finally(() => socket.close());
 *   },
 * };
 * ```
 */
export async function pumpTunnel(
  stream: {
    readonly readable: ReadableStream<Uint8Array>;
    readonly writable: WritableStream<Uint8Array>;
  },
  ends: TunnelEnds,
  options: PumpOptions = {},
): Promise<void> {
  const results = await Promise.allSettled([
    pumpToChannel(stream.readable, ends.tx, options),
    pumpFromChannel(ends.rx, stream.writable, options),
  ]);
  for (const r of results) if (r.status === "rejected") throw r.reason;
}
