/**
 * How the network layer runs `ip`, `nft` and `sysctl`: through a runner the
 * caller gives, so that tests run every command inside a private network
 * namespace standing for the host (`nsenter --net=... ip ...`).
 */

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

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
  return async (argv, stdin) => {
    const [program, ...args] = [...prefix, ...argv];
    if (program === undefined) throw new Error("no command to run");
    const child = new Deno.Command(program, {
      args,
      stdin: stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(stdin));
      await writer.close();
    }
    const out = await child.output();
    const decoder = new TextDecoder();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  };
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
