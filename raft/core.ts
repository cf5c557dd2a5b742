/**
 * The pure Raft core: messages and ticks in; log writes, messages, commits
 * and read states out through `ready()`. No clock, no I/O, no randomness
 * beyond the seeded `Rng` in its config. See raft/types.ts for the contract.
 */
import { assert } from "./_assert.ts";
import { grantsVote, termRule } from "./_election.ts";
import { acceptAppend, acceptSnapshot } from "./_follower.ts";
import { RaftLog } from "./_log.ts";
import type { Progress } from "./_progress.ts";
import { type Pending, ReadyTracker } from "./_ready.ts";
import { encodeMembership, membershipAfter } from "./_membership.ts";
import {
  type Outgoing,
  Replicator,
  type ReplicatorHost,
} from "./_replicator.ts";
import { type VoteOutcome, voteOutcome } from "./_quorum.ts";
import type {
  AppendRequest,
  CoreConfig,
  Entry,
  EntryKind,
  Heartbeat,
  MemberId,
  Membership,
  MembershipChange,
  Message,
  ProposeErrorCode,
  ProposeResult,
  ReadState,
  Ready,
  RestoredState,
  Role,
  Snapshot,
  SnapshotMeta,
  SnapshotRequest,
  VoteRequest,
  VoteResponse,
} from "./types.ts";

/** One Raft member's consensus state machine. */
export class RaftCore {
  readonly #config: CoreConfig;
  readonly #log: RaftLog;
  #term: number;
  #vote: MemberId | null;
  #role: Role = "follower";
  #leader: MemberId | null = null;
  /** The log's membership version this core last reacted to. */
  #membershipVersion = 0;
  /** Present exactly while leading. */
  #replicator: Replicator | null = null;
  #votes = new Map<MemberId, boolean>();
  #electionElapsed = 0;
  #electionTimeout = 0;
  #pendingMembershipIndex = 0;
  /** Last index known to match the current leader's log (bounds commit learned from heartbeats). */
  #leaderMatched = 0;
  #readStates: ReadState[] = [];
  #messages: Message[] = [];
  readonly #ready: ReadyTracker;

