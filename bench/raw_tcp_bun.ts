/**
 * Raw TCP baselines on Bun: `Bun.listen` / `Bun.connect` with socket
 * handlers. Bun's `write` is synchronous and returns how much the socket
 * took; what it did not take waits for the `drain` handler. See
 * `_raw_tcp.ts` for what each baseline does.
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

/** What a socket carries: bytes the socket has not taken yet, and who waits for them. */
interface State {
  pending: Uint8Array[];
  flushed: (() => void)[];
  onData: (d: Uint8Array) => void;
}
interface Sock {
  write(data: Uint8Array): number;
  setNoDelay(on: boolean): boolean;
  end(): void;
  data: State;
}
interface Handlers {
  open?(s: Sock): void;
  data(s: Sock, d: Uint8Array): void;
  drain(s: Sock): void;
  close?(s: Sock): void;
}
interface BunApi {
  listen(o: { hostname: string; port: number; socket: Handlers }): {
    port: number;
    stop(force?: boolean): void;
  };
  connect(o: { hostname: string; port: number; socket: Handlers }): Promise<Sock>;
}
const Bun = (globalThis as unknown as { Bun: BunApi }).Bun;

/** Writes `bytes`; keeps a copy of what the socket did not take. Returns whether all was taken. */
function send(s: Sock, bytes: Uint8Array): boolean {
  const q = s.data.pending;
  if (q.length > 0) {
    q.push(bytes.slice());
    return false;
  }
  const n = Math.max(0, s.write(bytes));
  if (n === bytes.length) return true;
  q.push(bytes.slice(n));
  return false;
}

function drain(s: Sock): void {
  const q = s.data.pending;
  while (q.length > 0) {
    const n = Math.max(0, s.write(q[0]!));
    if (n < q[0]!.length) {
      q[0] = q[0]!.subarray(n);
      return;
    }
    q.shift();
  }
  for (const f of s.data.flushed.splice(0)) f();
}

function state(onData: (d: Uint8Array) => void): State {
  return { pending: [], flushed: [], onData };
}

/** A server whose connections get the data handler `make` returns for each. */
function server(make: (s: Sock) => (d: Uint8Array) => void): RawServer {
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(s) {
        s.setNoDelay(true);
        s.data = state(make(s));
      },
      data: (s, d) => s.data.onData(d),
      drain,
      close() {},
    },
  });
  return {
    port: listener.port,
    close() {
      listener.stop(true);
      return Promise.resolve();
    },
  };
}

/** The Bun baselines. */
export const rawTcp: RawTcp = {
  echoServer(): Promise<RawServer> {
    return Promise.resolve(server((s) => {
      const cutter = new FrameCutter();
      return (d) => {
        const whole = cutter.cut(d);
        if (whole !== undefined) send(s, whole);
      };
    }));
  },
  answerServer(make): Promise<RawServer> {
    return Promise.resolve(server((s) => {
      const answer = make();
      return (d) => {
        const out = answer(d);
        if (out !== undefined) send(s, out);
      };
    }));
  },
  async connectStream(port, onChunk): Promise<RawStream> {
    const sock = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: { data: (s, d) => s.data.onData(d), drain },
    });
    sock.data = state(onChunk);
    sock.setNoDelay(true);
    return {
      write(bytes) {
        send(sock, bytes);
      },
      close() {
        sock.end();
      },
    };
  },
  sinkServer(): Promise<RawServer> {
    return Promise.resolve(server((s) => {
      const splitter = new FrameSplitter();
      const onFrame = (frame: Uint8Array) => {
        if (frame.length === 4) send(s, END_FRAME);
      };
      return (d) => splitter.push(d, onFrame);
    }));
  },
  async connect(port: number): Promise<RawClient> {
    const splitter = new FrameSplitter();
    let got = 0;
    let wake: (() => void) | undefined;
    const onFrame = () => {
      if (++got >= 0 && wake !== undefined) {
        const w = wake;
        wake = undefined;
        w();
      }
    };
    const sock = await Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: { data: (s, d) => s.data.onData(d), drain },
    });
    sock.data = state((d) => splitter.push(d, onFrame));
    sock.setNoDelay(true);
    return {
      write(bytes) {
        if (send(sock, bytes)) return;
        return new Promise<void>((resolve) => sock.data.flushed.push(resolve));
      },
      expect(frames) {
        got -= frames;
        if (got >= 0) return Promise.resolve();
        return new Promise<void>((resolve) => (wake = resolve));
      },
      close() {
        sock.end();
      },
    };
  },
};
