/**
 * The simulation's disk, modelled on `DiskStorage`: the WAL is real segment
 * bytes (encoded and scanned by `storage/wal_format.ts`, so a restart runs
 * the real torn-tail and corruption rules), the hard state and snapshot
 * files are replaced atomically, and a persist is durable only once its
 * fsync completes.
 *
 * A crash before that fsync keeps any subset of the pending writes, as
 * `DiskStorage.persist` issues them: a received snapshot's file or not (and
 * without it, nothing that follows it); the hard state file or not; and the
 * WAL bytes written since the last fsync, cut at any byte. The hard state
 * and the WAL are independent, so either can survive without the other.
 * `flipBit` corrupts one durable WAL bit; the next recovery must refuse.
 */
import type { SeededRng } from "../rng.ts";
import type { Entry, HardState, Persist, Snapshot } from "../types.ts";
import { reconcileHardState } from "../storage/disk_storage.ts";
import {
  type EncodedWalBatch,
  encodeSegmentHeader,
  encodeWalBatch,
  WAL_SEGMENT_HEADER_BYTES,
  WalReplay,
} from "../storage/wal_format.ts";
import { assert } from "../_assert.ts";
import { SafetyViolation } from "./safety.ts";

/** A segment is closed once it passes this (small, so compaction deletes segments). */
export const SIM_SEGMENT_BYTES = 4096;

export interface SimDiskOptions {
  /** Broken variant for checker tests: votes are never made durable. */
  readonly forgetVotes?: boolean;
  /** Broken variant for checker tests: a corrupt WAL is cut at the bad record, not refused. */
  readonly cutCorruption?: boolean;
}

/** What a restart found: the state to boot from, or why the disk is refused. */
export type Recovery =
  | {
    readonly ok: true;
    readonly hardState: HardState;
    readonly snapshot: Snapshot;
    readonly entries: Entry[];
    /** Bytes of a torn tail cut (0 when none). */
    readonly tornBytes: number;
    /** The hard state's term was behind the log's (the WAL write survived, the hard state one did not). */
    readonly termRaised: boolean;
  }
  | { readonly ok: false; readonly message: string };

/** What a crash kept of the writes in flight (for the trace and the counts). */
export interface CrashOutcome {
  readonly kind: "synced" | "torn" | "clean";
  readonly hardStateKept: boolean;
  readonly walBytesKept: number;
  readonly walBytesLost: number;
}

class SimSegment {
  bytes = new Uint8Array(512);
  length = 0;
  maxIndex = 0;

  constructor(readonly name: string) {
    this.append(encodeSegmentHeader());
  }

  append(bytes: Uint8Array): void {
    if (this.length + bytes.length > this.bytes.length) {
      let capacity = this.bytes.length * 2;
      while (capacity < this.length + bytes.length) capacity *= 2;
      const next = new Uint8Array(capacity);
      next.set(this.bytes.subarray(0, this.length));
      this.bytes = next;
    }
    this.bytes.set(bytes, this.length);
    this.length += bytes.length;
  }

  view(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }
}

/** A persist whose writes are issued but whose fsync has not completed. */
interface Staged {
  readonly snapshot: Snapshot | undefined;
  /** The hard state file's new content, when term or vote changed. */
  readonly hardState: HardState | undefined;
  /** Where this persist's WAL bytes start in the last segment. */
  readonly walStart: number;
  readonly entries: readonly Entry[];
  /** False for a commit advance alone: it rides with the next fsync. */
  readonly needsSync: boolean;
}

/** The log as acknowledged: every entry here was fsynced and not superseded since. */
interface DurableLog {
  base: number;
  entries: Entry[];
}

/** What a torn crash may legitimately have changed in the durable log. */
interface TornWrite {
  readonly entries: readonly Entry[];
  readonly snapshotLanded: Snapshot | undefined;
}

function entryDigest(entry: Entry): string {
  return `${entry.index}/${entry.term}/${entry.kind}/${
    new TextDecoder().decode(entry.data)
  }`;
}

