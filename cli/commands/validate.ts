/** `mill validate -f FILE`: parse and check a config without deploying it. */

import { parseConfig } from "../../config/mod.ts";
import {
  type CommandSpec,
  flag,
  JSON_OPTION,
  type RunContext,
  stringOption,
} from "../command.ts";
import { EXIT } from "../exit_codes.ts";
import { readConfigFile } from "../_files.ts";
import { renderDiagnostics, renderSummary } from "../render.ts";
import { summarize } from "../summary.ts";

export const FILE_OPTION = {
  flags: "-f, --file <path>",
  description: "the .mill config file (- reads stdin)",
  required: true,
} as const;

export const validateCommand: CommandSpec = {
  name: "validate",
  summary: "check a config file and summarise it",
  details:
    "Parses and validates a .mill file, reporting every error with its line and column.\n" +
    "On success prints a summary: services, replicas, reserved cpu and memory, routes,\n" +
    "volumes and the secrets the file references. With --json prints the parsed model\n" +
    '(or {"diagnostics": […]} when invalid). Exit status 2 when the file is invalid.',
  options: [FILE_OPTION, JSON_OPTION],
  run: validate,
};

async function validate(context: RunContext): Promise<number> {
  const { output } = context;
  const file = stringOption(context, "file") ?? "";
  const read = await readConfigFile(file, output);
  if (!read.ok) return read.code;
  const result = parseConfig(read.text, read.name);
  const json = flag(context, "json");
  if (!result.ok) {
    if (json) {
      output.line(JSON.stringify({ diagnostics: result.diagnostics }, null, 2));
    } else {
      for (
        const line of renderDiagnostics(
          result.diagnostics,
          read.text,
          output.colorErr,
        )
      ) {
        output.error(line);
      }
    }
    return EXIT.usage;
  }
  if (json) {
    output.line(JSON.stringify(result.config, null, 2));
    return EXIT.ok;
  }
  for (
    const line of renderSummary(
      read.name,
      summarize(result.config),
      output.colorOut,
    )
  ) {
    output.line(line);
  }
  // Valid, but worth a word: an empty file takes every service down.
  for (const notice of result.notices) output.line(`  note: ${notice.message}`);
  return EXIT.ok;
}
