/**
 * The pure Raft core: messages and ticks in; log writes, messages, commits
 * and read states out through `ready()`. No clock, no I/O, no randomness
 * beyond the seeded `Rng` in its config. See raft/types.ts for the contract.
 */
import { assert } from "./_assert.ts";
import { RaftLog } from "./_log.ts";
import {
  decodeMembership,
  encodeMembership,
  membershipAfter,
  sameMembership,
} from "./_membership.ts";
import { Progress } from "./_progress.ts";
import {
  committedIndex,
  isQuorum,
  type VoteOutcome,
  voteOutcome,
} from "./_quorum.ts";
import type {
  AppendRequest,
  AppendResponse,
  CoreConfig,
  Entry,
  EntryKind,
  HardState,
  Heartbeat,
  HeartbeatResponse,
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
  SoftState,
  VoteRequest,
  VoteResponse,
} from "./types.ts";

export { decodeMembership, encodeMembership };

/** Committed entries handed out per Ready, in bytes (at least one entry always goes). */
export const COMMITTED_BYTES_MAX_PER_READY = 32 * 1024 * 1024;

type Outstanding = {
  readonly stableIndex: number;
  readonly stableTerm: number;
  readonly snapshotIndex: number | null;
  readonly appliedTo: number;
  readonly hardState: HardState;
};

type PendingRead = {
  readonly requestId: string;
  readonly index: number;
  readonly round: number;
};

/** One Raft member's consensus state machine. */
export class RaftCore {
  readonly #config: CoreConfig;
  readonly #log: RaftLog;
  #term: number;
  #vote: MemberId | null;
  #role: Role = "follower";
  #leader: MemberId | null = null;
  #membership: Membership;
  /** Index of the entry (or snapshot) that set `#membership`. */
  #membershipIndex: number;
  #progress = new Map<MemberId, Progress>();
  #votes = new Map<MemberId, boolean>();
  #electionElapsed = 0;
  #heartbeatElapsed = 0;
  #electionTimeout = 0;
  #transferee: MemberId | null = null;
  #pendingMembershipIndex = 0;
  /** Last index known to match the current leader's log (bounds commit learned from heartbeats). */
  #leaderMatched = 0;
  #needBroadcast = false;
  #readsAwaitingCommit: string[] = [];
  #pendingReads: PendingRead[] = [];
  #readRound = 0;
  #readStates: ReadState[] = [];
  #messages: Message[] = [];
  #previousHardState: HardState;
  #previousSoftState: SoftState;
  #outstanding: Outstanding | null = null;

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
    this.#membership = snapshot.meta.membership;
    this.#membershipIndex = snapshot.meta.index;
    this.#refreshMembership();
    this.#previousHardState = this.#hardState();
    this.#becomeFollower(this.#term, null);
    this.#previousSoftState = this.#softState();
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
    return this.#membership;
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
  progressOf(
    id: MemberId,
  ): { match: number; next: number; mode: string } | null {
    const progress = this.#progress.get(id);
    return progress
      ? { match: progress.match, next: progress.next, mode: progress.mode }
      : null;
  }

  // ---- inputs --------------------------------------------------------------

