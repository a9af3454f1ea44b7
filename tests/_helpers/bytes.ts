/**
 * Bytes by hand: hex in both directions, varints, framing and joining, so
 * a test can write the exact bytes a peer would send and read back what
 * the library sent.
 *
 * @module
 */

/** Bytes from hex digits, spaces allowed anywhere: `hex("00 07 0b")`. */
export function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, "");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Hex with a space between bytes: `00 07 0b`. */
export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(" ");
}

/** The LEB128 varint bytes of an unsigned integer (postcard's integer encoding). */
export function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

/** The varint bytes of an unsigned integer, as hex with spaces. */
export function varintHex(n: number | bigint): string {
  return toHex(Uint8Array.from(varint(n)));
}

/** Joins byte arrays into one new array. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** A u32 in little-endian order. */
export function u32le(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n, true);
  return out;
}

/** A stream frame: `[u32 LE length][payload]`. */
export function frame(payload: Uint8Array): Uint8Array {
  return concat(u32le(payload.length), payload);
}
