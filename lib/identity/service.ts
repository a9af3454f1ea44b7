/**
 * `service()`: a TypeScript service definition that is also the schema.
 *
 * @module
 */

import { encodeType } from "./signature.ts";
import { kebabCase } from "./kebab.ts";
import { methodId } from "./method_id.ts";
import { t } from "../postcard/builders.ts";
import {
  resolveSchema,
  type Schema,
  type TupleSchema,
  type TupleValue,
} from "../postcard/schema.ts";

/** How one method is declared: argument schemas, return schema, optional error schema. */
export interface MethodSpec {
  /** The argument schemas, in order. Channels (`t.tx`/`t.rx`) may appear here only. */
  readonly args: readonly Schema<unknown>[];
  /** The success value's schema; omitted means `t.unit`. */
  readonly returns?: Schema<unknown>;
  /** The user error's schema, for a method returning `Result<T, E>` in Rust. */
  readonly error?: Schema<unknown>;
}

/** The methods of a service, by name. */
export type MethodSpecs = { readonly [name: string]: MethodSpec };

/** The argument values of a method, as a tuple. */
export type ArgsOf<S extends MethodSpec> = TupleValue<S["args"]>;
/** The success value of a method. */
export type ReturnOf<S extends MethodSpec> = S extends { readonly returns: Schema<infer R> } ? R
  : undefined;
/** The user error value of a method (`never` for infallible methods). */
export type ErrorOf<S extends MethodSpec> = S extends { readonly error: Schema<infer E> } ? E
  : never;

/** A method of a service, with its computed id. */
export interface MethodDescriptor<S extends MethodSpec = MethodSpec> {
  /** The service name as written. */
  readonly service: string;
  /** The method name as written. */
  readonly name: string;
  /** The 64-bit method id (wire-spec §6). */
  readonly id: bigint;
  /** The argument tuple schema. */
  readonly args: TupleSchema<ArgsOf<S>>;
  /** The success value's schema. */
  readonly returns: Schema<ReturnOf<S>>;
  /** The user error's schema, or undefined for an infallible method. */
  readonly error: Schema<ErrorOf<S>> | undefined;
  /** The signature bytes that were hashed into the id. */
  readonly signature: Uint8Array;
}

/** A service: its name and its methods, by name and by id. */
export interface ServiceDescriptor<M extends MethodSpecs = MethodSpecs> {
  /** The service name as written. */
  readonly name: string;
  /** The methods by name. */
  readonly methods: { readonly [K in keyof M & string]: MethodDescriptor<M[K]> };
  /** The methods by id. */
  readonly byId: ReadonlyMap<bigint, MethodDescriptor>;
}

/** Checks that channels appear only where the Rust runtime allows them. */
function checkChannels(
  schema: Schema<unknown>,
  where: string,
  allowed: boolean,
  seen: Set<Schema<unknown>>,
): void {
  const s = resolveSchema(schema);
  if (seen.has(s)) return;
  seen.add(s);
  try {
    switch (s.kind) {
      case "tx":
      case "rx":
        if (!allowed) {
          throw new TypeError(
            `Invalid ${where}: channels may appear only in arguments, outside collections`,
          );
        }
        checkChannels(s.item, where, false, new Set());
        return;
      case "option":
        checkChannels(s.inner, where, allowed, seen);
        return;
      case "list":
      case "array":
      case "set":
        checkChannels(s.item, where, false, seen);
        return;
      case "map":
        checkChannels(s.key, where, false, seen);
        checkChannels(s.value, where, false, seen);
        return;
      case "tuple":
        for (const item of s.items) {
          checkChannels(item, where, allowed, seen);
        }
        return;
      case "struct":
        for (const f of s.fields) {
          checkChannels(f.schema, where, allowed, seen);
        }
        return;
      case "enum":
        for (const v of s.variants) {
          if (v.shape === "newtype") checkChannels(v.schema, where, allowed, seen);
          else if (v.shape === "tuple") {
            v.items.forEach((x) => checkChannels(x, where, allowed, seen));
          } else if (v.shape === "struct") {
            v.fields.forEach((f) => checkChannels(f.schema, where, allowed, seen));
          }
        }
        return;
    }
  } finally {
    seen.delete(s);
  }
}

