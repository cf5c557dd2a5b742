/**
 * Crash-safe file writes: a temp file in the same directory, written, fsynced
 * and renamed over the target, then the directory fsynced. A crash leaves
 * either the old file or the new one, never a torn one.
 */

/**
 * Writes `data` to `path` atomically with permission bits `mode`. With
 * `createNew`, fails with `Deno.errors.AlreadyExists` instead of replacing.
 */
export async function writeFileAtomic(
  path: string,
  data: Uint8Array | string,
  options: { readonly mode: number; readonly createNew?: boolean },
): Promise<void> {
  const bytes = typeof data === "string"
    ? new TextEncoder().encode(data)
    : data;
  const dir = parentDir(path);
  const temp = `${path}.tmp-${
    crypto.getRandomValues(new Uint8Array(6)).toHex()
  }`;
  const file = await Deno.open(temp, {
    write: true,
    createNew: true,
    mode: options.mode,
  });
  try {
    // The umask may have cleared bits; set exactly what was asked.
    await Deno.chmod(temp, options.mode);
    let written = 0;
    // Each write makes progress or throws; the loop ends with the data.
    while (written < bytes.length) {
      written += await file.write(bytes.subarray(written));
    }
    await file.sync();
  } catch (err) {
    file.close();
    await Deno.remove(temp).catch(() => {});
    throw err;
  }
  file.close();
  try {
    if (options.createNew === true) {
      // link() fails if `path` exists: no window in which it could be replaced.
      await Deno.link(temp, path);
      await Deno.remove(temp);
    } else {
      await Deno.rename(temp, path);
    }
  } catch (err) {
    await Deno.remove(temp).catch(() => {});
    throw err;
  }
  await syncDir(dir);
}

/** Creates `path` (and parents) if missing and sets it to `mode`. */
export async function ensureDir(path: string, mode: number): Promise<void> {
  await Deno.mkdir(path, { recursive: true, mode });
  await Deno.chmod(path, mode);
}

/** True when something exists at `path`. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

async function syncDir(dir: string): Promise<void> {
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}

function parentDir(path: string): string {
  const at = path.lastIndexOf("/");
  if (at < 0) return ".";
  return at === 0 ? "/" : path.slice(0, at);
}
