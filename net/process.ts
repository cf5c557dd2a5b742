/**
 * Running one local process for the network layer (`ip`, `nft`, `wg`,
 * `wireguard-go`), behind the runners of `containers/` and `mesh/`. Those
 * runners take a prefix, so tests run every command inside a private
 * network namespace standing for a host (`nsenter --net=... ip ...`).
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

/** No command the network layer runs should take this long; it is killed after. */
const COMMAND_TIMEOUT_MS = 30_000;

/** Runs `argv` (program first), with `stdin` fed to it when given. */
export async function runProcess(
  argv: readonly string[],
  stdin?: string,
  options: RunOptions = {},
): Promise<CommandResult> {
  const [program, ...args] = argv;
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
}
