/**
 * `mill up --clean`: the local one-node cluster removed so that a user can
 * start over. Its containers, their shims and its private containerd are
 * stopped (node/agent/private_containerd.ts), then its data dir is removed.
 * Refused while an agent holds the data dir, and for a directory that holds
 * no mill cluster.
 */
import { clearPrivateContainerd } from "../../node/agent/private_containerd.ts";
import {
  DataDirLock,
  DataDirLockError,
} from "../../node/agent/data_dir_lock.ts";
import { EXIT } from "../exit_codes.ts";
import type { Output } from "../output.ts";
import { confirmOrExit } from "./_confirm.ts";

export interface CleanUpOptions {
  readonly dataDir: string;
  /** `-f`: refused with --clean (it starts nothing). */
  readonly file: string | undefined;
  /** `--containerd-socket`: refused with --clean (not ours to clear). */
  readonly socket: string | undefined;
  readonly yes: boolean;
  readonly output: Output;
}

export async function cleanUp(options: CleanUpOptions): Promise<number> {
  const { dataDir, output } = options;
  if (options.file !== undefined || options.socket !== undefined) {
    output.error(
      `error: --clean starts nothing and clears only the containerd mill up runs itself; drop ${
        options.file !== undefined ? "-f" : "--containerd-socket"
      } (with another containerd, run "mill down" while the cluster is up, then --clean)`,
    );
    return EXIT.usage;
  }
  if (!await isFile(`${dataDir}/cluster.json`)) {
    if (!await exists(dataDir)) {
      output.line(`nothing to clean: "${dataDir}" does not exist`);
      return EXIT.ok;
    }
    output.error(
      `error: "${dataDir}" holds no mill cluster (no cluster.json); --clean removes only a mill up data dir`,
    );
    return EXIT.failure;
  }
  const refused = await confirmOrExit(
    output,
    "mill up --clean",
    `Remove the local cluster in ${dataDir}? Its containers stop and its state, secrets and images are deleted.`,
    options.yes,
  );
  if (refused !== null) return refused;
  const lock = new DataDirLock(dataDir);
  try {
    await lock.start();
  } catch (error) {
    if (!(error instanceof DataDirLockError)) throw error;
    output.error(
      `error[${error.code}]: ${
        error.message.replace(
          "stop that one first or use another --data-dir",
          "stop it (Ctrl-C on its mill up) and run --clean again",
        )
      }`,
    );
    return EXIT.failure;
  }
  try {
    const cleared = await clearPrivateContainerd(`${dataDir}/containerd`);
    output.line(
      `stopped ${cleared.tasks} container${
        cleared.tasks === 1 ? "" : "s"
      } and the private containerd${
        cleared.shimsKilled > 0 ? ` (killed ${cleared.shimsKilled} shims)` : ""
      }`,
    );
  } catch (error) {
    await lock.stop();
    output.error(
      `error: cannot stop the local cluster's containers: ${
        (error as Error).message
      }; nothing was removed`,
    );
    return EXIT.failure;
  }
  try {
    // Removed under the lock: no agent can take the data dir meanwhile.
    await Deno.remove(dataDir, { recursive: true });
  } finally {
    await lock.stop();
  }
  output.line(
    `removed ${dataDir}; "mill up" creates a new cluster (and saves its context anew)`,
  );
  return EXIT.ok;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
