/**
 * The append-only Raft log on disk: segment files `wal-<seq>.log` (seq as 16
 * hex digits), each a sequence of records
 *
 *   u32 payloadLength | u32 crc32c(payload) | payload
 *
 * (little-endian), payload = u8 type + body:
 *   1 entry     u64 index, u64 term, u8 kind, u32 len + data
 *   2 commit    u64 commit index
 *   3 snapshot  u64 index, u64 term (a snapshot at that point was made durable)
 *
 * An entry whose index is at or below the last one replaces the log from that
 * index on (the conflicting suffix is cut logically, on replay), so the file
 * is never rewritten in place. Appends are group-committed: one write and one
 * fdatasync cover every append waiting when the previous flush ended.
 */
import type { Entry } from "../types.ts";
import { ByteReader, ByteWriter } from "./bytes.ts";
import { readEntry, writeEntry } from "./codec.ts";
import { crc32c } from "./crc32c.ts";
import { StorageError } from "./errors.ts";
import { syncDir, writeAll } from "./fs.ts";

/** Bytes of a record header (length + CRC). */
export const WAL_HEADER_BYTES = 8;
/** Largest record payload; longer lengths read back are framing errors. */
export const WAL_RECORD_BYTES_MAX = 64 * 1024 * 1024;
/** A segment is closed and a new one started once it grows past this. */
export const WAL_SEGMENT_BYTES_DEFAULT = 64 * 1024 * 1024;

const RECORD_ENTRY = 1;
const RECORD_COMMIT = 2;
const RECORD_SNAPSHOT = 3;
const SEGMENT_PATTERN = /^wal-([0-9a-f]{16})\.log$/;

export interface WalOptions {
  readonly segmentBytesMax?: number;
}

/** What one append makes durable, in this order. */
export interface WalBatch {
  /** A snapshot at (index, term) was made durable: the log restarts after it. */
  readonly snapshot?: { readonly index: number; readonly term: number };
  readonly entries: readonly Entry[];
  readonly commit?: number;
}

/** The log as found on disk by `Wal.open`. */
export interface WalRecovery {
  /** Contiguous entries after the snapshot's index. */
  readonly entries: Entry[];
  /** Highest commit index recorded (0 if none). */
  readonly commit: number;
  /** Set when a torn last record was cut off. */
  readonly tornTail: {
    readonly file: string;
    readonly offset: number;
    readonly bytes: number;
  } | null;
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

/** Frames one record into `w`; the CRC is patched in once the payload is written. */
function frameRecord(
  w: ByteWriter,
  writePayload: (w: ByteWriter) => void,
): void {
  const start = w.length;
  w.u32(0).u32(0);
  writePayload(w);
  const payload = w.viewFrom(start + WAL_HEADER_BYTES);
  if (payload.length > WAL_RECORD_BYTES_MAX) {
    throw new StorageError(
      "raft.storage.too_large",
      `WAL record of ${payload.length} bytes exceeds ${WAL_RECORD_BYTES_MAX}`,
    );
  }
  w.patchU32(start, payload.length);
  w.patchU32(start + 4, crc32c(payload));
}

/** Encodes a batch as framed records (exported for tests that build files by hand). */
export function encodeWalBatch(w: ByteWriter, batch: WalBatch): void {
  const snapshot = batch.snapshot;
  if (snapshot !== undefined) {
    frameRecord(
      w,
      (p) => p.u8(RECORD_SNAPSHOT).u64(snapshot.index).u64(snapshot.term),
    );
  }
  for (const entry of batch.entries) {
    frameRecord(w, (p) => writeEntry(p.u8(RECORD_ENTRY), entry));
  }
  const commit = batch.commit;
  if (commit !== undefined) {
    frameRecord(w, (p) => p.u8(RECORD_COMMIT).u64(commit));
  }
}

/** Replays records into a contiguous log after the snapshot (see module doc). */
class Replay {
  entries: Entry[] = [];
  commit = 0;
  /** Term of the entry at `base` as last written, if seen. */
  #termAtBase: number | undefined;

  constructor(readonly base: number, readonly baseTerm: number) {}

  get lastIndex(): number {
    return this.base + this.entries.length;
  }

