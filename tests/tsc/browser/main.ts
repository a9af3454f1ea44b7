/**
 * What a browser project type-checks when it imports roam's browser-safe
 * entry points (`browser.ts` first; not `tracing.ts`, which needs
 * `node:async_hooks`): `tsc` with the DOM library and no runtime types (see
 * `tsconfig.json`), run by `scripts/check_tsc.ts`.
 *
 * @module
 */

import * as browser from "../../../browser.ts";
import * as roam from "../../../mod.ts";
import * as postcard from "../../../postcard.ts";
import * as wire from "../../../wire.ts";
import * as websocket from "../../../transports/websocket.ts";
import * as messagePort from "../../../transports/message_port.ts";

const Echo = browser.service("Echo", {
  echo: { args: [browser.t.string], returns: browser.t.string },
});

/** Connects to the page's own server over WebSocket and calls `Echo` once. */
export async function roundTrip(): Promise<string> {
  const session = await browser.connect(new URL("/roam", location.href.replace(/^http/, "ws")));
  const reply = await session.client(Echo).echo("hi");
  await session.close();
  return reply;
}

/** Everything imported, so that nothing is elided. */
export const entries: readonly object[] = [
  browser,
  roam,
  postcard,
  wire,
  websocket,
  messagePort,
];
