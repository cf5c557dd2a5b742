/**
 * The WAL's on-disk format, as pure functions over bytes: encoding a batch
 * of records, and scanning segments back into a log while telling a torn
 * last write (cut off, never acknowledged) from corruption (refused). The
 * file shell (`wal.ts`) and the simulation's disk (`raft/sim/disk.ts`) both
 * use it, so the simulation exercises the real recovery rules.
 *
 *   segment = u32 magic "MWAL" | u32 version (2) | records…
 *   record  = u32 payloadLength | u32 crc32c(payload)
 *           | u32 crc32c(the 8 bytes before) | payload
 *   payload = u8 type + body:
 *     1 entry     u64 index, u64 term, u8 kind, u32 len + data
 *     2 commit    u64 commit index
 *     3 snapshot  u64 index, u64 term (a snapshot at that point was made durable)
 *
 * The header has its own checksum so that a length can be trusted before
 * the payload is read: a record whose checked header points past the end of
 * the file was cut short by a crash, while a flipped bit in a length fails
 * the header checksum and is corruption.
 */
import type { Entry } from "../types.ts";
import { ByteReader, ByteWriter } from "./bytes.ts";
import { readEntry, writeEntry } from "./codec.ts";
import { crc32c } from "./crc32c.ts";
import { StorageError } from "./errors.ts";

/** Bytes of a segment's header (magic + version). */
export const WAL_SEGMENT_HEADER_BYTES = 8;
/** Bytes of a record header (length, payload CRC, header CRC). */
export const WAL_HEADER_BYTES = 12;
/** Largest record payload; longer lengths read back are framing errors. */
export const WAL_RECORD_BYTES_MAX = 64 * 1024 * 1024;

const SEGMENT_MAGIC = 0x4c41574d; // "MWAL" little-endian
/** Version 1 segments had no header and 8-byte record headers. */
const SEGMENT_VERSION = 2;

const RECORD_ENTRY = 1;
const RECORD_COMMIT = 2;
const RECORD_SNAPSHOT = 3;

/** What one append makes durable, in this order. */
export interface WalBatch {
  /** A snapshot at (index, term) was made durable: the log restarts after it. */
  readonly snapshot?: { readonly index: number; readonly term: number };
  readonly entries: readonly Entry[];
  readonly commit?: number;
}

/** A batch framed into records, ready to be appended as one unit. */
export interface EncodedWalBatch {
  readonly bytes: Uint8Array;
  /** Highest entry index in the batch (0 without entries). */
  readonly maxIndex: number;
}

/** A cut torn tail: where, and how many bytes were dropped. */
export interface WalTornTail {
  readonly file: string;
  readonly offset: number;
  readonly bytes: number;
}

/** Where and why a segment is corrupt (`message` says what to do). */
export interface WalCorruption {
  readonly file: string;
  readonly offset: number;
  readonly reason: string;
  readonly message: string;
}

/** The header every segment file starts with. */
export function encodeSegmentHeader(): Uint8Array {
  return new ByteWriter(WAL_SEGMENT_HEADER_BYTES).u32(SEGMENT_MAGIC).u32(
    SEGMENT_VERSION,
  ).view();
}

/**
 * Frames a whole batch into a scratch buffer. All or nothing: a value that
 * cannot be encoded (an index or term beyond 2^53, a payload past
 * `WAL_RECORD_BYTES_MAX`) throws `StorageError` `raft.storage.invalid_record`
 * before any byte could reach a file.
 */
export function encodeWalBatch(batch: WalBatch): EncodedWalBatch {
  checkWalBatch(batch);
  const w = new ByteWriter(256);
  try {
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
  } catch (err) {
    if (err instanceof StorageError) throw err;
    throw invalidRecord(`cannot be encoded (${err})`, err);
  }
  const last = batch.entries[batch.entries.length - 1];
  return { bytes: w.view(), maxIndex: last?.index ?? 0 };
}

function invalidRecord(why: string, cause?: unknown): StorageError {
  return new StorageError(
    "raft.storage.invalid_record",
    `WAL batch refused, nothing written: it ${why}`,
    cause === undefined ? undefined : { cause },
  );
}

