/**
 * How the network layer runs `ip`, `nft` and `sysctl`: through a runner the
 * caller gives, so that tests run every command inside a private network
 * namespace standing for the host (`nsenter --net=... ip ...`).
 */

import { type CommandResult, runProcess } from "../process.ts";

export type { CommandResult } from "../process.ts";

/** Runs `argv` (program first), with `stdin` fed to it when given. */
export type CommandRunner = (
  argv: readonly string[],
  stdin?: string,
) => Promise<CommandResult>;

/**
 * A runner of local processes, each prefixed by `prefix` (for example
 * `["nsenter", "--net=/var/run/netns/host1"]`).
 */
export function localRunner(prefix: readonly string[] = []): CommandRunner {
  return (argv, stdin) => runProcess([...prefix, ...argv], stdin);
}

export class NetworkCommandError extends Error {
  constructor(
    readonly argv: readonly string[],
    readonly result: CommandResult,
  ) {
    super(
      `${argv.join(" ")} failed (exit ${result.code}): ${
        result.stderr.trim() || result.stdout.trim() || "no output"
      }`,
    );
    this.name = "NetworkCommandError";
  }
}

/** Runs and returns stdout; throws `NetworkCommandError` on a non-zero exit. */
export async function runChecked(
  run: CommandRunner,
  argv: readonly string[],
  stdin?: string,
): Promise<string> {
  const result = await run(argv, stdin);
  if (result.code !== 0) throw new NetworkCommandError(argv, result);
  return result.stdout;
}
