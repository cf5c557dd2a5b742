/**
 * How the mesh runs `ip`, `wg` and `wireguard-go`: through a runner the caller
 * gives, so that tests run every command inside a private network namespace
 * standing for a host (`nsenter --net=/var/run/netns/NS ip ...`).
 *
 * Errors carry the command and its stderr, never its stdout: `wg show dump`
 * prints the interface's private key on stdout.
 */

import { type CommandResult, type RunOptions, runProcess } from "../process.ts";

export type { CommandResult, RunOptions } from "../process.ts";

/** Runs `argv` (program first), with `stdin` fed to it when given. */
export type CommandRunner = (
  argv: readonly string[],
  stdin?: string,
  options?: RunOptions,
) => Promise<CommandResult>;

/**
 * A runner of local processes, each prefixed by `prefix` (for example
 * `["nsenter", "--net=/var/run/netns/host1"]`).
 */
export function meshRunner(prefix: readonly string[] = []): CommandRunner {
  return (argv, stdin, options) =>
    runProcess([...prefix, ...argv], stdin, options);
}

export class MeshCommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly result: CommandResult,
  ) {
    super(
      `${argv.join(" ")} failed (exit ${result.code}): ${
        result.stderr.trim() || "no message"
      }`,
    );
    this.name = "MeshCommandError";
  }
}

/** Runs and returns stdout; throws `MeshCommandError` on a non-zero exit. */
export async function runChecked(
  run: CommandRunner,
  argv: readonly string[],
  options?: RunOptions,
): Promise<string> {
  const result = await run(argv, undefined, options);
  if (result.code !== 0) throw new MeshCommandError(argv, result);
  return result.stdout;
}
