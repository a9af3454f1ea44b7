/**
 * Raw TCP baselines on Deno: `Deno.listen` / `Deno.connect`, one read
 * buffer per connection, `conn.write` until all is written. See
 * `_raw_tcp.ts` for what each does.
 *
 * @module
 */

import {
  END_FRAME,
  FrameCutter,
  FrameSplitter,
  type RawClient,
  type RawServer,
  type RawStream,
  type RawTcp,
} from "./_raw_tcp.ts";

const READ_BUFFER = 256 * 1024;

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await conn.write(bytes.subarray(off));
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

/** Accepts connections and runs `serve` on each until the listener closes. */
function server(serve: (conn: Deno.Conn) => Promise<void>): RawServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const served = new Set<Promise<void>>();
  const accepting = (async () => {
    for await (const conn of listener) {
      conn.setNoDelay(true);
      conns.add(conn);
      const p = serve(conn).catch(() => {}).finally(() => {
        conns.delete(conn);
        served.delete(p);
        closeQuietly(conn);
      });
      served.add(p);
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      listener.close();
      for (const c of conns) closeQuietly(c);
      await accepting;
      await Promise.all(served);
    },
  };
}

/** The Deno baselines. */
export const rawTcp: RawTcp = {
  echoServer(): Promise<RawServer> {
    return Promise.resolve(server(async (conn) => {
      const buf = new Uint8Array(READ_BUFFER);
      const cutter = new FrameCutter();
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) return;
        const whole = cutter.cut(buf.subarray(0, n));
        if (whole !== undefined) await writeAll(conn, whole);
      }
    }));
  },
  answerServer(make): Promise<RawServer> {
    return Promise.resolve(server(async (conn) => {
      const buf = new Uint8Array(READ_BUFFER);
      const answer = make();
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) return;
        const out = answer(buf.subarray(0, n));
        if (out !== undefined) await writeAll(conn, out);
      }
    }));
  },
  async connectStream(port, onChunk): Promise<RawStream> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    const buf = new Uint8Array(READ_BUFFER);
    (async () => {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) return;
        onChunk(buf.subarray(0, n));
      }
    })().catch(() => {});
    // Writes go out in order: one starts at once when none is under way, else after the last.
    let writing: Promise<void> | undefined;
    return {
      write(bytes) {
        const run = () => writeAll(conn, bytes);
        const mine: Promise<void> = (writing === undefined ? run() : writing.then(run))
          .catch(() => {})
          .then(() => {
            if (writing === mine) writing = undefined;
          });
        writing = mine;
      },
      close() {
        closeQuietly(conn);
      },
    };
  },
  sinkServer(): Promise<RawServer> {
    return Promise.resolve(server(async (conn) => {
      const buf = new Uint8Array(READ_BUFFER);
      const splitter = new FrameSplitter();
      let ended = 0;
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) return;
        splitter.push(buf.subarray(0, n), (frame) => {
          if (frame.length === 4) ended++;
        });
        for (; ended > 0; ended--) await writeAll(conn, END_FRAME);
      }
    }));
  },
  async connect(port: number): Promise<RawClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.setNoDelay(true);
    const buf = new Uint8Array(READ_BUFFER);
    const splitter = new FrameSplitter();
    let got = 0;
    return {
      write: (bytes) => writeAll(conn, bytes),
      async expect(frames) {
        got -= frames;
        while (got < 0) {
          const n = await conn.read(buf);
          if (n === null) throw new Error("Cannot read a reply: the raw server closed");
          splitter.push(buf.subarray(0, n), () => got++);
        }
      },
      close() {
        closeQuietly(conn);
      },
    };
  },
};