  entry(entry: Entry, where: () => string): void {
    if (entry.index <= this.base) {
      // Covered by the snapshot; only remember what sits at its index.
      this.#termAtBase = entry.index === this.base ? entry.term : undefined;
      this.entries.length = 0;
      return;
    }
    if (entry.index > this.lastIndex + 1) {
      throw new StorageError(
        "raft.storage.corrupt",
        `WAL gap: entry ${entry.index} follows ${this.lastIndex} at ${where()}; the log is missing records, restore the data directory from a replica`,
      );
    }
    this.entries.length = entry.index - this.base - 1;
    this.entries.push(entry);
  }

  snapshot(index: number, term: number): void {
    if (index !== this.base) return; // an older snapshot, superseded
    // Entries after a conflicting entry at the snapshot's index are not the
    // leader's; an unseen entry there was compacted away by this snapshot.
    if (this.#termAtBase !== undefined && this.#termAtBase !== term) {
      this.entries.length = 0;
    }
    this.#termAtBase = term;
  }

  finish(): void {
    // A crash after the snapshot file but before its WAL record: entries
    // after a conflicting entry at the snapshot's index are not ours.
    if (this.#termAtBase !== undefined && this.#termAtBase !== this.baseTerm) {
      this.entries.length = 0;
    }
  }
}

function isAllZero(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0) return false;
  return true;
}

/**
 * Scans one segment. Returns the length of its valid prefix; a bad record is
 * a torn tail only in the last segment, and only if it is incomplete (runs
 * past the end of the file) or everything from it on is zeros.
 */
function scanSegment(
  name: string,
  bytes: Uint8Array,
  isLast: boolean,
  replay: Replay,
): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  while (pos < bytes.length) {
    const problem = checkRecord(bytes, view, pos);
    if (problem !== null) {
      const torn = problem === "incomplete" || isAllZero(bytes.subarray(pos));
      if (isLast && torn) return pos;
      throw new StorageError(
        "raft.storage.corrupt",
        `WAL segment "${name}" is corrupt at offset ${pos} (${problem}${
          isLast ? "" : ", not the last segment"
        }); refusing to start: restore the data directory from a replica`,
      );
    }
    const length = view.getUint32(pos, true);
    const payload = bytes.subarray(
      pos + WAL_HEADER_BYTES,
      pos + WAL_HEADER_BYTES + length,
    );
    applyRecord(payload, replay, () => `"${name}" offset ${pos}`);
    pos += WAL_HEADER_BYTES + length;
  }
  return pos;
}

function checkRecord(
  bytes: Uint8Array,
  view: DataView,
  pos: number,
): "incomplete" | "bad length" | "checksum mismatch" | null {
  if (bytes.length - pos < WAL_HEADER_BYTES) return "incomplete";
  const length = view.getUint32(pos, true);
  if (length === 0 || length > WAL_RECORD_BYTES_MAX) return "bad length";
  const end = pos + WAL_HEADER_BYTES + length;
  if (end > bytes.length) return "incomplete";
  const crc = view.getUint32(pos + 4, true);
  if (crc32c(bytes.subarray(pos + WAL_HEADER_BYTES, end)) !== crc) {
    // A last record with a bad checksum that ends exactly at EOF is a torn write.
    return end === bytes.length ? "incomplete" : "checksum mismatch";
  }
  return null;
}

function applyRecord(
  payload: Uint8Array,
  replay: Replay,
  where: () => string,
): void {
  try {
    const r = new ByteReader(payload);
    const type = r.u8();
    if (type === RECORD_ENTRY) replay.entry(readEntry(r), where);
    else if (type === RECORD_COMMIT) {
      replay.commit = Math.max(replay.commit, r.u64());
    } else if (type === RECORD_SNAPSHOT) replay.snapshot(r.u64(), r.u64());
    else throw new Error(`unknown record type ${type}`);
    r.end();
  } catch (err) {
    if (err instanceof StorageError) throw err;
    throw new StorageError(
      "raft.storage.corrupt",
      `WAL record at ${where()} has a valid checksum but cannot be decoded; refusing to start`,
      { cause: err },
    );
  }
}

