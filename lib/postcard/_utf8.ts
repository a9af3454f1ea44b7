/**
 * UTF-8 for the codec's strings: short strings are encoded and decoded in
 * JavaScript, where a native call costs more than the work (Deno's
 * `TextDecoder` with `fatal` takes about 270 ns whatever the length), and
 * long ones natively. Decoding is exactly as strict as a fatal
 * `TextDecoder`: overlong forms, surrogates, code points above U+10FFFF,
 * stray continuation bytes and cut-off sequences are all rejected, and a
 * byte order mark is kept.
 *
 * Which primitive is fastest depends on the engine, so the thresholds do
 * too: on V8 (Deno, Node, Chromium) building a string from character codes
 * in JavaScript beats a native call up to a few dozen bytes; on
 * JavaScriptCore (Bun) the native decoders win at every length.
 *
 * @module
 */

const fatal = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lenient = new TextDecoder("utf-8", { ignoreBOM: true });
const encoder = new TextEncoder();
const fromCharCode = String.fromCharCode;

/** True where strings are built in JavaScript up to the limits below (V8); false on Bun. */
const JS_STRINGS = !("Bun" in globalThis);

/**
 * ASCII strings up to this many bytes are built in JavaScript on V8; a
 * longer one by `latin1Slice` when there is one (it costs about 50 ns on
 * Deno, then little per byte).
 */
const JS_ASCII_MAX = 24;

/** Non-ASCII strings up to this many bytes are decoded in JavaScript on V8. */
const JS_UTF8_MAX = 64;

/**
 * Strings up to this many bytes are scanned in JavaScript for a non-ASCII
 * byte, and an ASCII one is then made by `latin1Slice`; longer ones go to
 * the native decoder, which validates faster than a JavaScript loop.
 */
const SCAN_MAX = JS_STRINGS ? 256 : 64;

/** `Buffer.prototype.latin1Slice`, `this` being the bytes. */
type Latin1Slice = (this: Uint8Array, start: number, end: number) => string;

/**
 * `Buffer.prototype.latin1Slice` of Bun, Node and Deno, which accepts a
 * plain `Uint8Array` and makes a one-byte string from a range of it in one
 * call: for ASCII bytes exactly their string. Null where there is no
 * `Buffer` (browsers), or where it does not behave so. Looked up on first
 * use, not on import: Deno loads its `Buffer` on first access (about 3 ms).
 */
function findLatin1Slice(): Latin1Slice | null {
  const Buffer = (globalThis as { Buffer?: { prototype?: { latin1Slice?: unknown } } }).Buffer;
  const f = Buffer?.prototype?.latin1Slice;
  if (typeof f !== "function") return null;
  try {
    const probe = new Uint8Array([0x2a, 0x68, 0x69, 0x21, 0x7f, 0x2a]);
    if (f.call(probe, 1, 5) === "hi!\x7f" && f.call(probe, 3, 3) === "") return f as Latin1Slice;
  } catch {
    // Not usable on a plain Uint8Array here.
  }
  return null;
}

/** {@linkcode findLatin1Slice}'s answer, once asked. */
let latin1Slice: Latin1Slice | null | undefined;

/** The string of `buf[start, end)`, every byte of which is ASCII (checked by the caller). */
function asciiRange(buf: Uint8Array, start: number, end: number): string {
  const slice = latin1Slice ?? (latin1Slice === undefined ? latin1Slice = findLatin1Slice() : null);
  if (slice !== null) return slice.call(buf, start, end);
  if (JS_STRINGS && end - start <= JS_UTF8_MAX) return asciiJs(buf, start, end)!;
  return lenient.decode(buf.subarray(start, end));
}

/**
 * The string of `buf[start, end)` when every byte is ASCII, built eight
 * characters at a time; undefined at the first other byte.
 */
