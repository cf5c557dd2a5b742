/**
 * The append-only Raft log on disk: segment files `wal-<seq>.log` (seq as 16
 * hex digits) in the format of `wal_format.ts` (a header, then checksummed
 * records of entries, commits and snapshot marks).
 *
 * An entry whose index is at or below the last one replaces the log from that
 * index on (the conflicting suffix is cut logically, on replay), so the file
 * is never rewritten in place. Appends are group-committed: one write and one
 * fdatasync cover every append waiting when the previous flush ended. A batch
 * is encoded whole before any byte of it is queued, so a batch that cannot
 * be encoded leaves the queue and the file as they were.
 */
import { ByteWriter } from "./bytes.ts";
import { StorageError } from "./errors.ts";
import {
  ensurePrivateDir,
  removeTempFiles,
  STORAGE_FILE_MODE,
  syncDir,
  writeAllSync,
  writeFileAtomic,
} from "./fs.ts";
import {
  type EncodedWalBatch,
  encodeSegmentHeader,
  encodeWalBatch,
  type WalBatch,
  WalReplay,
  type WalTornTail,
} from "./wal_format.ts";
import type { Entry } from "../types.ts";

export {
  encodeWalBatch,
  WAL_HEADER_BYTES,
  WAL_RECORD_BYTES_MAX,
  WAL_SEGMENT_HEADER_BYTES,
  type WalBatch,
} from "./wal_format.ts";

/** A segment is closed and a new one started once it grows past this. */
export const WAL_SEGMENT_BYTES_DEFAULT = 64 * 1024 * 1024;
/** Capacity the append queue starts with (it grows for large batches). */
const PENDING_BYTES_INITIAL = 64 * 1024;

const SEGMENT_PATTERN = /^wal-([0-9a-f]{16})\.log$/;

export interface WalOptions {
  readonly segmentBytesMax?: number;
}

/** The log as found on disk by `Wal.open`. */
export interface WalRecovery {
  /** Contiguous entries after the snapshot's index. */
  readonly entries: Entry[];
  /** Highest commit index recorded (0 if none), capped at the last index. */
  readonly commit: number;
  /** Set when a torn last record was cut off: file, offset, bytes dropped. */
  readonly tornTail: WalTornTail | null;
}

interface Segment {
  readonly seq: number;
  readonly name: string;
  maxIndex: number;
}

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

export function segmentName(seq: number): string {
  return `wal-${seq.toString(16).padStart(16, "0")}.log`;
}

function encoded(batch: WalBatch | EncodedWalBatch): EncodedWalBatch {
  return "bytes" in batch ? batch : encodeWalBatch(batch);
}

/** The segmented, group-committed write-ahead log. */
export class Wal {
  readonly #dir: string;
  readonly #segmentBytesMax: number;
  readonly #segments: Segment[];
  #file: Deno.FsFile;
  /** Bytes of the active segment written and fsynced. */
  #size: number;
  #pending = new ByteWriter(PENDING_BYTES_INITIAL);
  #pendingMaxIndex = 0;
  #waiters: Waiter[] = [];
  #flushing: Promise<void> | null = null;
  #failed: unknown = null;
  #closed = false;
  /** fdatasync calls made (a group commit counts once). */
  syncs = 0;

  private constructor(
    dir: string,
    segments: Segment[],
    file: Deno.FsFile,
    size: number,
    options: WalOptions,
  ) {
    this.#dir = dir;
    this.#segments = segments;
    this.#file = file;
    this.#size = size;
    this.#segmentBytesMax = options.segmentBytesMax ??
      WAL_SEGMENT_BYTES_DEFAULT;
  }

