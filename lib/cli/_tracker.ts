/**
 * What the spy sees on one proxied link: each frame decoded into an event,
 * with the state needed to decode the next ones (which request id is which
 * method, which channel id carries which item schema). The state is
 * bounded: a peer that opens calls and channels without end makes the
 * oldest be forgotten, never memory grow.
 *
 * @module
 */

import { decode, type Metadata, type MethodDescriptor, type Schema } from "../../mod.ts";
import { decodeMessage, type Message, SENSITIVE } from "../../wire.ts";
import { type Json, toJson } from "./_json.ts";
import { bytesText, toText, tupleText } from "./_text.ts";
import { channelSlots, hex, spySchema } from "./_walk.ts";

/** Which way a frame went: from the client (to the server) or from the server. */
export type Side = "client" | "server";

/** Longest detail text of a human line. */
const TEXT_MAX = 200;
/** Calls and channels remembered per link; past it the oldest are forgotten. */
export const MAX_TRACKED = 4096;
/** Bytes of an undecodable frame shown in hex. */
const HEX_SHOWN = 48;

/** One line of spy output. */
export interface SpyEvent {
  /** When the spy saw it (ms since the epoch). */
  readonly time: number;
  /** The proxied link (1 for the first client, …). */
  readonly link: number;
  /** Who sent it; undefined for the spy's own events. */
  readonly from?: Side;
  /** The roam connection id (0 is the root). */
  readonly conn?: number;
  /** What it is: a message kind (`call`, `response`, `item`, …) or a spy event. */
  readonly kind: string;
  /** The request id of a call, response or cancel. */
  readonly request?: number;
  /** The channel id of a channel message. */
  readonly channel?: number;
  /** The frame's size in bytes (without the length prefix). */
  readonly size?: number;
  /** The compact text of the human output (after the ids). */
  readonly text: string;
  /** The fields of the JSON output beyond the common ones. */
  readonly json: { readonly [key: string]: Json };
}

interface CallInfo {
  readonly method: MethodDescriptor | undefined;
  readonly methodId: bigint;
  readonly started: number;
}

interface ChannelInfo {
  readonly method: string;
  readonly kind: "tx" | "rx";
  readonly item: Schema<unknown>;
}

function other(side: Side): Side {
  return side === "client" ? "server" : "client";
}

/** Adds `key` to a bounded map, forgetting the oldest entry when full. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_TRACKED) map.delete(map.keys().next().value!);
}

/** Metadata as JSON, `SENSITIVE` values redacted. */
export function metadataJson(metadata: Metadata): Json {
  return metadata.map((e) => {
    const o: { [key: string]: Json } = { key: e.key };
    if ((e.flags & SENSITIVE) !== 0) o.value = "<redacted>";
    else {
      const v = e.value;
      o.value = typeof v === "string" ? v : typeof v === "bigint" ? String(v) : hex(v);
    }
    if (e.flags !== 0) o.flags = e.flags;
    return o;
  });
}

