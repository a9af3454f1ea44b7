/**
 * A minimal RPC over raw sockets, as a floor for what any promise-per-call
 * RPC costs on a runtime: the client gives each call an id, a promise and
 * an entry in a map, writes the frames of a turn of microtasks in one
 * write, and settles each promise from its reply; the server reads each
 * frame's id and two varint arguments, calls a handler and writes the
 * replies to a read in one write. No limits, no cancellation, no metadata,
 * no error replies, no checks beyond what parsing needs: what roam does
 * besides, this does not pay for.
 *
 * Frames are a u32 little-endian length, then varints: a call is
 * `id, a, b`, a reply `id, value`.
 *
 * @module
 */

/** Writes an unsigned varint of `v` (below 2^32) at `buf[p]`; returns the next position. */
function putVarint(buf: Uint8Array, p: number, v: number): number {
  while (v > 0x7f) {
    buf[p++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[p++] = v;
  return p;
}

/** A read cursor over one chunk, for varints. */
class Cursor {
  buf: Uint8Array = new Uint8Array(0);
  pos = 0;

  varint(): number {
    let v = 0;
    let shift = 0;
    let b: number;
    do {
      b = this.buf[this.pos++]!;
      v |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    return v >>> 0;
  }
}

/**
 * Cuts a byte stream into whole frames, calling `onFrame(cursor, end)` with
 * the cursor at each frame's first byte after its length; keeps a partial
 * frame for the next chunk.
 */
class Frames {
  #rest: Uint8Array | undefined;
  readonly #cursor = new Cursor();

  feed(chunk: Uint8Array, onFrame: (c: Cursor, end: number) => void): void {
    let buf = chunk;
    if (this.#rest !== undefined) {
      buf = new Uint8Array(this.#rest.length + chunk.length);
      buf.set(this.#rest);
      buf.set(chunk, this.#rest.length);
      this.#rest = undefined;
    }
    const c = this.#cursor;
    c.buf = buf;
    let p = 0;
    while (buf.length - p >= 4) {
      const end = p + 4 + ((buf[p]! | (buf[p + 1]! << 8) | (buf[p + 2]! << 16) |
        (buf[p + 3]! << 24)) >>> 0);
      if (end > buf.length) break;
      c.pos = p + 4;
      onFrame(c, end);
      p = end;
    }
    if (p < buf.length) this.#rest = buf.slice(p);
  }
}

/** A growable output batch of frames. */
class Batch {
  buf = new Uint8Array(4096);
  pos = 0;

  /** Room for one more frame of at most 4 + 15 bytes. */
  reserve(): void {
    if (this.pos + 19 <= this.buf.length) return;
    const next = new Uint8Array(this.buf.length * 2);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** Writes the length of the frame begun at `start` (its body ends at `this.pos`). */
  close(start: number): void {
    const n = this.pos - start - 4;
    const b = this.buf;
    b[start] = n & 0xff;
    b[start + 1] = (n >>> 8) & 0xff;
    b[start + 2] = (n >>> 16) & 0xff;
    b[start + 3] = n >>> 24;
  }
}

/**
 * The server side for one connection: `answer(chunk)` returns the replies
 * to the calls `chunk` completes, in one array valid until the next call
 * (or undefined when none completed).
 */
export function miniServer(handler: (a: number, b: number) => number): {
  answer(chunk: Uint8Array): Uint8Array | undefined;
} {
  const frames = new Frames();
  const out = new Batch();
  const onFrame = (c: Cursor): void => {
    const id = c.varint();
    const args = [c.varint(), c.varint()];
    const value = handler(args[0]!, args[1]!);
    out.reserve();
    const start = out.pos;
    let p = putVarint(out.buf, start + 4, id);
    p = putVarint(out.buf, p, value);
    out.pos = p;
    out.close(start);
  };
  return {
    answer(chunk) {
      out.pos = 0;
      frames.feed(chunk, onFrame);
      return out.pos === 0 ? undefined : out.buf.subarray(0, out.pos);
    },
  };
}

/** The client side: `call(a, b)` resolves with the server's value; feed it what the socket reads. */
export class MiniClient {
  readonly #pending = new Map<number, (value: number) => void>();
  readonly #frames = new Frames();
  readonly #write: (bytes: Uint8Array) => void;
  #out = new Batch();
  #nextId = 1;
  #scheduled = false;

  /** @param write Writes bytes it may keep (each batch is a new array). */
  constructor(write: (bytes: Uint8Array) => void) {
    this.#write = write;
  }

  /** Calls the server's handler with `a` and `b`. */
  call(a: number, b: number): Promise<number> {
    const id = this.#nextId;
    this.#nextId += 2;
    const out = this.#out;
    out.reserve();
    const start = out.pos;
    let p = putVarint(out.buf, start + 4, id);
    p = putVarint(out.buf, p, a);
    out.pos = putVarint(out.buf, p, b);
    out.close(start);
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flush);
    }
    return new Promise((resolve) => this.#pending.set(id, resolve));
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    const out = this.#out;
    this.#out = new Batch();
    this.#write(out.buf.subarray(0, out.pos));
  };

  readonly #onReply = (c: Cursor): void => {
    const id = c.varint();
    const value = c.varint();
    const resolve = this.#pending.get(id);
    if (resolve === undefined) throw new Error(`Unexpected reply id ${id}`);
    this.#pending.delete(id);
    resolve(value);
  };

  /** Takes bytes read from the socket (used before this returns). */
  feed(chunk: Uint8Array): void {
    this.#frames.feed(chunk, this.#onReply);
  }
}
