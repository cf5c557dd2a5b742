import { assert } from "./_assert.ts";

/**
 * How the leader feeds one follower:
 * - probe: one append per heartbeat until we find where logs match;
 * - replicate: stream appends, up to `maxInflight` unacknowledged;
 * - snapshot: an InstallSnapshot is in flight; wait for its answer.
 */
export type ProgressMode = "probe" | "replicate" | "snapshot";

/** The leader's view of one member's log. */
export class Progress {
  match = 0;
  next: number;
  mode: ProgressMode = "probe";
  /** In probe mode: an append is out, wait for its answer or the next heartbeat. */
  probeSent = false;
  /** In snapshot mode: the index of the snapshot sent, and ticks since. */
  pendingSnapshot = 0;
  snapshotTicks = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** Highest ReadIndex round (heartbeat context) this member acknowledged. */
  readAck = 0;
  /** Last index of each append in flight, oldest first. */
  readonly inflight: number[] = [];

  constructor(next: number, readonly inflightMax: number) {
    assert(next >= 1, "next index starts at 1");
    this.next = next;
  }

  isPaused(): boolean {
    switch (this.mode) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflight.length >= this.inflightMax;
      case "snapshot":
        return true;
    }
  }

  /** A success answer: returns whether it taught us anything new. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      this.probeSent = false;
      updated = true;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * A rejection of an append whose previous index was `rejected`: back up to
   * `hint + 1` (but never below match + 1). Returns false for a stale answer.
   *
   * A member that holds our entry at `match` hints at `match` or above for
   * any append at or past it (its terms up to there are ours, at most the
   * append's previous term). A lower hint means it lost entries it had
   * acknowledged (a cut WAL, a restore from an old copy): we `forget` it.
   */
  maybeDecrease(rejected: number, hint: number): boolean {
    if (rejected >= this.match && hint < this.match) {
      this.forget(hint);
      return true;
    }
    if (this.mode === "replicate") {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  sentAppend(lastIndex: number, entryCount: number): void {
    if (this.mode === "replicate") {
      if (entryCount > 0) {
        this.next = lastIndex + 1;
        this.inflight.push(lastIndex);
      }
    } else if (this.mode === "probe") {
      this.probeSent = true;
    }
  }

  freeInflightTo(index: number): void {
    while (this.inflight.length > 0 && this.inflight[0]! <= index) {
      this.inflight.shift();
    }
  }

  becomeProbe(): void {
    this.next = this.mode === "snapshot"
      ? Math.max(this.match + 1, this.pendingSnapshot + 1)
      : this.match + 1;
    this.mode = "probe";
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflight.length = 0;
  }

  becomeReplicate(): void {
    this.mode = "replicate";
    this.next = this.match + 1;
    this.probeSent = false;
    this.inflight.length = 0;
  }

  becomeSnapshot(index: number): void {
    this.mode = "snapshot";
    this.pendingSnapshot = index;
    this.snapshotTicks = 0;
    this.inflight.length = 0;
  }

  /**
   * The member no longer holds what it acknowledged: count none of it toward
   * commit (match 0) and probe again from `hint + 1`.
   */
  forget(hint: number): void {
    assert(hint >= 0, "a probe starts at index 1 or later");
    this.match = 0;
    this.mode = "probe";
    this.next = hint + 1;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflight.length = 0;
  }

  /** The snapshot got lost (no answer in time): probe again from what we know. */
  abandonSnapshot(): void {
    this.mode = "probe";
    this.pendingSnapshot = 0;
    this.next = this.match + 1;
    this.probeSent = false;
  }
}
