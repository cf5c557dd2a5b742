/**
 * Small durable-file helpers on Deno's file APIs, among them mill's one
 * atomic file write (Raft's hard state and snapshots, and the data dir files
 * of node/ through `raft/mod.ts`).
 */
import { assert } from "../_assert.ts";

/** Raft's own files hold the cluster state, secrets included: owner only. */
export const STORAGE_FILE_MODE = 0o600;
/** Raft's directories (the data dir, `snap/`, `wal/`): owner only. */
export const STORAGE_DIR_MODE = 0o700;

/** How the temp files of atomic writes end; `removeTempFiles` deletes them. */
export const TEMP_FILE_SUFFIX = ".tmp";

/** Random bytes in a temp file's name, so concurrent writes never share one. */
const TEMP_NAME_RANDOM_BYTES = 6;

/** How `writeFileAtomic` writes. */
export interface WriteFileAtomicOptions {
  /**
   * The file's permission bits, exactly (the umask does not apply). The file
   * is created with them, so it is never more open than asked.
   */
  readonly mode: number;
  /** Fail with `Deno.errors.AlreadyExists` instead of replacing a file. */
  readonly createNew?: boolean;
}

/**
 * Writes `data` to `path` atomically: a fresh temp file beside it, written
 * and fsynced, renamed over `path` (or, with `createNew`, hard-linked to it),
 * then the directory fsynced. A crash leaves either the old file or the new
 * one, never a torn one; at worst a stray `*.tmp` (see `removeTempFiles`).
 *
 * @throws {Deno.errors.AlreadyExists} with `createNew`, when `path` exists;
 * the existing file is left as it was.
 *
 * @example
 * ```ts
 * await writeFileAtomic(`${dataDir}/ca.key`, pem, { mode: 0o600, createNew: true });
 * ```
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: WriteFileAtomicOptions,
): Promise<void> {
  assert(Number.isInteger(options.mode), `Mode ${options.mode} is no integer`);
  assert(
    (options.mode & ~0o777) === 0,
    `Mode ${options.mode.toString(8)} has bits beyond 0777`,
  );
  const bytes = typeof data === "string"
    ? new TextEncoder().encode(data)
    : data;
  const temp = tempPath(path);
  try {
    await writeTempFile(temp, bytes, options.mode);
    if (options.createNew === true) {
      // link() fails if `path` exists: no window in which it could be replaced.
      await Deno.link(temp, path);
      await Deno.remove(temp);
    } else {
      await Deno.rename(temp, path);
    }
  } catch (error) {
    await removeTempAfterFailure(temp, error);
    throw error;
  }
  await syncDir(parentDir(path));
}

function tempPath(path: string): string {
  const random = crypto.getRandomValues(new Uint8Array(TEMP_NAME_RANDOM_BYTES));
  return `${path}.${random.toHex()}${TEMP_FILE_SUFFIX}`;
}

/** Creates `temp` with `mode`, writes `bytes` and fsyncs it. */
async function writeTempFile(
  temp: string,
  bytes: Uint8Array,
  mode: number,
): Promise<void> {
  // createNew: opening an existing file would keep that file's mode.
  const file = await Deno.open(temp, { write: true, createNew: true, mode });
  try {
    // The umask may have cleared bits of `mode`; set exactly what was asked.
    await Deno.chmod(temp, mode);
    await writeAll(file, bytes);
    await file.sync();
  } finally {
    file.close();
  }
}

/** Removes the temp file of a failed write; `error` stays the reason. */
async function removeTempAfterFailure(
  temp: string,
  error: unknown,
): Promise<void> {
  try {
    await Deno.remove(temp);
  } catch (removeError) {
    // The write failed before creating the temp file: nothing to remove.
    if (removeError instanceof Deno.errors.NotFound) return;
    throw new AggregateError(
      [error, removeError],
      `Cannot write "${temp}" nor remove it afterwards; remove it by hand`,
      { cause: error },
    );
  }
}

function parentDir(path: string): string {
  const at = path.lastIndexOf("/");
  if (at < 0) return ".";
  return at === 0 ? "/" : path.slice(0, at);
}

/**
 * Creates `path` (and missing parents) with `STORAGE_DIR_MODE`, and sets
 * that mode on it when it already existed more open: the umask does not
 * apply.
 */
export async function ensurePrivateDir(path: string): Promise<void> {
  await Deno.mkdir(path, { recursive: true, mode: STORAGE_DIR_MODE });
  const mode = (await Deno.stat(path)).mode;
  if (mode !== null && (mode & 0o777) !== STORAGE_DIR_MODE) {
    await Deno.chmod(path, STORAGE_DIR_MODE);
  }
}

/** fsyncs a directory so that creates, renames and unlinks in it are durable. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}

/** Writes all of `bytes` (Deno's write may be partial). */
export async function writeAll(
  file: Deno.FsFile,
  bytes: Uint8Array,
): Promise<void> {
  let written = 0;
  // Each write makes progress or throws; the loop ends with the data.
  while (written < bytes.length) {
    written += await file.write(bytes.subarray(written));
  }
}

/**
 * `writeAll` without the round trip through the blocking-op pool: a write
 * to the page cache is short, and the fsync after it (async) is the wait.
 */
export function writeAllSync(file: Deno.FsFile, bytes: Uint8Array): void {
  let written = 0;
  while (written < bytes.length) {
    written += file.writeSync(bytes.subarray(written));
  }
}

/** Removes stray `*.tmp` files left by a crash in the middle of an atomic write. */
export async function removeTempFiles(dir: string): Promise<string[]> {
  const removed: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && entry.name.endsWith(TEMP_FILE_SUFFIX)) {
      await Deno.remove(`${dir}/${entry.name}`);
      removed.push(entry.name);
    }
  }
  return removed;
}
