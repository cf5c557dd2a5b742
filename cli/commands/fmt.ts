/** `mill fmt -f FILE`: rewrite a config in canonical form, keeping comments. */

import { formatConfig } from "../../config/mod.ts";
import {
  type CommandSpec,
  flag,
  type RunContext,
  stringOption,
} from "../command.ts";
import { EXIT } from "../exit_codes.ts";
import { readConfigFile } from "../_files.ts";
import { renderDiagnostics } from "../render.ts";
import { FILE_OPTION } from "./validate.ts";

export const fmtCommand: CommandSpec = {
  name: "fmt",
  summary: "format a config file in canonical form",
  details:
    "Prints the file in canonical form on stdout, keeping every comment.\n" +
    "--write rewrites the file in place instead; --check prints nothing and\n" +
    "exits 1 when the file is not formatted. A file with syntax errors is left\n" +
    "alone (exit status 2).",
  options: [
    FILE_OPTION,
    { flags: "-w, --write", description: "rewrite the file in place" },
    {
      flags: "--check",
      description: "exit 1 if the file is not formatted; write nothing",
    },
  ],
  run: fmt,
};

async function fmt(context: RunContext): Promise<number> {
  const { output } = context;
  const file = stringOption(context, "file") ?? "";
  if (file === "-" && flag(context, "write")) {
    output.error(
      "--write needs a file: -f - reads stdin, whose result goes to stdout",
    );
    return EXIT.usage;
  }
  const read = await readConfigFile(file, output);
  if (!read.ok) return read.code;
  const result = formatConfig(read.text, read.name);
  if (!result.ok) {
    for (
      const line of renderDiagnostics(
        result.diagnostics,
        read.text,
        output.colorErr,
      )
    ) {
      output.error(line);
    }
    return EXIT.usage;
  }
  if (flag(context, "check")) {
    if (!result.changed) return EXIT.ok;
    output.error(
      file === "-"
        ? `${read.name} is not formatted`
        : `${file} is not formatted; run mill fmt --write -f ${file}`,
    );
    return EXIT.failure;
  }
  if (!flag(context, "write")) {
    output.writeOut(result.text);
    return EXIT.ok;
  }
  if (!result.changed) {
    output.line(`${file} is already formatted`);
    return EXIT.ok;
  }
  return await writeFormatted(context, file, result.text);
}

async function writeFormatted(context: RunContext, file: string, text: string) {
  try {
    await Deno.writeTextFile(file, text);
  } catch (err) {
    const reason = err instanceof Deno.errors.NotCapable
      ? "mill may not write there; run mill fmt -f FILE > NEW_FILE instead"
      : err instanceof Error
      ? err.message
      : String(err);
    context.output.error(`Cannot write "${file}": ${reason}`);
    return EXIT.failure;
  }
  context.output.line(`formatted ${file}`);
  return EXIT.ok;
}