function asciiJs(buf: Uint8Array, i: number, end: number): string | undefined {
  let s = "";
  for (; i + 8 <= end; i += 8) {
    const c0 = buf[i]!, c1 = buf[i + 1]!, c2 = buf[i + 2]!, c3 = buf[i + 3]!;
    const c4 = buf[i + 4]!, c5 = buf[i + 5]!, c6 = buf[i + 6]!, c7 = buf[i + 7]!;
    if ((c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7) >= 0x80) return undefined;
    s += fromCharCode(c0, c1, c2, c3, c4, c5, c6, c7);
  }
  if (i + 4 <= end) {
    const c0 = buf[i]!, c1 = buf[i + 1]!, c2 = buf[i + 2]!, c3 = buf[i + 3]!;
    if ((c0 | c1 | c2 | c3) >= 0x80) return undefined;
    s += fromCharCode(c0, c1, c2, c3);
    i += 4;
  }
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c >= 0x80) return undefined;
    s += fromCharCode(c);
  }
  return s;
}

/**
 * Decodes `buf[i, end)` as UTF-8 in JavaScript, rejecting exactly what a
 * fatal `TextDecoder` rejects; undefined for invalid input.
 */
function utf8Js(buf: Uint8Array, i: number, end: number): string | undefined {
  let s = "";
  while (i < end) {
    const c = buf[i]!;
    if (c < 0x80) {
      if (i + 4 <= end) {
        const c1 = buf[i + 1]!, c2 = buf[i + 2]!, c3 = buf[i + 3]!;
        if ((c1 | c2 | c3) < 0x80) {
          s += fromCharCode(c, c1, c2, c3);
          i += 4;
          continue;
        }
      }
      s += fromCharCode(c);
      i++;
    } else if (c < 0xc2) {
      return undefined; // a continuation byte, or the lead of an overlong 2-byte form
    } else if (c < 0xe0) {
      if (i + 2 > end) return undefined;
      const c1 = buf[i + 1]!;
      if ((c1 & 0xc0) !== 0x80) return undefined;
      s += fromCharCode(((c & 0x1f) << 6) | (c1 & 0x3f));
      i += 2;
    } else if (c < 0xf0) {
      if (i + 3 > end) return undefined;
      const c1 = buf[i + 1]!, c2 = buf[i + 2]!;
      if ((c1 & 0xc0) !== 0x80 || (c2 & 0xc0) !== 0x80) return undefined;
      // E0 needs A0..BF after it (shorter forms are overlong); ED needs 80..9F (no surrogates).
      if (c === 0xe0 ? c1 < 0xa0 : c === 0xed && c1 > 0x9f) return undefined;
      s += fromCharCode(((c & 0x0f) << 12) | ((c1 & 0x3f) << 6) | (c2 & 0x3f));
      i += 3;
    } else {
      if (c > 0xf4 || i + 4 > end) return undefined;
      const c1 = buf[i + 1]!, c2 = buf[i + 2]!, c3 = buf[i + 3]!;
      if ((c1 & 0xc0) !== 0x80 || (c2 & 0xc0) !== 0x80 || (c3 & 0xc0) !== 0x80) return undefined;
      // F0 needs 90..BF after it (shorter forms are overlong); F4 needs 80..8F (at most U+10FFFF).
      if (c === 0xf0 ? c1 < 0x90 : c === 0xf4 && c1 > 0x8f) return undefined;
      const cp = (((c & 0x07) << 18) | ((c1 & 0x3f) << 12) | ((c2 & 0x3f) << 6) | (c3 & 0x3f)) -
        0x1_0000;
      s += fromCharCode(0xd800 | (cp >> 10), 0xdc00 | (cp & 0x3ff));
      i += 4;
    }
  }
  return s;
}

/**
 * Decodes `buf[start, end)` as UTF-8, exactly as strictly as a fatal
 * `TextDecoder` (a byte order mark is kept); undefined for invalid input.
 */
