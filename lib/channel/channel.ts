/**
 * Channels: typed streams that travel inside a call's arguments, with
 * credit-based flow control. `channel<T>()` makes a `[tx, rx]` pair; one
 * end goes into the call, the caller keeps the other.
 *
 * @module
 */

import type { Schema } from "../postcard/schema.ts";
import type { Metadata } from "../wire/types.ts";
import type { ChannelHost, ReceiveWindow } from "./host.ts";
import { Rx, rxInternals } from "./rx.ts";
import { Tx, txInternals } from "./tx.ts";

/**
 * Makes a channel: a `[tx, rx]` pair. Pass one end as a `t.tx(T)` or
 * `t.rx(T)` argument of a call and keep the other:
 *
 * - for `t.rx(T)` (the handler receives), pass `rx` and send with `tx`;
 * - for `t.tx(T)` (the handler sends), pass `tx` and receive with `rx`.
 *
 * @returns The two ends.
 *
 * @example Streaming numbers to a handler
 * ```ts
 * import { accept, channel, implement, initiate, memoryLink, service, t } from "@roam/roam";
 *
 * const Summer = service("Summer", { sum: { args: [t.rx(t.i32)], returns: t.i64 } });
 * const [a, b] = memoryLink();
 * const [client, server] = await Promise.all([
 *   initiate(a),
 *   accept(b, {
 *     services: [implement(Summer, {
 *       sum: async (rx) => {
 *         let total = 0n;
 *         for await (const n of rx) total += BigInt(n);
 *         return total;
 *       },
 *     })],
 *   }),
 * ]);
 * const [tx, rx] = channel<number>();
 * const result = client.client(Summer).sum(rx);
 * for (let i = 1; i <= 100; i++) await tx.send(i);
 * await tx.close();
 * console.log(await result); // 5050n
 * await client.close();
 * await server.closed;
 * ```
 */
export function channel<T>(): [Tx<T>, Rx<T>] {
  const tx = new Tx<T>();
  const rx = new Rx<T>();
  txInternals.pair(tx as Tx<unknown>, rx as Rx<unknown>);
  rxInternals.pair(rx as Rx<unknown>, tx as Tx<unknown>);
  return [tx, rx];
}

/** Internal operations on channel ends, for the connection layer. */
export const channelInternals = {
  bindTx: (
    tx: Tx<unknown>,
    host: ChannelHost,
    id: number,
    schema: Schema<unknown>,
    credit: number,
  ): void => txInternals.bind(tx, host, id, schema, credit),
  grant: (tx: Tx<unknown>, n: number): void => txInternals.grant(tx, n),
  resetTx: (tx: Tx<unknown>, metadata: Metadata): void => txInternals.reset(tx, metadata),
  failTx: (tx: Tx<unknown>, error: unknown): void => txInternals.fail(tx, error),
  bindRx: (
    rx: Rx<unknown>,
    host: ChannelHost,
    id: number,
    schema: Schema<unknown>,
    credit: number,
    window: ReceiveWindow,
  ): void => rxInternals.bind(rx, host, id, schema, credit, window),
  item: (rx: Rx<unknown>, value: unknown, size: number): boolean =>
    rxInternals.item(rx, value, size),
  closeRx: (rx: Rx<unknown>, metadata: Metadata): void => rxInternals.close(rx, metadata),
  /** The handler that received `end` settled: close or reset it unless it was kept. */
  release: (end: Tx<unknown> | Rx<unknown>): void =>
    end instanceof Tx ? txInternals.release(end) : rxInternals.release(end),
  failRx: (rx: Rx<unknown>, error: unknown): void => rxInternals.fail(rx, error),
  partner: (end: Tx<unknown> | Rx<unknown>): Tx<unknown> | Rx<unknown> | undefined =>
    end instanceof Tx ? txInternals.partner(end) : rxInternals.partner(end),
  bound: (end: Tx<unknown> | Rx<unknown>): boolean =>
    end instanceof Tx ? txInternals.bound(end) : rxInternals.bound(end),
};

export { Rx, Tx };
export { ChannelResetError } from "./host.ts";
export type { ChannelHost, ReceiveWindow } from "./host.ts";
export type { SendOptions } from "./tx.ts";
export type { ReceiveOptions } from "./rx.ts";
