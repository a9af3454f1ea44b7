/**
 * The stable conduit's bytes (wire-spec §5): the 25-byte `ROCH` / `ROSH`
 * link handshake, and the frame header `varint(seq) ++ Option<ack>` that
 * precedes every session message once the handshake is done.
 *
 * Two pings of our own ride on the conduit, both ordinary v7 messages a
 * Rust peer answers or ignores: a `Ping` whose nonce is
 * {@linkcode ACK_NONCE} asks the peer for a frame (its `Pong` carries an
 * ack, so a sender whose peer has nothing to say is not stuck with a full
 * replay buffer), and one whose nonce is {@linkcode GOODBYE_NONCE}, sent
 * just before a graceful close, tells the peer that the end of stream that
 * follows is final (the peer's session ends with `peer-closed` instead of
 * resuming). The session's own nonces stay far below both.
 *
 * @module
 */

import { Reader } from "../postcard/_reader.ts";
import { putVarint32, varintSize } from "../postcard/_writer.ts";
import { MessageTag, OptionTag, StableHello } from "../wire/tags.ts";

/** A link handshake message: ClientHello or ServerHello. */
export interface LinkHello {
  /** The flag bits. */
  readonly flags: number;
  /** The 16-byte resume key (zeros when absent). */
  readonly key: Uint8Array;
  /** The last sequence number received, when the flags say it is set. */
  readonly lastReceived: number | undefined;
}

/** Nonce of the ping that asks the peer for an ack (2^64 - 2). */
export const ACK_NONCE = 0xffff_ffff_ffff_fffen;
/** Nonce of the ping that announces a graceful close (2^64 - 1). */
export const GOODBYE_NONCE = 0xffff_ffff_ffff_ffffn;

/** The varint of `ACK_NONCE`, `GOODBYE_NONCE` without its first byte. */
const NONCE_TAIL = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
/** First varint byte of each special nonce. */
const ACK_FIRST = 0xfe;
const GOODBYE_FIRST = 0xff;
/** Size of a message carrying a special nonce: connection 0, tag, 10-byte varint. */
export const SPECIAL_SIZE = 12;

/** A `Ping` or `Pong` on connection 0 with one of the two special nonces. */
function specialMessage(tag: number, first: number): Uint8Array {
  return Uint8Array.from([0, tag, first, ...NONCE_TAIL]);
}

/** The message of an ack-asking `Ping`. */
export const ACK_PING: Uint8Array = specialMessage(MessageTag.Ping, ACK_FIRST);
/** The message of a goodbye `Ping`. */
export const GOODBYE_PING: Uint8Array = specialMessage(MessageTag.Ping, GOODBYE_FIRST);

/** True when `m[start, end)` is a message on connection 0 with this tag and special nonce. */
function isSpecial(m: Uint8Array, start: number, end: number, tag: number, first: number): boolean {
  if (end - start !== SPECIAL_SIZE) return false;
  if (m[start] !== 0 || m[start + 1] !== tag || m[start + 2] !== first) return false;
  for (let i = 0; i < NONCE_TAIL.length; i++) {
    if (m[start + 3 + i] !== NONCE_TAIL[i]) return false;
  }
  return true;
}

/** True when the message `m[start, end)` is a goodbye `Ping`. */
export function isGoodbye(m: Uint8Array, start: number, end: number = m.length): boolean {
  return isSpecial(m, start, end, MessageTag.Ping, GOODBYE_FIRST);
}

/** True when the message `m[start, end)` is the `Pong` answering an ack-asking ping. */
export function isAckPong(m: Uint8Array, start: number, end: number = m.length): boolean {
  return isSpecial(m, start, end, MessageTag.Pong, ACK_FIRST);
}

/** Writes a hello: magic, flags, key, last received. */
function encodeHello(
  magic: number,
  flags: number,
  key: Uint8Array | undefined,
  last: number,
): Uint8Array {
  const out = new Uint8Array(StableHello.Size);
  const view = new DataView(out.buffer);
  view.setUint32(0, magic, true);
  out[4] = flags;
  if (key !== undefined) out.set(key, 5);
  view.setUint32(5 + StableHello.KeySize, last, true);
  return out;
}

/**
 * The 25-byte ClientHello: a fresh session without key, or a resume with
 * the newest key and, once anything was received, the last sequence
 * number received.
 *
 * @param key The resume key, or undefined for a fresh session.
 * @param lastReceived The last sequence number received, if any.
 * @returns The bytes.
 */
export function encodeClientHello(
  key: Uint8Array | undefined,
  lastReceived: number | undefined,
): Uint8Array {
  let flags = 0;
  if (key !== undefined) flags |= StableHello.ClientHasResumeKey;
  if (lastReceived !== undefined) flags |= StableHello.ClientHasLastReceived;
  return encodeHello(StableHello.ClientMagic, flags, key, lastReceived ?? 0);
}

/**
 * The 25-byte ServerHello: the fresh key and, once anything was received,
 * the last sequence number received; or a rejection (zero key).
 *
 * @param key The new resume key (ignored for a rejection).
 * @param lastReceived The last sequence number received, if any.
 * @param rejected True to reject a resume.
 * @returns The bytes.
 */
