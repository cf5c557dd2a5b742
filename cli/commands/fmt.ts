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
    "Rewrites the file in place in canonical form, keeping every comment.\n" +
    "--check changes nothing and exits 1 when the file is not formatted;\n" +
    "--stdout prints the formatted text instead of writing the file.\n" +
    "A file with syntax errors is left alone (exit status 2).",
  options: [
    FILE_OPTION,
    {
      flags: "--check",
      description: "exit 1 if the file is not formatted; write nothing",
    },
    {
      flags: "--stdout",
      description: "print the formatted text instead of writing the file",
    },
  ],
  run: fmt,
};

async function fmt(context: RunContext): Promise<number> {
  const { output } = context;
  const file = stringOption(context, "file") ?? "";
  const read = await readConfigFile(file, output);
  if (!read.ok) return read.code;
  const result = formatConfig(read.text, file);
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
  if (flag(context, "stdout")) {
    output.writeOut(result.text);
    return EXIT.ok;
  }
  if (flag(context, "check")) {
    if (!result.changed) return EXIT.ok;
    output.error(`${file} is not formatted; run mill fmt -f ${file}`);
    return EXIT.failure;
  }
  if (!result.changed) {
    output.line(`${file} is already formatted`);
    return EXIT.ok;
  }
  try {
    await Deno.writeTextFile(file, result.text);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    output.error(`Cannot write "${file}": ${reason}`);
    return EXIT.failure;
  }
  output.line(`formatted ${file}`);
  return EXIT.ok;
}
