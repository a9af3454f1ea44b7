/**
 * What every command shares: exit codes, usage errors, option parsing
 * through `node:util` `parseArgs` (strict: unknown options are usage
 * errors) and the streams a command writes to.
 *
 * @module
 */

import type { Output } from "./_output.ts";

/** The command did what it was asked. */
export const EXIT_OK = 0;
/** The operation failed: a call failed, a server was unreachable, a listener could not bind. */
export const EXIT_FAILED = 1;
/** The command line was wrong: unknown option, missing argument, bad JSON, unknown method. */
export const EXIT_USAGE = 2;

/** The exit codes, as every `--help` shows them. */
export const EXIT_HELP = `Exit codes:
  0  success
  1  the operation failed (a call's error, an unreachable server, a port in use)
  2  usage error (unknown option, missing or bad argument, unknown service or method)`;

/** A mistake on the command line: reported with a pointer to `--help`, exit code 2. */
export class UsageError extends Error {
  /** @param message What is wrong. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Where a command writes. */
export interface Io {
  /** Results and events. */
  readonly out: Output;
  /** Progress and diagnostics. */
  readonly err: Output;
}

/** A subcommand of `roam`. */
export interface Command {
  /** Its name, e.g. `spy`. */
  readonly name: string;
  /** One line for the top-level help. */
  readonly summary: string;
  /** Its `--help` text. */
  readonly help: string;
  /**
   * Runs it.
   *
   * @param argv The arguments after the command's name.
   * @param io Where to write.
   * @returns The exit code.
   * @throws {UsageError} For a wrong command line.
   */
  run(argv: string[], io: Io): Promise<number>;
}

/**
 * Runs `parseArgs` (or anything else that reads the command line) and
 * turns its errors into usage errors.
 *
 * @param parse Calls `parseArgs`.
 * @returns What `parse` returned.
 * @throws {UsageError} When `parse` throws.
 */
export function parsing<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}

/**
 * Reads a whole number option.
 *
 * @param value The option's text, or undefined when absent.
 * @param name The option, e.g. `--count`.
 * @param fallback The value when absent.
 * @param min The smallest value allowed.
 * @param max The largest value allowed.
 * @returns The number.
 * @throws {UsageError} When it is not a whole number in range.
 */
export function integerOption(
  value: string | undefined,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(
      `${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** The message of anything thrown. */
export function messageOf(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return typeof code === "string" && !e.message.includes(code)
      ? `${e.message} (${code})`
      : e.message;
  }
  return String(e);
}
