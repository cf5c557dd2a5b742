/**
 * Runs programs for the bed: to completion with a deadline (`run`), or in
 * the background with their output in files (`spawnLogged`), either in the
 * root network namespace or inside one (`inNetns`: nsenter --net, never
 * `ip netns exec`, which remounts /sys and hides runc's cgroups).
 */

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** True when the deadline killed it (code is then 137). */
  readonly timedOut: boolean;
}

export interface RunOptions {
  readonly env?: Record<string, string>;
  readonly cwd?: string;
  readonly stdin?: string;
  /** SIGKILL after this long (default 60 s). */
  readonly timeoutMs?: number;
}

/** `argv` prefixed so that it runs inside the network namespace `netns`. */
export function inNetns(netns: string, argv: readonly string[]): string[] {
  return ["nsenter", `--net=/var/run/netns/${netns}`, ...argv];
}

/**
 * Runs `argv` to its end. Its output is what it wrote until it exited: a
 * process it left in the background may hold the pipes, so they are not
 * waited for long.
 */
export async function run(
  argv: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const [program, ...args] = argv;
  const child = new Deno.Command(program!, {
    args,
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.env === undefined ? {} : { env: options.env }),
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin)).catch(
      () => {},
    );
    await writer.close().catch(() => {});
  }
  const collected = { stdout: "", stderr: "" };
  const readers = (["stdout", "stderr"] as const).map((which) => {
    const reader = child[which].pipeThrough(new TextDecoderStream())
      .getReader();
    const reading = (async () => {
      for (;;) {
        const { done, value } = await reader.read().catch(() => ({
          done: true,
          value: undefined,
        }));
        if (done) return;
        collected[which] += value;
      }
    })();
    return { reader, reading };
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // Exited meanwhile.
    }
  }, options.timeoutMs ?? 60_000);
  const status = await child.status;
  clearTimeout(timer);
  let grace: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all(readers.map((r) => r.reading)),
    new Promise((resolve) => grace = setTimeout(resolve, 500)),
  ]);
  clearTimeout(grace);
  for (const { reader } of readers) await reader.cancel().catch(() => {});
  return { code: status.code, ...collected, timedOut };
}

/** Runs `argv` and throws with its output unless it exits 0. */
export async function runOk(
  argv: readonly string[],
  options: RunOptions = {},
): Promise<string> {
  const result = await run(argv, options);
  if (result.code !== 0) {
    throw new Error(
      `${argv.join(" ")} exited ${result.code}${
        result.timedOut ? " (timed out)" : ""
      }:\n${result.stdout}${result.stderr}`,
    );
  }
  return result.stdout;
}

/** A background process whose stdout and stderr go to files. */
export interface Background {
  readonly child: Deno.ChildProcess;
  readonly pid: number;
  /** SIGKILL (when still running) and wait for its exit. */
  kill(): Promise<void>;
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word)
    ? word
    : `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Starts `argv` in the background through `bash -c 'exec …'`, so that its
 * pid is the program's own and no pipe ties it to this process.
 */
export function spawnLogged(
  argv: readonly string[],
  files: { stdout: string; stderr: string },
  options: { env?: Record<string, string>; cwd?: string } = {},
): Background {
  const script = `exec ${argv.map(shellQuote).join(" ")} >>${
    shellQuote(files.stdout)
  } 2>>${shellQuote(files.stderr)} </dev/null`;
  const child = new Deno.Command("bash", {
    args: ["-c", script],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.env === undefined ? {} : { env: options.env }),
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  return {
    child,
    pid: child.pid,
    async kill() {
      if (!exited) {
        try {
          child.kill("SIGKILL");
        } catch {
          // Exited meanwhile.
        }
      }
      await status;
    },
  };
}

/** Polls `check` until it holds; throws naming `what` after `timeoutMs`. */
export async function waitFor<T>(
  check: () =>
    | T
    | null
    | undefined
    | false
    | Promise<T | null | undefined | false>,
  options: { timeoutMs?: number; what: string; intervalMs?: number },
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = undefined;
  for (;;) {
    try {
      const value = await check();
      if (value !== null && value !== undefined && value !== false) {
        return value;
      }
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) break;
    await new Promise((resolve) =>
      setTimeout(resolve, options.intervalMs ?? 200)
    );
  }
  const why = lastError === undefined
    ? ""
    : ` (last error: ${(lastError as Error).message ?? lastError})`;
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${options.what}${why}`,
  );
}
