/**
 * The metadata entry that carries a `SENSITIVE` value: readable through
 * `entry.value`, hidden from every way of printing the entry.
 *
 * The value lives in a private field behind a getter on the prototype, so
 * no own property holds it: `console.log`, `console.dir`, `%o`/`%O`/`%s`,
 * `util.inspect`/`Deno.inspect`/`Bun.inspect` (with `showHidden`, and even
 * without custom inspection), `console.table`, `JSON.stringify`,
 * `String()`, spreading and `structuredClone` never see it. Only reading
 * `entry.value` on purpose does.
 *
 * Private to the package: the decoder makes these for received entries,
 * `metadataEntry` for local ones.
 *
 * @module
 */

import type { MetadataEntry, MetadataValue } from "./types.ts";

const REDACTED = "<redacted>";
const INSPECT_NODE = Symbol.for("nodejs.util.inspect.custom");
const INSPECT_DENO = Symbol.for("Deno.customInspect");

/** What inspection shows of a sensitive entry. */
function redactedView(e: SensitiveEntry): { key: string; value: string; flags: number } {
  return { key: e.key, value: REDACTED, flags: e.flags };
}

/** A metadata entry whose value is never shown. */
export class SensitiveEntry implements MetadataEntry {
  /** The key. */
  readonly key: string;
  /** The flag bits ({@linkcode SENSITIVE} among them). */
  readonly flags: number;
  readonly #value: MetadataValue;

  /**
   * @param key The key.
   * @param value The value, kept private.
   * @param flags The flags.
   */
  constructor(key: string, value: MetadataValue, flags: number) {
    this.key = key;
    this.flags = flags;
    this.#value = value;
  }

  /** The value itself: read it on purpose, never log it. */
  get value(): MetadataValue {
    return this.#value;
  }

  /** `{ key, value: "<redacted>", flags }`. */
  toJSON(): { key: string; value: string; flags: number } {
    return redactedView(this);
  }

  /** `key=<redacted>`. */
  toString(): string {
    return `${this.key}=${REDACTED}`;
  }

  // Inspection hooks must return strings (Deno's always; Node's and Bun's
  // when given their `inspect`).
  [INSPECT_NODE](
    _depth: number,
    options: unknown,
    inspect?: (v: unknown, o: unknown) => string,
  ): unknown {
    const view = redactedView(this);
    return typeof inspect === "function" ? inspect(view, options) : view;
  }

  [INSPECT_DENO](inspect: (v: unknown, o: unknown) => string, options: unknown): string {
    return inspect(redactedView(this), options);
  }
}

/** The text shown in place of a sensitive value. */
export const REDACTED_TEXT: string = REDACTED;
