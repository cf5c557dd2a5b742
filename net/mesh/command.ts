/**
 * How the mesh runs `ip`, `wg` and `wireguard-go`: through a runner the caller
 * gives, so that tests run every command inside a private network namespace
 * standing for a host (`nsenter --net=/var/run/netns/NS ip ...`).
 *
 * Errors carry the command and its stderr, never its stdout: `wg show dump`
 * prints the interface's private key on stdout.
 */

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Added to the inherited environment. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * In a session of its own, so that a daemon it leaves behind (wireguard-go)
   * outlives this process and its terminal's signals.
   */
  readonly detached?: boolean;
}

/** Runs `argv` (program first), with `stdin` fed to it when given. */
export type CommandRunner = (
  argv: readonly string[],
  stdin?: string,
  options?: RunOptions,
) => Promise<CommandResult>;

/** No command the mesh runs should take this long; it is killed after. */
const COMMAND_TIMEOUT_MS = 30_000;

/**
 * A runner of local processes, each prefixed by `prefix` (for example
 * `["nsenter", "--net=/var/run/netns/host1"]`).
 */
export function meshRunner(prefix: readonly string[] = []): CommandRunner {
  return async (argv, stdin, options = {}) => {
    const [program, ...args] = [...prefix, ...argv];
    if (program === undefined) throw new Error("no command to run");
    const child = new Deno.Command(program, {
      args,
      stdin: stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      ...(options.env ? { env: { ...options.env } } : {}),
      ...(options.detached ? { detached: true } : {}),
      signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
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
