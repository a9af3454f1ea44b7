/**
 * The `roam` command line: `spy`, `id`, `call` and `ping`. `main()` runs
 * one command and returns its exit code; `cli.ts` at the repository root
 * is the entry that calls it.
 *
 * @module
 */

import process from "node:process";
import { Output } from "./_output.ts";
import {
  type Command,
  EXIT_FAILED,
  EXIT_HELP,
  EXIT_OK,
  EXIT_USAGE,
  type Io,
  messageOf,
  UsageError,
} from "./_usage.ts";
import { callCommand } from "./call.ts";
import { idCommand } from "./id.ts";
import { pingCommand } from "./ping.ts";
import { spyCommand } from "./spy.ts";

const COMMANDS: readonly Command[] = [spyCommand, idCommand, callCommand, pingCommand];

const HELP = `Usage: roam <command> [options]

See what a roam v7 peer says, and talk to one.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(6)} ${c.summary}`).join("\n")}

Run 'roam <command> --help' for a command's options and an example.
Addresses: tcp://host:port, unix:/path/to.sock, ws://host:port/path, wss://… (connect only).

${EXIT_HELP}`;

/** stdout and stderr; when a reader goes away (`roam spy | head`), the process ends with 1. */
function defaultIo(): Io {
  const gone = (): never => process.exit(EXIT_FAILED);
  return { out: new Output(process.stdout, gone), err: new Output(process.stderr, gone) };
}

/**
 * Runs the command line.
 *
 * @param argv The arguments after the program (e.g. `["ping", "tcp://127.0.0.1:7700"]`).
 * @param io Where to write (default: stdout and stderr).
 * @returns The exit code: 0 ok, 1 the operation failed, 2 usage error.
 */
export async function main(
  argv: readonly string[],
  io: Io = defaultIo(),
): Promise<number> {
  const [name, ...rest] = argv;
  let code: number;
  if (name === undefined) {
    await io.err.line(HELP);
    code = EXIT_USAGE;
  } else if (name === "--help" || name === "-h" || name === "help") {
    const topic = COMMANDS.find((c) => c.name === rest[0]);
    await io.out.line(topic === undefined ? HELP : topic.help);
    code = EXIT_OK;
  } else {
    const command = COMMANDS.find((c) => c.name === name);
    if (command === undefined) {
      await io.err.line(
        `roam: unknown command ${JSON.stringify(name)}; run 'roam --help' for the commands`,
      );
      code = EXIT_USAGE;
    } else {
      try {
        code = await command.run(rest, io);
      } catch (e) {
        if (e instanceof UsageError) {
          await io.err.line(`roam ${name}: ${e.message}\nRun 'roam ${name} --help' for usage.`);
          code = EXIT_USAGE;
        } else {
          await io.err.line(`roam ${name}: ${messageOf(e)}`);
          code = EXIT_FAILED;
        }
      }
    }
  }
  await Promise.all([io.out.flush(), io.err.flush()]);
  return code;
}
