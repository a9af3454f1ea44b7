/**
 * The channel schema kinds and the full `t` of `@roam/roam`: the codec's
 * builders plus `t.tx(T)` and `t.rx(T, { credit })`, whose values are the
 * {@linkcode Tx} and {@linkcode Rx} ends of this layer. The codec sees
 * them only as generic channel ends (`ChannelEndSchema`): zero bytes on
 * the wire, handed to the connection's channel hooks.
 *
 * @module
 */

import { channelEnd, type CodecSchemaBuilders, t as codec } from "../postcard/builders.ts";
import { type ChannelEndSchema, requireSchema, type Schema } from "../postcard/schema.ts";
import type { Rx, Tx } from "./channel.ts";

/**
 * A channel end carried in a method's arguments. It encodes as zero bytes;
 * the channel id travels in the call's channel list. Its value is a
 * {@linkcode Tx} for `t.tx` and an {@linkcode Rx} for `t.rx`, on both the
 * calling and the handling side.
 *
 * @example Annotating a channel argument
 * ```ts
 * import { type ChannelSchema, t } from "@roam/roam";
 *
 * const numbers: ChannelSchema<number, "tx"> = t.tx(t.i32);
 * ```
 */
export type ChannelSchema<T, D extends "tx" | "rx"> = ChannelEndSchema<
  T,
  D,
  D extends "tx" ? Tx<T> : Rx<T>
>;

/** Options for a channel schema. */
export interface ChannelOptions {
  /** Initial credit, 1 to 2^32-1 items (default 16). Not part of the method id. */
  readonly credit?: number;
}

/** Default initial credit of a channel, as in the Rust runtime. */
export const DEFAULT_CHANNEL_CREDIT = 16;

function checkCredit(options: ChannelOptions | undefined, where: string): number {
  const credit = options?.credit ?? DEFAULT_CHANNEL_CREDIT;
  if (!Number.isInteger(credit) || credit < 1 || credit > 0xffff_ffff) {
    throw new RangeError(
      `Cannot build ${where}: credit must be an integer from 1 to 4294967295, got ${credit}`,
    );
  }
  return credit;
}

/** The type of the {@linkcode t} schema builders: the codec's, plus the channel ends. */
export interface SchemaBuilders extends CodecSchemaBuilders {
  /** `Tx<T>` in a method's arguments: the handler sends items of `T` to the caller. Encodes as zero bytes. */
  tx<T>(item: Schema<T>, options?: ChannelOptions): ChannelSchema<T, "tx">;
  /** `Rx<T>` in a method's arguments: the handler receives items of `T` from the caller. Encodes as zero bytes. */
  rx<T>(item: Schema<T>, options?: ChannelOptions): ChannelSchema<T, "rx">;
}

/**
 * The schema builders.
 *
 * Integers up to 32 bits and floats are `number`; 64- and 128-bit integers
 * are `bigint`; `bytes` is a `Uint8Array`; `char` is a string of exactly one
 * code point. Struct field names and enum variant names are part of a
 * method's id, so a schema that mirrors a Rust type must use the Rust names
 * (for example `snake_case` field names). `t.tx` and `t.rx` describe the
 * channel ends a method takes in its arguments.
 *
 * @example Describing a Rust struct and enum
 * ```ts
 * import { decode, encode, t } from "@roam/roam";
 *
 * const Shape = t.enum({
 *   Empty: t.unit,
 *   Circle: t.f64,
 *   Rect: { width: t.f64, height: t.f64 },
 * });
 * const bytes = encode(Shape, { tag: "Circle", value: 1.5 });
 * const back = decode(Shape, bytes);
 * ```
 *
 * @example A method that streams numbers back to its caller
 * ```ts
 * import { service, t } from "@roam/roam";
 *
 * const Ticker = service("Ticker", { ticks: { args: [t.u32, t.tx(t.u32)] } });
 * ```
 */
export const t: SchemaBuilders = {
  ...codec,

  /**
   * `Tx<T>` in a method's arguments: the handler sends items of `T` to the
   * caller. Encodes as zero bytes.
   */
  tx<T>(item: Schema<T>, options?: ChannelOptions): ChannelSchema<T, "tx"> {
    requireSchema(item, "t.tx");
    return channelEnd<T, "tx", Tx<T>>("tx", item, checkCredit(options, "t.tx"));
  },

  /**
   * `Rx<T>` in a method's arguments: the handler receives items of `T` from
   * the caller. Encodes as zero bytes.
   */
  rx<T>(item: Schema<T>, options?: ChannelOptions): ChannelSchema<T, "rx"> {
    requireSchema(item, "t.rx");
    return channelEnd<T, "rx", Rx<T>>("rx", item, checkCredit(options, "t.rx"));
  },
};
