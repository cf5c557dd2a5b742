/**
 * A node's Raft data directory: the hard state file, the snapshots and the
 * WAL, opened together so that recovery sees one consistent log.
 *
 *   <dir>/hardstate          term, vote, commit (atomic replace)
 *   <dir>/snap/snap-*.snap   FSM snapshots (newest wins)
 *   <dir>/wal/wal-*.log      log segments (records after the snapshot)
 *
 * Files are 0600 and directories 0700. The hard state file and the WAL are
 * written concurrently, so a crash can keep either without the other;
 * `reconcileHardState` makes the pair consistent again at start-up.
 */
import type {
  Entry,
  HardState,
  Persist,
  Snapshot,
  SnapshotMeta,
} from "../types.ts";
import {
  EMPTY_HARD_STATE,
  encodeHardStateFile,
  loadHardState,
  saveHardStateFile,
} from "./hard_state.ts";
import { ensurePrivateDir, removeTempFiles } from "./fs.ts";
import { SnapshotStore } from "./snapshot_store.ts";
import { Wal, type WalOptions, type WalRecovery } from "./wal.ts";
import { type EncodedWalBatch, encodeWalBatch } from "./wal_format.ts";

/** What the data directory held at start-up. */
export interface DiskState {
  readonly hardState: HardState;
  /** The newest durable snapshot, or null when none was ever taken. */
  readonly snapshot: Snapshot | null;
  /** Contiguous entries after the snapshot's index. */
  readonly entries: Entry[];
  readonly tornTail: WalRecovery["tornTail"];
  /**
   * Set when the hard state file's term was behind the log's last term (a
   * crash kept the WAL write but not the hard state one): the term was
   * raised to the log's, with no vote.
   */
  readonly termRaised: { readonly from: number; readonly to: number } | null;
  /** Stray temp files removed (a crash interrupted an atomic write). */
  readonly removedTempFiles: string[];
}

/** One line for the node's log about what recovery did. */
export interface RecoveryNote {
  readonly level: "info" | "warn";
  readonly message: string;
}

/**
 * Makes the hard state file and the log consistent after a crash that kept
 * one write and not the other (pure; the simulation uses it too):
 *
 * - commit is the highest of the file's and the WAL's, capped at the last
 *   index (entries past it were never made durable here), and at least the
 *   snapshot's index;
 * - a term behind the last entry's (or the snapshot's) term is raised to it,
 *   with no vote: the Ready that carried the newer term was never fully
 *   durable, so none of its messages (a vote among them) was sent.
 */
export function reconcileHardState(
  stored: HardState,
  snapshot: Pick<SnapshotMeta, "index" | "term">,
  log: { readonly entries: readonly Entry[]; readonly commit: number },
): { hardState: HardState; termRaised: DiskState["termRaised"] } {
  const lastIndex = snapshot.index + log.entries.length;
  const lastTerm = log.entries[log.entries.length - 1]?.term ?? snapshot.term;
  const commit = Math.max(
    snapshot.index,
    Math.min(lastIndex, Math.max(stored.commit, log.commit)),
  );
  if (stored.term >= lastTerm) {
    return {
      hardState: { term: stored.term, vote: stored.vote, commit },
      termRaised: null,
    };
  }
  return {
    hardState: { term: lastTerm, vote: null, commit },
    termRaised: { from: stored.term, to: lastTerm },
  };
}

/** What a node should log about its start-up recovery (torn tail cut, term raised, temp files). */
export function recoveryNotes(dir: string, state: DiskState): RecoveryNote[] {
  const notes: RecoveryNote[] = [];
  const torn = state.tornTail;
  if (torn !== null) {
    notes.push({
      level: "warn",
      message:
        `Cut a torn WAL tail (a write a crash interrupted, never acknowledged): "${dir}/wal/${torn.file}" at offset ${torn.offset}, ${torn.bytes} bytes dropped`,
    });
  }
  const raised = state.termRaised;
  if (raised !== null) {
    notes.push({
      level: "warn",
      message:
        `Hard state term ${raised.from} is behind the log's term ${raised.to} (a crash between the two writes); continuing at term ${raised.to} with no vote`,
    });
  }
  if (state.removedTempFiles.length > 0) {
    notes.push({
      level: "info",
      message: `Removed temp files of interrupted writes in "${dir}": ${
        state.removedTempFiles.join(", ")
      }`,
    });
  }
  return notes;
}

