/**
 * The receiving half of a WebSocket link, shared by the standard client
 * (`websocket.ts`, also Deno's server) and Bun's server: messages go
 * straight to a push sink when the link is in push mode (the session's
 * fast path, no promise per message), else to a waiting read of the
 * readable, else into a queue whose size (bytes plus a fixed overhead per
 * message) is reported to the owner, who bounds it (the standard client
 * fails the link, Bun's server pauses its socket). A long burst yields to
 * the event loop (see `lib/_util/turn.ts`).
 *
 * @module
 */

import { Queue } from "../lib/_util/queue.ts";
import { mustYield, nextMacrotask } from "../lib/_util/turn.ts";
import type { PayloadSink } from "../lib/link/link.ts";

/** What an unread message is counted as beyond its bytes (its objects). */
export const MESSAGE_OVERHEAD = 512;

/** What the owner of an inbox does about its queue. */
export interface InboxOwner {
  /** Unread bytes (with overhead) above which `full` is called. */
  readonly limit: number;
  /** The queue rose above `limit` (called again only after `room`). */
  full(unread: number): void;
  /** The queue fell to half of `limit` or below after `full`. */
  room(): void;
  /** The readable was cancelled: stop receiving. */
  cancel(): void;
}

/** Queues a link's incoming messages and hands them to its reader or push sink. */
export class Inbox {
  /** The link's readable (pull-based: it holds nothing itself). */
  readonly readable: ReadableStream<Uint8Array>;
  readonly #owner: InboxOwner;
  readonly #queue = new Queue<Uint8Array>();
  /** Bytes of the queued messages, each with `MESSAGE_OVERHEAD`. */
  #unread = 0;
  #full = false;
  /** Set once nothing more is accepted (ended, failed or cancelled). */
  #done = false;
  /** The end to deliver once the queue is empty. */
  #ending: { readonly error?: unknown } | undefined;
  #ended = false;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  /** A read waits for the next message. */
  #waiting = false;
  #push: PayloadSink | undefined;
  /** The push sink asked not to be given messages. */
  #held = false;
  /** Delivery waits for the next macrotask (a long burst). */
  #yielding = false;

  /** @param owner Bounds the queue and stops the socket on cancel. */
  constructor(owner: InboxOwner) {
    this.#owner = owner;
    this.readable = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.#controller = c;
      },
      pull: (c) => this.#pull(c),
      cancel: () => {
        this.#done = true;
        this.#ended = true;
        this.#drop();
        this.#owner.cancel();
      },
    }, { highWaterMark: 0 });
  }

  /** True once nothing more is accepted. */
  get done(): boolean {
    return this.#done;
  }

  /** Bytes (with overhead) waiting to be read. */
  get unread(): number {
    return this.#unread;
  }

  /** Takes one message from the peer. */
  deliver(payload: Uint8Array): void {
    if (this.#done) return;
    if (this.#queue.length === 0) {
      const sink = this.#push;
      if (sink !== undefined) {
        if (!this.#held && !this.#yielding) {
          if (!mustYield()) {
            sink.payload(payload);
            return;
          }
          this.#yieldTurn();
        }
      } else if (this.#waiting) {
        this.#waiting = false;
        this.#controller.enqueue(payload);
        return;
      }
    }
    this.#queue.push(payload);
    this.#unread += payload.length + MESSAGE_OVERHEAD;
    if (!this.#full && this.#unread > this.#owner.limit) {
      this.#full = true;
      this.#owner.full(this.#unread);
    }
  }

  /** A graceful end of stream, delivered after the queued messages. */
  end(): void {
    if (this.#done) return;
    this.#done = true;
    this.#ending = {};
    this.#settle();
  }

  /** The link failed: the reader or sink gets `error` at once; queued messages are dropped. */
  fail(error: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#drop();
    this.#ending = { error };
    this.#settle();
  }

  /** Switches to push mode: queued messages first, then each as it arrives. */
  receive(sink: PayloadSink): void {
    this.#push = sink;
    this.#waiting = false;
    this.#release();
  }

  /** Stops handing messages to the push sink (they queue). */
  hold(): void {
    this.#held = true;
  }

  /** Hands messages to the push sink again. */
  unhold(): void {
    if (!this.#held) return;
    this.#held = false;
    if (this.#push !== undefined && !this.#yielding) this.#release();
  }

  #pull(c: ReadableStreamDefaultController<Uint8Array>): void {
    const next = this.#shift();
    if (next !== undefined) c.enqueue(next);
    else if (this.#ending !== undefined) this.#deliverEnd();
    else this.#waiting = true;
  }

  #shift(): Uint8Array | undefined {
    const next = this.#queue.shift();
    if (next === undefined) return undefined;
    this.#unread -= next.length + MESSAGE_OVERHEAD;
    if (this.#full && this.#unread <= this.#owner.limit >> 1) {
      this.#full = false;
      this.#owner.room();
    }
    return next;
  }

  #drop(): void {
    this.#queue.drain();
    this.#unread = 0;
    if (this.#full) {
      this.#full = false;
      this.#owner.room();
    }
  }

  /** Delivers the end now if nothing is queued and someone takes it. */
  #settle(): void {
    if (this.#queue.length > 0) return;
    // An error is delivered at once; a graceful end waits for a read, or a sink that takes messages.
    const now = "error" in this.#ending! ||
      (this.#push !== undefined ? !this.#held && !this.#yielding : this.#waiting);
    if (!now) return;
    this.#waiting = false;
    this.#deliverEnd();
  }

  #deliverEnd(): void {
    const ending = this.#ending;
    if (this.#ended || ending === undefined) return;
    this.#ended = true;
    const sink = this.#push;
    if (sink !== undefined) {
      if ("error" in ending) sink.error(ending.error);
      else sink.end();
    } else if ("error" in ending) this.#controller.error(ending.error);
    else this.#controller.close();
  }

  #yieldTurn(): void {
    this.#yielding = true;
    nextMacrotask(() => {
      this.#yielding = false;
      if (!this.#held) this.#release();
    });
  }

  /** Hands queued messages to the push sink until it holds, a turn ends, or none is left. */
  #release(): void {
    const sink = this.#push!;
    while (!this.#held && !this.#yielding && !this.#ended) {
      if (this.#queue.length === 0) {
        if (this.#ending !== undefined) this.#deliverEnd();
        return;
      }
      if (mustYield()) {
        this.#yieldTurn();
        return;
      }
      sink.payload(this.#shift()!);
    }
  }
}
