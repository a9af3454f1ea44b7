import { test } from "node:test";
import assert from "node:assert/strict";
import {
  encodeMessage,
  writeMessage,
  writeMetadata,
  writeSettings,
} from "../../lib/wire/encode.ts";
import { decodeMessage, readMetadata, readSettings } from "../../lib/wire/decode.ts";
import { DecodeError } from "../../lib/postcard/errors.ts";
import { Reader } from "../../lib/postcard/_reader.ts";
import { Writer } from "../../lib/postcard/_writer.ts";
import type { Message, Metadata } from "../../lib/wire/types.ts";
import { hex, seeded, toHex } from "../_helpers/mod.ts";

/**
 * A decoded value with every metadata entry made a plain `{ key, value,
 * flags }` object: a SENSITIVE entry keeps its value behind a getter, so
 * it never deep-equals a literal.
 */
function revealed<T>(v: T): T {
  if (typeof v !== "object" || v === null || v instanceof Uint8Array) return v;
  if (Array.isArray(v)) return v.map(revealed) as T;
  if (Object.getPrototypeOf(v) !== Object.prototype) {
    const e = v as unknown as { key: string; value: unknown; flags: number };
    return { key: e.key, value: e.value, flags: e.flags } as T;
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = revealed(x);
  return out as T;
}

/** Asserts that decoding `bytes` throws a DecodeError (and nothing else). */
function assertDecodeError(bytes: Uint8Array, reason?: RegExp): DecodeError {
  try {
    decodeMessage(bytes);
  } catch (e) {
    if (!(e instanceof DecodeError)) {
      assert.fail(`expected a DecodeError for ${toHex(bytes)}, got ${String(e)}`);
    }
    if (reason !== undefined) assert.match(e.message, reason);
    return e;
  }
  return assert.fail(`expected a DecodeError for ${toHex(bytes)}, but it decoded`);
}

const SAMPLE_METADATA_HEX = "03" +
  "08 74 72 61 63 65 2d 69 64 00 06 61 62 63 31 32 33 00" +
  "04 61 75 74 68 01 04 de ad be ef 03" +
  "07 61 74 74 65 6d 70 74 02 02 00";

const SAMPLE_METADATA: Metadata = [
  { key: "trace-id", value: "abc123", flags: 0 },
  { key: "auth", value: new Uint8Array([0xde, 0xad, 0xbe, 0xef]), flags: 3 },
  { key: "attempt", value: 2n, flags: 0 },
];

const ECHO = 0x9aabc4ba61fd5df3n;
const DIVIDE = 0xc3964cbee4b1d590n;
const SUM = 0x855b3a25d97bfefdn;
const GENERATE = 0x54d2273d8cdb9c38n;
const ADD = 0x9779c2f07703fab4n;

interface Golden {
  readonly name: string;
  readonly hex: string;
  readonly msg: Message;
}

function call(
  conn: number,
  id: number,
  methodId: bigint,
  channels: number[],
  metadata: Metadata,
  args: string,
): Message {
  return {
    connectionId: conn,
    payload: {
      type: "request",
      id,
      body: { type: "call", methodId, channels, metadata, args: hex(args) },
    },
  };
}

function response(id: number, ret: string): Message {
  return {
    connectionId: 0,
    payload: {
      type: "request",
      id,
      body: { type: "response", channels: [], metadata: [], ret: hex(ret) },
    },
  };
}

function item(id: number, bytes: string): Message {
  return {
    connectionId: 0,
    payload: { type: "channel", id, body: { type: "item", item: hex(bytes) } },
  };
}

const GOLDEN: readonly Golden[] = [
  {
    name: "Hello with the sample metadata (message_hello.bin)",
    hex: "00 00 07 00 40" + SAMPLE_METADATA_HEX,
    msg: {
      connectionId: 0,
      payload: {
        type: "hello",
        version: 7,
        settings: { parity: "odd", maxConcurrentRequests: 64 },
        metadata: SAMPLE_METADATA,
      },
    },
  },
  {
    name: "minimal Hello",
    hex: "00 00 07 00 40 00",
    msg: {
      connectionId: 0,
      payload: {
        type: "hello",
        version: 7,
        settings: { parity: "odd", maxConcurrentRequests: 64 },
        metadata: [],
      },
    },
  },
  {
    name: "minimal HelloYourself",
    hex: "00 01 01 40 00",
    msg: {
      connectionId: 0,
      payload: {
        type: "helloYourself",
        settings: { parity: "even", maxConcurrentRequests: 64 },
        metadata: [],
      },
    },
  },
  {
    name: "Ping nonce 1",
    hex: "00 09 01",
    msg: { connectionId: 0, payload: { type: "ping", nonce: 1n } },
  },
  {
    name: "Pong nonce 1",
    hex: "00 0a 01",
    msg: { connectionId: 0, payload: { type: "pong", nonce: 1n } },
  },
  {
    name: 'ProtocolError "bad frame sequence"',
    hex: "00 02 12" + toHex(new TextEncoder().encode("bad frame sequence")),
    msg: { connectionId: 0, payload: { type: "protocolError", description: "bad frame sequence" } },
  },
  {
    name: "RequestMessage Call on connection 2 (message_request_call.bin)",
    hex: "02 07 0b 00 81 e0 c3 9c ac d6 f5 d0 e5 01 02 03 05" + SAMPLE_METADATA_HEX +
      "f8 ac d1 91 01",
    msg: call(2, 11, 0xe5a1d6b2c390f001n, [3, 5], SAMPLE_METADATA, "f8 ac d1 91 01"),
  },
  {
    name: 'Testbed.echo("hi") call',
    hex: "00 07 01 00 f3 bb f5 8f a6 97 f1 d5 9a 01 00 00 02 68 69",
    msg: call(0, 1, ECHO, [], [], "02 68 69"),
  },
  {
    name: 'Testbed.echo response Ok("hi")',
    hex: "00 07 01 01 00 00 00 02 68 69",
    msg: response(1, "00 02 68 69"),
  },
  {
    name: "Testbed.divide(7, 0) call",
    hex: "00 07 03 00 90 ab c7 a5 ee 97 93 cb c3 01 00 00 0e 00",
    msg: call(0, 3, DIVIDE, [], [], "0e 00"),
  },
  {
    name: "divide response Err(User(DivisionByZero))",
    hex: "00 07 03 01 00 00 01 00 00",
    msg: response(3, "01 00 00"),
  },
  {
    name: "response Err(UnknownMethod)",
    hex: "00 07 05 01 00 00 01 01",
    msg: response(5, "01 01"),
  },
  {
    name: "Testbed.sum(Rx) call with channel 1 and empty args",
    hex: "00 07 01 00 fd fd ef cb dd c4 ce ad 85 01 01 01 00",
    msg: call(0, 1, SUM, [1], [], ""),
  },
  { name: "ChannelItem i32 1", hex: "00 08 01 00 02", msg: item(1, "02") },
  { name: "ChannelItem i32 -3", hex: "00 08 01 00 05", msg: item(1, "05") },
  { name: "ChannelItem i32 -1", hex: "00 08 01 00 01", msg: item(1, "01") },
  {
    name: "ChannelClose with no metadata",
    hex: "00 08 01 01 00",
    msg: {
      connectionId: 0,
      payload: { type: "channel", id: 1, body: { type: "close", metadata: [] } },
    },
  },
  { name: "sum response Ok(15i64)", hex: "00 07 01 01 00 00 00 1e", msg: response(1, "00 1e") },
  {
    name: "Testbed.generate(3, Tx) call",
    hex: "00 07 01 00 b8 b8 ee e6 d8 e7 89 e9 54 01 01 00 03",
    msg: call(0, 1, GENERATE, [1], [], "03"),
  },
  {
    name: "GrantCredit +16",
    hex: "00 08 01 03 10",
    msg: {
      connectionId: 0,
      payload: { type: "channel", id: 1, body: { type: "grantCredit", additional: 16 } },
    },
  },
  { name: "generate response Ok(())", hex: "00 07 01 01 00 00 00", msg: response(1, "00") },
  {
    name: "Adder.add(3, 5) call",
    hex: "00 07 01 00 b4 f5 8f b8 87 de f0 bc 97 01 00 00 03 05",
    msg: call(0, 1, ADD, [], [], "03 05"),
  },
  { name: "Response Ok(8u32)", hex: "00 07 01 01 00 00 00 08", msg: response(1, "00 08") },
];

for (const g of GOLDEN) {
  test(`encodeMessage() writes the golden bytes of ${g.name}`, () => {
    assert.equal(toHex(encodeMessage(g.msg)), toHex(hex(g.hex)));
  });
  test(`decodeMessage() reads the golden bytes of ${g.name}`, () => {
    assert.deepEqual(revealed(decodeMessage(hex(g.hex))), g.msg);
  });
}

test("the sample metadata is 42 bytes and writeMetadata() produces them", () => {
  const w = new Writer();
  writeMetadata(w, SAMPLE_METADATA);
  const bytes = w.finish();
  assert.equal(bytes.length, 42);
  assert.equal(toHex(bytes), toHex(hex(SAMPLE_METADATA_HEX)));
});

test("readMetadata() reads the sample metadata and stops after it", () => {
  const bytes = hex(SAMPLE_METADATA_HEX + "ff");
  const r = new Reader(bytes);
  assert.deepEqual(revealed(readMetadata(r)), SAMPLE_METADATA);
  assert.equal(r.pos, 42);
});

test("writeSettings() and readSettings() use the golden settings bytes", () => {
  const cases = [
    ["00 40", { parity: "odd", maxConcurrentRequests: 64 }],
    ["01 20", { parity: "even", maxConcurrentRequests: 32 }],
    ["01 60", { parity: "even", maxConcurrentRequests: 96 }],
    ["01 ff ff ff ff 0f", { parity: "even", maxConcurrentRequests: 0xffff_ffff }],
  ] as const;
  for (const [h, s] of cases) {
    const w = new Writer();
    writeSettings(w, s);
    assert.equal(toHex(w.finish()), toHex(hex(h)));
    assert.deepEqual(readSettings(new Reader(hex(h))), s);
  }
});

test("decodeMessage() returns trailing payloads as views into the input", () => {
  const bytes = hex("00 07 01 00 f3 bb f5 8f a6 97 f1 d5 9a 01 00 00 02 68 69");
  const msg = decodeMessage(bytes);
  assert.ok(msg.payload.type === "request" && msg.payload.body.type === "call");
  const args = msg.payload.body.args;
  assert.equal(args.buffer, bytes.buffer);
  assert.equal(args.byteOffset, 16);
  assert.equal(args.length, 3);
});

test("decodeMessage() works on a subarray with a non-zero offset", () => {
  const outer = hex("ff ff 00 08 07 00 aa bb ff");
  const msg = decodeMessage(outer.subarray(2, 8));
  assert.deepEqual(msg, item(7, "aa bb"));
  assert.ok(msg.payload.type === "channel" && msg.payload.body.type === "item");
  assert.equal(msg.payload.body.item.byteOffset, 6);
});

// ---------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------

const RICH_METADATA: Metadata = [
  { key: "", value: "", flags: 0 },
  { key: "héllo 世界 🦀", value: "ünïcødé ✓ 🦀".repeat(20), flags: 1 },
  { key: "empty-bytes", value: new Uint8Array(0), flags: 2 },
  { key: "big-bytes", value: new Uint8Array(300).map((_, i) => i & 0xff), flags: 3 },
  { key: "u64-max", value: 0xffff_ffff_ffff_ffffn, flags: Number.MAX_SAFE_INTEGER },
  { key: "u64-zero", value: 0n, flags: 4 },
  { key: "dup", value: "a", flags: 0 },
  { key: "dup", value: "b", flags: 0 },
];

const SETTINGS = { parity: "even", maxConcurrentRequests: 0xffff_ffff } as const;
const BIG_ARGS = new Uint8Array(5000).map((_, i) => (i * 7) & 0xff);

const VARIANTS: readonly Message[] = [
  {
    connectionId: 0,
    payload: { type: "hello", version: 0xffff_ffff, settings: SETTINGS, metadata: RICH_METADATA },
  },
  {
    connectionId: 1,
    payload: { type: "helloYourself", settings: SETTINGS, metadata: RICH_METADATA },
  },
  { connectionId: 2, payload: { type: "protocolError", description: "" } },
  {
    connectionId: 3,
    payload: { type: "protocolError", description: "message.decode-error ✗ 🦀".repeat(10) },
  },
  {
    connectionId: 300,
    payload: {
      type: "connectionOpen",
      settings: { parity: "odd", maxConcurrentRequests: 0 },
      metadata: [],
    },
  },
  {
    connectionId: 2 ** 32,
    payload: { type: "connectionAccept", settings: SETTINGS, metadata: RICH_METADATA },
  },
  {
    connectionId: Number.MAX_SAFE_INTEGER,
    payload: { type: "connectionReject", metadata: RICH_METADATA },
  },
  { connectionId: 5, payload: { type: "connectionClose", metadata: [] } },
  call(0, Number.MAX_SAFE_INTEGER, 0n, [], [], ""),
  call(
    7,
    128,
    0xffff_ffff_ffff_ffffn,
    [1, 127, 128, 2 ** 40, Number.MAX_SAFE_INTEGER],
    RICH_METADATA,
    "01 02",
  ),
  {
    connectionId: 0,
    payload: {
      type: "request",
      id: 9,
      body: { type: "call", methodId: 2n ** 53n, channels: [2], metadata: [], args: BIG_ARGS },
    },
  },
  {
    connectionId: 0,
    payload: {
      type: "request",
      id: 16384,
      body: { type: "response", channels: [4, 6], metadata: RICH_METADATA, ret: BIG_ARGS },
    },
  },
  response(1, ""),
  {
    connectionId: 0,
    payload: { type: "request", id: 3, body: { type: "cancel", metadata: RICH_METADATA } },
  },
  { connectionId: 0, payload: { type: "request", id: 3, body: { type: "cancel", metadata: [] } } },
  item(2 ** 50, ""),
  { connectionId: 1, payload: { type: "channel", id: 99, body: { type: "item", item: BIG_ARGS } } },
  {
    connectionId: 1,
    payload: { type: "channel", id: 3, body: { type: "close", metadata: RICH_METADATA } },
  },
  {
    connectionId: 1,
    payload: { type: "channel", id: 3, body: { type: "reset", metadata: RICH_METADATA } },
  },
  { connectionId: 1, payload: { type: "channel", id: 3, body: { type: "reset", metadata: [] } } },
  {
    connectionId: 1,
    payload: { type: "channel", id: 3, body: { type: "grantCredit", additional: 0 } },
  },
  {
    connectionId: 1,
    payload: { type: "channel", id: 3, body: { type: "grantCredit", additional: 0xffff_ffff } },
  },
  { connectionId: 0, payload: { type: "ping", nonce: 0n } },
  { connectionId: 0, payload: { type: "ping", nonce: 0xffff_ffff_ffff_ffffn } },
  { connectionId: 0, payload: { type: "pong", nonce: 2n ** 63n } },
];

test("every MessagePayload variant round-trips through encodeMessage() and decodeMessage()", () => {
  for (const msg of VARIANTS) {
    const bytes = encodeMessage(msg);
    assert.deepEqual(revealed(decodeMessage(bytes)), msg, `variant ${msg.payload.type}`);
    // Decoding is strict, so re-encoding gives the same bytes back.
    assert.equal(toHex(encodeMessage(decodeMessage(bytes))), toHex(bytes));
  }
});

/** Reference unsigned LEB128 of a bigint, one bigint step per byte. */
function leb128(v: bigint): string {
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return toHex(new Uint8Array(out));
}

test("u64 fields of every bit length encode as minimal varints and decode back", () => {
  const values: bigint[] = [0n, 0xffff_ffff_ffff_ffffn];
  for (let bit = 0n; bit < 64n; bit++) values.push(1n << bit, (1n << bit) - 1n, (1n << bit) + 1n);
  values.push(0x9aabc4ba61fd5df3n, 0x5555_5555_5555_5555n, 0xaaaa_aaaa_aaaa_aaaan);
  for (const v of values) {
    if (v > 0xffff_ffff_ffff_ffffn) continue;
    const ping: Message = { connectionId: 0, payload: { type: "ping", nonce: v } };
    const bytes = encodeMessage(ping);
    assert.equal(toHex(bytes), "00 09 " + leb128(v), `nonce ${v}`);
    assert.deepEqual(decodeMessage(bytes), ping);
    const c = call(0, 1, v, [], [{ key: "k", value: v, flags: 0 }], "");
    const cb = encodeMessage(c);
    assert.equal(toHex(cb), `00 07 01 00 ${leb128(v)} 00 01 01 6b 02 ${leb128(v)} 00`);
    assert.deepEqual(decodeMessage(cb), c);
  }
});

test("writeMessage() appends after existing bytes in a writer", () => {
  const w = new Writer(4);
  w.u8(0xaa);
  for (const msg of VARIANTS.slice(0, 5)) writeMessage(w, msg);
  const all = w.finish();
  assert.equal(all[0], 0xaa);
  let expected = 1;
  for (const msg of VARIANTS.slice(0, 5)) expected += encodeMessage(msg).length;
  assert.equal(all.length, expected);
});

test("encodeMessage() results do not alias each other", () => {
  const a = encodeMessage({ connectionId: 0, payload: { type: "ping", nonce: 1n } });
  const b = encodeMessage({ connectionId: 0, payload: { type: "pong", nonce: 2n } });
  assert.equal(toHex(a), "00 09 01");
  assert.equal(toHex(b), "00 0a 02");
});

test("encodeMessage() is re-entrant when a getter encodes another message", () => {
  let inner: Uint8Array | undefined;
  const body = {
    type: "item" as const,
    get item(): Uint8Array {
      inner = encodeMessage({ connectionId: 0, payload: { type: "ping", nonce: 5n } });
      return new Uint8Array([9, 9]);
    },
  };
  const outer = encodeMessage({ connectionId: 4, payload: { type: "channel", id: 6, body } });
  assert.equal(toHex(outer), "04 08 06 00 09 09");
  assert.ok(inner !== undefined);
  assert.equal(toHex(inner), "00 09 05");
});

test("decodeMessage() decodes empty metadata and channel lists as empty arrays", () => {
  const msg = decodeMessage(hex("00 07 01 01 00 00"));
  assert.ok(msg.payload.type === "request" && msg.payload.body.type === "response");
  assert.deepEqual(msg.payload.body.channels, []);
  assert.deepEqual(msg.payload.body.metadata, []);
  assert.equal(msg.payload.body.ret.length, 0);
});

test("decodeMessage() accepts ids and flags up to 2^53-1", () => {
  const max = "ff ff ff ff ff ff ff 0f";
  const msg = decodeMessage(hex(`${max} 07 ${max} 01 01 ${max} 01 00 00 00 ${max}`));
  assert.deepEqual(revealed(msg), {
    connectionId: Number.MAX_SAFE_INTEGER,
    payload: {
      type: "request",
      id: Number.MAX_SAFE_INTEGER,
      body: {
        type: "response",
        channels: [Number.MAX_SAFE_INTEGER],
        metadata: [{ key: "", value: "", flags: Number.MAX_SAFE_INTEGER }],
        ret: new Uint8Array(0),
      },
    },
  });
});

test("decodeMessage() keeps a leading U+FEFF in strings", () => {
  const msg: Message = {
    connectionId: 0,
    payload: {
      type: "connectionClose",
      metadata: [{ key: "\uFEFFk", value: "\uFEFFv", flags: 0 }],
    },
  };
  const bytes = encodeMessage(msg);
  assert.equal(toHex(bytes), "00 06 01 04 ef bb bf 6b 00 04 ef bb bf 76 00");
  assert.deepEqual(decodeMessage(bytes), msg);
});

// ---------------------------------------------------------------------------
// Malformed input
// ---------------------------------------------------------------------------

const TWO_53 = "80 80 80 80 80 80 80 10";
const TWO_32 = "80 80 80 80 10";

const MALFORMED: readonly (readonly [string, string, RegExp?])[] = [
  ["empty input", "", /unexpected end of input/],
  ["a missing payload", "00", /MessagePayload: unexpected end/],
  ["an unknown MessagePayload index", "00 0b", /unknown variant index 11/],
  ["a huge MessagePayload index", "00 ff ff ff ff 0f", /unknown variant index 4294967295/],
  ["a MessagePayload index that overflows 32 bits", "00 ff ff ff ff 1f", /overflows 32 bits/],
  ["an overlong MessagePayload index", "00 89 00 01", /overlong/],
  ["an unknown RequestBody index", "00 07 01 03", /RequestBody: unknown variant index 3/],
  ["an unknown ChannelBody index", "00 08 01 04", /ChannelBody: unknown variant index 4/],
  [
    "an unknown MetadataValue index",
    "00 05 01 00 03 00 00",
    /MetadataValue: unknown variant index 3/,
  ],
  ["a bad parity byte", "00 00 07 02 40 00", /Parity: unknown variant index 2/],
  ["a bad parity byte in HelloYourself", "00 01 ff 01 40 00", /Parity/],
  ["invalid UTF-8 in ProtocolError", "00 02 02 c3 28", /invalid UTF-8/],
  ["a UTF-8 encoded surrogate", "00 02 03 ed a0 80", /invalid UTF-8/],
  ["an overlong UTF-8 sequence", "00 02 02 c0 af", /invalid UTF-8/],
  ["invalid UTF-8 in a metadata key", "00 06 01 01 ff 00 00 00", /invalid UTF-8/],
  ["invalid UTF-8 in a metadata value", "00 06 01 00 00 01 80 00", /invalid UTF-8/],
  ["an overlong connection id", "80 00 09 01", /connection id: overlong/],
  ["a connection id above 2^53-1", `${TWO_53} 09 01`, /connection id: value is above/],
  ["a connection id of u64::MAX", "ff ff ff ff ff ff ff ff ff 01 09 01", /connection id/],
  ["a request id above 2^53-1", `00 07 ${TWO_53} 02 00`, /request id: value is above/],
  ["a channel id above 2^53-1", `00 08 ${TWO_53} 01 00`, /channel id: value is above/],
  ["a listed channel id above 2^53-1", `00 07 01 01 01 ${TWO_53} 00`, /channel id/],
  ["metadata flags above 2^53-1", `00 06 01 00 00 00 ${TWO_53}`, /metadata flags/],
  ["an overlong request id", "00 07 81 80 00 02 00", /request id: overlong/],
  ["an overlong nonce", "00 09 81 00", /Ping.nonce: overlong/],
  ["an overlong 10-byte nonce", "00 0a ff ff ff ff ff ff ff ff 80 00", /Pong.nonce/],
  ["a nonce that overflows 64 bits", "00 09 ff ff ff ff ff ff ff ff ff 02", /overflows 64 bits/],
  ["an 11-byte nonce", "00 09 ff ff ff ff ff ff ff ff ff 81 00", /overflows 64 bits/],
  [
    "a method id that overflows 64 bits",
    "00 07 01 00 ff ff ff ff ff ff ff ff ff 7f 00 00",
    /method id/,
  ],
  [
    "a metadata u64 that overflows 64 bits",
    "00 06 01 00 02 80 80 80 80 80 80 80 80 80 02 00",
    /u64/,
  ],
  ["a Hello version above 2^32-1", `00 00 ${TWO_32} 00 40 00`, /Hello.version/],
  ["max_concurrent_requests above 2^32-1", `00 03 00 ${TWO_32} 00`, /max_concurrent_requests/],
  ["a GrantCredit above 2^32-1", `00 08 01 03 ${TWO_32}`, /GrantCredit.additional/],
  ["a truncated method id", "00 07 01 00 81 e0", /method id: unexpected end/],
  ["a truncated ProtocolError string", "00 02 12 62 61 64", /length 18 exceeds/],
  ["a metadata count larger than the input", "00 05 05 00 00 00 00", /metadata: length 5 exceeds/],
  ["a channel count larger than the input", "00 07 01 01 05 01 02", /channels: length 5 exceeds/],
  ["a metadata bytes length larger than the input", "00 06 01 00 01 09 00", /exceeds/],
  ["a truncated metadata entry", "00 06 01 00 00 00", /unexpected end|exceeds/],
  ["a missing ConnectionSettings", "00 03", /Parity: unexpected end/],
  ["a missing request body", "00 07 01", /RequestBody: unexpected end/],
  ["a missing channel body", "00 08 01", /ChannelBody: unexpected end/],
  ["a missing ping nonce", "00 09", /Ping.nonce: unexpected end/],
  ["trailing bytes after a Ping", "00 09 01 00", /1 trailing bytes/],
  ["trailing bytes after a Hello", "00 00 07 00 40 00 00 00", /2 trailing bytes/],
  ["trailing bytes after a ProtocolError", "00 02 01 61 62", /trailing bytes/],
  ["trailing bytes after a Cancel", "00 07 01 02 00 ff", /trailing bytes/],
  ["trailing bytes after a ChannelClose", "00 08 01 01 00 00", /trailing bytes/],
  ["trailing bytes after a ChannelReset", "00 08 01 02 00 00", /trailing bytes/],
  ["trailing bytes after a GrantCredit", "00 08 01 03 10 10", /trailing bytes/],
  ["trailing bytes after a ConnectionReject", "00 05 00 00", /trailing bytes/],
];

for (const [what, h, reason] of MALFORMED) {
  test(`decodeMessage() rejects ${what}`, () => {
    assertDecodeError(hex(h), reason);
  });
}

test("decodeMessage() reports the offset of the problem", () => {
  assert.equal(assertDecodeError(hex("00 0b")).offset, 1);
  assert.equal(assertDecodeError(hex("00 09 01 00")).offset, 3);
  assert.equal(assertDecodeError(hex("00 07 01 05")).offset, 3);
});

test("decodeMessage() throws a TypeError for a non-Uint8Array argument", () => {
  assert.throws(() => decodeMessage([0, 9, 1] as unknown as Uint8Array), TypeError);
});

// ---------------------------------------------------------------------------
// Encoding invalid values
// ---------------------------------------------------------------------------

/** Builds a message from loosely typed parts, to feed invalid values. */
function bad(payload: unknown, connectionId: unknown = 0): Message {
  return { connectionId, payload } as unknown as Message;
}

const okSettings = { parity: "odd", maxConcurrentRequests: 1 };

const INVALID:
  readonly (readonly [string, Message, typeof TypeError | typeof RangeError, RegExp])[] = [
    ["a negative connection id", bad({ type: "ping", nonce: 1n }, -1), RangeError, /connectionId/],
    [
      "a fractional connection id",
      bad({ type: "ping", nonce: 1n }, 1.5),
      TypeError,
      /connectionId/,
    ],
    [
      "an unsafe connection id",
      bad({ type: "ping", nonce: 1n }, 2 ** 53),
      RangeError,
      /connectionId/,
    ],
    ["a bigint connection id", bad({ type: "ping", nonce: 1n }, 1n), TypeError, /connectionId/],
    [
      "a NaN request id",
      bad({ type: "request", id: NaN, body: { type: "cancel", metadata: [] } }),
      TypeError,
      /payload\.id/,
    ],
    [
      "a negative channel id",
      bad({ type: "channel", id: -2, body: { type: "close", metadata: [] } }),
      RangeError,
      /payload\.id/,
    ],
    ["an unknown payload type", bad({ type: "goodbye" }), TypeError, /payload\.type.*"goodbye"/],
    ["a missing payload", bad(undefined), TypeError, /payload/],
    ["a null payload", bad(null), TypeError, /payload/],
    [
      "an unknown request body type",
      bad({ type: "request", id: 1, body: { type: "nope" } }),
      TypeError,
      /payload\.body\.type/,
    ],
    [
      "an unknown channel body type",
      bad({ type: "channel", id: 1, body: { type: "nope" } }),
      TypeError,
      /payload\.body\.type/,
    ],
    [
      "a number method id",
      bad({
        type: "request",
        id: 1,
        body: { type: "call", methodId: 1, channels: [], metadata: [], args: new Uint8Array() },
      }),
      TypeError,
      /methodId/,
    ],
    [
      "a negative method id",
      bad({
        type: "request",
        id: 1,
        body: { type: "call", methodId: -1n, channels: [], metadata: [], args: new Uint8Array() },
      }),
      RangeError,
      /methodId/,
    ],
    [
      "a method id above 2^64-1",
      bad({
        type: "request",
        id: 1,
        body: {
          type: "call",
          methodId: 2n ** 64n,
          channels: [],
          metadata: [],
          args: new Uint8Array(),
        },
      }),
      RangeError,
      /methodId/,
    ],
    [
      "a non-array channel list",
      bad({
        type: "request",
        id: 1,
        body: { type: "call", methodId: 1n, channels: 3, metadata: [], args: new Uint8Array() },
      }),
      TypeError,
      /channels/,
    ],
    [
      "a negative listed channel id",
      bad({
        type: "request",
        id: 1,
        body: {
          type: "call",
          methodId: 1n,
          channels: [1, -3],
          metadata: [],
          args: new Uint8Array(),
        },
      }),
      RangeError,
      /channels\[1\]/,
    ],
    [
      "args that are not bytes",
      bad({
        type: "request",
        id: 1,
        body: { type: "call", methodId: 1n, channels: [], metadata: [], args: [1, 2] },
      }),
      TypeError,
      /args/,
    ],
    [
      "ret that is not bytes",
      bad({
        type: "request",
        id: 1,
        body: { type: "response", channels: [], metadata: [], ret: "x" },
      }),
      TypeError,
      /ret/,
    ],
    [
      "an item that is not bytes",
      bad({ type: "channel", id: 1, body: { type: "item", item: new ArrayBuffer(2) } }),
      TypeError,
      /item/,
    ],
    [
      "a GrantCredit above 2^32-1",
      bad({ type: "channel", id: 1, body: { type: "grantCredit", additional: 2 ** 32 } }),
      RangeError,
      /additional/,
    ],
    [
      "a fractional GrantCredit",
      bad({ type: "channel", id: 1, body: { type: "grantCredit", additional: 0.5 } }),
      TypeError,
      /additional/,
    ],
    [
      "a negative Hello version",
      bad({ type: "hello", version: -7, settings: okSettings, metadata: [] }),
      RangeError,
      /version/,
    ],
    [
      "a bad parity",
      bad({
        type: "hello",
        version: 7,
        settings: { parity: "both", maxConcurrentRequests: 1 },
        metadata: [],
      }),
      TypeError,
      /settings\.parity/,
    ],
    ["missing settings", bad({ type: "helloYourself", metadata: [] }), TypeError, /settings/],
    [
      "a max_concurrent_requests above 2^32-1",
      bad({
        type: "connectionOpen",
        settings: { parity: "odd", maxConcurrentRequests: 2 ** 32 },
        metadata: [],
      }),
      RangeError,
      /maxConcurrentRequests/,
    ],
    [
      "a non-array metadata",
      bad({ type: "connectionClose", metadata: { key: "a" } }),
      TypeError,
      /payload\.metadata/,
    ],
    [
      "a null metadata entry",
      bad({ type: "connectionClose", metadata: [null] }),
      TypeError,
      /metadata\[0\]/,
    ],
    [
      "a non-string metadata key",
      bad({ type: "connectionClose", metadata: [{ key: 1, value: "", flags: 0 }] }),
      TypeError,
      /metadata\[0\]\.key/,
    ],
    [
      "a lone surrogate in a metadata key",
      bad({ type: "connectionClose", metadata: [{ key: "\ud800", value: "", flags: 0 }] }),
      TypeError,
      /key.*lone surrogate/,
    ],
    [
      "a number metadata value",
      bad({ type: "connectionClose", metadata: [{ key: "a", value: 1, flags: 0 }] }),
      TypeError,
      /value/,
    ],
    [
      "a null metadata value",
      bad({ type: "connectionClose", metadata: [{ key: "a", value: null, flags: 0 }] }),
      TypeError,
      /value/,
    ],
    [
      "an ArrayBuffer metadata value",
      bad({
        type: "connectionClose",
        metadata: [{ key: "a", value: new ArrayBuffer(1), flags: 0 }],
      }),
      TypeError,
      /value/,
    ],
    [
      "a negative u64 metadata value",
      bad({ type: "connectionClose", metadata: [{ key: "a", value: -1n, flags: 0 }] }),
      RangeError,
      /value/,
    ],
    [
      "a u64 metadata value above 2^64-1",
      bad({ type: "connectionClose", metadata: [{ key: "a", value: 2n ** 64n, flags: 0 }] }),
      RangeError,
      /value/,
    ],
    [
      "negative metadata flags",
      bad({ type: "connectionClose", metadata: [{ key: "a", value: "", flags: -1 }] }),
      RangeError,
      /flags/,
    ],
    [
      "metadata flags above 2^53-1",
      bad({ type: "connectionClose", metadata: [{ key: "a", value: "", flags: 2 ** 53 }] }),
      RangeError,
      /flags/,
    ],
    [
      "bigint metadata flags",
      bad({ type: "connectionClose", metadata: [{ key: "a", value: "", flags: 1n }] }),
      TypeError,
      /flags/,
    ],
    [
      "missing metadata flags",
      bad({ type: "connectionClose", metadata: [{ key: "a", value: "" }] }),
      TypeError,
      /flags/,
    ],
    [
      "a lone surrogate in a ProtocolError",
      bad({ type: "protocolError", description: "x\udc00y".repeat(50) }),
      TypeError,
      /description/,
    ],
    [
      "a non-string ProtocolError",
      bad({ type: "protocolError", description: 5 }),
      TypeError,
      /description/,
    ],
    ["a number nonce", bad({ type: "ping", nonce: 1 }), TypeError, /nonce/],
    ["a nonce above 2^64-1", bad({ type: "pong", nonce: 2n ** 64n }), RangeError, /nonce/],
  ];

for (const [what, msg, type, pattern] of INVALID) {
  test(`encodeMessage() throws a ${type.name} for ${what}`, () => {
    assert.throws(() => encodeMessage(msg), (e: unknown) => {
      assert.ok(e instanceof type, `expected ${type.name}, got ${String(e)}`);
      assert.equal(e.constructor, type);
      assert.match(e.message, /^Cannot encode Message at /);
      assert.match(e.message, pattern);
      return true;
    });
  });
}

test("writeMessage() leaves the writer unchanged when a value is invalid", () => {
  const w = new Writer(8);
  w.u8(0x55);
  const msg = bad({
    type: "connectionClose",
    metadata: [{ key: "long key ".repeat(40), value: "v".repeat(500), flags: 0 }, {
      key: "a",
      value: 3,
    }],
  });
  assert.throws(() => writeMessage(w, msg), TypeError);
  assert.equal(w.pos, 1);
  writeMessage(w, { connectionId: 0, payload: { type: "ping", nonce: 1n } });
  assert.equal(toHex(w.finish()), "55 00 09 01");
});

test("encodeMessage() still works after a failed encode", () => {
  assert.throws(() => encodeMessage(bad({ type: "ping", nonce: -1n })), RangeError);
  assert.equal(
    toHex(encodeMessage({ connectionId: 0, payload: { type: "ping", nonce: 1n } })),
    "00 09 01",
  );
});

test("writeMetadata() and writeSettings() name their own root in errors", () => {
  assert.throws(
    () => writeMetadata(new Writer(), [{ key: "a", value: "", flags: -1 }]),
    /^RangeError: Cannot encode Metadata at metadata\[0\]\.flags/,
  );
  assert.throws(
    () => writeSettings(new Writer(), { parity: "odd", maxConcurrentRequests: -1 }),
    /^RangeError: Cannot encode ConnectionSettings at settings\.maxConcurrentRequests/,
  );
});

// ---------------------------------------------------------------------------
// Property-style: arbitrary bytes give a Message or a DecodeError
// ---------------------------------------------------------------------------

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Decodes `bytes`, accepting only a Message (which must re-encode to the
 * same bytes, since the decoder only accepts canonical input) or a
 * DecodeError. Returns whether it decoded.
 */
function decodesOrFails(bytes: Uint8Array): boolean {
  let msg: Message;
  try {
    msg = decodeMessage(bytes);
  } catch (e) {
    if (e instanceof DecodeError) return false;
    throw new Error(`input ${toHex(bytes)} threw a non-DecodeError: ${String(e)}`);
  }
  const again = encodeMessage(msg);
  if (!sameBytes(again, bytes)) {
    assert.fail(`input ${toHex(bytes)} decoded but re-encodes as ${toHex(again)}`);
  }
  return true;
}

test("decodeMessage() gives a Message or a DecodeError for every truncation of every golden message", () => {
  const all = [...GOLDEN.map((g) => hex(g.hex)), ...VARIANTS.map((m) => encodeMessage(m).slice())];
  for (const bytes of all) {
    // Past the first few hundred bytes a long trailing payload adds nothing new.
    const len = bytes.length;
    for (let n = 0; n < len; n++) {
      if (n === 400 && len > 420) n = len - 20;
      decodesOrFails(bytes.subarray(0, n));
    }
  }
});

test("decodeMessage() rejects every truncation of messages without a trailing payload", () => {
  for (const msg of VARIANTS) {
    const t = msg.payload.type;
    const body = t === "request" || t === "channel" ? msg.payload.body.type : "";
    if (body === "call" || body === "response" || body === "item") continue;
    const bytes = encodeMessage(msg).slice();
    for (let n = 0; n < bytes.length; n++) assertDecodeError(bytes.subarray(0, n));
  }
});

test("decodeMessage() gives a Message or a DecodeError for thousands of random byte strings", () =>
  seeded(0x5eed, (rng) => {
    const next = (): number => Math.floor(rng() * 0x1_0000_0000);
    let decoded = 0;
    for (let i = 0; i < 4000; i++) {
      const len = next() % 48;
      const bytes = new Uint8Array(len);
      for (let j = 0; j < len; j++) bytes[j] = next() & 0xff;
      // Bias half the inputs towards plausible headers so deeper paths run.
      if (len >= 2 && (i & 1) === 0) {
        bytes[0] = next() % 3;
        bytes[1] = next() % 12;
      }
      if (decodesOrFails(bytes)) decoded++;
    }
    assert.ok(decoded > 0, "some random inputs decode");
  }));

test("decodeMessage() gives a Message or a DecodeError for mutated golden messages", () =>
  seeded(0xc0ffee, (rng) => {
    const next = (): number => Math.floor(rng() * 0x1_0000_0000);
    const seeds = GOLDEN.map((g) => hex(g.hex));
    for (let i = 0; i < 4000; i++) {
      const base = seeds[next() % seeds.length]!;
      const bytes = new Uint8Array(base);
      const flips = 1 + (next() % 3);
      for (let k = 0; k < flips && bytes.length > 0; k++) {
        const at = next() % bytes.length;
        switch (next() % 4) {
          case 0:
            bytes[at] = next() & 0xff;
            break;
          case 1:
            bytes[at] = bytes[at]! ^ (1 << (next() % 8));
            break;
          case 2:
            bytes[at] = bytes[at]! | 0x80;
            break;
          default:
            bytes[at] = bytes[at]! & 0x7f;
        }
      }
      decodesOrFails(bytes);
    }
  }));
