/**
 * Method ids exactly as the Rust runtime computes them (wire-spec §6.1).
 *
 * @module
 */

import { blake3 } from "./blake3.ts";
import { kebabCase } from "./kebab.ts";

const utf8 = new TextEncoder();

/**
 * Computes a method id from the service name, the method name and the
 * method's signature bytes (`encode(args tuple) ++ encode(return type)`).
 *
 * `id = u64le(blake3(kebab(service) + "." + kebab(method) + blake3(signature))[0..8])`
 *
 * @param serviceName The service name as written (any case style).
 * @param methodName The method name as written (any case style).
 * @param signature The method's signature bytes.
 * @returns The 64-bit method id.
 *
 * @example The id of `Testbed.echo(String) -> String`
 * ```ts
 * import { methodId } from "@roam/roam/wire";
 *
 * const id = methodId("Testbed", "echo", new Uint8Array([0x25, 0x01, 0x0f, 0x0f]));
 * console.log(id === 0x9aabc4ba61fd5df3n); // true
 * ```
 */
export function methodId(serviceName: string, methodName: string, signature: Uint8Array): bigint {
  const sigHash = blake3(signature);
  const label = utf8.encode(`${kebabCase(serviceName)}.${kebabCase(methodName)}`);
  const input = new Uint8Array(label.length + sigHash.length);
  input.set(label);
  input.set(sigHash, label.length);
  const digest = blake3(input);
  let id = 0n;
  for (let i = 7; i >= 0; i--) id = (id << 8n) | BigInt(digest[i]!);
  return id;
}