export class DiskStorage {
  readonly #dir: string;
  readonly #wal: Wal;
  readonly #snapshots: SnapshotStore;
  /** What the hard state file holds (term and vote decide when to rewrite it). */
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
    for (const path of [dir, `${dir}/snap`, `${dir}/wal`]) {
      await ensurePrivateDir(path);
    }
    const removedTempFiles = [
      ...await removeTempFiles(dir),
      ...await removeTempFiles(`${dir}/snap`),
      ...await removeTempFiles(`${dir}/wal`),
    ];
    const snapshots = new SnapshotStore(`${dir}/snap`);
    const snapshot = await snapshots.loadLatest();
    const base = snapshot === null ? { index: 0, term: 0 } : snapshot.meta;
    const { wal, recovery } = await Wal.open(`${dir}/wal`, base, options);
    const stored = (await loadHardState(dir)) ?? EMPTY_HARD_STATE;
    const { hardState, termRaised } = reconcileHardState(
      stored,
      base,
      recovery,
    );
    const storage = new DiskStorage(dir, wal, snapshots, stored);
    return {
      storage,
      state: {
        hardState,
        snapshot,
        entries: recovery.entries,
        tornTail: recovery.tornTail,
        termRaised,
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
   * Everything is encoded before the first write, so a value that cannot be
   * encoded (`raft.storage.invalid_record`) leaves the disk untouched.
   */
  async persist(persist: Persist): Promise<void> {
    const { hardStateFile, wal, deferred, next } = this.#encode(persist);
    const snapshot = persist.snapshot;
    if (snapshot !== undefined) await this.#snapshots.save(snapshot);
    const writes: Promise<void>[] = [];
    if (hardStateFile !== null) {
      writes.push(saveHardStateFile(this.#dir, hardStateFile));
    }
    if (wal !== null) writes.push(this.#wal.append(wal));
    // Commit need not be durable for safety: it rides with the next fsync.
    if (deferred !== null) this.#wal.appendDeferred(deferred);
    this.#hardState = next;
    await Promise.all(writes);
    if (snapshot !== undefined) await this.#compact(snapshot.meta.index);
  }

  /** Encodes what `persist` writes, all of it, before any I/O. */
  #encode(persist: Persist): {
    hardStateFile: Uint8Array | null;
    wal: EncodedWalBatch | null;
    deferred: EncodedWalBatch | null;
    next: HardState;
  } {
    const hard = persist.hardState ?? this.#hardState;
    const hardStateFile =
      hard.term !== this.#hardState.term || hard.vote !== this.#hardState.vote
        ? encodeHardStateFile(hard)
        : null;
    const commit = hard.commit !== this.#hardState.commit
      ? { commit: hard.commit }
      : {};
    const snapshot = persist.snapshot;
    if (persist.entries.length > 0 || snapshot !== undefined) {
      const wal = encodeWalBatch({
        entries: persist.entries,
        ...commit,
        ...(snapshot === undefined ? {} : {
          snapshot: { index: snapshot.meta.index, term: snapshot.meta.term },
        }),
      });
      return { hardStateFile, wal, deferred: null, next: hard };
    }
    const deferred = "commit" in commit
      ? encodeWalBatch({ entries: [], ...commit })
      : null;
    return { hardStateFile, wal: null, deferred, next: hard };
  }

  /**
   * Saves a snapshot the shell took of its own FSM (log compaction): the
   * snapshot file, then its WAL record, then older snapshots and the
   * segments wholly below it are deleted.
   */
  async saveSnapshot(snapshot: Snapshot): Promise<void> {
    const record = encodeWalBatch({
      entries: [],
      snapshot: { index: snapshot.meta.index, term: snapshot.meta.term },
    });
    await this.#snapshots.save(snapshot);
    await this.#wal.append(record);
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