export function encodeServerHello(
  key: Uint8Array | undefined,
  lastReceived: number | undefined,
  rejected: boolean,
): Uint8Array {
  if (rejected) {
    return encodeHello(StableHello.ServerMagic, StableHello.ServerRejected, undefined, 0);
  }
  const flags = lastReceived === undefined ? 0 : StableHello.ServerHasLastReceived;
  return encodeHello(StableHello.ServerMagic, flags, key, lastReceived ?? 0);
}

/**
 * Reads a ClientHello or ServerHello.
 *
 * @param bytes The payload.
 * @param from Whose hello it is, for the magic and the flags.
 * @returns The hello, or a description of what is wrong with it.
 */
export function decodeHello(bytes: Uint8Array, from: "client" | "server"): LinkHello | string {
  const name = from === "client" ? "ClientHello" : "ServerHello";
  if (bytes.length !== StableHello.Size) {
    return `the ${name} is ${bytes.length} bytes, not ${StableHello.Size}`;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, true);
  const expected = from === "client" ? StableHello.ClientMagic : StableHello.ServerMagic;
  if (magic !== expected) {
    return `the ${name} does not start with ${from === "client" ? "ROCH" : "ROSH"}`;
  }
  const flags = bytes[4]!;
  const hasLast = from === "client"
    ? StableHello.ClientHasLastReceived
    : StableHello.ServerHasLastReceived;
  return {
    flags,
    key: bytes.slice(5, 5 + StableHello.KeySize),
    lastReceived: (flags & hasLast) !== 0
      ? view.getUint32(5 + StableHello.KeySize, true)
      : undefined,
  };
}

/**
 * Size of the frame header for `seq` and `ack` (2 to 11 bytes).
 *
 * @param seq The frame's sequence number.
 * @param ack The ack, or -1 for none.
 * @returns Bytes.
 */
export function frameHeaderSize(seq: number, ack: number): number {
  return varintSize(seq) + 1 + (ack < 0 ? 0 : varintSize(ack));
}

/**
 * Writes the frame header `varint(seq) ++ Option<varint(ack)>` at
 * `out[at]`.
 *
 * @param out Where to write (at least `frameHeaderSize` bytes from `at`).
 * @param seq The frame's sequence number.
 * @param ack The ack, or -1 for none.
 * @param at Where the header starts (default 0).
 * @returns The position after the header.
 */
export function writeFrameHeader(out: Uint8Array, seq: number, ack: number, at = 0): number {
  let pos = putVarint32(out, at, seq);
  if (ack < 0) out[pos++] = OptionTag.None;
  else {
    out[pos++] = OptionTag.Some;
    pos = putVarint32(out, pos, ack);
  }
  return pos;
}

/** A frame header as read by {@linkcode readFrameHeader} (reused from frame to frame). */
export interface FrameHeader {
  /** The frame's sequence number. */
  seq: number;
  /** The peer's ack, or -1 for none. */
  ack: number;
  /** Where the message starts. */
  pos: number;
}

/**
 * Reads the header of the frame `frame[start, end)` into `h`, strictly:
 * canonical u32 varints and an option byte of 0 or 1. `h.pos` is where
 * the message starts, in `frame`.
 *
 * @param frame The frame (or a buffer holding it).
 * @param h Where the header goes.
 * @param r A reader to reuse (reset to the frame).
 * @param start Where the frame starts in `frame` (default 0).
 * @param end Where it ends (default `frame.length`).
 * @throws {DecodeError} For a malformed header.
 */
export function readFrameHeader(
  frame: Uint8Array,
  h: FrameHeader,
  r?: Reader,
  start = 0,
  end: number = frame.length,
): void {
  // The common case, one- or two-byte varints, without a reader.
  if (end - start >= 4) {
    const b0 = frame[start]!;
    let pos: number;
    let seq: number;
    if (b0 < 0x80) {
      seq = b0;
      pos = start + 1;
    } else {
      const b1 = frame[start + 1]!;
      if (b1 < 0x80 && b1 !== 0) {
        seq = (b0 & 0x7f) | (b1 << 7);
        pos = start + 2;
      } else pos = -1;
    }
    if (pos > 0) {
      const some = frame[pos]!;
      if (some === OptionTag.None) {
        h.seq = seq!;
        h.ack = -1;
        h.pos = pos + 1;
        return;
      }
      if (some === OptionTag.Some && pos + 1 < end) {
        const a0 = frame[pos + 1]!;
        if (a0 < 0x80) {
          h.seq = seq!;
          h.ack = a0;
          h.pos = pos + 2;
          return;
        }
        if (pos + 2 < end) {
          const a1 = frame[pos + 2]!;
          if (a1 < 0x80 && a1 !== 0) {
            h.seq = seq!;
            h.ack = (a0 & 0x7f) | (a1 << 7);
            h.pos = pos + 3;
            return;
          }
        }
      }
    }
  }
  // Anything else (short frames, longer varints, faults) through the strict reader.
  if (r === undefined) r = new Reader(frame, start, end);
  else r.reset(frame, start, end);
  h.seq = r.varint32("frame seq");
  const some = r.u8("frame ack");
  if (some === OptionTag.Some) h.ack = r.varint32("frame ack");
  else if (some === OptionTag.None) h.ack = -1;
  else r.fail("frame ack", `invalid option byte ${some}`, r.pos - 1);
  h.pos = r.pos;
}
