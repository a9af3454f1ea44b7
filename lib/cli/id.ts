/**
 * `roam id ./api.ts [Service]`: the id of every method, in hex and
 * decimal, with the signature bytes hashed into it.
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { ServiceDescriptor } from "../../mod.ts";
import { findService, loadServices } from "./_services.ts";
import { type Command, EXIT_HELP, EXIT_OK, type Io, parsing, UsageError } from "./_usage.ts";
import { hex } from "./_walk.ts";

const HELP = `Usage: roam id <services module> [Service] [--json]

Prints the id of every method of every service the module exports (or of
the one named): in hex and in decimal, with the signature bytes that were
hashed into it (wire-spec §6). A services module is a TS/JS module whose
exports include service descriptors made with service().

Options:
  --json      one JSON object a line: service, method, id (hex), decimal, signature (hex)
  -h, --help  this help

Example:
  roam id ./api.ts Calculator

${EXIT_HELP}`;

function spaced(bytes: Uint8Array): string {
  return hex(bytes).replace(/(..)(?!$)/g, "$1 ");
}

async function run(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parsing(() =>
    parseArgs({
      args: argv,
      options: { json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    })
  );
  if (values.help) {
    await io.out.line(HELP);
    return EXIT_OK;
  }
  if (positionals.length === 0) throw new UsageError("Missing the services module");
  if (positionals.length > 2) {
    throw new UsageError(`Unexpected argument ${JSON.stringify(positionals[2])}`);
  }
  const services = await loadServices(positionals[0]!);
  const chosen: ServiceDescriptor[] = positionals[1] === undefined
    ? services
    : [findService(services, positionals[1])];
  for (const s of chosen) {
    const methods = Object.values(s.methods);
    if (!values.json) await io.out.line(s.name);
    const width = Math.max(0, ...methods.map((m) => m.name.length));
    for (const m of methods) {
      const idHex = `0x${m.id.toString(16).padStart(16, "0")}`;
      await (values.json
        ? io.out.line(JSON.stringify({
          service: s.name,
          method: m.name,
          id: idHex,
          decimal: m.id.toString(),
          signature: hex(m.signature),
        }))
        : io.out.line(
          `  ${m.name.padEnd(width)}  ${idHex}  ${m.id.toString().padStart(20)}  sig ${
            spaced(m.signature)
          }`,
        ));
    }
  }
  return EXIT_OK;
}

/** The `id` command. */
export const idCommand: Command = {
  name: "id",
  summary: "print every method's id (hex and decimal) and signature bytes",
  help: HELP,
  run,
};
