/**
 * Commands not built yet (volumes). They say so plainly and
 * exit with EXIT.unavailable, having done nothing.
 */

import { parseConfig } from "../config/mod.ts";
import {
  type CommandSpec,
  flag,
  type RunContext,
  stringOption,
} from "./command.ts";
import { EXIT } from "./exit_codes.ts";
import { readConfigFile } from "./_files.ts";
import { renderDiagnostics } from "./render.ts";

/** `spec` with a `run` that reports the missing cluster. */
export function needsCluster(
  spec: Omit<CommandSpec, "run">,
  fullName = spec.name,
): CommandSpec {
  return { ...spec, run: (context) => reportPending(fullName, context) };
}

/** Like needsCluster, but checks the `-f` config first (exit 2 if invalid). */
export function needsClusterWithConfig(
  spec: Omit<CommandSpec, "run">,
): CommandSpec {
  return {
    ...spec,
    run: async (context) => {
      const file = stringOption(context, "file");
      if (file !== undefined) {
        const read = await readConfigFile(file, context.output);
        if (!read.ok) return read.code;
        const result = parseConfig(read.text, read.name);
        if (!result.ok) {
          const lines = renderDiagnostics(
            result.diagnostics,
            read.text,
            context.output.colorErr,
          );
          for (const line of lines) context.output.error(line);
          return EXIT.usage;
        }
      }
      return reportPending(spec.name, context);
    },
  };
}

function reportPending(name: string, context: RunContext): Promise<number> {
  const message =
    `mill ${name} is not built yet (it lands with a later issue); nothing was done`;
  if (flag(context, "json")) {
    context.output.line(JSON.stringify({ code: "cli.unavailable", message }));
  } else {
    context.output.error(message);
  }
  return Promise.resolve(EXIT.unavailable);
}
