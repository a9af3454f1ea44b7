/**
 * Message heads read on the hot path (`readHead`) against the full decoder:
 * whatever the bytes, a head the fast path accepts says what
 * `decodeMessage` says, and every call, response and item without channels
 * or metadata is taken by the fast path.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { encodeMessage } from "../../lib/wire/encode.ts";
import { decodeMessage } from "../../lib/wire/decode.ts";
import {
  type Head,
  HeadKind,
  methodIdBytes,
  newHead,
  readHead,
  writeCallHead,
  writeResponseHead,
} from "../../lib/wire/heads.ts";
import { Writer } from "../../lib/postcard/_writer.ts";
import { ChannelTag, MessageTag, RequestTag } from "../../lib/wire/tags.ts";
import type { Message, RequestBody } from "../../lib/wire/types.ts";
import { seeded } from "../_helpers/mod.ts";

/** The message in `bytes[start, …)`, or undefined when the full decoder rejects it. */
function decoded(bytes: Uint8Array, start: number): Message | undefined {
  try {
    return decodeMessage(bytes.subarray(start));
  } catch {
    return undefined;
  }
}

/** Checks one input both ways; returns the head's kind. */
function check(bytes: Uint8Array, start: number): number {
  const head: Head = newHead();
  readHead(bytes, start, bytes.length, head);
  const m = decoded(bytes, start);
  const p = m?.payload;
  const fast = p !== undefined && (
    (p.type === "request" && p.body.type === "call" && p.body.channels.length === 0 &&
      p.body.metadata.length === 0) ||
    (p.type === "request" && p.body.type === "response" && p.body.channels.length === 0 &&
      p.body.metadata.length === 0) ||
    (p.type === "channel" && p.body.type === "item")
  );
  if (head.kind === HeadKind.Other || head.kind === HeadKind.Ping) {
    assert.ok(!fast, `the fast path left out a message it handles: ${[...bytes.subarray(start)]}`);
    if (head.kind === HeadKind.Ping && p?.type === "ping") {
      assert.equal(head.cid, m!.connectionId);
    }
    return head.kind;
  }
  assert.ok(m !== undefined && p !== undefined, `accepted bytes the decoder rejects`);
  assert.equal(head.cid, m.connectionId);
  if (p.type === "channel" && p.body.type === "item") {
    assert.equal(head.kind, HeadKind.Item);
    assert.equal(head.id, p.id);
    assert.deepEqual(bytes.subarray(start + head.pos - start), p.body.item);
  } else if (p.type === "request" && p.body.type === "call") {
    assert.equal(head.kind, HeadKind.Call);
    assert.equal(head.id, p.id);
    assert.equal(head.methodId, p.body.methodId);
    assert.deepEqual(bytes.subarray(head.pos), p.body.args);
  } else if (p.type === "request" && p.body.type === "response") {
    assert.equal(head.kind, HeadKind.Response);
    assert.equal(head.id, p.id);
    assert.deepEqual(bytes.subarray(head.pos), p.body.ret);
  } else {
    assert.fail(`the fast path took a ${p.type} message`);
  }
  return head.kind;
}

/** A u64 of `bits` random bits (the top one set), as a bigint. */
function randomU64(next: () => number, bits: number): bigint {
  let v = 0n;
  for (let i = 0; i < bits; i++) v = (v << 1n) | (i === 0 ? 1n : BigInt(next() & 1));
  return v;
}

test("readHead() agrees with decodeMessage() on calls, responses and items of every id size", () =>
  seeded(0x4ead, (rng) => {
    const next = (): number => Math.floor(rng() * 0x1_0000_0000);
    const counts = new Map<number, number>();
    for (let i = 0; i < 3000; i++) {
      const cid = Number(randomU64(next, next() % 54));
      const id = Number(randomU64(next, next() % 54));
      // Many distinct method ids: they share the cache's slots, whose hits must be exact.
      const methodId = randomU64(next, next() % 65);
      const tail = Uint8Array.from({ length: next() % 6 }, () => next() & 0xff);
      const messages: Message[] = [
        {
          connectionId: cid,
          payload: {
            type: "request",
            id,
            body: { type: "call", methodId, channels: [], metadata: [], args: tail },
          },
        },
        {
          connectionId: cid,
          payload: {
            type: "request",
            id,
            body: { type: "response", channels: [], metadata: [], ret: tail },
          },
        },
        { connectionId: cid, payload: { type: "channel", id, body: { type: "item", item: tail } } },
        {
          connectionId: cid,
          payload: {
            type: "request",
            id,
            body: { type: "call", methodId, channels: [id + 1], metadata: [], args: tail },
          },
        },
      ];
      for (const m of messages) {
        const bytes = encodeMessage(m).slice();
        // At an offset too, as a conduit with its own header hands messages over.
        const shifted = new Uint8Array(3 + bytes.length);
        shifted.set(bytes, 3);
        const kind = check(bytes, 0);
        assert.equal(check(shifted, 3), kind);
        counts.set(kind, (counts.get(kind) ?? 0) + 1);
      }
    }
    assert.equal(counts.get(HeadKind.Call), 3000);
    assert.equal(counts.get(HeadKind.Response), 3000);
    assert.equal(counts.get(HeadKind.Item), 3000);
    assert.equal(counts.get(HeadKind.Other), 3000, "a call with channels takes the full decoder");
  }));