/** The segmented, group-committed write-ahead log. */
export class Wal {
  readonly #dir: string;
  readonly #segmentBytesMax: number;
  readonly #segments: Segment[];
  #file: Deno.FsFile;
  #size: number;
  #pending = new ByteWriter(64 * 1024);
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
   * snapshot at (`snapshotIndex`, `snapshotTerm`), cuts a torn tail and
   * refuses corruption with a `StorageError` naming file and offset.
   */
  static async open(
    dir: string,
    snapshot: { readonly index: number; readonly term: number },
    options: WalOptions = {},
  ): Promise<{ wal: Wal; recovery: WalRecovery }> {
    await Deno.mkdir(dir, { recursive: true });
    const segments = await listSegments(dir);
    const replay = new Replay(snapshot.index, snapshot.term);
    let tornTail: WalRecovery["tornTail"] = null;
    let lastSize = 0;
    for (const [i, segment] of segments.entries()) {
      const bytes = await Deno.readFile(`${dir}/${segment.name}`);
      const isLast = i === segments.length - 1;
      const before = replay.lastIndex;
      const valid = scanSegment(segment.name, bytes, isLast, replay);
      segment.maxIndex = Math.max(before, replay.lastIndex);
      if (valid < bytes.length) {
        tornTail = {
          file: segment.name,
          offset: valid,
          bytes: bytes.length - valid,
        };
        await truncateFile(`${dir}/${segment.name}`, valid);
      }
      if (isLast) lastSize = valid;
    }
    replay.finish();
    if (segments.length === 0) {
      segments.push({ seq: 1, name: segmentName(1), maxIndex: 0 });
    }
    const active = segments[segments.length - 1]!;
    const file = await Deno.open(`${dir}/${active.name}`, {
      write: true,
      create: true,
    });
    await file.seek(lastSize, Deno.SeekMode.Start);
    if (segments.length === 1 && lastSize === 0) await syncDir(dir);
    const wal = new Wal(dir, segments, file, lastSize, options);
    const commit = Math.min(replay.commit, replay.lastIndex);
    return { wal, recovery: { entries: replay.entries, commit, tornTail } };
  }

  /** Segment file names, oldest first. */
  get segmentNames(): string[] {
    return this.#segments.map((s) => s.name);
  }

  /** Resolves once the batch (and every batch queued before it) is on disk. */
  append(batch: WalBatch): Promise<void> {
    if (this.#closed) {
      return Promise.reject(
        new StorageError("raft.storage.closed", "The WAL is closed"),
      );
    }
    if (this.#failed !== null) {
      return Promise.reject(
        new StorageError(
          "raft.storage.closed",
          "A previous WAL write failed; restart the node",
          {
            cause: this.#failed,
          },
        ),
      );
    }
    encodeWalBatch(this.#pending, batch);
    for (const entry of batch.entries) {
      this.#pendingMaxIndex = Math.max(this.#pendingMaxIndex, entry.index);
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
   * written by the next flush, or at close().
   */
  appendDeferred(batch: WalBatch): void {
    if (this.#closed || this.#failed !== null) return;
    encodeWalBatch(this.#pending, batch);
    for (const entry of batch.entries) {
      this.#pendingMaxIndex = Math.max(this.#pendingMaxIndex, entry.index);
    }
  }

  async #flushLoop(): Promise<void> {
    try {
      while (this.#waiters.length > 0) {
        const bytes = this.#pending.view();
        const waiters = this.#waiters;
        const maxIndex = this.#pendingMaxIndex;
        this.#pending = new ByteWriter(Math.max(64 * 1024, bytes.length));
        this.#waiters = [];
        this.#pendingMaxIndex = 0;
        try {
          await writeAll(this.#file, bytes);
          await this.#file.syncData();
          this.syncs++;
          this.#size += bytes.length;
          const active = this.#segments[this.#segments.length - 1]!;
          active.maxIndex = Math.max(active.maxIndex, maxIndex);
          if (this.#size >= this.#segmentBytesMax) await this.#roll();
        } catch (err) {
          // A failed write or fsync leaves the file in an unknown state
          // (fsyncgate): fail this and every later append.
          this.#failed = err;
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

  async #roll(): Promise<void> {
    const last = this.#segments[this.#segments.length - 1]!;
    const next: Segment = {
      seq: last.seq + 1,
      name: segmentName(last.seq + 1),
      maxIndex: 0,
    };
    const file = await Deno.open(`${this.#dir}/${next.name}`, {
      write: true,
      createNew: true,
    });
    await syncDir(this.#dir);
    this.#file.close();
    this.#file = file;
    this.#size = 0;
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
