/**
 * Loading a services module (a TS/JS module whose exports include service
 * descriptors made with `service()`) and finding methods in it.
 *
 * Descriptors are recognised by their shape, not by `instanceof`: the
 * module may import the library from another place (a JSR version, a
 * relative path) than the command line does.
 *
 * @module
 */

import { resolve } from "node:path";
import process from "node:process";
import { pathToFileURL } from "node:url";
import type { MethodDescriptor, ServiceDescriptor } from "../../mod.ts";
import { kebabCase } from "../../wire.ts";
import { messageOf, UsageError } from "./_usage.ts";

function isDescriptor(value: unknown): value is ServiceDescriptor {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Partial<ServiceDescriptor>;
  if (typeof v.name !== "string" || !(v.byId instanceof Map)) return false;
  if (typeof v.methods !== "object" || v.methods === null) return false;
  return Object.values(v.methods).every((m: Partial<MethodDescriptor>) =>
    typeof m?.id === "bigint" && m.signature instanceof Uint8Array && typeof m.args === "object"
  );
}

/** A module specifier from a command-line path: URLs as they are, paths from the working directory. */
function specifier(path: string): string {
  if (/^(file|https?|jsr|npm|data):/i.test(path)) return path;
  return pathToFileURL(resolve(process.cwd(), path)).href;
}

/**
 * Imports a services module and returns the service descriptors it
 * exports, each once, in the order of their export names (the order of a
 * module namespace).
 *
 * @param path A file path (relative to the working directory) or a URL.
 * @returns The descriptors.
 * @throws {UsageError} When the module cannot be loaded or exports no service.
 */
export async function loadServices(path: string): Promise<ServiceDescriptor[]> {
  let module: Record<string, unknown>;
  try {
    module = await import(specifier(path));
  } catch (e) {
    throw new UsageError(`Cannot load the services module ${path}: ${messageOf(e)}`);
  }
  const found: ServiceDescriptor[] = [];
  for (const value of Object.values(module)) {
    if (isDescriptor(value) && !found.includes(value)) found.push(value);
  }
  if (found.length === 0) {
    throw new UsageError(
      `Cannot use the services module ${path}: it exports no service descriptor (made with service())`,
    );
  }
  return found;
}

/** Every method of `services`, by id. */
export function methodsById(services: readonly ServiceDescriptor[]): Map<bigint, MethodDescriptor> {
  const out = new Map<bigint, MethodDescriptor>();
  for (const s of services) for (const m of Object.values(s.methods)) out.set(m.id, m);
  return out;
}

/**
 * Finds a service by name (exact, or equal in kebab-case).
 *
 * @param services The loaded services.
 * @param name The name asked for.
 * @returns The service.
 * @throws {UsageError} When there is none of that name.
 */
export function findService(
  services: readonly ServiceDescriptor[],
  name: string,
): ServiceDescriptor {
  const found = services.find((s) => s.name === name) ??
    services.find((s) => kebabCase(s.name) === kebabCase(name));
  if (found === undefined) {
    throw new UsageError(
      `Unknown service ${JSON.stringify(name)}: the module exports ${
        services.map((s) => s.name).join(", ")
      }`,
    );
  }
  return found;
}

/**
 * Finds `Service.method` (names exact, or equal in kebab-case).
 *
 * @param services The loaded services.
 * @param name `Service.method`.
 * @returns The method.
 * @throws {UsageError} For a malformed name, an unknown service or method.
 */
export function findMethod(
  services: readonly ServiceDescriptor[],
  name: string,
): MethodDescriptor {
  const dot = name.lastIndexOf(".");
  if (dot <= 0 || dot === name.length - 1) {
    throw new UsageError(`Expected Service.method, got ${JSON.stringify(name)}`);
  }
  const service = findService(services, name.slice(0, dot));
  const wanted = name.slice(dot + 1);
  const methods = Object.values(service.methods);
  const found = methods.find((m) => m.name === wanted) ??
    methods.find((m) => kebabCase(m.name) === kebabCase(wanted));
  if (found === undefined) {
    throw new UsageError(
      `Unknown method ${JSON.stringify(wanted)} of ${service.name}: it has ${
        methods.map((m) => m.name).join(", ")
      }`,
    );
  }
  return found;
}