test("readHead() leaves overlong, overflowing and truncated varints to the full decoder", () => {
  const kinds = (bytes: number[]): number => check(Uint8Array.from(bytes), 0);
  const REQ = MessageTag.Request;
  const CALL = RequestTag.Call;
  const CH = MessageTag.Channel;
  const ITEM = ChannelTag.Item;
  // A call on connection 0, request 1, method id 5: accepted as it is.
  assert.equal(kinds([0, REQ, 1, CALL, 5, 0, 0]), HeadKind.Call);
  assert.equal(kinds([0, REQ, 1, CALL, 0x85, 0x00, 0, 0]), HeadKind.Other, "overlong method id");
  assert.equal(
    kinds([0x80, 0x00, REQ, 1, CALL, 5, 0, 0]),
    HeadKind.Other,
    "overlong connection id",
  );
  assert.equal(kinds([0, REQ, 0x81, 0x00, CALL, 5, 0, 0]), HeadKind.Other, "overlong request id");
  const max = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
  assert.equal(kinds([0, REQ, 1, CALL, ...max, 0, 0]), HeadKind.Call, "method id 2^64-1");
  const over = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
  assert.equal(kinds([0, REQ, 1, CALL, ...over, 0, 0]), HeadKind.Other, "method id above 2^64-1");
  const safeMax = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f];
  assert.equal(kinds([0, CH, ...safeMax, ITEM, 7]), HeadKind.Item, "channel id 2^53-1");
  const unsafe = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x10];
  assert.equal(kinds([0, CH, ...unsafe, ITEM, 7]), HeadKind.Other, "channel id 2^53");
  const call = [0, REQ, 0x81, 0x01, CALL, 0xa5, 0xb6, 0xc7, 0x08, 0, 0, 3];
  for (let n = 0; n <= call.length - 2; n++) {
    assert.equal(kinds(call.slice(0, n)), HeadKind.Other, `truncated to ${n} bytes`);
  }
  assert.equal(kinds(call), HeadKind.Call);
  // Its method id is known now: the truncated ones still go to the full decoder.
  for (let n = 0; n <= call.length - 2; n++) {
    assert.equal(kinds(call.slice(0, n)), HeadKind.Other, `truncated to ${n} bytes, id known`);
  }
});

test("readHead() tells apart method ids whose varints share their first bytes", () => {
  // Ids equal in their low 14 bits (the first two varint bytes), read in turn, over and over.
  const ids = [0x4000n, 0x1_0000_4000n, 0xffff_ffff_ffff_c000n, 0x8000_0000_0000_4000n];
  const head = newHead();
  for (let round = 0; round < 3; round++) {
    for (const methodId of ids) {
      const bytes = encodeMessage({
        connectionId: 0,
        payload: {
          type: "request",
          id: 1,
          body: { type: "call", methodId, channels: [], metadata: [], args: new Uint8Array([9]) },
        },
      });
      readHead(bytes, 0, bytes.length, head);
      assert.equal(head.kind, HeadKind.Call);
      assert.equal(head.methodId, methodId);
      assert.equal(bytes[head.pos], 9);
    }
  }
});

test("readHead() gives what decodeMessage() gives for thousands of random byte strings", () =>
  seeded(0x4eadbeef, (rng) => {
    const next = (): number => Math.floor(rng() * 0x1_0000_0000);
    let fast = 0;
    for (let i = 0; i < 6000; i++) {
      const len = next() % 24;
      const bytes = new Uint8Array(len);
      for (let j = 0; j < len; j++) {
        // Mostly small bytes, so that tags and zero lists come up often.
        bytes[j] = (next() & 3) === 0 ? next() & 0xff : next() % 4;
      }
      // Half the inputs start like a request or a channel message, so deeper paths run.
      if (len >= 2 && (i & 1) === 0) {
        bytes[1] = (next() & 1) === 0 ? MessageTag.Request : MessageTag.Channel;
      }
      const kind = check(bytes, 0);
      if (kind !== HeadKind.Other && kind !== HeadKind.Ping) fast++;
    }
    assert.ok(fast > 100, `some random inputs take the fast path (${fast})`);
  }));

test("the in-place call and response heads are the bytes the full encoder writes, for any ids", () => {
  const methodId = 0x1234_5678_9abc_def0n;
  const ids = [0, 1, 127, 128, 16_383, 16_384, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 3];
  const one = new Uint8Array([7]);
  for (const connectionId of ids) {
    for (const id of ids) {
      const heads: [string, (w: Writer) => void, RequestBody][] = [
        [
          "call",
          (w) => writeCallHead(w, connectionId, id, methodIdBytes({}, methodId), [], []),
          { type: "call", methodId, channels: [], metadata: [], args: one },
        ],
        [
          "response",
          (w) => writeResponseHead(w, connectionId, id, []),
          { type: "response", channels: [], metadata: [], ret: one },
        ],
      ];
      for (const [kind, writeHead, body] of heads) {
        const w = new Writer(4);
        writeHead(w);
        w.u8(7); // the args, or the result
        assert.deepEqual(
          w.buf.subarray(0, w.pos),
          encodeMessage({ connectionId, payload: { type: "request", id, body } }),
          `${kind} on connection ${connectionId}, request ${id}`,
        );
      }
    }
  }
});
