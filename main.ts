/**
 * The single entry of the mill binary: the CLI, of which `mill agent` is one
 * command.
 */
import { runCli } from "./cli/mod.ts";

if (import.meta.main) {
  Deno.exit(await runCli(Deno.args));
}
