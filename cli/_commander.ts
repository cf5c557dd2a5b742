/**
 * The adapter to npm:commander, the only module that imports it: builds the
 * parser from our CommandSpecs, runs it, and maps its outcomes (help shown,
 * usage errors) to exit codes. Commander never exits the process here.
 */

import { Command, CommanderError, Option } from "commander";
import type { CommandSpec } from "./command.ts";
import type { Output } from "./output.ts";
import { EXIT } from "./exit_codes.ts";

/** Parses `args` against `root` and runs the chosen command. */
export async function runCommander(
  root: CommandSpec,
  version: string,
  args: readonly string[],
  output: Output,
): Promise<number> {
  const result = { code: EXIT.ok as number };
  const program = build(root, output, result);
  program.version(version, "-V, --version", "print the version");
  program.showSuggestionAfterError(true);
  try {
    await program.parseAsync([...args], { from: "user" });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    return exitCodeOf(err);
  }
  return result.code;
}

function exitCodeOf(err: CommanderError): number {
  switch (err.code) {
    case "commander.helpDisplayed":
    case "commander.version":
      return EXIT.ok;
    default:
      // Usage errors; also help printed because no command was given.
      return EXIT.usage;
  }
}

function build(
  spec: CommandSpec,
  output: Output,
  result: { code: number },
): Command {
  const command = new Command(spec.name);
  command
    .summary(spec.summary)
    .description(spec.details ?? spec.summary)
    .helpOption("-h, --help", "show help for this command")
    .exitOverride()
    .configureOutput({
      writeOut: (text) => output.writeOut(text),
      writeErr: (text) => output.writeErr(text),
      getOutHasColors: () => output.colorOut,
      getErrHasColors: () => output.colorErr,
    })
    .showHelpAfterError("(run with --help for usage)");
  for (const argument of spec.arguments ?? []) {
    const name = argument.required
      ? `<${argument.name}>`
      : `[${argument.name}]`;
    command.argument(name, argument.description);
  }
  for (const option of spec.options ?? []) {
    const built = new Option(option.flags, option.description);
    if (option.defaultValue !== undefined) built.default(option.defaultValue);
    if (option.required === true) built.makeOptionMandatory(true);
    command.addOption(built);
  }
  for (const sub of spec.subcommands ?? []) {
    command.addCommand(build(sub, output, result));
  }
  const run = spec.run;
  if (run !== undefined) {
    command.action(async (...params: unknown[]) => {
      const count = spec.arguments?.length ?? 0;
      // A variadic argument (`services...`) arrives as an array: its items.
      const args = params.slice(0, count).flatMap((p) =>
        Array.isArray(p) ? p : [p]
      ).map((p) => typeof p === "string" ? p : undefined);
      result.code = await run({ args, options: command.opts(), output });
    });
  }
  return command;
}