  constructor(config: CoreConfig, restored: RestoredState) {
    assert(
      config.electionTicks > config.heartbeatTicks,
      "electionTicks must exceed heartbeatTicks",
    );
    assert(config.heartbeatTicks >= 1, "heartbeatTicks must be at least 1");
    assert(config.maxInflight >= 1, "maxInflight must be at least 1");
    this.#config = config;
    const { hardState, snapshot, entries } = restored;
    this.#log = new RaftLog(
      snapshot,
      entries,
      hardState.commit,
      restored.applied ?? snapshot.meta.index,
    );
    this.#term = hardState.term;
    this.#vote = hardState.vote;
    this.#membershipVersion = this.#log.membershipVersion;
    this.#becomeFollower(this.#term, null);
    const pending = this.#pending();
    this.#ready = new ReadyTracker(pending.hardState, pending.softState);
    this.#checkInvariants();
  }

  get id(): MemberId {
    return this.#config.id;
  }
  get role(): Role {
    return this.#role;
  }
  get term(): number {
    return this.#term;
  }
  get leader(): MemberId | null {
    return this.#leader;
  }
  get commitIndex(): number {
    return this.#log.commit;
  }
  get appliedIndex(): number {
    return this.#log.applied;
  }
  get lastIndex(): number {
    return this.#log.lastIndex();
  }
  get membership(): Membership {
    return this.#log.membership;
  }
  /** Voters and learners of the latest and of the committed configuration: who may speak to us. */
  members(): Set<MemberId> {
    return this.#log.members();
  }
  /** The latest snapshot the core holds (what it sends to lagging members). */
  get snapshot(): Snapshot {
    return this.#log.snapshot;
  }

  /** Read-only view of a log entry for checkers and the shell (null when compacted or absent). */
  entry(index: number): Entry | null {
    return this.#log.entry(index);
  }

  /** The term of the entry at `index` (the snapshot's term at its index; null when unknown). */
  termAt(index: number): number | null {
    return this.#log.term(index);
  }

  /** The leader's replication view of a member (tests and metrics). */
  progressOf(id: MemberId): Readonly<Progress> | null {
    return this.#replicator?.progress.get(id) ?? null;
  }

  // ---- inputs --------------------------------------------------------------

  /** One unit of logical time. */
  tick(): void {
    if (this.#replicator) this.#tickLeader(this.#replicator);
    else this.#tickFollower();
    this.#checkInvariants();
  }

  /** Feed a message received from a peer. */
  step(message: Message): void {
    assert(
      message.to === this.id,
      `message for "${message.to}" stepped into "${this.id}"`,
    );
    if (this.#stepTerm(message)) this.#stepByType(message);
    this.#checkInvariants();
  }

  /** Append an FSM command (leader only). `index`/`term` identify it in `Ready.committed`. */
  propose(data: Uint8Array): ProposeResult {
    const refusal = this.#refuseProposal();
    if (refusal) return this.#refused(refusal);
    const result = this.#appendAsLeader("command", data);
    this.#checkInvariants();
    return result;
  }

  /** Ask for a one-server-at-a-time membership change (leader only, one pending at a time). */
  proposeMembership(change: MembershipChange): ProposeResult {
    const refusal = this.#refuseProposal();
    if (refusal) return this.#refused(refusal);
    if (
      !this.#replicator!.committedInTerm() ||
      this.#pendingMembershipIndex > this.#log.commit
    ) {
      return this.#refused("raft.membership_pending");
    }
    const next = membershipAfter(this.#log.membership, change);
    if (next === null) return this.#refused("raft.membership_invalid");
    const result = this.#appendAsLeader("membership", encodeMembership(next));
    if (result.ok) this.#pendingMembershipIndex = result.index;
    this.#checkInvariants();
    return result;
  }

  /** A linearizable read point: `Ready.readStates` brings `{ requestId, index }` once a quorum confirmed us; read after applying `index`. */
  readIndex(requestId: string): ProposeResult {
    const replicator = this.#replicator;
    if (!replicator) return this.#refused("raft.not_leader");
    if (replicator.pendingReadCount >= this.#config.maxPendingReads) {
      return this.#refused("raft.overloaded");
    }
    replicator.read(requestId);
    this.#checkInvariants();
    return { ok: true, index: this.#log.commit, term: this.#term };
  }

  /** Hand leadership to `to` once it has caught up (TimeoutNow). Proposals are refused meanwhile. */
  transferLeadership(to: MemberId): ProposeResult {
    const replicator = this.#replicator;
    if (!replicator) return this.#refused("raft.not_leader");
    if (!this.#log.membership.voters.includes(to)) {
      return this.#refused("raft.membership_invalid");
    }
    if (to !== this.id) replicator.transfer(to);
    this.#checkInvariants();
    return { ok: true, index: this.#log.lastIndex(), term: this.#term };
  }

  /** The snapshot meta the shell should write for an FSM snapshot taken at `index` (≤ applied). */
  snapshotMeta(index: number): SnapshotMeta {
    return this.#log.snapshotMeta(index);
  }

  /** The shell durably wrote `snapshot`: drop the log it covers and offer it to lagging members. */
  compact(snapshot: Snapshot): void {
    this.#log.compact(snapshot);
    this.#checkInvariants();
  }

  /** A leader's commit no append carried yet: call `flushCommit` soon (it sends an empty append to each follower). */
  get commitPending(): boolean {
    return this.#replicator?.commitPending ?? false;
  }
  flushCommit(): void {
    this.#replicator?.flushCommit();
  }

  // ---- output --------------------------------------------------------------

  hasReady(): boolean {
    if (this.#replicator?.needBroadcast && !this.#ready.outstanding) {
      return true;
    }
    return this.#ready.has(this.#log, this.#pending());
  }

  /** What to persist, send and apply. Call `advance()` once it is done. */
  ready(): Ready {
    assert(!this.#ready.outstanding, "ready() called twice without advance()");
    this.#replicator?.flushAppends();
    const ready = this.#ready.build(this.#log, this.#pending());
    this.#messages = [];
    this.#readStates = [];
    return ready;
  }

  /** Entries committed since the outstanding Ready was built: apply them now, in order (see `ReadyTracker`). */
  takeCommitted(): readonly Entry[] {
    return this.#ready.takeCommitted(this.#log);
  }

  /** While a Ready is out: a leader's appends and heartbeats since, to send at once (see `ReadyTracker`). */
  takeEarlyMessages(): Message[] {
    if (this.#ready.outstanding) this.#replicator?.flushAppends();
    return this.#ready.takeEarly(this.#pending(), (m) => this.#messages = m);
  }

  /** The last Ready was persisted, sent and applied. */
  advance(): void {
    this.#ready.advance(this.#log);
    if (this.#replicator?.selfStable(this.#log.stableIndex())) {
      this.#afterCommit();
    }
    this.#checkInvariants();
  }

  #pending(): Pending {
    return {
      hardState: {
        term: this.#term,
        vote: this.#vote,
        commit: this.#log.commit,
      },
      softState: { role: this.#role, leader: this.#leader, term: this.#term },
      messages: this.#messages,
      readStates: this.#readStates,
    };
  }

  // ---- time ----------------------------------------------------------------

  #tickFollower(): void {
    this.#electionElapsed++;
    if (this.#promotable() && this.#electionElapsed >= this.#electionTimeout) {
      this.#electionElapsed = 0;
      this.#campaign(this.#config.preVote ? "pre-vote" : "vote", false);
    }
  }

  #tickLeader(replicator: Replicator): void {
    // A leader's own election timer stays at 0: it is always in its lease.
    if (!replicator.tick()) this.#becomeFollower(this.#term, null);
  }

  // ---- role changes --------------------------------------------------------

  #promotable(): boolean {
    return this.#log.membership.voters.includes(this.id);
  }

  #reset(term: number): void {
    if (term !== this.#term) {
      this.#term = term;
      this.#vote = null;
    }
    this.#leader = null;
    this.#leaderMatched = 0;
    this.#electionElapsed = 0;
    this.#electionTimeout = this.#config.electionTicks +
      this.#config.rng.nextInt(this.#config.electionTicks);
    this.#votes.clear();
    this.#replicator = null;
  }

  #becomeFollower(term: number, leader: MemberId | null): void {
    this.#reset(term);
    this.#leader = leader;
    this.#role = this.#log.membership.learners.includes(this.id)
      ? "learner"
      : "follower";
  }

  #campaign(kind: "pre-vote" | "vote", transfer: boolean): void {
    if (!this.#promotable()) return;
    if (kind === "pre-vote") {
      this.#reset(this.#term);
      this.#role = "pre-candidate";
    } else {
      this.#reset(this.#term + 1);
      this.#role = "candidate";
      this.#vote = this.id;
    }
    this.#votes.set(this.id, true);
    if (this.#tally() !== "pending") return;
    const term = kind === "pre-vote" ? this.#term + 1 : this.#term;
    for (const voter of this.#log.membership.voters) {
      if (voter === this.id) continue;
      this.#send({
        type: kind,
        to: voter,
        term,
        lastLogIndex: this.#log.lastIndex(),
        lastLogTerm: this.#log.lastTerm(),
        transfer,
      });
    }
  }

  /** Count votes; act on a decided election. */
  #tally(): VoteOutcome {
    const outcome = voteOutcome(this.#log.membership.voters, this.#votes);
    if (outcome === "won") {
      if (this.#role === "pre-candidate") this.#campaign("vote", false);
      else this.#becomeLeader();
    } else if (outcome === "lost") {
      this.#becomeFollower(this.#term, null);
    }
    return outcome;
  }

  #becomeLeader(): void {
    assert(this.#role === "candidate", "only a candidate becomes leader");
    const term = this.#term;
    this.#reset(term);
    this.#role = "leader";
    this.#leader = this.id;
    this.#replicator = new Replicator(this.#replicatorHost());
    // A new leader cannot know whether a membership change in its log is committed.
    this.#pendingMembershipIndex = this.#log.lastIndex();
    this.#appendAsLeader("noop", new Uint8Array());
  }

  #replicatorHost(): ReplicatorHost {
    // deno-lint-ignore no-this-alias
    const core = this;
    return {
      id: this.id,
      config: this.#config,
      log: this.#log,
      get term() {
        return core.#term;
      },
      get membership() {
        return core.#log.membership;
      },
      send: (message) => this.#send(message),
      readState: (read) => this.#readStates.push(read),
    };
  }

  // ---- steps ---------------------------------------------------------------

  /** Term rules common to every message; returns whether to go on handling it. */
  #stepTerm(message: Message): boolean {
    const rule = termRule(message, {
      term: this.#term,
      leader: this.#leader,
      electionElapsed: this.#electionElapsed,
      electionTicks: this.#config.electionTicks,
      checkQuorum: this.#config.checkQuorum,
    });
    if (rule.action === "drop") {
      if (rule.reply) this.#send(rule.reply);
      return false;
    }
    if (rule.follow) this.#becomeFollower(rule.follow.term, rule.follow.leader);
    return true;
  }

  #stepByType(message: Message): void {
    switch (message.type) {
      case "vote":
      case "pre-vote":
        return this.#handleVote(message);
      case "vote-response":
      case "pre-vote-response":
        return this.#handleVoteResponse(message);
      case "append":
      case "heartbeat":
      case "snapshot":
        return this.#handleFromLeader(message);
      case "append-response":
        if (this.#replicator?.handleAppendResponse(message)) {
          this.#afterCommit();
        }
        return;
      case "heartbeat-response":
        return this.#replicator?.handleHeartbeatResponse(message);
      case "timeout-now":
        // Only our leader may hand over: a transfer's votes pass the lease.
        if (this.#role !== "leader" && message.from === this.#leader) {
          this.#campaign("vote", true);
        }
        return;
      default: {
        const _exhaustive: never = message;
        return _exhaustive;
      }
    }
  }

  #handleVote(message: VoteRequest): void {
    const type = message.type === "vote"
      ? "vote-response"
      : "pre-vote-response";
    const view = { term: this.#term, vote: this.#vote, leader: this.#leader };
    if (!grantsVote(message, view, this.#log)) {
      this.#send({ type, to: message.from, term: this.#term, granted: false });
      return;
    }
    this.#send({ type, to: message.from, term: message.term, granted: true });
    if (message.type === "vote") {
      this.#electionElapsed = 0;
      this.#vote = message.from;
    }
  }

  #handleVoteResponse(message: VoteResponse): void {
    const expected = message.type === "vote-response"
      ? "candidate"
      : "pre-candidate";
    if (this.#role !== expected) return;
    this.#votes.set(message.from, message.granted);
    this.#tally();
  }

  #handleFromLeader(
    message: AppendRequest | Heartbeat | SnapshotRequest,
  ): void {
    // One leader per term: a second one (a bug, or a member forging) is
    // ignored, never followed, and never resets our election timer.
    if (this.#role === "leader") return;
    if (this.#leader !== null && this.#leader !== message.from) return;
    if (
      this.#role === "candidate" || this.#role === "pre-candidate" ||
      this.#leader !== message.from
    ) {
      this.#becomeFollower(this.#term, message.from);
    }
    this.#electionElapsed = 0;
    if (message.type === "append") this.#handleAppend(message);
    else if (message.type === "heartbeat") this.#handleHeartbeat(message);
    else this.#handleSnapshot(message);
  }

  #handleAppend(message: AppendRequest): void {
    const outcome = acceptAppend(this.#log, message, this.#term);
    if (outcome.matched !== null) {
      this.#matchedLeader(outcome.matched, outcome.truncated);
      this.#syncMembership();
    }
    this.#send(outcome.response);
  }

  #handleHeartbeat(message: Heartbeat): void {
    const matched = Math.min(this.#leaderMatched, this.#log.lastIndex());
    this.#log.commitTo(Math.min(message.commit, matched));
    this.#send({
      type: "heartbeat-response",
      to: message.from,
      term: this.#term,
      context: message.context,
    });
  }

  #handleSnapshot(message: SnapshotRequest): void {
    const outcome = acceptSnapshot(this.#log, message, this.#term);
    if (outcome.matched !== null) {
      this.#matchedLeader(outcome.matched, outcome.restored);
    }
    this.#syncMembership();
    this.#send(outcome.response);
  }

  /** Our log matches the leader's up to `index`; what lay beyond a replaced part no longer does. */
  #matchedLeader(index: number, replaced: boolean): void {
    this.#leaderMatched = replaced
      ? index
      : Math.max(this.#leaderMatched, index);
  }

  // ---- leader work ---------------------------------------------------------

  #refuseProposal(): ProposeErrorCode | null {
    if (!this.#replicator) return "raft.not_leader";
    if (this.#replicator.transferee !== null) return "raft.transferring";
    if (
      this.#log.lastIndex() - this.#log.commit >=
        this.#config.maxUncommittedEntries
    ) return "raft.overloaded";
    return null;
  }

  #refused(code: ProposeErrorCode): ProposeResult {
    return { ok: false, code, leader: this.#leader };
  }

  #appendAsLeader(kind: EntryKind, data: Uint8Array): ProposeResult {
    const entry: Entry = {
      index: this.#log.lastIndex() + 1,
      term: this.#term,
      kind,
      data,
    };
    this.#log.append([entry]);
    this.#syncMembership();
    const replicator = this.#replicator!;
    replicator.selfAppended();
    return { ok: true, index: entry.index, term: entry.term };
  }

  /** A leader removed from the voters stops leading once that change is committed. */
  #afterCommit(): void {
    if (this.#log.commit >= this.#log.membershipIndex && !this.#promotable()) {
      this.#becomeFollower(this.#term, null);
    }
  }

  // ---- membership ----------------------------------------------------------

  /** Membership takes effect on append: react when the log's changed. */
  #syncMembership(): void {
    if (this.#membershipVersion === this.#log.membershipVersion) return;
    this.#membershipVersion = this.#log.membershipVersion;
    const replicator = this.#replicator;
    if (replicator) {
      replicator.syncProgress();
      replicator.releaseReads();
      if (replicator.maybeCommit()) this.#afterCommit();
    } else if (this.#role === "candidate" || this.#role === "pre-candidate") {
      if (!this.#promotable()) this.#becomeFollower(this.#term, null);
    } else {
      const learner = this.#log.membership.learners.includes(this.id);
      this.#role = learner ? "learner" : "follower";
    }
  }

  // ---- plumbing ------------------------------------------------------------

  #send(message: Outgoing): void {
    this.#messages.push({ ...message, from: this.id } as Message);
  }

  #checkInvariants(): void {
    this.#log.checkInvariants();
    assert(
      this.#log.lastTerm() <= this.#term,
      `last log term ${this.#log.lastTerm()} is past the current term ${this.#term}`,
    );
    if (this.#role === "leader") {
      assert(this.#leader === this.id, "a leader names itself as leader");
      assert(this.#vote === this.id, "a leader voted for itself");
      assert(this.#replicator !== null, "a leader has a replicator");
      this.#replicator.checkInvariants();
    } else {
      assert(this.#replicator === null, "only a leader tracks progress");
      assert(
        this.#leader !== this.id,
        "a non-leader does not name itself leader",
      );
    }
  }
}