/**
 * Defines a service. The definition is the schema: clients and handlers
 * get their types from it, and each method's id is computed exactly as
 * the Rust runtime does, so a TypeScript service that mirrors a Rust trait
 * (same names, argument and return types, struct field and variant names)
 * interoperates with it.
 *
 * A method with an `error` schema is a Rust method returning
 * `Result<T, E>`; as in Rust, its id does not depend on `T` or `E`.
 *
 * @param name The service name (the Rust trait name; any case style).
 * @param methods The methods by name (Rust method names in snake_case or camelCase).
 * @returns The service descriptor.
 * @throws {TypeError} For an empty name, a method without an `args` array,
 * two methods whose names are equal in kebab-case, or a channel outside
 * the arguments or inside a collection.
 *
 * @example A calculator
 * ```ts
 * import { service, t } from "@roam/roam";
 *
 * const MathError = t.enum({ DivisionByZero: t.unit, Overflow: t.unit });
 * const Calculator = service("Calculator", {
 *   add: { args: [t.i32, t.i32], returns: t.i32 },
 *   divide: { args: [t.i64, t.i64], returns: t.i64, error: MathError },
 *   sum: { args: [t.rx(t.i32)], returns: t.i64 },
 * });
 * console.log(Calculator.methods.add.id);
 * ```
 */
export function service<const M extends MethodSpecs>(
  name: string,
  methods: M,
): ServiceDescriptor<M> {
  if (typeof name !== "string" || kebabCase(name) === "") {
    throw new TypeError(
      `Cannot define a service: the name must have letters or digits, got ${JSON.stringify(name)}`,
    );
  }
  if (typeof methods !== "object" || methods === null) {
    throw new TypeError(`Cannot define service ${name}: expected an object of methods`);
  }
  const byName: Record<string, MethodDescriptor> = {};
  const byId = new Map<bigint, MethodDescriptor>();
  const kebabs = new Map<string, string>();
  for (const methodName of Object.keys(methods)) {
    const spec = methods[methodName]!;
    const where = `${name}.${methodName}`;
    if (typeof spec !== "object" || spec === null || !Array.isArray(spec.args)) {
      throw new TypeError(`Cannot define ${where}: expected { args: [...], returns?, error? }`);
    }
    const kebab = kebabCase(methodName);
    if (kebab === "") {
      throw new TypeError(`Cannot define ${where}: the name must have letters or digits`);
    }
    const clash = kebabs.get(kebab);
    if (clash !== undefined) {
      throw new TypeError(
        `Cannot define ${where}: its name equals ${clash} in kebab-case (${kebab})`,
      );
    }
    kebabs.set(kebab, methodName);
    const args: TupleSchema<unknown> = t.tuple(...spec.args);
    const returns: Schema<unknown> = spec.returns ?? t.unit;
    checkChannels(args, `${where} arguments`, true, new Set());
    checkChannels(returns, `${where} return type`, false, new Set());
    if (spec.error !== undefined) {
      checkChannels(spec.error, `${where} error type`, false, new Set());
    }

    // Fallible methods return `Result<T, E>`, which hashes as unit.
    const sig: number[] = [];
    encodeType(args, sig, []);
    encodeType(spec.error === undefined ? returns : t.unit, sig, []);
    const signature = Uint8Array.from(sig);
    const descriptor: MethodDescriptor = {
      service: name,
      name: methodName,
      id: methodId(name, methodName, signature),
      args: args as MethodDescriptor["args"],
      returns: returns as MethodDescriptor["returns"],
      error: spec.error as MethodDescriptor["error"],
      signature,
    };
    byName[methodName] = Object.freeze(descriptor);
    byId.set(descriptor.id, descriptor);
  }
  return Object.freeze({
    name,
    methods: Object.freeze(byName) as ServiceDescriptor<M>["methods"],
    byId,
  });
}