  /**
   * Opens (creating if needed) the WAL in `dir`, replays it after the
   * snapshot at (`snapshotIndex`, `snapshotTerm`), cuts a torn tail (and
   * reports it in `recovery.tornTail`) and refuses corruption with a
   * `StorageError` `raft.storage.corrupt` naming file and offset.
   */
  static async open(
    dir: string,
    snapshot: { readonly index: number; readonly term: number },
    options: WalOptions = {},
  ): Promise<{ wal: Wal; recovery: WalRecovery }> {
    await ensurePrivateDir(dir);
    // A crash while a segment was being created leaves its temp file.
    await removeTempFiles(dir);
    const segments = await listSegments(dir);
    const replay = new WalReplay(snapshot.index, snapshot.term);
    let tornTail: WalTornTail | null = null;
    let lastSize = 0;
    for (const [i, segment] of segments.entries()) {
      const path = `${dir}/${segment.name}`;
      const bytes = await Deno.readFile(path);
      const isLast = i === segments.length - 1;
      const scan = replay.scanSegment(segment.name, bytes, isLast);
      if (!scan.ok) {
        throw new StorageError("raft.storage.corrupt", scan.corruption.message);
      }
      segment.maxIndex = scan.maxIndex;
      if (scan.tornTail !== null) {
        tornTail = scan.tornTail;
        await truncateFile(path, scan.validBytes);
      }
      if (isLast) lastSize = scan.validBytes;
    }
    const { entries, commit } = replay.finish();
    if (segments.length === 0) {
      const first: Segment = { seq: 1, name: segmentName(1), maxIndex: 0 };
      lastSize = await createSegment(dir, first.name);
      segments.push(first);
    }
    const active = segments[segments.length - 1]!;
    const file = await Deno.open(`${dir}/${active.name}`, { write: true });
    await file.seek(lastSize, Deno.SeekMode.Start);
    const wal = new Wal(dir, segments, file, lastSize, options);
    return { wal, recovery: { entries, commit, tornTail } };
  }

  /** Segment file names, oldest first. */
  get segmentNames(): string[] {
    return this.#segments.map((s) => s.name);
  }

