/**
 * Retry policies: exponential backoff with jitter, bounded by attempts
 * and elapsed time. Used to resume a stable conduit over a fresh link and
 * by the reconnecting client.
 *
 * @module
 */

/**
 * How to retry something that failed (making a link, resuming a session):
 * the first retry waits `initialDelay` ms, each further one `multiplier`
 * times longer, up to `maxDelay`, each delay spread by ± `jitter` (a
 * fraction), until `maxAttempts` attempts were made or `maxElapsed` ms have
 * passed since the first one failed.
 */
export interface RetryPolicy {
  /** Milliseconds before the first retry (default 100). */
  readonly initialDelay?: number;
  /** Longest delay between two attempts, in milliseconds (default 5000). */
  readonly maxDelay?: number;
  /** Growth of the delay from one retry to the next (default 2; at least 1). */
  readonly multiplier?: number;
  /** Random spread of each delay, a fraction from 0 to 1 (default 0.2: ± 20 %). */
  readonly jitter?: number;
  /** Attempts in all, the first one included (default: no limit). */
  readonly maxAttempts?: number;
  /** Milliseconds after the first failure past which no attempt starts (default: no limit). */
  readonly maxElapsed?: number;
}

/** A {@linkcode RetryPolicy} with every field filled in and checked. */
export interface ResolvedRetry {
  readonly initialDelay: number;
  readonly maxDelay: number;
  readonly multiplier: number;
  readonly jitter: number;
  readonly maxAttempts: number;
  readonly maxElapsed: number;
}

/** The defaults of a {@linkcode RetryPolicy}. */
export const RETRY_DEFAULTS: ResolvedRetry = Object.freeze({
  initialDelay: 100,
  maxDelay: 5000,
  multiplier: 2,
  jitter: 0.2,
  maxAttempts: Number.POSITIVE_INFINITY,
  maxElapsed: Number.POSITIVE_INFINITY,
});

/** Largest delay a timer takes. */
const MAX_TIMER_MS = 0x7fff_ffff;

/**
 * Checks a retry policy and fills in the defaults (`base` for the fields
 * the policy leaves out).
 *
 * @param name The option's name, for error messages.
 * @param policy The policy, or undefined for the defaults.
 * @param base The defaults.
 * @returns The checked policy.
 * @throws {TypeError} When `policy` is not an object.
 * @throws {RangeError} For a field out of range.
 */
export function resolveRetry(
  name: string,
  policy: RetryPolicy | undefined,
  base: ResolvedRetry = RETRY_DEFAULTS,
): ResolvedRetry {
  if (policy === undefined) return base;
  if (typeof policy !== "object" || policy === null) {
    throw new TypeError(`Invalid ${name}: expected a retry policy object`);
  }
  const ms = (field: keyof RetryPolicy, fallback: number, infinite: boolean): number => {
    const v = policy[field] ?? fallback;
    const ok = typeof v === "number" &&
      ((infinite && v === Number.POSITIVE_INFINITY) || (v >= 0 && v <= MAX_TIMER_MS));
    if (!ok) {
      throw new RangeError(
        `Invalid ${name}.${field}: expected 0 to ${MAX_TIMER_MS} milliseconds${
          infinite ? " or Infinity" : ""
        }, got ${String(v)}`,
      );
    }
    return v;
  };
  const initialDelay = ms("initialDelay", base.initialDelay, false);
  const maxDelay = ms("maxDelay", base.maxDelay, false);
  const maxElapsed = ms("maxElapsed", base.maxElapsed, true);
  const multiplier = policy.multiplier ?? base.multiplier;
  if (typeof multiplier !== "number" || !(multiplier >= 1 && multiplier <= 1000)) {
    throw new RangeError(
      `Invalid ${name}.multiplier: expected a number from 1 to 1000, got ${String(multiplier)}`,
    );
  }
  const jitter = policy.jitter ?? base.jitter;
  if (typeof jitter !== "number" || !(jitter >= 0 && jitter <= 1)) {
    throw new RangeError(
      `Invalid ${name}.jitter: expected a fraction from 0 to 1, got ${String(jitter)}`,
    );
  }
  const maxAttempts = policy.maxAttempts ?? base.maxAttempts;
  if (
    typeof maxAttempts !== "number" ||
    !(maxAttempts === Number.POSITIVE_INFINITY || (Number.isSafeInteger(maxAttempts) &&
      maxAttempts >= 1))
  ) {
    throw new RangeError(
      `Invalid ${name}.maxAttempts: expected a positive integer or Infinity, got ${
        String(maxAttempts)
      }`,
    );
  }
  return { initialDelay, maxDelay, multiplier, jitter, maxAttempts, maxElapsed };
}

/**
 * The delay before retry number `retry` (1 for the first retry): the
 * initial delay grown by the multiplier, capped, then spread by the jitter.
 *
 * @param policy The policy.
 * @param retry Which retry (1, 2, ...).
 * @param random A random number in [0, 1).
 * @returns Milliseconds.
 */
export function retryDelay(policy: ResolvedRetry, retry: number, random: number): number {
  const grown = policy.initialDelay * policy.multiplier ** Math.max(0, retry - 1);
  const capped = Math.min(policy.maxDelay, grown);
  const spread = capped * policy.jitter * (2 * random - 1);
  return Math.max(0, Math.min(MAX_TIMER_MS, Math.round(capped + spread)));
}

/**
 * Resolves after `ms` milliseconds, or at once with false when `signal`
 * aborts first (the timer is cleared).
 *
 * @param ms The delay.
 * @param signal Stops the wait.
 * @returns True when the delay passed.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
