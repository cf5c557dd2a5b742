/**
 * Election rules as pure functions: how a message's term moves ours (with
 * pre-vote and the check-quorum leader lease), and whether to grant a vote.
 */
import type { RaftLog } from "./_log.ts";
import type { Outgoing } from "./_replicator.ts";
import type { MemberId, Message, VoteRequest } from "./types.ts";

export interface TermView {
  readonly term: number;
  readonly leader: MemberId | null;
  readonly electionElapsed: number;
  readonly electionTicks: number;
  readonly checkQuorum: boolean;
}

export type TermRule =
  /** Handle the message at our term, after following `follow` if set. */
  | {
    readonly action: "step";
    readonly follow:
      | { readonly term: number; readonly leader: MemberId | null }
      | null;
  }
  /** Drop it, sending `reply` if set. */
  | { readonly action: "drop"; readonly reply: Outgoing | null };

export function termRule(message: Message, view: TermView): TermRule {
  if (message.term > view.term) {
    if (message.type === "vote" || message.type === "pre-vote") {
      // Leader lease: while we hear from a live leader, a disruptive candidate is ignored.
      const inLease = view.checkQuorum && view.leader !== null &&
        view.electionElapsed < view.electionTicks;
      if (inLease && !message.transfer) return { action: "drop", reply: null };
    }
    // A pre-vote and a granted pre-vote answer carry a future term: ours stays.
    const keepTerm = message.type === "pre-vote" ||
      (message.type === "pre-vote-response" && message.granted);
    if (keepTerm) return { action: "step", follow: null };
    const fromLeader = message.type === "append" ||
      message.type === "heartbeat" || message.type === "snapshot";
    return {
      action: "step",
      follow: { term: message.term, leader: fromLeader ? message.from : null },
    };
  }
  if (message.term === view.term) return { action: "step", follow: null };
  if (message.type === "append" || message.type === "heartbeat") {
    // Tell a stale leader about the newer term so it steps down.
    const reply: Outgoing = {
      type: "append-response",
      to: message.from,
      term: view.term,
      success: false,
      matchIndex: 0,
      rejectHint: 0,
      rejectTerm: 0,
    };
    return { action: "drop", reply };
  }
  if (message.type === "pre-vote" || message.type === "vote") {
    // Reject with our term so the candidate catches up (Raft §5.1). Without
    // it, a candidate that only we can hear from, behind in term, may never
    // learn the current term and livelock its own election.
    const reply: Outgoing = {
      type: message.type === "vote" ? "vote-response" : "pre-vote-response",
      to: message.from,
      term: view.term,
      granted: false,
    };
    return { action: "drop", reply };
  }
  return { action: "drop", reply: null };
}

/** Grant when we are free to (one vote per term) and the candidate's log is at least as up to date. */
export function grantsVote(
  message: VoteRequest,
  view: {
    readonly term: number;
    readonly vote: MemberId | null;
    readonly leader: MemberId | null;
  },
  log: RaftLog,
): boolean {
  const free = view.vote === message.from ||
    (view.vote === null && view.leader === null) ||
    (message.type === "pre-vote" && message.term > view.term);
  return free && log.isUpToDate(message.lastLogIndex, message.lastLogTerm);
}
