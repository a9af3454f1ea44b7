/**
 * Encode faults: the invalid-value signal thrown by the compiled encoders,
 * the helpers that raise it and add path segments to it on the way up, and
 * the short value descriptions used in its messages.
 *
 * @module
 */

/**
 * An invalid value met while encoding. It collects the path on its way up
 * and becomes a `TypeError` or `RangeError` at the top.
 */
export class EncodeFault {
  /** Path segments, innermost first. */
  readonly path: string[] = [];
  /** True for a value of the right type but out of range. */
  readonly range: boolean;
  /** The schema type name. */
  readonly type: string;
  /** What is wrong. */
  readonly reason: string;

  /**
   * Creates a fault with an empty path.
   *
   * @param range True for a value of the right type but out of range.
   * @param type The schema type name.
   * @param reason What is wrong.
   */
  constructor(range: boolean, type: string, reason: string) {
    this.range = range;
    this.type = type;
    this.reason = reason;
  }

  /** Turns the fault into the error thrown to users. */
  toError(root: string): TypeError | RangeError {
    const p = this.path.reverse();
    const where = root +
      (p.length > 24
        ? `${p.slice(0, 8).join("")}…(${p.length - 16} more)…${p.slice(-8).join("")}`
        : p.join(""));
    const message = `Cannot encode ${this.type} at ${where}: ${this.reason}`;
    return this.range ? new RangeError(message) : new TypeError(message);
  }
}

/** Throws a fault for a value of the wrong type (a `TypeError` at the top). */
export function typeFault(type: string, expected: string, v: unknown): never {
  throw new EncodeFault(false, type, `expected ${expected}, got ${show(v)}`);
}

/** Throws a fault for a value of the right type but out of range (a `RangeError` at the top). */
export function rangeFault(type: string, reason: string): never {
  throw new EncodeFault(true, type, reason);
}

/** Adds a path segment to a fault passing through, then rethrows. */
export function along(e: unknown, segment: string): never {
  if (e instanceof EncodeFault) e.path.push(segment);
  throw e;
}

/** A short, safe description of a value for error messages. */
export function show(v: unknown): string {
  switch (typeof v) {
    case "string":
      return v.length > 32 ? `a string of length ${v.length}` : JSON.stringify(v);
    case "number":
    case "boolean":
      return String(v);
    case "bigint":
      return `${v}n`;
    case "undefined":
      return "undefined";
    case "function":
      return "a function";
    case "symbol":
      return "a symbol";
  }
  if (v === null) return "null";
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  const ctor = (v as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof ctor === "string" && ctor !== "Object" ? `a ${ctor}` : "an object";
}
