/**
 * The contract between the pure Raft core (`core.ts`, stepped, no I/O) and
 * its shell (disk, network, clock). Modelled on etcd-io/raft: the shell feeds
 * messages and ticks in, takes a `Ready` out, sends `Ready.earlyMessages`,
 * persists `Ready.persist` (fsync) before it sends `Ready.messages`, applies
 * `Ready.committed`, then calls `advance()`.
 *
 * Everything here is plain data so it can be framed on disk and on the wire.
 * `type`/`kind` strings are persisted: add new ones, never rename or reuse.
 */

/** A Raft member's stable id (unique in the cluster, never reused). */
export type MemberId = string;

/** Voters elect and commit; learners only follow (`--role secondary`). */
export interface Membership {
  readonly voters: readonly MemberId[];
  readonly learners: readonly MemberId[];
}

export type EntryKind =
  /** An FSM command, opaque to Raft. */
  | "command"
  /** The empty entry a new leader appends to commit its term. */
  | "noop"
  /** A one-server-at-a-time membership change; `data` encodes `Membership`. */
  | "membership";

export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly kind: EntryKind;
  readonly data: Uint8Array;
}

/** Written atomically before any message that depends on it is sent. */
export interface HardState {
  readonly term: number;
  readonly vote: MemberId | null;
  readonly commit: number;
}

export interface SnapshotMeta {
  /** Index and term of the last entry the snapshot covers. */
  readonly index: number;
  readonly term: number;
  readonly membership: Membership;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** The FSM's serialized state, opaque to Raft. */
  readonly data: Uint8Array;
}

/** What the core asks the shell to make durable before sending. */
export interface Persist {
  readonly hardState?: HardState;
  /**
   * Entries to append. When `entries[0].index` is at or below the stored last
   * index, the stored log from that index on is replaced (a follower whose
   * uncommitted tail conflicts with the leader's).
   */
  readonly entries: readonly Entry[];
  /**
   * A snapshot received from the leader; replaces the log up to its index.
   * The shell writes it durably AND restores its FSM from it before it
   * applies `Ready.committed` (which then starts after `snapshot.meta.index`).
   */
  readonly snapshot?: Snapshot;
}

/** Result of a ReadIndex request: reads tagged `requestId` may be served once `index` is applied. */
export interface ReadState {
  readonly requestId: string;
  readonly index: number;
}

export interface Ready {
  readonly persist: Persist;
  /**
   * Messages that promise nothing `persist` writes (a leader's appends,
   * heartbeats, snapshots and TimeoutNow, sent under a term and vote that
   * are already durable): send them at once, while the fsync runs. The
   * leader counts its own entries toward commit only after `advance()`.
   */
  readonly earlyMessages: readonly Message[];
  /** Messages to send only once `persist` is durable (votes, answers). */
  readonly messages: readonly Message[];
  /** Committed entries, in order, to apply to the FSM (after `persist`). */
  readonly committed: readonly Entry[];
  readonly readStates: readonly ReadState[];
  /** Set when the role or leader changed since the last Ready. */
  readonly softState?: SoftState;
}

export type Role =
  | "follower"
  | "pre-candidate"
  | "candidate"
  | "leader"
  | "learner";

export interface SoftState {
  readonly role: Role;
  readonly leader: MemberId | null;
  readonly term: number;
}

interface MessageBase {
  readonly from: MemberId;
  readonly to: MemberId;
  readonly term: number;
}

export interface VoteRequest extends MessageBase {
  readonly type: "vote" | "pre-vote";
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  /** Set by a leadership transfer: voters skip the leader-lease check. */
  readonly transfer: boolean;
}

export interface VoteResponse extends MessageBase {
  readonly type: "vote-response" | "pre-vote-response";
  readonly granted: boolean;
}

export interface AppendRequest extends MessageBase {
  readonly type: "append";
  readonly prevLogIndex: number;
  readonly prevLogTerm: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}

export interface AppendResponse extends MessageBase {
  readonly type: "append-response";
  readonly success: boolean;
  /** On success the follower's last matching index (echo of the request's `prevLogIndex` + entries). */
  readonly matchIndex: number;
  /**
   * On failure (fast backtracking): the largest index at or below the
   * request's `prevLogIndex` whose term is at most `rejectTerm`, and that
   * term. The leader resumes from there instead of one entry at a time.
   */
  readonly rejectHint: number;
  readonly rejectTerm: number;
}

/** The leader's liveness beat; `commit` is capped at what the follower is known to hold. */
export interface Heartbeat extends MessageBase {
  readonly type: "heartbeat";
  readonly commit: number;
  /** Echoed for ReadIndex quorum rounds; empty otherwise. */
  readonly context: string;
}

export interface HeartbeatResponse extends MessageBase {
  readonly type: "heartbeat-response";
  readonly context: string;
}

export interface SnapshotRequest extends MessageBase {
  readonly type: "snapshot";
  readonly snapshot: Snapshot;
}

export interface TimeoutNow extends MessageBase {
  readonly type: "timeout-now";
}

export type Message =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | Heartbeat
  | HeartbeatResponse
  | SnapshotRequest
  | TimeoutNow;

/** A one-server-at-a-time change asked of the leader. */
export type MembershipChange =
  /** Add a non-voting member that follows the log (`--role secondary`). */
  | { readonly type: "add-learner"; readonly id: MemberId }
  /** Turn a learner into a voter (best once it has caught up). */
  | { readonly type: "promote"; readonly id: MemberId }
  /** Remove a voter or a learner. A removed leader steps down once the change commits. */
  | { readonly type: "remove"; readonly id: MemberId };

/** Seeded randomness passed into the core (election timeouts). */
export interface Rng {
  /** A uniform integer in [0, maxExclusive). */
  nextInt(maxExclusive: number): number;
}

/** Tunables of one core; ticks are the shell's clock unit. */
export interface CoreConfig {
  readonly id: MemberId;
  /** Election timeout base: a follower waits a random [electionTicks, 2*electionTicks). */
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly maxEntriesPerAppend: number;
  readonly maxBytesPerAppend: number;
  /** Appends in flight per follower in replicate mode. */
  readonly maxInflight: number;
  /** Queued proposals the leader refuses past (back-pressure); uncommitted entries. */
  readonly maxUncommittedEntries: number;
  /** Pending ReadIndex requests held by the leader. */
  readonly maxPendingReads: number;
  readonly rng: Rng;
}

/** What the shell read from disk at start-up. */
export interface RestoredState {
  readonly hardState: HardState;
  /**
   * The latest snapshot, data included (the core hands it to lagging members).
   * For a brand-new cluster: index 0, term 0, the initial membership, empty data.
   */
  readonly snapshot: Snapshot;
  /** The log after `snapshot.meta.index`, contiguous. */
  readonly entries: readonly Entry[];
  /** Highest index already applied to the shell's FSM (default: the snapshot's index). */
  readonly applied?: number;
}

export type ProposeResult =
  | { readonly ok: true; readonly index: number; readonly term: number }
  | {
    readonly ok: false;
    readonly code: ProposeErrorCode;
    /** The leader to retry with, when known. */
    readonly leader: MemberId | null;
  };

export type ProposeErrorCode =
  | "raft.not_leader"
  | "raft.transferring"
  | "raft.overloaded"
  | "raft.membership_pending"
  | "raft.membership_invalid";
