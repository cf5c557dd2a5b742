import { assert } from "./_assert.ts";
import { decodeMembership, sameMembership } from "./_membership.ts";
import type { Entry, Membership, Snapshot, SnapshotMeta } from "./types.ts";

/** Bytes we count per entry beyond its data (index, term, kind framing). */
export const ENTRY_OVERHEAD_BYTES = 24;

/**
 * The core's view of the log: the latest snapshot plus the entries after it,
 * all in memory. Tracks which suffix is not yet durable (`unstable`) and how
 * far the log is committed and applied.
 */
export class RaftLog {
  #snapshot: Snapshot;
  #entries: Entry[];
  /** First index not yet acknowledged durable by the shell. */
  #unstableFrom: number;
  /** A snapshot received from the leader, not yet acknowledged durable. */
  #unstableSnapshot: Snapshot | null = null;
  commit: number;
  applied: number;
  /** Membership takes effect on append: the latest membership entry in the log, else the snapshot's. */
  #membership: { membership: Membership; index: number };
  /** Bumped on every membership change (including a truncation back to an older one). */
  membershipVersion = 0;

  constructor(
    snapshot: Snapshot,
    entries: readonly Entry[],
    commit: number,
    applied: number,
  ) {
    this.#snapshot = snapshot;
    this.#entries = [...entries];
    this.#unstableFrom = this.lastIndex() + 1;
    for (const [i, entry] of this.#entries.entries()) {
      assert(
        entry.index === snapshot.meta.index + 1 + i,
        `restored log is not contiguous at index ${entry.index}`,
      );
      const previousTerm = i === 0
        ? snapshot.meta.term
        : this.#entries[i - 1]!.term;
      assert(
        entry.term >= previousTerm,
        `restored log term decreases at index ${entry.index}`,
      );
    }
    this.#membership = this.membershipAt(this.lastIndex());
    this.commit = Math.max(commit, snapshot.meta.index);
    this.applied = Math.max(applied, snapshot.meta.index);
    assert(
      this.commit <= this.lastIndex(),
      "restored commit is past the last index",
    );
    assert(
      this.applied <= this.commit,
      "restored applied index is past the commit index",
    );
  }

  get membership(): Membership {
    return this.#membership.membership;
  }

  /**
   * Voters and learners of the latest membership and of the one in force at
   * commit (they differ while a change is pending).
   */
  members(): Set<string> {
    const latest = this.#membership;
    const committed = this.commit >= latest.index
      ? latest.membership
      : this.membershipAt(this.commit).membership;
    return new Set([
      ...latest.membership.voters,
      ...latest.membership.learners,
      ...committed.voters,
      ...committed.learners,
    ]);
  }

  /** Index of the entry (or snapshot) that set the current membership. */
  get membershipIndex(): number {
    return this.#membership.index;
  }

