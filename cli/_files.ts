/** Reading the config file a command names with `-f`. */

import type { Output } from "./output.ts";
import { EXIT } from "./exit_codes.ts";

/** The file's text, or the exit code after reporting why it cannot be read. */
export async function readConfigFile(
  path: string,
  output: Output,
): Promise<{ ok: true; text: string } | { ok: false; code: number }> {
  try {
    return { ok: true, text: await Deno.readTextFile(path) };
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      output.error(
        `Cannot read "${path}": no such file; check the path given to -f`,
      );
      return { ok: false, code: EXIT.usage };
    }
    if (err instanceof Deno.errors.IsADirectory) {
      output.error(
        `Cannot read "${path}": it is a directory; give a .mill file to -f`,
      );
      return { ok: false, code: EXIT.usage };
    }
    const reason = err instanceof Error ? err.message : String(err);
    output.error(`Cannot read "${path}": ${reason}`);
    return { ok: false, code: EXIT.failure };
  }
}
