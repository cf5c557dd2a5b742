/**
 * Data dir helpers beside the atomic file write, which is raft's
 * `writeFileAtomic` (re-exported by this folder's `mod.ts`).
 */

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
