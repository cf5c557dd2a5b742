/**
 * The cluster key on disk: `cluster.key` in the data dir, 32 raw bytes, mode
 * 0600, written once by `mill init` (node/cluster_init) and read by every
 * primary at start.
 */
import {
  CLUSTER_KEY_BYTES,
  type ClusterKey,
  importClusterKey,
} from "./crypto.ts";
import { SecretError } from "./errors.ts";

/** File name of the cluster key inside the data dir. */
export const CLUSTER_KEY_FILE = "cluster.key";

/**
 * Reads and imports the cluster key at `path`. Throws `secret.invalid_key`
 * when the file is missing, not a regular file, readable or writable by
 * group or others, or not exactly 32 bytes.
 */
export async function readClusterKeyFile(path: string): Promise<ClusterKey> {
  let raw: Uint8Array;
  try {
    const file = await Deno.open(path, { read: true });
    try {
      const info = await file.stat();
      checkKeyFileInfo(path, info);
      raw = new Uint8Array(CLUSTER_KEY_BYTES + 1);
      let filled = 0;
      // Reads at most one byte more than a key so a longer file is detected.
      for (let attempt = 0; attempt <= CLUSTER_KEY_BYTES + 1; attempt++) {
        const count = await file.read(raw.subarray(filled));
        if (count === null) break;
        filled += count;
        if (filled === raw.length) break;
      }
      raw = raw.subarray(0, filled);
    } finally {
      file.close();
    }
  } catch (err) {
    if (err instanceof SecretError) throw err;
    throw new SecretError(
      "secret.invalid_key",
      `Cannot read the cluster key "${path}"; is this an initialized data dir?`,
      { cause: err },
    );
  }
  return await importClusterKey(raw);
}

function checkKeyFileInfo(path: string, info: Deno.FileInfo): void {
  if (!info.isFile) {
    throw new SecretError(
      "secret.invalid_key",
      `Cluster key "${path}" is not a regular file`,
    );
  }
  const mode = info.mode ?? 0;
  if ((mode & 0o077) !== 0) {
    throw new SecretError(
      "secret.invalid_key",
      `Cluster key "${path}" is accessible to group or others (mode ${
        (mode & 0o777).toString(8)
      }); run "chmod 600 ${path}"`,
    );
  }
}
