/**
 * Addresses on the command line: `tcp://host:port`, `unix:/path`,
 * `ws://host:port/path` and `wss://…` (connect only).
 *
 * @module
 */

import type { Link } from "../../mod.ts";
import { UsageError } from "./_usage.ts";

/** A parsed address. */
export type Address =
  | {
    readonly kind: "tcp";
    readonly hostname: string;
    readonly port: number;
    readonly text: string;
  }
  | { readonly kind: "unix"; readonly path: string; readonly text: string }
  | { readonly kind: "ws"; readonly url: URL; readonly text: string };

/**
 * Parses an address.
 *
 * @param text The address as given.
 * @param role Whether it is listened on (port 0 allowed, no `wss:`) or connected to.
 * @returns The address.
 * @throws {UsageError} For anything else.
 */
export function parseAddress(text: string, role: "listen" | "connect"): Address {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(
      `Invalid address ${
        JSON.stringify(text)
      }: expected tcp://host:port, unix:/path, ws://host:port/path or wss://…`,
    );
  }
  switch (url.protocol) {
    case "tcp:": {
      const port = url.port === "" ? NaN : Number(url.port);
      if (!Number.isInteger(port) || (role === "connect" && port === 0)) {
        throw new UsageError(`Invalid address ${text}: a port is required`);
      }
      const hostname = url.hostname.replace(/^\[|\]$/g, "") || "127.0.0.1";
      return { kind: "tcp", hostname, port, text };
    }
    case "unix:": {
      const path = decodeURIComponent(url.pathname);
      if (path === "") throw new UsageError(`Invalid address ${text}: a socket path is required`);
      return { kind: "unix", path, text };
    }
    case "wss:":
      if (role === "listen") {
        throw new UsageError(
          `Cannot listen on ${text}: wss:// is for connecting only (no TLS listener)`,
        );
      }
      return { kind: "ws", url, text };
    case "ws:":
      if (role === "listen" && url.port === "") {
        throw new UsageError(`Invalid address ${text}: a port is required to listen`);
      }
      return { kind: "ws", url, text };
  }
  throw new UsageError(
    `Unsupported address scheme ${url.protocol} in ${text}: expected tcp:, unix:, ws: or wss:`,
  );
}

/**
 * Opens a link (the transport only; no handshake).
 *
 * @param a The address.
 * @returns The link.
 */
export async function openLink(a: Address): Promise<Link> {
  switch (a.kind) {
    case "tcp": {
      const { connectTcp } = await import("../../transports/tcp.ts");
      return await connectTcp({ hostname: a.hostname, port: a.port });
    }
    case "unix": {
      const { connectUnix } = await import("../../transports/unix.ts");
      return await connectUnix({ path: a.path });
    }
    case "ws": {
      const { connectWebSocket } = await import("../../transports/websocket.ts");
      return await connectWebSocket(a.url);
    }
  }
}