export function utf8Decode(buf: Uint8Array, start: number, end: number): string | undefined {
  const n = end - start;
  if (JS_STRINGS && n <= JS_ASCII_MAX) return asciiJs(buf, start, end) ?? utf8Js(buf, start, end);
  if (n <= SCAN_MAX) {
    let i = start;
    while (i < end && buf[i]! < 0x80) i++;
    if (i === end) return asciiRange(buf, start, end);
    if (JS_STRINGS && n <= JS_UTF8_MAX) return utf8Js(buf, start, end);
  }
  try {
    return fatal.decode(buf.subarray(start, end));
  } catch {
    return undefined;
  }
}

/** Number of bytes of the UTF-8 form of `s`, or -1 when it has a lone surrogate. */
export function utf8Length(s: string): number {
  const n = s.length;
  let bytes = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      bytes += 1;
    } else if (c < 0xd800 || c > 0xdfff) {
      bytes += 2;
    } else {
      // A high surrogate followed by a low one: four bytes for two units.
      if (c > 0xdbff || i + 1 === n) return -1;
      const d = s.charCodeAt(i + 1);
      if (d < 0xdc00 || d > 0xdfff) return -1;
      bytes += 2;
      i++;
    }
  }
  return bytes;
}

/**
 * Writes the UTF-8 form of `s` into `out` from `p` and returns the
 * position after it, or -1, having written part of it, at a lone
 * surrogate. `out` must have room for `3 * s.length` bytes, or for
 * {@linkcode utf8Length} of `s` when the caller knows it.
 */
export function writeUtf8(out: Uint8Array, p: number, s: string): number {
  const n = s.length;
  let i = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) break;
    out[p++] = c;
  }
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      out[p++] = c;
    } else if (c < 0x800) {
      out[p++] = 0xc0 | (c >> 6);
      out[p++] = 0x80 | (c & 0x3f);
    } else if (c < 0xd800 || c > 0xdfff) {
      out[p++] = 0xe0 | (c >> 12);
      out[p++] = 0x80 | ((c >> 6) & 0x3f);
      out[p++] = 0x80 | (c & 0x3f);
    } else {
      if (c > 0xdbff || i + 1 === n) return -1;
      const d = s.charCodeAt(i + 1);
      if (d < 0xdc00 || d > 0xdfff) return -1;
      const cp = 0x1_0000 + ((c - 0xd800) << 10) + (d - 0xdc00);
      out[p++] = 0xf0 | (cp >> 18);
      out[p++] = 0x80 | ((cp >> 12) & 0x3f);
      out[p++] = 0x80 | ((cp >> 6) & 0x3f);
      out[p++] = 0x80 | (cp & 0x3f);
      i++;
    }
  }
  return p;
}

/** Strings longer than this are written by `TextEncoder.encodeInto` rather than a JavaScript loop. */
export const JS_ENCODE_MAX = 64;

/**
 * Writes the ASCII string `s` into `out` at `p` (room for `s.length` bytes)
 * and returns the position after it, or -1 when `s` is not all ASCII
 * (having written part of it). A long string is written natively.
 */
export function putAscii(out: Uint8Array, p: number, s: string): number {
  const n = s.length;
  if (n > JS_ENCODE_MAX) {
    // Every character other than ASCII takes at least two bytes, so all of
    // `s` fits in `n` bytes exactly when it is ASCII.
    const r = encoder.encodeInto(s, out.subarray(p, p + n));
    return r.read === n && r.written === n ? p + n : -1;
  }
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return -1;
    out[p + i] = c;
  }
  return p + n;
}

/**
 * Writes the well-formed string `s`, whose UTF-8 form is `bytes` long,
 * into `out` at `p` and returns the position after it.
 */
export function putUtf8(out: Uint8Array, p: number, s: string, bytes: number): number {
  if (s.length > JS_ENCODE_MAX) {
    return p + encoder.encodeInto(s, out.subarray(p, p + bytes)).written;
  }
  return writeUtf8(out, p, s);
}
