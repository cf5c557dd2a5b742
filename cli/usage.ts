/**
 * One-line synopses of the commands, made from their specs (pure):
 * `mill fmt -f|--file PATH [-w|--write] [--check]`. cli/README.md's table of
 * commands lists exactly these (`cli/readme_test.ts` checks it).
 */
import type { CommandSpec, OptionSpec } from "./command.ts";

/** `-f, --file <path>` → `-f|--file PATH`; optional ones in brackets. */
export function optionSynopsis(option: OptionSpec): string {
  const names: string[] = [];
  let value = "";
  for (const part of option.flags.split(/[ ,]+/)) {
    if (part.startsWith("-")) names.push(part);
    else if (part !== "") {
      value = ` ${part.replace(/[<>[\]]/g, "").toUpperCase()}`;
    }
  }
  const text = `${names.join("|")}${value}`;
  return option.required === true ? text : `[${text}]`;
}

/** The synopsis of `spec` under `parents` (e.g. `["mill", "secret"]`). */
export function synopsis(
  spec: CommandSpec,
  parents: readonly string[],
): string {
  const words = [...parents, spec.name];
  for (const argument of spec.arguments ?? []) {
    const name = argument.name.toUpperCase();
    words.push(argument.required ? name : `[${name}]`);
  }
  for (const option of spec.options ?? []) words.push(optionSynopsis(option));
  return words.join(" ");
}

/** Every runnable command and subcommand of `commands`, as synopses, in order. */
export function synopses(
  commands: readonly CommandSpec[],
  parents: readonly string[] = ["mill"],
): string[] {
  return commands.flatMap((spec) => [
    ...(spec.run === undefined ? [] : [synopsis(spec, parents)]),
    ...synopses(spec.subcommands ?? [], [...parents, spec.name]),
  ]);
}
