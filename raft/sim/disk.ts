/**
 * The simulation's disk: only what a node persisted through a Ready survives
 * a crash. A `Persist` is applied whole, which models the fsync after which
 * the shell acknowledges it.
 */
import type {
  Entry,
  HardState,
  Persist,
  RestoredState,
  Snapshot,
} from "../types.ts";

export class SimDisk {
  hardState: HardState = { term: 0, vote: null, commit: 0 };
  snapshot: Snapshot;
  entries: Entry[] = [];
  /** Deliberately broken variant for checker tests: votes are never made durable. */
  readonly forgetVotes: boolean;

  constructor(snapshot: Snapshot, options: { forgetVotes?: boolean } = {}) {
    this.snapshot = snapshot;
    this.forgetVotes = options.forgetVotes ?? false;
  }

  write(persist: Persist): void {
    if (persist.snapshot) {
      this.snapshot = persist.snapshot;
      this.entries = [];
    }
    const first = persist.entries[0];
    if (first) {
      const keep = first.index - this.snapshot.meta.index - 1;
      if (keep < this.entries.length) this.entries.length = Math.max(0, keep);
      this.entries.push(...persist.entries);
    }
    if (persist.hardState) {
      this.hardState = this.forgetVotes
        ? { ...persist.hardState, vote: null }
        : persist.hardState;
    }
  }

  /** The shell wrote an FSM snapshot: drop the entries it covers. */
  writeSnapshot(snapshot: Snapshot): void {
    this.entries = this.entries.filter((entry) =>
      entry.index > snapshot.meta.index
    );
    this.snapshot = snapshot;
  }

  restored(): RestoredState {
    const commit = Math.max(this.hardState.commit, this.snapshot.meta.index);
    return {
      hardState: { ...this.hardState, commit },
      snapshot: this.snapshot,
      entries: [...this.entries],
    };
  }
}
