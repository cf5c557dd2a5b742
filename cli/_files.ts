/**
 * Reading the config file a command names with `-f`: any path the user can
 * read, or stdin for `-f -`.
 *
 * The binary's read permission is scoped to mill's own directories (the
 * agent runs under it), so a path outside them cannot be opened by this
 * process. Such a file is read by `cat`, which the binary may already run,
 * as the user who runs mill: the CLI reads what its user can read, while the
 * process's own permissions stay as scoped as before.
 */

import type { Output } from "./output.ts";
import { EXIT } from "./exit_codes.ts";

/** The name diagnostics use for a config read from stdin. */
export const STDIN_NAME = "<stdin>";

export type ReadResult =
  | { ok: true; text: string; name: string }
  | { ok: false; code: number };

/** The file's text (and the name to report it by), or the exit code after saying why it cannot be read. */
export async function readConfigFile(
  path: string,
  output: Output,
  stdin: ReadableStream<Uint8Array> = Deno.stdin.readable,
): Promise<ReadResult> {
  if (path === "-") {
    try {
      return {
        ok: true,
        text: await new Response(stdin).text(),
        name: STDIN_NAME,
      };
    } catch (err) {
      output.error(`Cannot read the config from stdin: ${reasonOf(err)}`);
      return { ok: false, code: EXIT.usage };
    }
  }
  if (path === "") {
    output.error("No config file given; pass -f FILE (or -f - for stdin)");
    return { ok: false, code: EXIT.usage };
  }
  try {
    return { ok: true, text: await Deno.readTextFile(path), name: path };
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) {
      return await readByCat(path, output);
    }
    return refuse(path, output, kindOf(err), reasonOf(err));
  }
}

type Failure = "missing" | "directory" | "denied" | "other";

function kindOf(err: unknown): Failure {
  if (err instanceof Deno.errors.NotFound) return "missing";
  if (err instanceof Deno.errors.IsADirectory) return "directory";
  if (err instanceof Deno.errors.PermissionDenied) return "denied";
  return "other";
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function refuse(
  path: string,
  output: Output,
  kind: Failure,
  reason: string,
): ReadResult {
  const why = {
    missing: "no such file; check the path given to -f",
    directory: "it is a directory; give a .mill file to -f",
    denied: "permission denied; mill reads it as the user running it",
    other: reason,
  }[kind];
  output.error(`Cannot read "${path}": ${why}`);
  return { ok: false, code: EXIT.usage };
}

/** A path outside the process's read permission, read by `cat` as this user. */
async function readByCat(path: string, output: Output): Promise<ReadResult> {
  let result: Deno.CommandOutput;
  try {
    result = await new Deno.Command("cat", {
      args: ["--", path],
      env: { LC_ALL: "C" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (err) {
    return refuse(
      path,
      output,
      "other",
      `${reasonOf(err)}; pass the file on stdin instead: mill … -f - < ${path}`,
    );
  }
  if (result.success) {
    return {
      ok: true,
      text: new TextDecoder().decode(result.stdout),
      name: path,
    };
  }
  const message = new TextDecoder().decode(result.stderr);
  const kind: Failure = /No such file/.test(message)
    ? "missing"
    : /Is a directory/.test(message)
    ? "directory"
    : /Permission denied/.test(message)
    ? "denied"
    : "other";
  return refuse(path, output, kind, message.trim().replace(/^cat: /, ""));
}
