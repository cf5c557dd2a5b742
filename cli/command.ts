/**
 * How a command is declared: plain data plus a `run` function. The adapter
 * (_commander.ts) turns these into the argument parser's commands, so no
 * command depends on the parser library.
 */

import type { Output } from "./output.ts";

export interface OptionSpec {
  /** Commander-style flags: `-f, --file <path>`, `--json`. */
  readonly flags: string;
  readonly description: string;
  readonly defaultValue?: string | boolean;
  /** The option must be given. */
  readonly required?: boolean;
}

export interface ArgumentSpec {
  readonly name: string;
  readonly description: string;
  readonly required: boolean;
}

export interface CommandSpec {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** Shown after the usage in `--help`; defaults to the summary. */
  readonly details?: string;
  readonly arguments?: readonly ArgumentSpec[];
  readonly options?: readonly OptionSpec[];
  readonly subcommands?: readonly CommandSpec[];
  readonly run?: (context: RunContext) => Promise<number>;
}

export interface RunContext {
  /** Positional arguments, in declaration order. */
  readonly args: readonly (string | undefined)[];
  /** Parsed options by camel-cased long name (`--file` → `file`). */
  readonly options: Readonly<Record<string, unknown>>;
  readonly output: Output;
}

/** A string option's value, or undefined. */
export function stringOption(
  context: RunContext,
  name: string,
): string | undefined {
  const value = context.options[name];
  return typeof value === "string" ? value : undefined;
}

/** A boolean flag's value. */
export function flag(context: RunContext, name: string): boolean {
  return context.options[name] === true;
}

export const JSON_OPTION: OptionSpec = {
  flags: "--json",
  description: "print machine-readable JSON on stdout",
};
