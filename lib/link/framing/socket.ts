/**
 * The few operations framing needs from a byte socket ({@linkcode RawSocket});
 * each runtime's transport adapts its sockets to them.
 *
 * @module
 */

/**
 * Read backpressure for a pull loop: `pause()` until `resume()`. A loop
 * does `while (gate.paused && !stopped) await gate.wait();`, and whoever
 * stops it calls `release()` so the loop can see the stop.
 */
export class PauseGate {
  /** True between `pause()` and `resume()`. */
  paused = false;
  #wake: (() => void) | undefined;

  /** Makes the loop wait before its next read. */
  pause(): void {
    this.paused = true;
  }

  /** Lets the loop read again. */
  resume(): void {
    this.paused = false;
    this.release();
  }

  /** Wakes a waiting loop (to resume, or to notice that it should stop). */
  release(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Resolves at the next `resume()` or `release()`. */
  wait(): Promise<void> {
    return new Promise((r) => (this.#wake = r));
  }
}

/** Where a raw socket delivers what it reads. */
export interface SocketSink {
  /** Received bytes, valid only during the call (the socket may reuse the buffer). */
  data(chunk: Uint8Array): void;
  /** The peer ended its side. */
  end(): void;
  /** Reading failed. */
  error(e: unknown): void;
  /**
   * Optional: where the next bytes should go when a large payload is being
   * received, so a socket that reads into buffers can read straight into it
   * (no copy). After reading into it, the socket calls `filled(n)` instead
   * of `data`.
   */
  target?(): Uint8Array | undefined;
  /** Optional: `n` bytes were read into the last `target()`. */
  filled?(n: number): void;
}

/**
 * The few operations framing needs from a byte socket. Transports adapt
 * their runtime's socket to this.
 */
export interface RawSocket {
  /** Starts reading; called once. */
  start(sink: SocketSink): void;
  /** Stops delivering data until `resume` (read backpressure). */
  pause(): void;
  /** Resumes delivering data. */
  resume(): void;
  /**
   * Writes all of `chunk`, in order after earlier writes. Returns a
   * promise when the caller should wait before writing more. A caller
   * writing several chunks at once may keep only the last promise, so a
   * socket must never let a promise it returned become an unhandled
   * rejection (a failed write also fails every later one).
   */
  write(chunk: Uint8Array): void | Promise<void>;
  /**
   * Writes `buf[0, length)` like `write`, without a view having to be made
   * first. Optional; offered by sockets that copy what they write at once.
   */
  writeRange?(buf: Uint8Array, length: number): void | Promise<void>;
  /**
   * Writes as much of `buf[start, start + length)` as the system takes at
   * once and returns how many bytes that was, keeping no reference to
   * `buf`. Returns 0 while earlier writes are still queued. Optional;
   * offered by sockets with a synchronous write.
   */
  writeNow?(buf: Uint8Array, start: number, length: number): number;
  /** Ends the writing side after everything written so far (half close). */
  closeWrite(): void | Promise<void>;
  /** Closes the socket in both directions at once. */
  close(): void;
  /**
   * True when a chunk may be reused as soon as `write` returned nothing or
   * its promise resolved (the socket keeps no reference to it). Lets the
   * frame writer recycle its batch buffers.
   */
  readonly reusesChunks?: boolean;
}
