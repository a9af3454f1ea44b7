/**
 * The demo's service: a definition that is also the schema. It is a
 * module of its own so that the command line can load it
 * (`roam spy --services examples/calculator.ts`, `roam id examples/calculator.ts`).
 *
 * @module
 */

import { service, t } from "../mod.ts";

/** The user error of `divide`. */
export const MathError = t.enum({ DivisionByZero: t.unit, Overflow: t.unit });
/** A point on a grid. */
export const Point = t.struct({ x: t.i32, y: t.i32 });

/** The service definition is the schema: both sides get their types from it. */
export const Calculator = service("Calculator", {
  add: { args: [t.i32, t.i32], returns: t.i32 },
  divide: { args: [t.i64, t.i64], returns: t.i64, error: MathError },
  translate: { args: [Point, t.i32], returns: Point },
});
