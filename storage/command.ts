/**
 * How storage runs `losetup`, `blkid`, `mkfs.ext4`, `mount`, `umount`,
 * `sync` and `cp`: through a runner the caller gives, so the agent can run
 * them where its node lives (a prefix such as `nsenter --mount=...`) and
 * tests can watch what ran.
 */

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `argv` (program first); an abort kills the process. */
export type CommandRunner = (
  argv: readonly string[],
  signal?: AbortSignal,
) => Promise<CommandResult>;

/**
 * The longest any one command may take: copying a volume's file for a
 * snapshot reads every written block, so this is generous; it only stops a
 * hung process.
 */
const COMMAND_TIMEOUT_MS = 30 * 60_000;

/** Runs local processes, each prefixed by `prefix`. */
export function localRunner(prefix: readonly string[] = []): CommandRunner {
  return async (argv, signal) => {
    const [program, ...args] = [...prefix, ...argv];
    if (program === undefined) throw new Error("no command to run");
    const timeout = AbortSignal.timeout(COMMAND_TIMEOUT_MS);
    const out = await new Deno.Command(program, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    }).output();
    signal?.throwIfAborted();
    const decoder = new TextDecoder();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
  };
}

export class StorageCommandError extends Error {
  override name = "StorageCommandError";
  constructor(
    readonly argv: readonly string[],
    readonly result: CommandResult,
  ) {
    super(
      `${argv.join(" ")} failed (exit ${result.code}): ${
        result.stderr.trim() || result.stdout.trim() || "no output"
      }`,
    );
  }
}

/** Runs and returns stdout; throws `StorageCommandError` on a non-zero exit. */
export async function runChecked(
  run: CommandRunner,
  argv: readonly string[],
  signal?: AbortSignal,
): Promise<string> {
  const result = await run(argv, signal);
  if (result.code !== 0) throw new StorageCommandError(argv, result);
  return result.stdout;
}

/**
 * A block device's `major:minor` (following links), or null when the path
 * does not exist; not a block device is an error. Asked of `stat`: Deno
 * refuses to stat a device file without every permission, and the binary
 * runs with a scoped set.
 */
export async function blockDeviceNumber(
  run: CommandRunner,
  device: string,
  signal?: AbortSignal,
): Promise<string | null> {
  const argv = ["stat", "-L", "--format=%F|%t|%T", device];
  const result = await run(argv, signal);
  if (result.code !== 0) {
    if (/no such file/i.test(result.stderr)) return null;
    throw new StorageCommandError(argv, result);
  }
  const [type, major, minor] = result.stdout.trim().split("|");
  if (type !== "block special file") {
    throw new Error(`${device} is not a block device (${type})`);
  }
  return `${parseInt(major ?? "", 16)}:${parseInt(minor ?? "", 16)}`;
}
