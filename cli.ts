#!/usr/bin/env bun
/**
 * The `roam` command line: watch a roam v7 link go by (`spy`), print
 * method ids (`id`), make one call (`call`) and measure round trips
 * (`ping`).
 *
 * ```sh
 * deno run -A jsr:@roam/roam/cli --help
 * deno task roam id ./api.ts          # in this repository
 * bun cli.ts ping tcp://127.0.0.1:7700
 * ```
 *
 * @module
 */

import process from "node:process";
import { main } from "./lib/cli/main.ts";

if (import.meta.main) process.exit(await main(process.argv.slice(2)));
