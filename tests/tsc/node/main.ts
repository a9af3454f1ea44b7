/**
 * What a Node project type-checks when it imports every entry point of
 * roam: `tsc` with `@types/node`, `erasableSyntaxOnly` (what Node's type
 * stripping can run) and `verbatimModuleSyntax` (see `tsconfig.json`), run
 * by `scripts/check_tsc.ts`.
 *
 * @module
 */

import * as roam from "../../../mod.ts";
import * as postcard from "../../../postcard.ts";
import * as wire from "../../../wire.ts";
import * as tracing from "../../../tracing.ts";
import * as tcp from "../../../transports/tcp.ts";
import * as unix from "../../../transports/unix.ts";
import * as websocket from "../../../transports/websocket.ts";
import * as websocketServer from "../../../transports/websocket_server.ts";
import * as stdio from "../../../transports/stdio.ts";
import * as messagePort from "../../../transports/message_port.ts";

const Echo = roam.service("Echo", { echo: { args: [roam.t.string], returns: roam.t.string } });

/** Serves `Echo` on TCP and calls it once. */
export async function roundTrip(): Promise<string> {
  await using server = await roam.serve("tcp://127.0.0.1:0", {
    services: [roam.implement(Echo, { echo: (s) => s })],
  });
  const session = await roam.connect(server.url);
  const reply = await session.client(Echo).echo("hi");
  await session.close();
  return reply;
}

/** Everything imported, so that nothing is elided. */
export const entries: readonly object[] = [
  roam,
  postcard,
  wire,
  tracing,
  tcp,
  unix,
  websocket,
  websocketServer,
  stdio,
  messagePort,
];