export class SimDisk {
  /** The snapshot file in force. */
  #snapshot: Snapshot;
  /** What the hard state file holds. */
  #hardStateFile: HardState = { term: 0, vote: null, commit: 0 };
  /** The hard state last handed to `stage` (DiskStorage's change detection). */
  #hardState: HardState = { term: 0, vote: null, commit: 0 };
  #segments: SimSegment[] = [];
  #segmentSeq = 0;
  /** Bytes of the last segment covered by an fsync. */
  #synced = 0;
  #staged: Staged | null = null;
  #durable: DurableLog;
  #torn: TornWrite | null = null;
  #corrupted = false;
  readonly #options: SimDiskOptions;

  constructor(snapshot: Snapshot, options: SimDiskOptions = {}) {
    this.#snapshot = snapshot;
    this.#options = options;
    this.#durable = { base: snapshot.meta.index, entries: [] };
    this.#roll();
  }

  /** What the writes in flight carry (null when none): where a crash can split them. */
  get inFlight(): { hardState: boolean; entries: boolean } | null {
    const staged = this.#staged;
    if (staged === null || !staged.needsSync) return null;
    return {
      hardState: staged.hardState !== undefined,
      entries: staged.entries.length > 0,
    };
  }

  /** Whether a bit of this disk's WAL was flipped. */
  get corrupted(): boolean {
    return this.#corrupted;
  }

  /** Issues the writes of a Ready (not yet durable: see `sync`). */
  stage(persist: Persist): void {
    assert(this.#staged === null, "one persist in flight at a time");
    const hard = persist.hardState ?? this.#hardState;
    const hardChanged = hard.term !== this.#hardState.term ||
      hard.vote !== this.#hardState.vote;
    const commit = hard.commit !== this.#hardState.commit
      ? { commit: hard.commit }
      : {};
    const snapshot = persist.snapshot;
    const needsSync = persist.entries.length > 0 || snapshot !== undefined ||
      hardChanged;
    let batch: EncodedWalBatch | null = null;
    if (persist.entries.length > 0 || snapshot !== undefined) {
      batch = encodeWalBatch({
        entries: persist.entries,
        ...commit,
        ...(snapshot === undefined ? {} : {
          snapshot: { index: snapshot.meta.index, term: snapshot.meta.term },
        }),
      });
    } else if ("commit" in commit) {
      batch = encodeWalBatch({ entries: [], ...commit });
    }
    const last = this.#last();
    const walStart = last.length;
    if (batch !== null) {
      last.append(batch.bytes);
      last.maxIndex = Math.max(last.maxIndex, batch.maxIndex);
    }
    this.#hardState = hard;
    const file = this.#options.forgetVotes ? { ...hard, vote: null } : hard;
    this.#staged = {
      snapshot,
      hardState: hardChanged ? file : undefined,
      walStart,
      entries: persist.entries,
      needsSync,
    };
  }