  #setMembership(membership: Membership, index: number): void {
    this.#membership = { membership, index };
    this.membershipVersion++;
  }

  get snapshot(): Snapshot {
    return this.#snapshot;
  }

  snapshotIndex(): number {
    return this.#snapshot.meta.index;
  }

  firstIndex(): number {
    return this.#snapshot.meta.index + 1;
  }

  lastIndex(): number {
    return this.#snapshot.meta.index + this.#entries.length;
  }

  lastTerm(): number {
    return this.#entries.at(-1)?.term ?? this.#snapshot.meta.term;
  }

  /** The term at `index`, or null when compacted away or not yet written. */
  term(index: number): number | null {
    const snapshotIndex = this.#snapshot.meta.index;
    if (index === snapshotIndex) return this.#snapshot.meta.term;
    if (index < snapshotIndex || index > this.lastIndex()) return null;
    return this.#entries[index - snapshotIndex - 1]!.term;
  }

  entry(index: number): Entry | null {
    if (index <= this.#snapshot.meta.index || index > this.lastIndex()) {
      return null;
    }
    return this.#entries[index - this.#snapshot.meta.index - 1]!;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft's election restriction: is a log ending at (index, term) at least as up to date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm ||
      (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** Entries from `low` (inclusive) to `high` (inclusive), capped by count and bytes (never empty when any exist). */
  slice(
    low: number,
    high: number,
    countMax: number,
    bytesMax: number,
  ): Entry[] {
    assert(low >= this.firstIndex(), `slice from compacted index ${low}`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let index = low; index <= Math.min(high, this.lastIndex()); index++) {
      const entry = this.entry(index)!;
      bytes += entry.data.length + ENTRY_OVERHEAD_BYTES;
      if (out.length > 0 && (out.length >= countMax || bytes > bytesMax)) break;
      out.push(entry);
    }
    return out;
  }

  /** Leader side: append new entries right after the last one. */
  append(entries: readonly Entry[]): void {
    for (const entry of entries) {
      assert(
        entry.index === this.lastIndex() + 1,
        `append at ${entry.index} leaves a gap after ${this.lastIndex()}`,
      );
      assert(
        entry.term >= this.lastTerm(),
        `append at ${entry.index} lowers the term`,
      );
      this.#entries.push(entry);
      if (entry.kind === "membership") {
        this.#setMembership(decodeMembership(entry.data), entry.index);
      }
    }
  }

  /**
   * Follower side: if our log holds (prevIndex, prevTerm), append `entries`
   * after it, truncating a conflicting uncommitted suffix. Returns the last
   * index now known to match the leader, or null on a mismatch. `truncated`
   * reports whether existing entries were replaced.
   */
  maybeAppend(
    prevIndex: number,
    prevTerm: number,
    entries: readonly Entry[],
  ): { last: number; truncated: boolean } | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const last = prevIndex + entries.length;
    let conflictAt = -1;
    for (const [i, entry] of entries.entries()) {
      assert(
        entry.index === prevIndex + 1 + i,
        `append request is not contiguous at ${entry.index}`,
      );
      if (entry.index <= this.#snapshot.meta.index) continue;
      if (!this.matchTerm(entry.index, entry.term)) {
        conflictAt = i;
        break;
      }
    }
    if (conflictAt < 0) return { last, truncated: false };
    const first = entries[conflictAt]!;
    assert(
      first.index > this.commit,
      `leader would overwrite committed index ${first.index}`,
    );
    const truncated = first.index <= this.lastIndex();
    this.#entries.length = first.index - this.#snapshot.meta.index - 1;
    this.#unstableFrom = Math.min(this.#unstableFrom, first.index);
    if (this.#membership.index >= first.index) {
      const { membership, index } = this.membershipAt(this.lastIndex());
      this.#setMembership(membership, index);
    }
    this.append(entries.slice(conflictAt));
    return { last, truncated };
  }

  /** The largest index at or below `index` whose term is at most `term` (fast backtracking). */
  findConflictByTerm(index: number, term: number): number {
    let at = Math.min(index, this.lastIndex());
    for (; at > this.#snapshot.meta.index; at--) {
      if (this.term(at)! <= term) return at;
    }
    return at;
  }

  commitTo(index: number): void {
    if (index <= this.commit) return;
    assert(
      index <= this.lastIndex(),
      `commit ${index} is past the last index ${this.lastIndex()}`,
    );
    this.commit = index;
  }

  /** Replace everything with a snapshot received from the leader. */
  restore(snapshot: Snapshot): void {
    assert(
      snapshot.meta.index > this.commit,
      "restore of a snapshot that is not ahead of commit",
    );
    this.#snapshot = snapshot;
    this.#entries = [];
    this.#unstableSnapshot = snapshot;
    this.#unstableFrom = snapshot.meta.index + 1;
    this.commit = snapshot.meta.index;
    this.applied = snapshot.meta.index;
    this.#setMembership(snapshot.meta.membership, snapshot.meta.index);
  }

  /** The meta of an FSM snapshot taken at `index`, which must lie in [snapshot, applied]. */
  snapshotMeta(index: number): SnapshotMeta {
    assert(
      index >= this.snapshotIndex() && index <= this.applied,
      `snapshot index ${index} outside [${this.snapshotIndex()}, ${this.applied}]`,
    );
    const term = this.term(index);
    assert(term !== null, `no term at ${index}`);
    return { index, term, membership: this.membershipAt(index).membership };
  }

  /** The shell wrote a snapshot at or below `applied`: drop the entries it covers (an older one is ignored). */
  compact(snapshot: Snapshot): void {
    const index = snapshot.meta.index;
    if (index <= this.snapshotIndex()) return;
    const expected = this.snapshotMeta(index);
    assert(
      expected.term === snapshot.meta.term,
      `snapshot term ${snapshot.meta.term} does not match the log at ${index}`,
    );
    assert(
      sameMembership(expected.membership, snapshot.meta.membership),
      "snapshot membership does not match the log",
    );
    assert(
      index < this.#unstableFrom,
      `compaction at ${index} covers entries not yet durable`,
    );
    this.#entries = this.#entries.slice(index - this.#snapshot.meta.index);
    this.#snapshot = snapshot;
  }

  hasUnstable(): boolean {
    return this.#unstableFrom <= this.lastIndex();
  }

  unstableEntries(): Entry[] {
    if (this.#unstableFrom > this.lastIndex()) return [];
    return this.#entries.slice(
      this.#unstableFrom - this.#snapshot.meta.index - 1,
    );
  }

  /**
   * The last index the shell acknowledged durable (`advance()`): what a
   * leader may count for itself toward commit. 0 while a received snapshot
   * is not yet durable.
   */
  stableIndex(): number {
    if (this.#unstableSnapshot !== null) return 0;
    return Math.min(this.#unstableFrom - 1, this.lastIndex());
  }

  unstableSnapshot(): Snapshot | null {
    return this.#unstableSnapshot;
  }

  /** The shell made entries up to (index, term) durable. */
  stableTo(index: number, term: number): void {
    if (this.term(index) === term && index >= this.#unstableFrom) {
      this.#unstableFrom = index + 1;
    }
  }

  stableSnapshotTo(index: number): void {
    if (this.#unstableSnapshot?.meta.index === index) {
      this.#unstableSnapshot = null;
    }
  }

  /** Committed entries not yet applied, capped in bytes (at least one when any). */
  nextCommitted(bytesMax: number): Entry[] {
    if (this.applied >= this.commit) return [];
    return this.slice(
      this.applied + 1,
      this.commit,
      Number.MAX_SAFE_INTEGER,
      bytesMax,
    );
  }

  /** The membership in force at `index`: the latest membership entry at or below it, else the snapshot's. */
  membershipAt(index: number): { membership: Membership; index: number } {
    const floor = this.#snapshot.meta.index;
    for (let at = Math.min(index, this.lastIndex()); at > floor; at--) {
      const entry = this.entry(at)!;
      if (entry.kind === "membership") {
        return { membership: decodeMembership(entry.data), index: at };
      }
    }
    return { membership: this.#snapshot.meta.membership, index: floor };
  }

  checkInvariants(): void {
    const snapshotIndex = this.#snapshot.meta.index;
    assert(
      this.applied <= this.commit,
      `applied ${this.applied} is past commit ${this.commit}`,
    );
    assert(
      this.commit <= this.lastIndex(),
      `commit ${this.commit} is past the last index ${this.lastIndex()}`,
    );
    assert(
      snapshotIndex <= this.commit,
      `snapshot ${snapshotIndex} is past commit ${this.commit}`,
    );
    assert(
      this.#unstableFrom > snapshotIndex,
      "unstable entries below the snapshot",
    );
    const first = this.#entries[0];
    assert(
      first === undefined || first.index === snapshotIndex + 1,
      "log does not start right after the snapshot",
    );
    const last = this.#entries.at(-1);
    assert(
      last === undefined || last.index === this.lastIndex(),
      "log is not contiguous",
    );
  }
}
