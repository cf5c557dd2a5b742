/**
 * How `mill join` reports a failure: one `error[code]: message` line on
 * stderr and the exit status of its kind, never a stack trace.
 */
import { JoinError } from "../../node/agent/join.ts";
import { InitError } from "../../node/cluster_init/mod.ts";
import { EXIT } from "../exit_codes.ts";
import type { Output } from "../output.ts";
import { OptionError } from "./agent_options.ts";

/** Join codes that mean the command line was wrong. */
const USAGE_CODES = ["join.invalid_token", "join.bad_address"];
/** Join codes that mean no cluster answered. */
const UNREACHABLE_CODES = ["join.unreachable", "join.bad_bootstrap"];

/** The code and exit status `error` is reported with. */
export function joinFailure(
  error: unknown,
): { code: string; message: string; exit: number } {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof OptionError) {
    return { code: "cli.usage", message, exit: EXIT.usage };
  }
  if (error instanceof JoinError) {
    const exit = USAGE_CODES.includes(error.code)
      ? EXIT.usage
      : UNREACHABLE_CODES.includes(error.code)
      ? EXIT.unavailable
      : EXIT.failure;
    return { code: error.code, message, exit };
  }
  if (error instanceof InitError) {
    return { code: error.code, message, exit: EXIT.failure };
  }
  if (
    error instanceof Deno.errors.NotCapable ||
    error instanceof Deno.errors.PermissionDenied
  ) {
    return {
      code: "join.permission_denied",
      message: `${message}; check --data-dir and --log-file`,
      exit: EXIT.failure,
    };
  }
  if (error instanceof TypeError && /fetch|connect|dns|tls/i.test(message)) {
    return { code: "join.unreachable", message, exit: EXIT.unavailable };
  }
  return { code: "join.failed", message, exit: EXIT.failure };
}

/** Prints `error` as one line and returns its exit status. */
export function reportJoinFailure(output: Output, error: unknown): number {
  const failure = joinFailure(error);
  output.error(`error[${failure.code}]: ${failure.message}`);
  return failure.exit;
}
