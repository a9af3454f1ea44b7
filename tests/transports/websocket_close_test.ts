/**
 * WebSocket close codes, both ways between this runtime's WebSocket
 * server and the standard client: an explicit `close(code, reason)`
 * reaches the peer, whose session ends with `peer-closed` saying the code
 * and reason; a dropped connection (no Close frame) ends both sessions
 * with `link-lost`; an ordinary close is still a plain end of stream.
 *
 * @module
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { accept, ClosedError, initiate, type Session } from "../../mod.ts";
import {
  connectWebSocket,
  WebSocketClosedError,
  type WebSocketLink,
} from "../../transports/websocket.ts";
import { listenWebSocket, type WebSocketListener } from "../../transports/websocket_server.ts";
import { CutProxy, within } from "../_helpers/mod.ts";

/** A session pair over WebSocket, with both links (the client's through `port` if given). */
async function pair(listener: WebSocketListener, port?: number): Promise<{
  clientLink: WebSocketLink;
  serverLink: WebSocketLink;
  client: Session;
  server: Session;
}> {
  const url = port === undefined ? listener.url : `ws://127.0.0.1:${port}/`;
  const [clientLink, serverLink] = await Promise.all([connectWebSocket(url), listener.accept()]);
  assert.ok(serverLink !== undefined);
  const [client, server] = await Promise.all([
    initiate(clientLink, { keepalive: false }),
    accept(serverLink, { keepalive: false }),
  ]);
  return { clientLink, serverLink, client, server };
}

function assertPeerClosed(reason: unknown, code: number, text: string): void {
  assert.ok(reason instanceof ClosedError, String(reason));
  assert.equal(reason.code, "peer-closed");
  assert.match(reason.message, new RegExp(`code ${code}: ${text}`));
  assert.ok(reason.cause instanceof WebSocketClosedError);
  assert.equal(reason.cause.code, code);
  assert.equal(reason.cause.reason, text);
  assert.equal(reason.cause.peerClosed, true);
}

test("A client's close(code, reason) reaches the server: its session ends with peer-closed and says why", async () => {
  await using listener = await listenWebSocket();
  const { clientLink, client, server } = await pair(listener);
  await clientLink.close(4001, "going for maintenance");
  assertPeerClosed(
    await within(server.closed, 2000, "the server's end"),
    4001,
    "going for maintenance",
  );
  const mine = await within(client.closed, 2000, "the client's end");
  assert.ok(mine instanceof ClosedError && mine.code === "peer-closed", "this side's stream ends");
});

test("A server's close(code, reason) reaches the client: its session ends with peer-closed and says why", async () => {
  await using listener = await listenWebSocket();
  const { serverLink, client } = await pair(listener);
  await serverLink.close(4002, "rebalancing");
  assertPeerClosed(await within(client.closed, 2000, "the client's end"), 4002, "rebalancing");
});

test("A plain close(1000) is an ordinary end of stream for the peer", async () => {
  await using listener = await listenWebSocket();
  const { clientLink, server } = await pair(listener);
  await clientLink.close();
  const reason = await within(server.closed, 2000, "the server's end");
  assert.ok(reason instanceof ClosedError && reason.code === "peer-closed");
  assert.equal(reason.message, "The peer closed the link");
});

test("A dropped WebSocket connection ends the sessions on both sides with link-lost", async () => {
  await using listener = await listenWebSocket();
  const proxy = await CutProxy.start(listener.address.port);
  try {
    const { client, server } = await pair(listener, proxy.port);
    proxy.cutNow("reset");
    const [c, s] = await Promise.all([
      within(client.closed, 5000, "the client's end"),
      within(server.closed, 5000, "the server's end"),
    ]);
    for (const [side, reason] of [["client", c], ["server", s]] as const) {
      assert.ok(reason instanceof ClosedError, `${side}: ${String(reason)}`);
      assert.equal(reason.code, "link-lost", `${side}: ${reason.message}`);
    }
  } finally {
    await proxy.close();
  }
});

test("close() checks its code and reason", async () => {
  await using listener = await listenWebSocket();
  const [clientLink, serverLink] = await Promise.all([
    connectWebSocket(listener.url),
    listener.accept(),
  ]);
  for (const link of [clientLink, serverLink!]) {
    await assert.rejects(link.close(1001), RangeError);
    await assert.rejects(link.close(2999), RangeError);
    await assert.rejects(link.close(5000), RangeError);
    await assert.rejects(link.close(4000, "x".repeat(124)), RangeError);
  }
  await clientLink.close(3000, "é".repeat(61));
  const reader = serverLink!.readable.getReader();
  const e = await within(reader.read().then(() => undefined, (e: unknown) => e), 2000, "the end");
  assert.ok(e instanceof WebSocketClosedError);
  assert.deepEqual([e.code, e.reason, e.peerClosed], [3000, "é".repeat(61), true]);
});