  /** The staged writes' fsync completes: all of them are durable. */
  sync(): void {
    const staged = this.#staged;
    this.#staged = null;
    if (staged === null || !staged.needsSync) return;
    this.#synced = this.#last().length;
    if (staged.hardState !== undefined) this.#hardStateFile = staged.hardState;
    if (staged.snapshot !== undefined) {
      this.#snapshot = staged.snapshot;
      this.#durableSnapshot(staged.snapshot.meta);
    }
    this.#durableEntries(staged.entries);
    if (staged.snapshot !== undefined) {
      this.#compact(staged.snapshot.meta.index);
    }
    if (this.#last().length >= SIM_SEGMENT_BYTES) this.#roll();
  }

  /** The shell wrote an FSM snapshot: file, WAL record (fsynced), then compaction. */
  writeSnapshot(snapshot: Snapshot): void {
    this.sync();
    this.#snapshot = snapshot;
    const { index, term } = snapshot.meta;
    this.#last().append(
      encodeWalBatch({ entries: [], snapshot: { index, term } }).bytes,
    );
    this.#synced = this.#last().length;
    this.#durableSnapshot(snapshot.meta);
    this.#compact(index);
    if (this.#last().length >= SIM_SEGMENT_BYTES) this.#roll();
  }

  /**
   * kill -9 or power loss: writes whose fsync completed stay; of the rest,
   * any subset does (drawn from `rng`).
   */
  crash(rng: SeededRng): CrashOutcome {
    const staged = this.#staged;
    if (staged !== null && staged.needsSync && rng.chance(0.5)) {
      // The fsync had completed; only the sends were lost.
      this.sync();
      return {
        kind: "synced",
        hardStateKept: true,
        walBytesKept: 0,
        walBytesLost: 0,
      };
    }
    this.#staged = null;
    const last = this.#last();
    const end = last.length;
    // The snapshot file is written (and awaited) before anything else.
    const snapshotLanded = staged?.snapshot !== undefined && rng.chance(0.5)
      ? staged.snapshot
      : undefined;
    const started = staged?.snapshot === undefined ||
      snapshotLanded !== undefined;
    const hardStateKept = started && staged?.hardState !== undefined &&
      rng.chance(0.5);
    const walEnd = started ? end : (staged?.walStart ?? end);
    const cut = this.#synced + rng.nextInt(walEnd - this.#synced + 1);
    const outcome: CrashOutcome = {
      kind: end > this.#synced || staged?.needsSync === true ? "torn" : "clean",
      hardStateKept,
      walBytesKept: cut - this.#synced,
      walBytesLost: end - cut,
    };
    last.length = cut;
    this.#synced = cut;
    if (snapshotLanded !== undefined) this.#snapshot = snapshotLanded;
    if (hardStateKept) this.#hardStateFile = staged!.hardState!;
    if (staged !== null && staged.needsSync) {
      this.#torn = { entries: staged.entries, snapshotLanded };
    }
    return outcome;
  }

  /** Flips one random bit of the durable WAL bytes (a disk that went bad). */
  flipBit(rng: SeededRng): { segment: string; offset: number; bit: number } {
    const sizes = this.#segments.map((segment, i) =>
      i === this.#segments.length - 1 ? this.#synced : segment.length
    );
    let roll = rng.nextInt(sizes.reduce((sum, size) => sum + size, 0));
    let at = 0;
    while (roll >= sizes[at]!) roll -= sizes[at++]!;
    const segment = this.#segments[at]!;
    const bit = rng.nextInt(8);
    segment.bytes[roll]! ^= 1 << bit;
    this.#corrupted = true;
    return { segment: segment.name, offset: roll, bit };
  }

  /**
   * A restart: replays the WAL with the real scanner, cuts a torn tail,
   * reconciles the hard state, and checks that no acknowledged entry was
   * lost and none invented (`durability`). A corrupt WAL is refused.
   */
  recover(): Recovery {
    this.#staged = null;
    const scanned = this.#scan();
    if (!scanned.ok) return scanned;
    const { entries, commit, tornBytes } = scanned;
    const meta = this.#snapshot.meta;
    const { hardState, termRaised } = reconcileHardState(
      this.#hardStateFile,
      meta,
      {
        entries,
        commit,
      },
    );
    if (!(this.#corrupted && this.#options.cutCorruption)) {
      this.#checkDurability(entries);
    }
    this.#torn = null;
    this.#synced = this.#last().length;
    this.#hardState = this.#hardStateFile;
    this.#durable = { base: meta.index, entries: [...entries] };
    return {
      ok: true,
      hardState,
      snapshot: this.#snapshot,
      entries,
      tornBytes,
      termRaised: termRaised !== null,
    };
  }

  #scan():
    | { ok: true; entries: Entry[]; commit: number; tornBytes: number }
    | { ok: false; message: string } {
    // One pass, or (broken variant) one more per corruption cut away.
    for (let attempt = 0; attempt <= this.#segments.length + 1; attempt++) {
      const replay = new WalReplay(
        this.#snapshot.meta.index,
        this.#snapshot.meta.term,
      );
      let tornBytes = 0;
      let corrupt: { at: number; offset: number; message: string } | null =
        null;
      for (const [at, segment] of this.#segments.entries()) {
        const isLast = at === this.#segments.length - 1;
        const scan = replay.scanSegment(segment.name, segment.view(), isLast);
        if (!scan.ok) {
          corrupt = { at, ...scan.corruption };
          break;
        }
        segment.maxIndex = scan.maxIndex;
        if (scan.tornTail !== null) {
          tornBytes = scan.tornTail.bytes;
          segment.length = scan.validBytes;
        }
      }
      if (corrupt === null) return { ok: true, ...replay.finish(), tornBytes };
      if (!this.#options.cutCorruption) {
        return { ok: false, message: corrupt.message };
      }
      this.#cutAt(corrupt.at, corrupt.offset);
    }
    return { ok: false, message: "corruption cut repeatedly" };
  }

  /** Broken variant: take everything from a corrupt record on for a torn tail. */
  #cutAt(at: number, offset: number): void {
    this.#segments.length = at + 1;
    const segment = this.#segments[at]!;
    if (offset < WAL_SEGMENT_HEADER_BYTES) {
      segment.length = 0;
      segment.append(encodeSegmentHeader());
    } else segment.length = offset;
  }