  /** One unit of logical time. */
  tick(): void {
    if (this.#role === "leader") this.#tickLeader();
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
      !this.#committedInTerm() ||
      this.#pendingMembershipIndex > this.#log.commit
    ) {
      return this.#refused("raft.membership_pending");
    }
    const next = membershipAfter(this.#membership, change);
    if (next === null) return this.#refused("raft.membership_invalid");
    const result = this.#appendAsLeader("membership", encodeMembership(next));
    if (result.ok) this.#pendingMembershipIndex = result.index;
    this.#checkInvariants();
    return result;
  }

  /**
   * Ask for a linearizable read point. Once a quorum confirmed this leader,
   * `Ready.readStates` carries `{ requestId, index }`: serve the read after
   * applying up to `index`.
   */
  readIndex(requestId: string): ProposeResult {
    if (this.#role !== "leader") return this.#refused("raft.not_leader");
    if (
      this.#readsAwaitingCommit.length + this.#pendingReads.length >=
        this.#config.maxPendingReads
    ) {
      return this.#refused("raft.overloaded");
    }
    if (this.#committedInTerm()) this.#startReads([requestId]);
    else this.#readsAwaitingCommit.push(requestId);
    this.#checkInvariants();
    return { ok: true, index: this.#log.commit, term: this.#term };
  }

  /** Hand leadership to `to` once it has caught up (TimeoutNow). Proposals are refused meanwhile. */
  transferLeadership(to: MemberId): ProposeResult {
    if (this.#role !== "leader") return this.#refused("raft.not_leader");
    if (!this.#membership.voters.includes(to)) {
      return this.#refused("raft.membership_invalid");
    }
    if (to !== this.id) {
      this.#transferee = to;
      this.#electionElapsed = 0;
      const progress = this.#progress.get(to)!;
      if (progress.match === this.#log.lastIndex()) {
        this.#send({ type: "timeout-now", to, term: this.#term });
      } else this.#sendAppend(to, "broadcast");
    }
    this.#checkInvariants();
    return { ok: true, index: this.#log.lastIndex(), term: this.#term };
  }

  /** The snapshot meta the shell should write for an FSM snapshot taken at `index` (≤ applied). */
  snapshotMeta(index: number): SnapshotMeta {
    assert(
      index >= this.#log.snapshotIndex() && index <= this.#log.applied,
      `snapshot index ${index} outside [snapshot, applied]`,
    );
    const term = this.#log.term(index);
    assert(term !== null, `no term at ${index}`);
    const entry = this.#log.lastEntryOfKindAtOrBelow(index, "membership");
    const membership = entry
      ? decodeMembership(entry.data)
      : this.#log.snapshot.meta.membership;
    return { index, term, membership };
  }

  /** The shell durably wrote `snapshot`: drop the log it covers and offer it to lagging members. */
  compact(snapshot: Snapshot): void {
    if (snapshot.meta.index <= this.#log.snapshotIndex()) return;
    const expected = this.snapshotMeta(snapshot.meta.index);
    assert(
      expected.term === snapshot.meta.term,
      "snapshot term does not match the log",
    );
    assert(
      sameMembership(expected.membership, snapshot.meta.membership),
      "snapshot membership does not match the log",
    );
    this.#log.compact(snapshot);
    this.#checkInvariants();
  }

  // ---- output --------------------------------------------------------------

  hasReady(): boolean {
    if (this.#outstanding) return false;
    if (this.#needBroadcast && this.#role === "leader") return true;
    return this.#messages.length > 0 || this.#readStates.length > 0 ||
      this.#log.hasUnstable() || this.#log.unstableSnapshot() !== null ||
      this.#log.applied < this.#log.commit ||
      !sameHardState(this.#hardState(), this.#previousHardState) ||
      !sameSoftState(this.#softState(), this.#previousSoftState);
  }

  /** What to persist, send and apply. Call `advance()` once it is done. */
  ready(): Ready {
    assert(
      this.#outstanding === null,
      "ready() called twice without advance()",
    );
    if (this.#needBroadcast && this.#role === "leader") this.#broadcastAppend();
    this.#needBroadcast = false;
    const entries = this.#log.unstableEntries();
    const snapshot = this.#log.unstableSnapshot();
    const hardState = this.#hardState();
    const committed = this.#log.nextCommitted(COMMITTED_BYTES_MAX_PER_READY);
    const softState = this.#softState();
    const last = entries.at(-1);
    this.#outstanding = {
      stableIndex: last?.index ?? 0,
      stableTerm: last?.term ?? 0,
      snapshotIndex: snapshot?.meta.index ?? null,
      appliedTo: committed.at(-1)?.index ?? this.#log.applied,
      hardState,
    };
    const hardChanged = !sameHardState(hardState, this.#previousHardState);
    const ready: Ready = {
      persist: {
        entries,
        ...(hardChanged ? { hardState } : {}),
        ...(snapshot ? { snapshot } : {}),
      },
      messages: this.#messages,
      committed,
      readStates: this.#readStates,
      ...(sameSoftState(softState, this.#previousSoftState)
        ? {}
        : { softState }),
    };
    this.#messages = [];
    this.#readStates = [];
    this.#previousSoftState = softState;
    return ready;
  }

  /** The last Ready was persisted, sent and applied. */
  advance(): void {
    const done = this.#outstanding;
    assert(done !== null, "advance() without ready()");
    if (done.stableIndex > 0) {
      this.#log.stableTo(done.stableIndex, done.stableTerm);
    }
    if (done.snapshotIndex !== null) {
      this.#log.stableSnapshotTo(done.snapshotIndex);
    }
    this.#log.applied = Math.max(
      this.#log.applied,
      Math.min(done.appliedTo, this.#log.commit),
    );
    this.#previousHardState = done.hardState;
    this.#outstanding = null;
    this.#checkInvariants();
  }

  // ---- time ----------------------------------------------------------------

  #tickFollower(): void {
    this.#electionElapsed++;
    if (this.#promotable() && this.#electionElapsed >= this.#electionTimeout) {
      this.#electionElapsed = 0;
      this.#campaign(this.#config.preVote ? "pre-vote" : "vote", false);
    }
  }

  #tickLeader(): void {
    this.#heartbeatElapsed++;
    this.#electionElapsed++;
    if (this.#electionElapsed >= this.#config.electionTicks) {
      this.#electionElapsed = 0;
      if (this.#config.checkQuorum && !this.#quorumActive()) {
        this.#becomeFollower(this.#term, null);
        return;
      }
      this.#transferee = null;
    }
    for (const [id, progress] of this.#progress) {
      if (id === this.id || progress.mode !== "snapshot") continue;
      if (++progress.snapshotTicks >= this.#config.electionTicks) {
        progress.abandonSnapshot();
      }
    }
    if (this.#heartbeatElapsed >= this.#config.heartbeatTicks) {
      this.#heartbeatElapsed = 0;
      this.#broadcastHeartbeat();
    }
  }

  /** Check-quorum: did a majority of voters answer us during the last election timeout? */
  #quorumActive(): boolean {
    let active = 0;
    for (const voter of this.#membership.voters) {
      const progress = this.#progress.get(voter);
      if (voter === this.id || progress?.recentActive) active++;
    }
    for (const progress of this.#progress.values()) {
      progress.recentActive = false;
    }
    return isQuorum(active, this.#membership.voters.length);
  }

  // ---- role changes --------------------------------------------------------

  #promotable(): boolean {
    return this.#membership.voters.includes(this.id);
  }

  #reset(term: number): void {
    if (term !== this.#term) {
      this.#term = term;
      this.#vote = null;
    }
    this.#leader = null;
    this.#leaderMatched = 0;
    this.#electionElapsed = 0;
    this.#heartbeatElapsed = 0;
    this.#electionTimeout = this.#config.electionTicks +
      this.#config.rng.nextInt(this.#config.electionTicks);
    this.#transferee = null;
    this.#votes.clear();
    this.#progress.clear();
    this.#readsAwaitingCommit = [];
    this.#pendingReads = [];
    this.#needBroadcast = false;
  }

  #becomeFollower(term: number, leader: MemberId | null): void {
    this.#reset(term);
    this.#leader = leader;
    this.#role = this.#membership.learners.includes(this.id)
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
    for (const voter of this.#membership.voters) {
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
    const outcome = voteOutcome(this.#membership.voters, this.#votes);
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
    this.#syncProgress();
    // A new leader cannot know whether a membership change in its log is committed.
    this.#pendingMembershipIndex = this.#log.lastIndex();
    this.#appendAsLeader("noop", new Uint8Array());
  }

  // ---- steps ---------------------------------------------------------------

  /** Term rules common to every message; returns whether to go on handling it. */
  #stepTerm(message: Message): boolean {
    if (message.term > this.#term) {
      if (message.type === "vote" || message.type === "pre-vote") {
        const inLease = this.#config.checkQuorum && this.#leader !== null &&
          this.#electionElapsed < this.#config.electionTicks;
        if (inLease && !message.transfer) return false;
      }
      const keepTerm = message.type === "pre-vote" ||
        (message.type === "pre-vote-response" && message.granted);
      if (!keepTerm) {
        const fromLeader = message.type === "append" ||
          message.type === "heartbeat" || message.type === "snapshot";
        this.#becomeFollower(message.term, fromLeader ? message.from : null);
      }
      return true;
    }
    if (message.term < this.#term) {
      if (message.type === "append" || message.type === "heartbeat") {
        // Tell a stale leader about the newer term so it steps down.
        this.#send({
          type: "append-response",
          to: message.from,
          term: this.#term,
          success: false,
          matchIndex: 0,
          rejectHint: 0,
          rejectTerm: 0,
        });
      } else if (message.type === "pre-vote") {
        this.#send({
          type: "pre-vote-response",
          to: message.from,
          term: this.#term,
          granted: false,
        });
      }
      return false;
    }
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
        return this.#handleAppendResponse(message);
      case "heartbeat-response":
        return this.#handleHeartbeatResponse(message);
      case "timeout-now":
        if (this.#role !== "leader") this.#campaign("vote", true);
        return;
      default: {
        const _exhaustive: never = message;
        return _exhaustive;
      }
    }
  }

  #handleVote(message: VoteRequest): void {
    const responseType = message.type === "vote"
      ? "vote-response"
      : "pre-vote-response";
    const canVote = this.#vote === message.from ||
      (this.#vote === null && this.#leader === null) ||
      (message.type === "pre-vote" && message.term > this.#term);
    if (
      canVote && this.#log.isUpToDate(message.lastLogIndex, message.lastLogTerm)
    ) {
      this.#send({
        type: responseType,
        to: message.from,
        term: message.term,
        granted: true,
      });
      if (message.type === "vote") {
        this.#electionElapsed = 0;
        this.#vote = message.from;
      }
    } else {
      this.#send({
        type: responseType,
        to: message.from,
        term: this.#term,
        granted: false,
      });
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
    assert(
      this.#role !== "leader",
      `two leaders in term ${this.#term}: "${this.id}" and "${message.from}"`,
    );
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
    const reply = {
      type: "append-response" as const,
      to: message.from,
      term: this.#term,
    };
    if (message.prevLogIndex < this.#log.commit) {
      this.#send({
        ...reply,
        success: true,
        matchIndex: this.#log.commit,
        rejectHint: 0,
        rejectTerm: 0,
      });
      return;
    }
    const appended = this.#log.maybeAppend(
      message.prevLogIndex,
      message.prevLogTerm,
      message.entries,
    );
    if (appended === null) {
      const hint = this.#log.findConflictByTerm(
        Math.min(message.prevLogIndex, this.#log.lastIndex()),
        message.prevLogTerm,
      );
      const rejectTerm = this.#log.term(hint) ?? 0;
      this.#send({
        ...reply,
        success: false,
        matchIndex: message.prevLogIndex,
        rejectHint: hint,
        rejectTerm,
      });
      return;
    }
    this.#onEntriesAppended(message.entries, appended.truncated);
    this.#leaderMatched = Math.max(this.#leaderMatched, appended.last);
    this.#log.commitTo(Math.min(message.commit, appended.last));
    this.#send({
      ...reply,
      success: true,
      matchIndex: appended.last,
      rejectHint: 0,
      rejectTerm: 0,
    });
  }

  #handleHeartbeat(message: Heartbeat): void {
    this.#log.commitTo(Math.min(message.commit, this.#leaderMatched));
    this.#send({
      type: "heartbeat-response",
      to: message.from,
      term: this.#term,
      context: message.context,
    });
  }

  #handleSnapshot(message: SnapshotRequest): void {
    const { meta } = message.snapshot;
    const reply = {
      type: "append-response" as const,
      to: message.from,
      term: this.#term,
      rejectHint: 0,
      rejectTerm: 0,
    };
    if (meta.index <= this.#log.commit) {
      this.#send({ ...reply, success: true, matchIndex: this.#log.commit });
      return;
    }
    if (this.#log.matchTerm(meta.index, meta.term)) {
      this.#leaderMatched = Math.max(this.#leaderMatched, meta.index);
      this.#log.commitTo(meta.index);
    } else {
      this.#log.restore(message.snapshot);
      this.#leaderMatched = meta.index;
      this.#membership = meta.membership;
      this.#membershipIndex = meta.index;
      this.#onMembershipChanged();
    }
    this.#send({ ...reply, success: true, matchIndex: meta.index });
  }

  #handleAppendResponse(message: AppendResponse): void {
    if (this.#role !== "leader") return;
    const progress = this.#progress.get(message.from);
    if (!progress) return;
    progress.recentActive = true;
    if (!message.success) {
      if (
        message.rejectTerm === 0 && message.rejectHint === 0 &&
        message.matchIndex === 0
      ) return;
      const hint = message.rejectTerm > 0
        ? this.#log.findConflictByTerm(message.rejectHint, message.rejectTerm)
        : message.rejectHint;
      if (progress.maybeDecrease(message.matchIndex, hint)) {
        if (progress.mode === "replicate") progress.becomeProbe();
        this.#sendAppend(message.from, "broadcast");
      }
      return;
    }
    const updated = progress.maybeUpdate(message.matchIndex);
    if (
      progress.mode === "snapshot" && progress.match >= progress.pendingSnapshot
    ) progress.becomeReplicate();
    if (!updated) return;
    if (progress.mode === "probe") progress.becomeReplicate();
    else if (progress.mode === "replicate") {
      progress.freeInflightTo(progress.match);
    }
    if (this.#maybeCommit()) this.#needBroadcast = true;
    for (let sent = 0; sent < this.#config.maxInflight; sent++) {
      if (!this.#sendAppend(message.from, "fill")) break;
    }
    if (
      message.from === this.#transferee &&
      progress.match === this.#log.lastIndex()
    ) {
      this.#send({ type: "timeout-now", to: message.from, term: this.#term });
    }
  }

  #handleHeartbeatResponse(message: HeartbeatResponse): void {
    if (this.#role !== "leader") return;
    const progress = this.#progress.get(message.from);
    if (!progress) return;
    progress.recentActive = true;
    progress.probeSent = false;
    if (progress.match < this.#log.lastIndex()) {
      this.#sendAppend(message.from, "force");
    }
    if (message.context !== "") {
      progress.readAck = Math.max(progress.readAck, Number(message.context));
      this.#releaseReads();
    }
  }

  // ---- leader work ---------------------------------------------------------

  #refuseProposal(): ProposeErrorCode | null {
    if (this.#role !== "leader") return "raft.not_leader";
    if (this.#transferee !== null) return "raft.transferring";
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
    this.#onEntriesAppended([entry], false);
    this.#progress.get(this.id)?.maybeUpdate(entry.index);
    this.#maybeCommit();
    this.#needBroadcast = true;
    return { ok: true, index: entry.index, term: entry.term };
  }

  #committedInTerm(): boolean {
    return this.#log.term(this.#log.commit) === this.#term;
  }

  /** Leader completeness: only entries of the current term commit by counting. */
  #maybeCommit(): boolean {
    const index = committedIndex(
      this.#membership.voters,
      (id) => this.#progress.get(id)?.match ?? 0,
    );
    if (index <= this.#log.commit || this.#log.term(index) !== this.#term) {
      return false;
    }
    const hadCommittedInTerm = this.#committedInTerm();
    this.#log.commitTo(index);
    if (!hadCommittedInTerm && this.#readsAwaitingCommit.length > 0) {
      const reads = this.#readsAwaitingCommit;
      this.#readsAwaitingCommit = [];
      this.#startReads(reads);
    }
    if (this.#log.commit >= this.#membershipIndex && !this.#promotable()) {
      // Removed from the voters and the change is committed: stop leading.
      this.#becomeFollower(this.#term, null);
    }
    return true;
  }

  /** Send what each member lacks: one append even if empty (it carries commit), then fill the window. */
  #broadcastAppend(): void {
    for (const id of this.#progress.keys()) {
      if (id === this.id) continue;
      if (!this.#sendAppend(id, "broadcast")) continue;
      for (let sent = 1; sent < this.#config.maxInflight; sent++) {
        if (!this.#sendAppend(id, "fill")) break;
      }
    }
  }

  #broadcastHeartbeat(): void {
    const context = this.#pendingReads.length > 0
      ? String(this.#readRound)
      : "";
    for (const [id, progress] of this.#progress) {
      if (id === this.id) continue;
      const commit = Math.min(progress.match, this.#log.commit);
      this.#send({
        type: "heartbeat",
        to: id,
        term: this.#term,
        commit,
        context,
      });
    }
  }

  /**
   * Send one append (or a snapshot) to `to`; returns whether it sent entries.
   * - fill: only entries, only if the window is open;
   * - broadcast: also an empty append (carries commit), if the window is open;
   * - force: even when paused (recovers from lost appends), possibly empty.
   */
  #sendAppend(to: MemberId, how: "fill" | "broadcast" | "force"): boolean {
    const progress = this.#progress.get(to);
    if (!progress || progress.mode === "snapshot") return false;
    if (progress.isPaused() && how !== "force") return false;
    const sendIfEmpty = how !== "fill";
    const prevLogIndex = progress.next - 1;
    const prevLogTerm = this.#log.term(prevLogIndex);
    if (prevLogTerm === null) {
      const snapshot = this.#log.snapshot;
      progress.becomeSnapshot(snapshot.meta.index);
      this.#send({ type: "snapshot", to, term: this.#term, snapshot });
      return false;
    }
    const entries = progress.isPaused() ? [] : this.#log.slice(
      progress.next,
      this.#log.lastIndex(),
      this.#config.maxEntriesPerAppend,
      this.#config.maxBytesPerAppend,
    );
    if (entries.length === 0 && !sendIfEmpty) return false;
    this.#send({
      type: "append",
      to,
      term: this.#term,
      prevLogIndex,
      prevLogTerm,
      entries,
      commit: this.#log.commit,
    });
    progress.sentAppend(prevLogIndex + entries.length, entries.length);
    return entries.length > 0;
  }

  #startReads(requestIds: readonly string[]): void {
    if (
      isQuorum(
        this.#membership.voters.includes(this.id) ? 1 : 0,
        this.#membership.voters.length,
      )
    ) {
      for (const requestId of requestIds) {
        this.#readStates.push({ requestId, index: this.#log.commit });
      }
      return;
    }
    this.#readRound++;
    for (const requestId of requestIds) {
      this.#pendingReads.push({
        requestId,
        index: this.#log.commit,
        round: this.#readRound,
      });
    }
    this.#broadcastHeartbeat();
  }

  /** Release every read whose heartbeat round a quorum of voters acknowledged. */
  #releaseReads(): void {
    let released = 0;
    for (const [i, read] of this.#pendingReads.entries()) {
      let acks = 0;
      for (const voter of this.#membership.voters) {
        if (
          voter === this.id ||
          (this.#progress.get(voter)?.readAck ?? 0) >= read.round
        ) acks++;
      }
      if (isQuorum(acks, this.#membership.voters.length)) released = i + 1;
    }
    for (const read of this.#pendingReads.splice(0, released)) {
      this.#readStates.push({ requestId: read.requestId, index: read.index });
    }
  }

  // ---- membership ----------------------------------------------------------

  /** Membership takes effect on append: track the latest membership entry. */
  #onEntriesAppended(entries: readonly Entry[], truncated: boolean): void {
    const before = this.#membershipIndex;
    if (truncated) {
      this.#refreshMembership();
    } else {
      const latest = entries.findLast((entry) => entry.kind === "membership");
      if (latest && latest.index > this.#membershipIndex) {
        this.#membership = decodeMembership(latest.data);
        this.#membershipIndex = latest.index;
      }
    }
    if (truncated || this.#membershipIndex !== before) {
      this.#onMembershipChanged();
    }
  }

  #refreshMembership(): void {
    const entry = this.#log.lastEntryOfKindAtOrBelow(
      this.#log.lastIndex(),
      "membership",
    );
    this.#membership = entry
      ? decodeMembership(entry.data)
      : this.#log.snapshot.meta.membership;
    this.#membershipIndex = entry ? entry.index : this.#log.snapshotIndex();
  }

  #onMembershipChanged(): void {
    if (this.#role === "leader") {
      this.#syncProgress();
      this.#maybeCommit();
      this.#releaseReads();
      return;
    }
    if (this.#role === "candidate" || this.#role === "pre-candidate") {
      if (!this.#promotable()) this.#becomeFollower(this.#term, null);
      return;
    }
    this.#role = this.#membership.learners.includes(this.id)
      ? "learner"
      : "follower";
  }

  /** Leader: one Progress per member of the current membership. */
  #syncProgress(): void {
    const members = new Set([
      ...this.#membership.voters,
      ...this.#membership.learners,
      this.id,
    ]);
    for (const id of this.#progress.keys()) {
      if (!members.has(id)) this.#progress.delete(id);
    }
    for (const id of members) {
      if (this.#progress.has(id)) continue;
      const progress = new Progress(
        this.#log.lastIndex() + 1,
        this.#config.maxInflight,
      );
      if (id === this.id) progress.maybeUpdate(this.#log.lastIndex());
      this.#progress.set(id, progress);
    }
  }

  // ---- plumbing ------------------------------------------------------------

  #send(message: DistributiveOmit<Message, "from">): void {
    this.#messages.push({ ...message, from: this.id } as Message);
  }

  #hardState(): HardState {
    return { term: this.#term, vote: this.#vote, commit: this.#log.commit };
  }

  #softState(): SoftState {
    return { role: this.#role, leader: this.#leader, term: this.#term };
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
      for (const [id, progress] of this.#progress) {
        assert(
          progress.match <= this.#log.lastIndex(),
          `match of "${id}" is past the last index`,
        );
        assert(
          progress.next > progress.match,
          `next of "${id}" is not past its match`,
        );
      }
    } else {
      assert(this.#progress.size === 0, "only a leader tracks progress");
      assert(
        this.#leader !== this.id,
        "a non-leader does not name itself leader",
      );
    }
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K>
  : never;

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leader === b.leader && a.term === b.term;
}
