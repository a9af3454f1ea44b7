/**
 * Everything the tests share, behind one import path
 * (`tests/_helpers/mod.ts`; not a test file):
 *
 * - `bytes.ts`: hex both ways, varints, frames, joining arrays;
 * - `timing.ts`: `within`, `until`, `delay`, `tick`, `settle`,
 *   `rejection`, `deferred`, and a count of forgotten timers;
 * - `seeded.ts`: seeded randomness that names its seed on failure;
 * - `messages.ts`: ready-made wire messages (`HELLO`, calls, responses);
 * - `raw_peer.ts`: a hand-driven peer on a memory link (`RawPeer`) and
 *   sessions whose other side is one (`rawInitiator`, `rawAcceptor`);
 * - `raw_socket.ts`: a hand-driven client socket speaking roam framing or
 *   WebSocket (`RawSocket`);
 * - `sessions.ts`: session pairs and small services (`Echo`, `Hold`…);
 * - `runtime.ts`: the running runtime's own `inspect`;
 * - `cli.ts`: the `roam` command line run in a child process;
 * - `cut_proxy.ts`: a TCP (or Unix socket) proxy that cuts connections
 *   at chosen points (`CutProxy`);
 * - `stable.ts`: link pairs a test can cut, and the bytes of the stable
 *   conduit's handshake and frames.
 *
 * @module
 */

export * from "./bytes.ts";
export * from "./timing.ts";
export * from "./seeded.ts";
export * from "./messages.ts";
export * from "./raw_peer.ts";
export * from "./raw_socket.ts";
export * from "./sessions.ts";
export * from "./runtime.ts";
export * from "./cli.ts";
export * from "./cut_proxy.ts";
export * from "./stable.ts";