/** Metadata as text, `SENSITIVE` values redacted; empty for none. */
export function metadataText(metadata: Metadata): string {
  if (metadata.length === 0) return "";
  const parts = metadata.map((e) => {
    if ((e.flags & SENSITIVE) !== 0) return `${e.key}=<redacted>`;
    const v = e.value;
    const shown = typeof v === "string"
      ? JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}…` : v)
      : typeof v === "bigint"
      ? `${v}`
      : bytesText(v);
    return `${e.key}=${shown}`;
  });
  return ` [${parts.join(", ")}]`;
}

function idHex(id: bigint): string {
  return `0x${id.toString(16).padStart(16, "0")}`;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** The four `RoamError` variants, by wire index. */
const ROAM_ERRORS = ["user", "unknown-method", "invalid-payload", "cancelled"] as const;

/** Decodes the frames of one proxied link, both ways. */
export class Tracker {
  readonly #methods: ReadonlyMap<bigint, MethodDescriptor>;
  readonly #link: number;
  readonly #calls = new Map<string, CallInfo>();
  readonly #channels = new Map<string, ChannelInfo>();

  /**
   * @param methods Every known method, by id (empty without `--services`).
   * @param link The link's number.
   */
  constructor(methods: ReadonlyMap<bigint, MethodDescriptor>, link: number) {
    this.#methods = methods;
    this.#link = link;
  }

  /**
   * An event of the spy itself (a link opened or closed, a frame it did not
   * decode).
   *
   * @param kind The event's kind.
   * @param text Its human text.
   * @param json Its JSON fields.
   * @param from Which side it concerns, if one.
   * @returns The event.
   */
  note(kind: string, text: string, json: { [key: string]: Json } = {}, from?: Side): SpyEvent {
    return {
      time: Date.now(),
      link: this.#link,
      ...(from === undefined ? {} : { from }),
      kind,
      text,
      json,
    };
  }

  /**
   * Decodes one frame.
   *
   * @param from Who sent it.
   * @param bytes The frame's payload (one `Message`).
   * @returns The event describing it.
   */
  frame(from: Side, bytes: Uint8Array): SpyEvent {
    let message: Message;
    try {
      message = decodeMessage(bytes);
    } catch (e) {
      return {
        ...this.note(
          "violation",
          `${errorText(e)}: ${bytesText(bytes.subarray(0, HEX_SHOWN))}`,
          { error: errorText(e), hex: hex(bytes, HEX_SHOWN) },
          from,
        ),
        size: bytes.length,
      };
    }
    const base = { time: Date.now(), link: this.#link, from, conn: message.connectionId };
    const event = this.#describe(from, message);
    return { ...base, size: bytes.length, ...event };
  }

  #describe(
    from: Side,
    m: Message,
  ): Pick<SpyEvent, "kind" | "text" | "json" | "request" | "channel"> {
    const p = m.payload;
    const conn = m.connectionId;
    switch (p.type) {
      case "hello":
        return {
          kind: "hello",
          text:
            `v${p.version} ${p.settings.parity}, max ${p.settings.maxConcurrentRequests} in flight${
              metadataText(p.metadata)
            }`,
          json: {
            version: p.version,
            parity: p.settings.parity,
            maxConcurrentRequests: p.settings.maxConcurrentRequests,
            metadata: metadataJson(p.metadata),
          },
        };
      case "helloYourself":
      case "connectionOpen":
      case "connectionAccept":
        return {
          kind: p.type === "helloYourself"
            ? "hello-yourself"
            : p.type === "connectionOpen"
            ? "conn-open"
            : "conn-accept",
          text: `${p.settings.parity}, max ${p.settings.maxConcurrentRequests} in flight${
            metadataText(p.metadata)
          }`,
          json: {
            parity: p.settings.parity,
            maxConcurrentRequests: p.settings.maxConcurrentRequests,
            metadata: metadataJson(p.metadata),
          },
        };
      case "connectionReject":
      case "connectionClose":
        return {
          kind: p.type === "connectionReject" ? "conn-reject" : "conn-close",
          text: metadataText(p.metadata).trimStart(),
          json: { metadata: metadataJson(p.metadata) },
        };
      case "protocolError":
        return {
          kind: "protocol-error",
          text: JSON.stringify(p.description),
          json: { description: p.description },
        };
      case "ping":
      case "pong":
        return { kind: p.type, text: `nonce ${p.nonce}`, json: { nonce: String(p.nonce) } };
      case "request":
        return { request: p.id, ...this.#request(from, conn, p.id, p.body) };
      case "channel":
        return { channel: p.id, ...this.#channel(from, conn, p.id, p.body) };
    }
  }

  #request(
    from: Side,
    conn: number,
    id: number,
    body: Extract<Message["payload"], { type: "request" }>["body"],
  ): Pick<SpyEvent, "kind" | "text" | "json"> {
    switch (body.type) {
      case "call": {
        const method = this.#methods.get(body.methodId);
        remember(this.#calls, `${conn}/${from}/${id}`, {
          method,
          methodId: body.methodId,
          started: performance.now(),
        });
        const json: { [key: string]: Json } = {
          method: method === undefined ? null : `${method.service}.${method.name}`,
          methodId: idHex(body.methodId),
        };
        let text: string;
        if (method === undefined) {
          json.args = hex(body.args);
          text = `${idHex(body.methodId)} ${bytesText(body.args)}`;
        } else {
          const name = `${method.service}.${method.name}`;
          try {
            const args = decode(spySchema(method.args), body.args) as unknown[];
            json.args = toJson(method.args, args, { ids: body.channels, next: 0 });
            text = `${name}(${
              tupleText(method.args, args, TEXT_MAX, { ids: body.channels, next: 0 })
            })`;
            this.#openChannels(from, conn, name, method, args, body.channels);
          } catch (e) {
            json.args = hex(body.args);
            json.error = `Cannot decode the arguments: ${errorText(e)}`;
            text = `${name} ${bytesText(body.args)} (cannot decode the arguments: ${errorText(e)})`;
          }
        }
        if (body.channels.length > 0) json.channels = [...body.channels];
        json.metadata = metadataJson(body.metadata);
        return { kind: "call", text: text + metadataText(body.metadata), json };
      }
      case "response": {
        const key = `${conn}/${other(from)}/${id}`;
        const call = this.#calls.get(key);
        this.#calls.delete(key);
        const json: { [key: string]: Json } = {};
        let text = "";
        if (call !== undefined) {
          const ms = Math.round((performance.now() - call.started) * 100) / 100;
          const name = call.method === undefined
            ? idHex(call.methodId)
            : `${call.method.service}.${call.method.name}`;
          json.method = call.method === undefined ? null : name;
          json.methodId = idHex(call.methodId);
          json.ms = ms;
          text = `${name} → ${this.#outcome(call.method, body.ret, json)} (${ms} ms)`;
        } else {
          text = `→ ${this.#outcome(undefined, body.ret, json)}`;
        }
        json.metadata = metadataJson(body.metadata);
        return { kind: "response", text: text + metadataText(body.metadata), json };
      }
      case "cancel": {
        const call = this.#calls.get(`${conn}/${from}/${id}`);
        const name = call === undefined
          ? ""
          : call.method === undefined
          ? idHex(call.methodId)
          : `${call.method.service}.${call.method.name}`;
        return {
          kind: "cancel",
          text: name + metadataText(body.metadata),
          json: { method: name === "" ? null : name, metadata: metadataJson(body.metadata) },
        };
      }
    }
  }

  /** Decodes a response's `Result<T, RoamError<E>>`; fills `json.result`, returns the text. */
  #outcome(
    method: MethodDescriptor | undefined,
    ret: Uint8Array,
    json: { [key: string]: Json },
  ): string {
    const tag = ret[0];
    if (tag === 0) {
      const value = ret.subarray(1);
      if (method === undefined) {
        json.result = { ok: hex(value) };
        return `ok ${bytesText(value)}`;
      }
      try {
        const v = decode(method.returns, value);
        json.result = { ok: toJson(method.returns, v) };
        const text = toText(method.returns, v, TEXT_MAX);
        return method.error === undefined ? text : `Ok(${text})`;
      } catch (e) {
        json.result = { ok: hex(value) };
        json.error = `Cannot decode the result: ${errorText(e)}`;
        return `ok ${bytesText(value)} (cannot decode the result: ${errorText(e)})`;
      }
    }
    if (tag === 1 && ret[1] !== undefined && ret[1] < ROAM_ERRORS.length) {
      const kind = ROAM_ERRORS[ret[1]]!;
      if (kind !== "user") {
        if (ret.length === 2) {
          json.result = { error: kind };
          return kind;
        }
      } else {
        const value = ret.subarray(2);
        if (method?.error === undefined) {
          json.result = { err: hex(value) };
          return `err ${bytesText(value)}`;
        }
        try {
          const v = decode(method.error, value);
          json.result = { err: toJson(method.error, v) };
          return `Err(${toText(method.error, v, TEXT_MAX)})`;
        } catch (e) {
          json.result = { err: hex(value) };
          json.error = `Cannot decode the error: ${errorText(e)}`;
          return `err ${bytesText(value)} (cannot decode the error: ${errorText(e)})`;
        }
      }
    }
    json.result = { invalid: hex(ret) };
    json.error = "Not a Result<T, RoamError<E>>";
    return `${bytesText(ret)} (not a Result<T, RoamError<E>>)`;
  }

  /** Remembers the channels a call opens, keyed by the side their items come from. */
  #openChannels(
    caller: Side,
    conn: number,
    name: string,
    method: MethodDescriptor,
    args: unknown[],
    ids: readonly number[],
  ): void {
    const slots = channelSlots(method.args, args);
    for (let i = 0; i < slots.length && i < ids.length; i++) {
      const slot = slots[i]!;
      // Tx: the handler sends, so items come from the callee; Rx: from the caller.
      const sender = slot.kind === "tx" ? other(caller) : caller;
      remember(this.#channels, `${conn}/${sender}/${ids[i]}`, {
        method: name,
        kind: slot.kind,
        item: slot.item,
      });
    }
  }

  #channel(
    from: Side,
    conn: number,
    id: number,
    body: Extract<Message["payload"], { type: "channel" }>["body"],
  ): Pick<SpyEvent, "kind" | "text" | "json"> {
    // Items and Close come from the sender; Reset and GrantCredit from the receiver.
    const sender = body.type === "item" || body.type === "close" ? from : other(from);
    const key = `${conn}/${sender}/${id}`;
    const info = this.#channels.get(key);
    const label = info === undefined ? "" : `${info.method} ${info.kind}`;
    const json: { [key: string]: Json } = {
      method: info === undefined ? null : info.method,
    };
    switch (body.type) {
      case "item": {
        if (info === undefined) {
          json.item = hex(body.item);
          return { kind: "item", text: bytesText(body.item), json };
        }
        try {
          const v = decode(info.item, body.item);
          json.item = toJson(info.item, v);
          return { kind: "item", text: `${label}: ${toText(info.item, v, TEXT_MAX)}`, json };
        } catch (e) {
          json.item = hex(body.item);
          json.error = `Cannot decode the item: ${errorText(e)}`;
          return {
            kind: "item",
            text: `${label}: ${bytesText(body.item)} (cannot decode the item: ${errorText(e)})`,
            json,
          };
        }
      }
      case "close":
      case "reset":
        this.#channels.delete(key);
        json.metadata = metadataJson(body.metadata);
        return { kind: body.type, text: label + metadataText(body.metadata), json };
      case "grantCredit":
        json.additional = body.additional;
        return {
          kind: "credit",
          text: `+${body.additional}${label === "" ? "" : ` ${label}`}`,
          json,
        };
    }
  }
}