function isU64(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/** The values a batch carries are checked before any is encoded. */
function checkWalBatch(batch: WalBatch): void {
  const snapshot = batch.snapshot;
  if (
    snapshot !== undefined && (!isU64(snapshot.index) || !isU64(snapshot.term))
  ) {
    throw invalidRecord(
      `holds snapshot ${snapshot.index}@${snapshot.term}, beyond 0…2^53-1`,
    );
  }
  let previous: number | null = null;
  for (const entry of batch.entries) {
    if (!isU64(entry.index) || entry.index === 0 || !isU64(entry.term)) {
      throw invalidRecord(
        `holds entry ${entry.index}@${entry.term}, beyond 1…2^53-1`,
      );
    }
    if (previous !== null && entry.index !== previous + 1) {
      throw invalidRecord(
        `holds entry ${entry.index} after ${previous}; a batch is contiguous`,
      );
    }
    previous = entry.index;
  }
  if (batch.commit !== undefined && !isU64(batch.commit)) {
    throw invalidRecord(`holds commit ${batch.commit}, beyond 0…2^53-1`);
  }
}

/** Frames one record into `w`; length and CRCs are patched in after the payload. */
function frameRecord(
  w: ByteWriter,
  writePayload: (w: ByteWriter) => void,
): void {
  const start = w.length;
  w.u32(0).u32(0).u32(0);
  writePayload(w);
  const payload = w.viewFrom(start + WAL_HEADER_BYTES);
  if (payload.length > WAL_RECORD_BYTES_MAX) {
    throw new StorageError(
      "raft.storage.too_large",
      `WAL record of ${payload.length} bytes exceeds ${WAL_RECORD_BYTES_MAX}; nothing of its batch was written`,
    );
  }
  w.patchU32(start, payload.length);
  w.patchU32(start + 4, crc32c(payload));
  const header = w.view().subarray(start, start + 8);
  w.patchU32(start + 8, crc32c(header));
}

/** The outcome of looking at the bytes at one offset. */
type RecordCheck =
  | { readonly kind: "valid"; readonly length: number }
  | { readonly kind: "torn"; readonly why: string }
  | { readonly kind: "corrupt"; readonly why: string };

/**
 * Classifies the record at `pos`. Only shapes a flipped bit cannot produce
 * count as torn: the file ends inside the header, or inside the payload of
 * a header whose own checksum holds, or everything from `pos` on is zeros.
 */
function checkRecord(view: DataView, pos: number): RecordCheck {
  const size = view.byteLength;
  if (size - pos < WAL_HEADER_BYTES) {
    return { kind: "torn", why: "the header is cut short" };
  }
  const length = view.getUint32(pos, true);
  const header = new Uint8Array(view.buffer, view.byteOffset + pos, 8);
  if (crc32c(header) !== view.getUint32(pos + 8, true)) {
    return isZeroFrom(view, pos)
      ? { kind: "torn", why: "the tail is all zeros" }
      : { kind: "corrupt", why: "header checksum mismatch" };
  }
  if (length === 0 || length > WAL_RECORD_BYTES_MAX) {
    return { kind: "corrupt", why: `impossible length ${length}` };
  }
  const end = pos + WAL_HEADER_BYTES + length;
  if (end > size) return { kind: "torn", why: "the payload is cut short" };
  const payload = new Uint8Array(
    view.buffer,
    view.byteOffset + pos + WAL_HEADER_BYTES,
    length,
  );
  if (crc32c(payload) !== view.getUint32(pos + 4, true)) {
    return { kind: "corrupt", why: "payload checksum mismatch" };
  }
  return { kind: "valid", length };
}

function isZeroFrom(view: DataView, pos: number): boolean {
  for (let i = pos; i < view.byteLength; i++) {
    if (view.getUint8(i) !== 0) return false;
  }
  return true;
}

/** The first offset after `pos` where a whole valid record starts, or null. */
function findValidRecordAfter(view: DataView, pos: number): number | null {
  const size = view.byteLength;
  for (let at = pos + 1; at + WAL_HEADER_BYTES <= size; at++) {
    // Cheap rejections first: most offsets fail on the length alone.
    const length = view.getUint32(at, true);
    if (length === 0 || length > size - at - WAL_HEADER_BYTES) continue;
    if (checkRecord(view, at).kind === "valid") return at;
  }
  return null;
}

/** What a scan found in one segment. */
export type SegmentScan =
  | {
    readonly ok: true;
    /** Length of the valid prefix; shorter than the file when a torn tail is to be cut. */
    readonly validBytes: number;
    /** The torn tail to cut, when there is one (last segment only). */
    readonly tornTail: WalTornTail | null;
    /** Highest entry index the segment held (compaction removes segments wholly below a snapshot). */
    readonly maxIndex: number;
  }
  | { readonly ok: false; readonly corruption: WalCorruption };

function corruption(
  file: string,
  offset: number,
  reason: string,
): { ok: false; corruption: WalCorruption } {
  return {
    ok: false,
    corruption: {
      file,
      offset,
      reason,
      message:
        `WAL segment "${file}" is corrupt at offset ${offset} (${reason}); refusing to start with a log that may have lost acknowledged writes: restore this member's data directory from a replica, or remove the member from the cluster and add a new one with an empty data directory`,
    },
  };
}

/**
 * Replays segments, oldest first, into a contiguous log after the snapshot
 * at (`base`, `baseTerm`). Pure: it sees bytes, never files.
 *
 * An entry whose index is at or below the last one replaces the log from
 * that index on; a snapshot record whose term disagrees with the entry at
 * its index drops the entries after it.
 */
export class WalReplay {
  entries: Entry[] = [];
  commit = 0;
  /** Term of the entry at `base` as last written, if seen. */
  #termAtBase: number | undefined;

  constructor(readonly base: number, readonly baseTerm: number) {}

  get lastIndex(): number {
    return this.base + this.entries.length;
  }

  /**
   * Scans one segment. A bad record is a torn tail only in the last
   * segment, only in a shape a crash makes and a flipped bit does not, and
   * only when no valid record follows it; anything else is corruption.
   */
  scanSegment(name: string, bytes: Uint8Array, isLast: boolean): SegmentScan {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const headerProblem = checkSegmentHeader(view);
    if (headerProblem !== null) return corruption(name, 0, headerProblem);
    let maxIndex = this.lastIndex;
    let pos = WAL_SEGMENT_HEADER_BYTES;
    while (pos < bytes.length) {
      const check = checkRecord(view, pos);
      if (check.kind === "corrupt") return corruption(name, pos, check.why);
      if (check.kind === "torn") {
        if (!isLast) {
          return corruption(name, pos, `${check.why} in a closed segment`);
        }
        const next = findValidRecordAfter(view, pos);
        if (next !== null) {
          return corruption(
            name,
            pos,
            `${check.why}, yet a valid record follows at offset ${next}`,
          );
        }
        const tornTail = { file: name, offset: pos, bytes: bytes.length - pos };
        return { ok: true, validBytes: pos, tornTail, maxIndex };
      }
      const payload = bytes.subarray(
        pos + WAL_HEADER_BYTES,
        pos + WAL_HEADER_BYTES + check.length,
      );
      const problem = this.#apply(payload);
      if (problem !== null) return corruption(name, pos, problem);
      maxIndex = Math.max(maxIndex, this.lastIndex);
      pos += WAL_HEADER_BYTES + check.length;
    }
    return { ok: true, validBytes: pos, tornTail: null, maxIndex };
  }

  /** Applies one checksummed record; returns why it cannot be, or null. */
  #apply(payload: Uint8Array): string | null {
    let type: number;
    try {
      const r = new ByteReader(payload);
      type = r.u8();
      if (type === RECORD_ENTRY) {
        const entry = readEntry(r);
        r.end();
        return this.#entry(entry);
      }
      if (type === RECORD_COMMIT) {
        const commit = r.u64();
        r.end();
        this.commit = Math.max(this.commit, commit);
        return null;
      }
      if (type === RECORD_SNAPSHOT) {
        const index = r.u64();
        const term = r.u64();
        r.end();
        this.#snapshot(index, term);
        return null;
      }
    } catch (err) {
      return `a record with a valid checksum that cannot be decoded: ${err}`;
    }
    return `unknown record type ${type}`;
  }

  #entry(entry: Entry): string | null {
    if (entry.index <= this.base) {
      // Covered by the snapshot; only remember what sits at its index.
      this.#termAtBase = entry.index === this.base ? entry.term : undefined;
      this.entries.length = 0;
      return null;
    }
    if (entry.index > this.lastIndex + 1) {
      return `entry ${entry.index} follows ${this.lastIndex}: the log is missing records`;
    }
    this.entries.length = entry.index - this.base - 1;
    this.entries.push(entry);
    return null;
  }

  #snapshot(index: number, term: number): void {
    if (index !== this.base) return; // an older snapshot, superseded
    // Entries after a conflicting entry at the snapshot's index are not the
    // leader's; an unseen entry there was compacted away by this snapshot.
    if (this.#termAtBase !== undefined && this.#termAtBase !== term) {
      this.entries.length = 0;
    }
    this.#termAtBase = term;
  }

  /** The log after every segment: contiguous entries and the commit, capped at the last index. */
  finish(): { entries: Entry[]; commit: number } {
    // A crash after the snapshot file but before its WAL record: entries
    // after a conflicting entry at the snapshot's index are not ours.
    if (this.#termAtBase !== undefined && this.#termAtBase !== this.baseTerm) {
      this.entries.length = 0;
    }
    return {
      entries: this.entries,
      commit: Math.min(this.commit, this.lastIndex),
    };
  }
}

function checkSegmentHeader(view: DataView): string | null {
  if (view.byteLength < WAL_SEGMENT_HEADER_BYTES) {
    return "shorter than the segment header; segments are created whole";
  }
  if (view.getUint32(0, true) !== SEGMENT_MAGIC) {
    return 'no "MWAL" segment header (a segment of an older mill, or a damaged one)';
  }
  const version = view.getUint32(4, true);
  if (version !== SEGMENT_VERSION) {
    return `segment format version ${version}, this mill reads ${SEGMENT_VERSION}`;
  }
  return null;
}
