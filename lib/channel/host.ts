/**
 * What a channel end needs from the connection it is bound to
 * ({@linkcode ChannelHost}), and the error a sender sees when the receiver
 * resets the channel.
 *
 * @module
 */

import type { Schema } from "../postcard/schema.ts";
import { RpcError } from "../wire/errors.ts";
import { describeMetadata, EMPTY_METADATA } from "../wire/metadata.ts";
import type { Metadata } from "../wire/types.ts";

/** The receiver reset the channel: it asks the sender to stop. */
export class ChannelResetError extends RpcError {
  /**
   * Creates the error.
   *
   * @param metadata The receiver's reset metadata (`SENSITIVE` values are
   * readable through `metadata` and never shown).
   */
  constructor(metadata: Metadata = EMPTY_METADATA) {
    const reason = metadata.length > 0 ? ` (${describeMetadata(metadata)})` : "";
    super("cancelled", `The receiver reset the channel${reason}`, { metadata });
    this.name = "ChannelResetError";
  }
}

/** What a bound channel end needs from its connection. */
export interface ChannelHost {
  /** Encodes and sends one item; throws a TypeError/RangeError for a bad value. */
  sendItem(id: number, schema: Schema<unknown>, value: unknown): void;
  /** Sends `Close`. */
  sendClose(id: number, metadata: Metadata): void;
  /** Sends `Reset`. */
  sendReset(id: number, metadata: Metadata): void;
  /** Sends `GrantCredit`. */
  sendGrant(id: number, additional: number): void;
  /** Forgets the channel id. */
  forget(id: number): void;
  /** True while items may be sent without waiting for the link to drain. */
  writable(): boolean;
  /** Calls `f` once the link has drained (never if the connection closes first). */
  whenWritable(f: () => void): void;
}

/** How far a receiver lets a sender run ahead of it (see `SessionLimits.receiveWindowItems`). */
export interface ReceiveWindow {
  /** Items granted and buffered, at most. */
  readonly items: number;
  /** Bytes the window aims at, from the items' average encoded size. */
  readonly bytes: number;
}
