/**
 * A node's Raft data directory: the hard state file, the snapshots and the
 * WAL, opened together so that recovery sees one consistent log.
 *
 *   <dir>/hardstate          term, vote, commit (atomic replace)
 *   <dir>/snap/snap-*.snap   FSM snapshots (newest wins)
 *   <dir>/wal/wal-*.log      log segments (records after the snapshot)
 */
import type { Entry, HardState, Persist, Snapshot } from "../types.ts";
import {
  EMPTY_HARD_STATE,
  loadHardState,
  saveHardState,
} from "./hard_state.ts";
import { removeTempFiles } from "./fs.ts";
import { SnapshotStore } from "./snapshot_store.ts";
import { Wal, type WalOptions, type WalRecovery } from "./wal.ts";

/** What the data directory held at start-up. */
export interface DiskState {
  readonly hardState: HardState;
  /** The newest durable snapshot, or null when none was ever taken. */
  readonly snapshot: Snapshot | null;
  /** Contiguous entries after the snapshot's index. */
  readonly entries: Entry[];
  readonly tornTail: WalRecovery["tornTail"];
  /** Stray temp files removed (a crash interrupted an atomic write). */
  readonly removedTempFiles: string[];
}

export class DiskStorage {
  readonly #dir: string;
  readonly #wal: Wal;
  readonly #snapshots: SnapshotStore;
  #hardState: HardState;

  private constructor(
    dir: string,
    wal: Wal,
    snapshots: SnapshotStore,
    hardState: HardState,
  ) {
    this.#dir = dir;
    this.#wal = wal;
    this.#snapshots = snapshots;
    this.#hardState = hardState;
  }

  /** Opens or creates the data directory and recovers its contents. */
  static async open(
    dir: string,
    options: WalOptions = {},
  ): Promise<{ storage: DiskStorage; state: DiskState }> {
    await Deno.mkdir(`${dir}/snap`, { recursive: true });
    await Deno.mkdir(`${dir}/wal`, { recursive: true });
    const removedTempFiles = [
      ...await removeTempFiles(dir),
      ...await removeTempFiles(`${dir}/snap`),
    ];
    const snapshots = new SnapshotStore(`${dir}/snap`);
    const snapshot = await snapshots.loadLatest();
    const base = snapshot === null ? { index: 0, term: 0 } : snapshot.meta;
    const { wal, recovery } = await Wal.open(`${dir}/wal`, base, options);
    const stored = (await loadHardState(dir)) ?? EMPTY_HARD_STATE;
    const lastIndex = base.index + recovery.entries.length;
    // Commit never exceeds what the log holds; never falls below the snapshot.
    const commit = Math.max(
      base.index,
      Math.min(lastIndex, Math.max(stored.commit, recovery.commit)),
    );
    const hardState: HardState = {
      term: stored.term,
      vote: stored.vote,
      commit,
    };
    const storage = new DiskStorage(dir, wal, snapshots, stored);
    return {
      storage,
      state: {
        hardState,
        snapshot,
        entries: recovery.entries,
        tornTail: recovery.tornTail,
        removedTempFiles,
      },
    };
  }

  get dir(): string {
    return this.#dir;
  }

  /** fdatasync calls on the WAL so far. */
  get walSyncs(): number {
    return this.#wal.syncs;
  }

  get walSegments(): string[] {
    return this.#wal.segmentNames;
  }

  /**
   * Makes `persist` durable: a received snapshot first, then term/vote (file)
   * and entries + commit (WAL) together. Resolves only after every fsync.
   */
  async persist(persist: Persist): Promise<void> {
    const snapshot = persist.snapshot;
    if (snapshot !== undefined) await this.#snapshots.save(snapshot);
    const writes: Promise<void>[] = [];
    const hard = persist.hardState;
    let commit: number | undefined;
    if (hard !== undefined) {
      if (
        hard.term !== this.#hardState.term || hard.vote !== this.#hardState.vote
      ) {
        writes.push(saveHardState(this.#dir, hard));
      }
      if (hard.commit !== this.#hardState.commit) commit = hard.commit;
      this.#hardState = hard;
    }
    const withCommit = commit === undefined ? {} : { commit };
    if (persist.entries.length > 0 || snapshot !== undefined) {
      writes.push(this.#wal.append({
        entries: persist.entries,
        ...withCommit,
        ...(snapshot === undefined ? {} : {
          snapshot: { index: snapshot.meta.index, term: snapshot.meta.term },
        }),
      }));
    } else if (commit !== undefined) {
      // Commit need not be durable for safety: it rides with the next fsync.
      this.#wal.appendDeferred({ entries: [], commit });
    }
    await Promise.all(writes);
    if (snapshot !== undefined) await this.#compact(snapshot.meta.index);
  }

  /**
   * Saves a snapshot the shell took of its own FSM (log compaction): the
   * snapshot file, then its WAL record, then older snapshots and the
   * segments wholly below it are deleted.
   */
  async saveSnapshot(snapshot: Snapshot): Promise<void> {
    await this.#snapshots.save(snapshot);
    await this.#wal.append({
      entries: [],
      snapshot: { index: snapshot.meta.index, term: snapshot.meta.term },
    });
    await this.#compact(snapshot.meta.index);
  }

  async #compact(index: number): Promise<void> {
    await this.#snapshots.removeOlderThan(index);
    await this.#wal.removeSegmentsThrough(index);
  }

  async close(): Promise<void> {
    await this.#wal.close();
  }
}
