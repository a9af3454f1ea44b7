/**
 * Raw TCP baseline on Deno: `Deno.listen` / `Deno.connect`, reads into one
 * buffer, writes with `conn.write`.
 *
 * @module
 */

import { FrameSplitter, type RawClient, type RawEchoServer, type RawTcp } from "./_raw_tcp.ts";

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

/** The Deno baseline. */
export const rawTcp: RawTcp = {
  echoServer(): Promise<RawEchoServer> {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const conns = new Set<Deno.Conn>();
    void (async () => {
      for await (const conn of listener) {
        conn.setNoDelay(true);
        conns.add(conn);
        void (async () => {
          const buf = new Uint8Array(256 * 1024);
          const splitter = new FrameSplitter();
          const frames: Uint8Array[] = [];
          try {
            for (;;) {
              const n = await conn.read(buf);
              if (n === null) break;
              splitter.push(buf.subarray(0, n), (f) => frames.push(f));
              for (const f of frames.splice(0)) await writeAll(conn, f);
            }
          } catch {
            // closed
          }
          conns.delete(conn);
          try {
            conn.close();
          } catch {
            // closed
          }
        })();
      }
    })().catch(() => {});
    return Promise.resolve({
      port: (listener.addr as Deno.NetAddr).port,
      close() {
        listener.close();
        for (const c of conns) {
          try {
            c.close();
          } catch {
            // closed
          }
        }
        return Promise.resolve();
      },
    });
  },
  async connect(port: number): Promise<RawClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    const buf = new Uint8Array(256 * 1024);
    return {
      async exchange(frame, count) {
        for (let i = 0; i < count; i++) await writeAll(conn, frame);
        let want = frame.length * count;
        while (want > 0) {
          const n = await conn.read(buf);
          if (n === null) throw new Error("closed");
          want -= n;
        }
      },
      close() {
        conn.close();
      },
    };
  },
};
