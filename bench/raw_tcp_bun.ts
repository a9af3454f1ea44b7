/**
 * Raw TCP baseline on Bun: `Bun.listen` / `Bun.connect` with socket
 * handlers; the server splits the stream into frames and writes each frame back.
 *
 * @module
 */

import { FrameSplitter, type RawClient, type RawEchoServer, type RawTcp } from "./_raw_tcp.ts";

interface Sock {
  write(data: Uint8Array): number;
  setNoDelay(on: boolean): boolean;
  end(): void;
  data: { pending: Uint8Array[]; splitter: FrameSplitter };
}
interface BunApi {
  listen(o: {
    hostname: string;
    port: number;
    socket: {
      open(s: Sock): void;
      data(s: Sock, d: Uint8Array): void;
      drain(s: Sock): void;
      close(s: Sock): void;
    };
  }): { port: number; stop(force?: boolean): void };
  connect(o: {
    hostname: string;
    port: number;
    socket: { data(s: Sock, d: Uint8Array): void; drain(s: Sock): void };
  }): Promise<Sock>;
}
const Bun = (globalThis as unknown as { Bun: BunApi }).Bun;

function send(s: Sock, bytes: Uint8Array): void {
  if (s.data.pending.length > 0) {
    s.data.pending.push(bytes.slice());
    return;
  }
  const n = s.write(bytes);
  if (n < bytes.length) s.data.pending.push(bytes.slice(Math.max(0, n)));
}

function drain(s: Sock): void {
  const q = s.data.pending;
  while (q.length > 0) {
    const n = s.write(q[0]!);
    if (n < q[0]!.length) {
      q[0] = q[0]!.subarray(Math.max(0, n));
      return;
    }
    q.shift();
  }
}

/** The Bun baseline. */
export const rawTcp: RawTcp = {
  echoServer(): Promise<RawEchoServer> {
    const server = Bun.listen({
      hostname: "127.0.0.1",
      port: 0,
      socket: {
        open(s) {
          s.setNoDelay(true);
          s.data = { pending: [], splitter: new FrameSplitter() };
        },
        data: (s, d) => s.data.splitter.push(d, (frame) => send(s, frame)),
        drain,
        close() {},
      },
    });
    return Promise.resolve({
      port: server.port,
      close() {
        server.stop(true);
        return Promise.resolve();
      },
    });
  },
  async connect(port: number): Promise<RawClient> {
    let want = 0;
    let done: (() => void) | undefined;
    const sock = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        data(_s, d) {
          want -= d.length;
          if (want <= 0 && done !== undefined) {
            const r = done;
            done = undefined;
            r();
          }
        },
        drain,
      },
    });
    sock.data = { pending: [], splitter: new FrameSplitter() };
    sock.setNoDelay(true);
    return {
      exchange(frame, count) {
        want = frame.length * count;
        const p = new Promise<void>((r) => (done = r));
        for (let i = 0; i < count; i++) send(sock, frame);
        return p;
      },
      close() {
        sock.end();
      },
    };
  },
};
