/**
 * The cluster FSM as Raft's state machine: committed entries go through
 * `applyEntry`, the applied `ClusterState` stays in memory, and snapshots
 * are the FSM's snapshot frame (raft/fsm/snapshot.ts).
 */
import {
  applyEntry,
  type ClusterState,
  decodeSnapshot,
  emptyState,
  encodeSnapshot,
  type Entry,
  type EntryApplied,
  type StateMachine,
} from "../../raft/mod.ts";

/** Called after every applied entry, in log order. Must not throw. */
export type AppliedListener = (applied: EntryApplied, entry: Entry) => void;

/** Called after the state was replaced by a snapshot's. Must not throw. */
export type RestoredListener = (state: ClusterState, index: number) => void;

/**
 * A read-only copy of the cluster state, on every node: the FSM itself on
 * a primary, a replica fed by the watch stream on a secondary-only node.
 */
export interface ClusterView {
  readonly state: ClusterState;
  /** The Raft index the state reflects. */
  readonly index: number;
  /** Called after every change, in order; returns the unsubscribe. */
  subscribe(listener: (state: ClusterState) => void): () => void;
}

/** The in-memory cluster state behind a Raft node. */
export class FsmMachine implements StateMachine, ClusterView {
  #state: ClusterState = emptyState();
  #index = 0;
  readonly #applied = new Set<AppliedListener>();
  readonly #restored = new Set<RestoredListener>();
  readonly #changed = new Set<(state: ClusterState) => void>();

  get state(): ClusterState {
    return this.#state;
  }

  get index(): number {
    return this.#index;
  }

  /** Subscribes to applied entries; returns the unsubscribe function. */
  onApplied(listener: AppliedListener): () => void {
    this.#applied.add(listener);
    return () => this.#applied.delete(listener);
  }

  /** Subscribes to snapshot restores; returns the unsubscribe function. */
  onRestored(listener: RestoredListener): () => void {
    this.#restored.add(listener);
    return () => this.#restored.delete(listener);
  }

  subscribe(listener: (state: ClusterState) => void): () => void {
    this.#changed.add(listener);
    return () => this.#changed.delete(listener);
  }

  apply(entry: Entry): EntryApplied {
    const applied = applyEntry(this.#state, entry);
    this.#state = applied.state;
    this.#index = entry.index;
    for (const listener of this.#applied) listener(applied, entry);
    if (applied.outcome === "applied") {
      for (const listener of this.#changed) listener(this.#state);
    }
    return applied;
  }

  snapshot(): Uint8Array {
    return encodeSnapshot(this.#state);
  }

  restore(data: Uint8Array, index: number): void {
    this.#state = decodeSnapshot(data);
    this.#index = index;
    for (const listener of this.#restored) listener(this.#state, index);
    for (const listener of this.#changed) listener(this.#state);
  }
}
