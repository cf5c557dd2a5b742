/** Small durable-file helpers on Deno's file APIs. */

/** fsyncs a directory so that creates, renames and unlinks in it are durable. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}

/**
 * Replaces `path` atomically: writes `path.tmp`, fsyncs it, renames it over
 * `path`, fsyncs the directory. A crash leaves either the old or the new
 * file, never a mix (a stray `.tmp` is removed at the next open).
 */
export async function writeFileAtomic(
  dir: string,
  name: string,
  bytes: Uint8Array,
): Promise<void> {
  const tmp = `${dir}/${name}.tmp`;
  const file = await Deno.open(tmp, {
    write: true,
    create: true,
    truncate: true,
  });
  try {
    let written = 0;
    while (written < bytes.length) {
      written += await file.write(bytes.subarray(written));
    }
    await file.sync();
  } finally {
    file.close();
  }
  await Deno.rename(tmp, `${dir}/${name}`);
  await syncDir(dir);
}

/** Writes all of `bytes` (Deno's write may be partial). */
export async function writeAll(
  file: Deno.FsFile,
  bytes: Uint8Array,
): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    written += await file.write(bytes.subarray(written));
  }
}

/** Removes stray `*.tmp` files left by a crash in the middle of an atomic write. */
export async function removeTempFiles(dir: string): Promise<string[]> {
  const removed: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && entry.name.endsWith(".tmp")) {
      await Deno.remove(`${dir}/${entry.name}`);
      removed.push(entry.name);
    }
  }
  return removed;
}
