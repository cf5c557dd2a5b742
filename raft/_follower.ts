/**
 * The follower's half of replication: accept or reject an append, install a
 * snapshot. Pure functions over the in-memory log; the core sends the reply.
 */
import type { RaftLog } from "./_log.ts";
import type { Outgoing } from "./_replicator.ts";
import type { AppendRequest, SnapshotRequest } from "./types.ts";

export interface AppendOutcome {
  readonly response: Outgoing;
  /** Last index now known to match the leader (null on a rejection). */
  readonly matched: number | null;
  /** Existing entries were replaced (membership must be re-read). */
  readonly truncated: boolean;
}

export function acceptAppend(
  log: RaftLog,
  message: AppendRequest,
  term: number,
): AppendOutcome {
  const reply = { type: "append-response" as const, to: message.from, term };
  if (message.prevLogIndex < log.commit) {
    // Everything up to commit matches any leader's log: skip the re-sent prefix.
    const response = {
      ...reply,
      success: true,
      matchIndex: log.commit,
      rejectHint: 0,
      rejectTerm: 0,
    };
    return { response, matched: null, truncated: false };
  }
  const appended = log.maybeAppend(
    message.prevLogIndex,
    message.prevLogTerm,
    message.entries,
  );
  if (appended === null) {
    // Fast backtracking: point the leader at our last index whose term can match.
    const hint = log.findConflictByTerm(
      Math.min(message.prevLogIndex, log.lastIndex()),
      message.prevLogTerm,
    );
    const response = {
      ...reply,
      success: false,
      matchIndex: message.prevLogIndex,
      rejectHint: hint,
      rejectTerm: log.term(hint) ?? 0,
    };
    return { response, matched: null, truncated: false };
  }
  log.commitTo(Math.min(message.commit, appended.last));
  const response = {
    ...reply,
    success: true,
    matchIndex: appended.last,
    rejectHint: 0,
    rejectTerm: 0,
  };
  return { response, matched: appended.last, truncated: appended.truncated };
}

export interface SnapshotOutcome {
  readonly response: Outgoing;
  /** Last index now known to match the leader (null when the snapshot was stale). */
  readonly matched: number | null;
  /** The log was replaced by the snapshot (membership comes from its meta). */
  readonly restored: boolean;
}

export function acceptSnapshot(
  log: RaftLog,
  message: SnapshotRequest,
  term: number,
): SnapshotOutcome {
  const { meta } = message.snapshot;
  const reply = {
    type: "append-response" as const,
    to: message.from,
    term,
    success: true,
    rejectHint: 0,
    rejectTerm: 0,
  };
  if (meta.index <= log.commit) {
    const response = { ...reply, matchIndex: log.commit };
    return { response, matched: null, restored: false };
  }
  const restored = !log.matchTerm(meta.index, meta.term);
  if (restored) log.restore(message.snapshot);
  else log.commitTo(meta.index);
  const response = { ...reply, matchIndex: meta.index };
  return { response, matched: meta.index, restored };
}