  /**
   * Resolves once the batch (and every batch queued before it) is on disk.
   * A batch that cannot be encoded rejects (`raft.storage.invalid_record`)
   * with nothing queued: the WAL stays usable.
   */
  append(batch: WalBatch | EncodedWalBatch): Promise<void> {
    const refused = this.#refusal();
    if (refused !== null) return Promise.reject(refused);
    try {
      this.#enqueue(encoded(batch));
    } catch (err) {
      return Promise.reject(err);
    }
    const done = new Promise<void>((resolve, reject) =>
      this.#waiters.push({ resolve, reject })
    );
    if (this.#flushing === null) this.#flushing = this.#flushLoop();
    return done;
  }

  /**
   * Queues a batch that need not be durable now (a commit advance: losing it
   * in a crash only makes a restarted node learn its commit again). It is
   * written by the next flush, or at close(). Throws `StorageError`
   * `raft.storage.invalid_record` (nothing queued) for a batch that cannot
   * be encoded.
   */
  appendDeferred(batch: WalBatch | EncodedWalBatch): void {
    if (this.#refusal() !== null) return;
    this.#enqueue(encoded(batch));
  }

  #refusal(): StorageError | null {
    if (this.#closed) {
      return new StorageError("raft.storage.closed", "The WAL is closed");
    }
    if (this.#failed !== null) {
      return new StorageError(
        "raft.storage.closed",
        "A previous WAL write failed; restart the node",
        { cause: this.#failed },
      );
    }
    return null;
  }

  #enqueue(batch: EncodedWalBatch): void {
    this.#pending.raw(batch.bytes);
    this.#pendingMaxIndex = Math.max(this.#pendingMaxIndex, batch.maxIndex);
  }

  async #flushLoop(): Promise<void> {
    try {
      while (this.#waiters.length > 0) {
        const bytes = this.#pending.view();
        const waiters = this.#waiters;
        const maxIndex = this.#pendingMaxIndex;
        this.#pending = new ByteWriter(
          Math.max(PENDING_BYTES_INITIAL, bytes.length),
        );
        this.#waiters = [];
        this.#pendingMaxIndex = 0;
        try {
          // The write lands in the page cache (short, done in place); the
          // fdatasync is the wait, off the event loop.
          writeAllSync(this.#file, bytes);
          await this.#file.syncData();
          this.syncs++;
          this.#size += bytes.length;
          const active = this.#segments[this.#segments.length - 1]!;
          active.maxIndex = Math.max(active.maxIndex, maxIndex);
          if (this.#size >= this.#segmentBytesMax) await this.#roll();
        } catch (err) {
          // A failed write or fsync leaves the file in an unknown state
          // (fsyncgate): fail this and every later append.
          this.#failed = await this.#cutUnsynced(err);
          for (const w of [...waiters, ...this.#waiters]) w.reject(err);
          this.#waiters = [];
          return;
        }
        for (const w of waiters) w.resolve();
      }
    } finally {
      this.#flushing = null;
    }
  }

  /**
   * After a failed write, cuts the file back to what was fsynced, so that no
   * part of an unacknowledged batch stays behind. Returns the error to keep.
   */
  async #cutUnsynced(err: unknown): Promise<unknown> {
    try {
      await this.#file.truncate(this.#size);
      return err;
    } catch (truncateError) {
      // Nothing more to do here: the next open cuts (or refuses) the tail.
      return new AggregateError(
        [err, truncateError],
        "A WAL write failed and the file could not be cut back",
        { cause: err },
      );
    }
  }

  async #roll(): Promise<void> {
    const last = this.#segments[this.#segments.length - 1]!;
    const next: Segment = {
      seq: last.seq + 1,
      name: segmentName(last.seq + 1),
      maxIndex: 0,
    };
    const size = await createSegment(this.#dir, next.name);
    const file = await Deno.open(`${this.#dir}/${next.name}`, { write: true });
    await file.seek(size, Deno.SeekMode.Start);
    this.#file.close();
    this.#file = file;
    this.#size = size;
    this.#segments.push(next);
  }

  /**
   * Deletes closed segments whose entries all sit at or below `index` (the
   * index of a durable snapshot). Returns the names removed.
   */
  async removeSegmentsThrough(index: number): Promise<string[]> {
    await this.#flushing;
    const removed: string[] = [];
    while (this.#segments.length > 1 && this.#segments[0]!.maxIndex <= index) {
      const segment = this.#segments.shift()!;
      await Deno.remove(`${this.#dir}/${segment.name}`);
      removed.push(segment.name);
    }
    if (removed.length > 0) await syncDir(this.#dir);
    return removed;
  }

  /** Waits for queued appends, then closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#flushing;
    if (this.#pending.length > 0 && this.#failed === null) {
      await this.append({ entries: [] });
    }
    this.#closed = true;
    this.#file.close();
  }
}

/**
 * Creates a segment whole, header included (temp file, fsync, link,
 * directory fsync), mode 0600: a segment file never exists without its
 * header. Returns its size.
 */
async function createSegment(dir: string, name: string): Promise<number> {
  const header = encodeSegmentHeader();
  await writeFileAtomic(`${dir}/${name}`, header, {
    mode: STORAGE_FILE_MODE,
    createNew: true,
  });
  return header.length;
}

async function listSegments(dir: string): Promise<Segment[]> {
  const segments: Segment[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const match = entry.isFile ? SEGMENT_PATTERN.exec(entry.name) : null;
    if (match !== null) {
      segments.push({
        seq: parseInt(match[1]!, 16),
        name: entry.name,
        maxIndex: 0,
      });
    }
  }
  segments.sort((a, b) => a.seq - b.seq);
  for (let i = 1; i < segments.length; i++) {
    if (segments[i]!.seq !== segments[i - 1]!.seq + 1) {
      throw new StorageError(
        "raft.storage.corrupt",
        `WAL segment "${segments[i]!.name}" does not follow "${
          segments[i - 1]!.name
        }"; a segment is missing, restore the data directory from a replica`,
      );
    }
  }
  return segments;
}

async function truncateFile(path: string, length: number): Promise<void> {
  const file = await Deno.open(path, { write: true });
  try {
    await file.truncate(length);
    await file.sync();
  } finally {
    file.close();
  }
}
