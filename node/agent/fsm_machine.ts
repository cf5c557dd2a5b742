/**
 * The cluster FSM as Raft's state machine: committed entries go through
 * `applyEntry`, the applied `ClusterState` stays in memory, and snapshots
 * are the FSM's snapshot frame (magic, version, SHA-256, canonical JSON;
 * raft/fsm/snapshot.ts), built here synchronously because Raft's shell asks
 * for them synchronously. The bytes equal `encodeSnapshot`'s.
 */
import { createHash } from "node:crypto";
import type { Entry } from "../../raft/mod.ts";
import type { StateMachine } from "../../raft/mod.ts";
import {
  applyEntry,
  type ClusterState,
  decodeStatePayload,
  emptyState,
  encodeStatePayload,
  type EntryApplied,
  SNAPSHOT_MAGIC,
  SNAPSHOT_VERSION,
  SnapshotError,
} from "../../raft/mod.ts";

const HEADER_BYTES = 8 + 4 + 32;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Called after every applied entry, in log order. Must not throw. */
export type AppliedListener = (applied: EntryApplied, entry: Entry) => void;

/** The in-memory cluster state behind a Raft node. */
export class FsmMachine implements StateMachine {
  #state: ClusterState = emptyState();
  readonly #listeners = new Set<AppliedListener>();

  get state(): ClusterState {
    return this.#state;
  }

  /** Subscribes to applied entries; returns the unsubscribe function. */
  onApplied(listener: AppliedListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  apply(entry: Entry): EntryApplied {
    const applied = applyEntry(this.#state, entry);
    this.#state = applied.state;
    for (const listener of this.#listeners) listener(applied, entry);
    return applied;
  }

  snapshot(): Uint8Array {
    return encodeSnapshotSync(this.#state);
  }

  restore(data: Uint8Array): void {
    this.#state = decodeSnapshotSync(data);
  }
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(bytes).digest());
}

/** `encodeSnapshot`, synchronously. */
export function encodeSnapshotSync(state: ClusterState): Uint8Array {
  const payload = encoder.encode(encodeStatePayload(state));
  const bytes = new Uint8Array(HEADER_BYTES + payload.length);
  bytes.set(encoder.encode(SNAPSHOT_MAGIC), 0);
  new DataView(bytes.buffer).setUint32(8, SNAPSHOT_VERSION);
  bytes.set(sha256(payload), 12);
  bytes.set(payload, HEADER_BYTES);
  return bytes;
}

/** `decodeSnapshot`, synchronously; throws `SnapshotError` on bad bytes. */
export function decodeSnapshotSync(bytes: Uint8Array): ClusterState {
  if (bytes.length < HEADER_BYTES) {
    throw new SnapshotError(
      "snapshot.truncated",
      `Snapshot is ${bytes.length} bytes, shorter than its header`,
    );
  }
  if (decoder.decode(bytes.subarray(0, 8)) !== SNAPSHOT_MAGIC) {
    throw new SnapshotError(
      "snapshot.bad_magic",
      "Snapshot does not start with the mill FSM magic",
    );
  }
  const version = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
    .getUint32(8);
  if (version !== SNAPSHOT_VERSION) {
    throw new SnapshotError(
      "snapshot.unsupported_version",
      `Snapshot format version ${version} is not supported; upgrade mill on this node`,
    );
  }
  const payload = bytes.subarray(HEADER_BYTES);
  const expected = bytes.subarray(12, HEADER_BYTES);
  if (!sha256(payload).every((byte, i) => byte === expected[i])) {
    throw new SnapshotError(
      "snapshot.checksum_mismatch",
      "Snapshot checksum does not match its contents",
    );
  }
  let text: string;
  try {
    text = decoder.decode(payload);
  } catch (error) {
    throw new SnapshotError(
      "snapshot.invalid_payload",
      "Snapshot payload is not UTF-8",
      { cause: error },
    );
  }
  const decoded = decodeStatePayload(text);
  if (!decoded.ok) {
    throw new SnapshotError(
      "snapshot.invalid_payload",
      `Snapshot payload is not a sound cluster state: ${decoded.message}`,
    );
  }
  return decoded.state;
}
