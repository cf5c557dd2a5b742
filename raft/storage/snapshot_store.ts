/**
 * FSM snapshots on disk: `snap-<index>-<term>.snap` (16 hex digits each),
 *
 *   u32 magic "MSN1" | u32 crc32c(body) | body
 *   body = u64 index, u64 term, membership (voters, learners), u32 len + data
 *
 * written by `writeFileAtomic` (temp file, fsync, rename, directory fsync),
 * mode 0600; only then are older snapshots deleted, so a crash leaves at
 * least one whole snapshot.
 */
import type { Snapshot } from "../types.ts";
import { ByteReader, ByteWriter } from "./bytes.ts";
import { readSnapshotMeta, writeSnapshotMeta } from "./codec.ts";
import { crc32c } from "./crc32c.ts";
import { StorageError } from "./errors.ts";
import { STORAGE_FILE_MODE, syncDir, writeFileAtomic } from "./fs.ts";

const MAGIC = 0x314e534d; // "MSN1" little-endian
const SNAPSHOT_PATTERN = /^snap-([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;
/** Largest snapshot we read back (guards a corrupt length from exhausting memory). */
export const SNAPSHOT_BYTES_MAX = 1024 * 1024 * 1024;

export function snapshotName(index: number, term: number): string {
  const hex = (n: number) => n.toString(16).padStart(16, "0");
  return `snap-${hex(index)}-${hex(term)}.snap`;
}

export function encodeSnapshotFile(snapshot: Snapshot): Uint8Array {
  const w = new ByteWriter(snapshot.data.length + 256);
  w.u32(MAGIC).u32(0);
  writeSnapshotMeta(w, snapshot.meta);
  w.bytes(snapshot.data);
  w.patchU32(4, crc32c(w.viewFrom(8)));
  return w.view();
}

export function decodeSnapshotFile(name: string, bytes: Uint8Array): Snapshot {
  const corrupt = (why: string, cause?: unknown) =>
    new StorageError(
      "raft.storage.corrupt",
      `Snapshot "${name}" is corrupt (${why}); refusing to start: restore the data directory from a replica`,
      cause === undefined ? undefined : { cause },
    );
  if (bytes.length < 8) throw corrupt("shorter than its header");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC) throw corrupt("bad magic at offset 0");
  if (crc32c(bytes.subarray(8)) !== view.getUint32(4, true)) {
    throw corrupt("checksum mismatch over offset 8 to end");
  }
  try {
    const r = new ByteReader(bytes.subarray(8));
    const meta = readSnapshotMeta(r);
    const data = r.bytes();
    r.end();
    return { meta, data };
  } catch (err) {
    throw corrupt("undecodable body", err);
  }
}

/** The snapshot files of one data directory. */
export class SnapshotStore {
  constructor(readonly dir: string) {}

  async #list(): Promise<{ name: string; index: number }[]> {
    const found: { name: string; index: number }[] = [];
    for await (const entry of Deno.readDir(this.dir)) {
      const match = entry.isFile ? SNAPSHOT_PATTERN.exec(entry.name) : null;
      if (match !== null) {
        found.push({ name: entry.name, index: parseInt(match[1]!, 16) });
      }
    }
    return found.sort((a, b) => a.index - b.index);
  }

  /** The newest snapshot, or null; a corrupt newest snapshot is an error. */
  async loadLatest(): Promise<Snapshot | null> {
    const list = await this.#list();
    const newest = list[list.length - 1];
    if (newest === undefined) return null;
    const stat = await Deno.stat(`${this.dir}/${newest.name}`);
    if (stat.size > SNAPSHOT_BYTES_MAX) {
      throw new StorageError(
        "raft.storage.too_large",
        `Snapshot "${newest.name}" exceeds ${SNAPSHOT_BYTES_MAX} bytes`,
      );
    }
    const snapshot = decodeSnapshotFile(
      newest.name,
      await Deno.readFile(`${this.dir}/${newest.name}`),
    );
    if (snapshotName(snapshot.meta.index, snapshot.meta.term) !== newest.name) {
      throw new StorageError(
        "raft.storage.corrupt",
        `Snapshot "${newest.name}" holds index ${snapshot.meta.index} term ${snapshot.meta.term}, not what its name says`,
      );
    }
    return snapshot;
  }

  /** Writes `snapshot` durably (temp file, fsync, rename, fsync directory). */
  async save(snapshot: Snapshot): Promise<string> {
    const name = snapshotName(snapshot.meta.index, snapshot.meta.term);
    await writeFileAtomic(`${this.dir}/${name}`, encodeSnapshotFile(snapshot), {
      mode: STORAGE_FILE_MODE,
    });
    return name;
  }

  /** Deletes snapshots older than `index` (after a newer one is durable). */
  async removeOlderThan(index: number): Promise<string[]> {
    const removed: string[] = [];
    for (const { name, index: i } of await this.#list()) {
      if (i < index) {
        await Deno.remove(`${this.dir}/${name}`);
        removed.push(name);
      }
    }
    if (removed.length > 0) await syncDir(this.dir);
    return removed;
  }
}
