/**
 * One process per data dir: an exclusive advisory lock (`flock`) on
 * `<data dir>/agent.lock`, taken before anything else of the data dir is
 * read, held for the agent's whole life and released by the kernel when the
 * process dies (so a kill -9 leaves no stale lock). The file holds the
 * holder's pid, so a second agent refuses at once naming the first.
 */
import type { Service } from "./supervisor.ts";

export const LOCK_FILE = "agent.lock";

/** Why the data dir cannot be taken. */
export class DataDirLockError extends Error {
  override name = "DataDirLockError";
  readonly code = "agent.data_dir_locked";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

export class DataDirLock implements Service {
  readonly name = "data-dir-lock";
  readonly #path: string;
  #file: Deno.FsFile | null = null;

  constructor(readonly dataDir: string) {
    this.#path = `${dataDir}/${LOCK_FILE}`;
  }

  async start(): Promise<void> {
    const dir = await Deno.stat(this.dataDir).catch(() => null);
    if (dir === null || !dir.isDirectory) {
      throw new DataDirLockError(
        `Data dir "${this.dataDir}" is not usable: it does not exist; run "mill init" or "mill join" first`,
      );
    }
    const file = await Deno.open(this.#path, {
      read: true,
      write: true,
      create: true,
      mode: 0o600,
    });
    let locked = false;
    try {
      locked = await file.tryLock(true);
      if (!locked) {
        const holder = await readHolder(this.#path);
        throw new DataDirLockError(
          `Data dir "${this.dataDir}" is in use by another mill agent (pid ${holder}); stop that one first or use another --data-dir`,
        );
      }
      const pid = new TextEncoder().encode(`${Deno.pid}\n`);
      await file.truncate(0);
      for (let written = 0; written < pid.length;) {
        written += await file.write(pid.subarray(written));
      }
    } catch (error) {
      file.close();
      throw error;
    }
    this.#file = file;
  }

  stop(): Promise<void> {
    const file = this.#file;
    this.#file = null;
    // Closing the descriptor releases the lock; the file stays (a new holder overwrites it).
    file?.close();
    return Promise.resolve();
  }
}

async function readHolder(path: string): Promise<string> {
  const text = await Deno.readTextFile(path).catch(() => "");
  const pid = text.trim();
  return /^\d{1,10}$/.test(pid) ? pid : "unknown";
}