  #checkDurability(entries: readonly Entry[]): void {
    const durable = this.#durable;
    const torn = this.#torn;
    const recoveredBase = this.#snapshot.meta.index;
    const tornAt = new Map(
      (torn?.entries ?? []).map((entry) => [entry.index, entryDigest(entry)]),
    );
    const tornFrom = torn?.entries[0]?.index ?? Infinity;
    for (const entry of entries) {
      const known = durable.entries[entry.index - durable.base - 1];
      const digest = entryDigest(entry);
      if (
        (known === undefined || entryDigest(known) !== digest) &&
        tornAt.get(entry.index) !== digest
      ) {
        throw new SafetyViolation(
          "durability",
          `recovery returned entry ${entry.index}@${entry.term}, which was never written there`,
        );
      }
    }
    // A received snapshot that landed may drop a log it conflicts with.
    const landed = torn?.snapshotLanded?.meta;
    const dropped = landed !== undefined &&
      durable.entries[landed.index - durable.base - 1]?.term !== landed.term;
    if (dropped) return;
    const keepThrough = Math.min(
      durable.base + durable.entries.length,
      tornFrom - 1,
    );
    const last = recoveredBase + entries.length;
    if (keepThrough > recoveredBase && last < keepThrough) {
      throw new SafetyViolation(
        "durability",
        `recovery lost acknowledged entries ${last + 1}..${keepThrough}`,
      );
    }
  }

  /** Entries fsynced: they replace the log from their first index on. */
  #durableEntries(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    const durable = this.#durable;
    const keep = first.index - durable.base - 1;
    if (keep < durable.entries.length) {
      durable.entries.length = Math.max(0, keep);
    }
    durable.entries.push(...entries);
  }

  /** A snapshot made durable: the log after it survives only if it agrees at its index. */
  #durableSnapshot(meta: Snapshot["meta"]): void {
    const durable = this.#durable;
    const at = durable.entries[meta.index - durable.base - 1];
    durable.entries = at !== undefined && at.term === meta.term
      ? durable.entries.slice(meta.index - durable.base)
      : [];
    durable.base = meta.index;
  }

  /** Deletes closed segments wholly at or below a durable snapshot (as `Wal.removeSegmentsThrough`). */
  #compact(index: number): void {
    while (this.#segments.length > 1 && this.#segments[0]!.maxIndex <= index) {
      this.#segments.shift();
    }
  }

  #roll(): void {
    this.#segmentSeq++;
    this.#segments.push(new SimSegment(`wal-${this.#segmentSeq}`));
    this.#synced = this.#last().length;
  }

  #last(): SimSegment {
    return this.#segments[this.#segments.length - 1]!;
  }
}
