/**
 * The hard state file `hardstate`: u32 magic "MHS1" | u32 crc32c(body) | body
 * (u64 term, u8 hasVote [+ string vote], u64 commit), replaced atomically
 * (temp file, fsync, rename, fsync directory) whenever term or vote change.
 * Commit advances ride in the WAL instead (a record per flush), so the hot
 * path costs one fdatasync, not three.
 */
import type { HardState } from "../types.ts";
import { ByteReader, ByteWriter } from "./bytes.ts";
import { readHardState, writeHardState } from "./codec.ts";
import { crc32c } from "./crc32c.ts";
import { StorageError } from "./errors.ts";
import { STORAGE_FILE_MODE, writeFileAtomic } from "./fs.ts";

export const HARD_STATE_FILE = "hardstate";
const MAGIC = 0x3153484d; // "MHS1" little-endian

export const EMPTY_HARD_STATE: HardState = { term: 0, vote: null, commit: 0 };

/**
 * Encodes the file whole, before anything is written: a term or commit
 * beyond 2^53 throws `StorageError` `raft.storage.invalid_record`.
 */
export function encodeHardStateFile(hardState: HardState): Uint8Array {
  const w = new ByteWriter(64);
  w.u32(MAGIC).u32(0);
  try {
    writeHardState(w, hardState);
  } catch (err) {
    throw new StorageError(
      "raft.storage.invalid_record",
      `Hard state term ${hardState.term} commit ${hardState.commit} cannot be encoded; nothing written`,
      { cause: err },
    );
  }
  w.patchU32(4, crc32c(w.viewFrom(8)));
  return w.view();
}

export function decodeHardStateFile(bytes: Uint8Array): HardState {
  const corrupt = (why: string, cause?: unknown) =>
    new StorageError(
      "raft.storage.corrupt",
      `Hard state file "${HARD_STATE_FILE}" is corrupt (${why}); refusing to start: restore the data directory from a replica`,
      cause === undefined ? undefined : { cause },
    );
  if (bytes.length < 8) throw corrupt("shorter than its header");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC) throw corrupt("bad magic at offset 0");
  if (crc32c(bytes.subarray(8)) !== view.getUint32(4, true)) {
    throw corrupt("checksum mismatch at offset 4");
  }
  try {
    const r = new ByteReader(bytes.subarray(8));
    const hardState = readHardState(r);
    r.end();
    return hardState;
  } catch (err) {
    throw corrupt("undecodable body", err);
  }
}

export async function loadHardState(dir: string): Promise<HardState | null> {
  try {
    return decodeHardStateFile(
      await Deno.readFile(`${dir}/${HARD_STATE_FILE}`),
    );
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}

/** Replaces the file atomically with bytes from `encodeHardStateFile`. */
export async function saveHardStateFile(
  dir: string,
  bytes: Uint8Array,
): Promise<void> {
  await writeFileAtomic(`${dir}/${HARD_STATE_FILE}`, bytes, {
    mode: STORAGE_FILE_MODE,
  });
}
