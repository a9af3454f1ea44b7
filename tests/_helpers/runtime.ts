/**
 * What differs between the runtimes running the tests, behind one call.
 *
 * @module
 */

/** A runtime's own inspection (what `console.log` shows), without importing `node:util`. */
export function inspect(value: unknown): string {
  const g = globalThis as unknown as {
    Deno?: { inspect(v: unknown, o?: unknown): string };
    Bun?: { inspect(v: unknown, o?: unknown): string };
  };
  if (g.Deno !== undefined) return g.Deno.inspect(value, { depth: 10 });
  if (g.Bun !== undefined) return g.Bun.inspect(value, { depth: 10 });
  return String(value);
}
