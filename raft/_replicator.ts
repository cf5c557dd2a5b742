/**
 * The leader's half of the core: per-member progress, appends (batched,
 * pipelined, probe/replicate/snapshot), commit by counting, heartbeats,
 * check-quorum, ReadIndex rounds and the leadership-transfer target.
 * Lives only while its core leads.
 */
import { assert } from "./_assert.ts";
import type { RaftLog } from "./_log.ts";
import { Progress } from "./_progress.ts";
import { committedIndex, isQuorum } from "./_quorum.ts";
import type {
  AppendResponse,
  CoreConfig,
  HeartbeatResponse,
  MemberId,
  Membership,
  Message,
  ReadState,
} from "./types.ts";

export type DistributiveOmit<T, K extends PropertyKey> = T extends unknown
  ? Omit<T, K>
  : never;
export type Outgoing = DistributiveOmit<Message, "from">;

/** What the replicator needs from its core. */
export interface ReplicatorHost {
  readonly id: MemberId;
  readonly config: CoreConfig;
  readonly log: RaftLog;
  readonly term: number;
  readonly membership: Membership;
  send(message: Outgoing): void;
  readState(read: ReadState): void;
}

type PendingRead = {
  readonly requestId: string;
  readonly index: number;
  readonly round: number;
};

export class Replicator {
  readonly progress = new Map<MemberId, Progress>();
  /** Leadership transfer target; proposals are refused while set. */
  transferee: MemberId | null = null;
  /** New entries to send with the next Ready. */
  needBroadcast = false;
  /**
   * The commit index advanced since the last broadcast. It rides on the next
   * append (the next proposal's, under load) or goes out on its own when the
   * shell calls `flushCommit` (shortly after, when idle) or at the next tick:
   * one empty append per commit per follower would double the messages at
   * low concurrency.
   */
  commitPending = false;
  #readsAwaitingCommit: string[] = [];
  #pendingReads: PendingRead[] = [];
  #readRound = 0;
  #transferTicks = 0;
  #heartbeatElapsed = 0;
  #electionElapsed = 0;
  readonly #host: ReplicatorHost;

  constructor(host: ReplicatorHost) {
    this.#host = host;
    this.syncProgress();
  }

  get pendingReadCount(): number {
    return this.#readsAwaitingCommit.length + this.#pendingReads.length;
  }

  /** One Progress per member of the current membership. */
  syncProgress(): void {
    const { membership, id, log, config } = this.#host;
    const members = new Set([
      ...membership.voters,
      ...membership.learners,
      id,
    ]);
    for (const member of this.progress.keys()) {
      if (!members.has(member)) this.progress.delete(member);
    }
    for (const member of members) {
      if (this.progress.has(member)) continue;
      const progress = new Progress(log.lastIndex() + 1, config.maxInflight);
      // The leader counts only what its own disk holds (see selfStable).
      if (member === id) progress.maybeUpdate(log.stableIndex());
      this.progress.set(member, progress);
    }
  }

  /** Check-quorum: did a majority of voters answer during the last round? Starts a new round. */
  quorumActive(): boolean {
    const { membership, id } = this.#host;
    let active = 0;
    for (const voter of membership.voters) {
      if (voter === id || this.progress.get(voter)?.recentActive) active++;
    }
    for (const progress of this.progress.values()) {
      progress.recentActive = false;
    }
    return isQuorum(active, membership.voters.length);
  }

  /**
   * One tick of leading: heartbeats, lost snapshots and transfers, and every
   * election timeout a check-quorum round. Returns false when a quorum of
   * voters went silent: the leader must step down.
   */
  tick(): boolean {
    const { config } = this.#host;
    this.#heartbeatElapsed++;
    if (++this.#electionElapsed >= config.electionTicks) {
      this.#electionElapsed = 0;
      if (config.checkQuorum && !this.quorumActive()) return false;
      // Heartbeats carry commit only up to what a follower was seen to hold
      // in this term; a restarted follower learns the rest from an append.
      this.broadcastAppend();
    }
    if (this.commitPending) this.broadcastAppend();
    this.#tickSnapshots();
    this.#tickTransfer();
    if (this.#heartbeatElapsed >= config.heartbeatTicks) {
      this.#heartbeatElapsed = 0;
      this.broadcastHeartbeat();
    }
    return true;
  }

  /** A transfer that did not finish within an election timeout is abandoned. */
  #tickTransfer(): void {
    if (this.transferee === null) return;
    if (++this.#transferTicks >= this.#host.config.electionTicks) {
      this.transferee = null;
    }
  }

  /** A snapshot unanswered for an election timeout is presumed lost. */
  #tickSnapshots(): void {
    for (const [member, progress] of this.progress) {
      if (member === this.#host.id || progress.mode !== "snapshot") continue;
      if (++progress.snapshotTicks >= this.#host.config.electionTicks) {
        progress.abandonSnapshot();
      }
    }
  }

  committedInTerm(): boolean {
    const { log, term } = this.#host;
    return log.term(log.commit) === term;
  }

  /**
   * The leader appended an entry itself. It goes to the followers at once
   * (while the leader's own fsync runs), but the leader counts itself toward
   * commit only once the entry is durable here (`selfStable`).
   */
  selfAppended(): void {
    this.needBroadcast = true;
  }

  /** The leader's own log is durable up to `index`; returns whether the commit index advanced. */
  selfStable(index: number): boolean {
    if (!this.progress.get(this.#host.id)?.maybeUpdate(index)) return false;
    return this.maybeCommit();
  }

  /** Leader completeness: only entries of the current term commit by counting. */
  maybeCommit(): boolean {
    const { log, term, membership } = this.#host;
    const index = committedIndex(
      membership.voters,
      (member) => this.progress.get(member)?.match ?? 0,
    );
    if (index <= log.commit || log.term(index) !== term) return false;
    const hadCommittedInTerm = this.committedInTerm();
    log.commitTo(index);
    this.commitPending = true;
    if (!hadCommittedInTerm && this.#readsAwaitingCommit.length > 0) {
      const reads = this.#readsAwaitingCommit;
      this.#readsAwaitingCommit = [];
      this.#startReads(reads);
    }
    return true;
  }

  /** Sends the new entries, if any, to every follower. */
  flushAppends(): void {
    if (this.needBroadcast) this.broadcastAppend();
  }

  /** Sends the commit no append carried, if any, to every follower. */
  flushCommit(): void {
    if (this.commitPending) this.broadcastAppend();
  }

  /** Send what each member lacks: one append even if empty (it carries commit), then fill the window. */
  broadcastAppend(): void {
    this.needBroadcast = false;
    this.commitPending = false;
    for (const member of this.progress.keys()) {
      if (member === this.#host.id) continue;
      if (!this.sendAppend(member, "broadcast")) continue;
      for (let sent = 1; sent < this.#host.config.maxInflight; sent++) {
        if (!this.sendAppend(member, "fill")) break;
      }
    }
  }

  broadcastHeartbeat(): void {
    const { id, log, term } = this.#host;
    const context = this.#pendingReads.length > 0
      ? String(this.#readRound)
      : "";
    for (const [member, progress] of this.progress) {
      if (member === id) continue;
      const commit = Math.min(progress.match, log.commit);
      this.#host.send({ type: "heartbeat", to: member, term, commit, context });
    }
  }

  /**
   * Send one append (or a snapshot) to `to`; returns whether it sent entries.
   * - fill: only entries, only if the window is open;
   * - broadcast: also an empty append (carries commit), if the window is open;
   * - force: even when paused (recovers from lost appends), possibly empty.
   */
  sendAppend(to: MemberId, how: "fill" | "broadcast" | "force"): boolean {
    const { log, term, config } = this.#host;
    const progress = this.progress.get(to);
    if (!progress || progress.mode === "snapshot") return false;
    if (progress.isPaused() && how !== "force") return false;
    const prevLogIndex = progress.next - 1;
    const prevLogTerm = log.term(prevLogIndex);
    if (prevLogTerm === null) {
      const snapshot = log.snapshot;
      progress.becomeSnapshot(snapshot.meta.index);
      this.#host.send({ type: "snapshot", to, term, snapshot });
      return false;
    }
    const entries = progress.isPaused() ? [] : log.slice(
      progress.next,
      log.lastIndex(),
      config.maxEntriesPerAppend,
      config.maxBytesPerAppend,
    );
    if (entries.length === 0 && how === "fill") return false;
    this.#host.send({
      type: "append",
      to,
      term,
      prevLogIndex,
      prevLogTerm,
      entries,
      commit: log.commit,
    });
    progress.sentAppend(prevLogIndex + entries.length, entries.length);
    return entries.length > 0;
  }

  /** Catch `to` up, then tell it to campaign at once (TimeoutNow). */
  transfer(to: MemberId): void {
    this.transferee = to;
    this.#transferTicks = 0;
    const progress = this.progress.get(to);
    assert(progress !== undefined, `transfer target "${to}" has no progress`);
    if (progress.match === this.#host.log.lastIndex()) {
      this.#host.send({ type: "timeout-now", to, term: this.#host.term });
    } else {
      this.sendAppend(to, "broadcast");
    }
  }

  /** Returns whether the commit index advanced. */
  handleAppendResponse(message: AppendResponse): boolean {
    const { log } = this.#host;
    const progress = this.progress.get(message.from);
    if (!progress) return false;
    progress.recentActive = true;
    if (!message.success) {
      const hint = message.rejectTerm > 0
        ? log.findConflictByTerm(message.rejectHint, message.rejectTerm)
        : message.rejectHint;
      if (progress.maybeDecrease(message.matchIndex, hint)) {
        if (progress.mode === "replicate") progress.becomeProbe();
        this.sendAppend(message.from, "broadcast");
      }
      return false;
    }
    if (message.matchIndex > log.lastIndex()) {
      // It claims more of this term's log than we hold, so its log is not
      // ours (committed entries were lost elsewhere): count none of it.
      progress.forget(log.lastIndex());
      return false;
    }
    const updated = progress.maybeUpdate(message.matchIndex);
    const snapshotDone = progress.mode === "snapshot" &&
      progress.match >= progress.pendingSnapshot;
    if (snapshotDone) progress.becomeReplicate();
    if (!updated) return false;
    if (progress.mode === "probe") progress.becomeReplicate();
    else progress.freeInflightTo(progress.match);
    const committed = this.maybeCommit();
    for (let sent = 0; sent < this.#host.config.maxInflight; sent++) {
      if (!this.sendAppend(message.from, "fill")) break;
    }
    if (
      message.from === this.transferee && progress.match === log.lastIndex()
    ) {
      this.#host.send({
        type: "timeout-now",
        to: message.from,
        term: this.#host.term,
      });
    }
    return committed;
  }

  handleHeartbeatResponse(message: HeartbeatResponse): void {
    const progress = this.progress.get(message.from);
    if (!progress) return;
    progress.recentActive = true;
    progress.probeSent = false;
    if (progress.match < this.#host.log.lastIndex()) {
      this.sendAppend(message.from, "force");
    }
    // A context echoes a read round we sent; one we never sent acknowledges nothing.
    const round = Number(message.context);
    if (message.context !== "" && Number.isSafeInteger(round)) {
      if (round > this.#readRound) return;
      progress.readAck = Math.max(progress.readAck, round);
      this.releaseReads();
    }
  }

  /** ReadIndex: queue until this term has a committed entry, then confirm by a heartbeat round. */
  read(requestId: string): void {
    if (this.committedInTerm()) this.#startReads([requestId]);
    else this.#readsAwaitingCommit.push(requestId);
  }

  #startReads(requestIds: readonly string[]): void {
    const { membership, id, log } = this.#host;
    const selfVotes = membership.voters.includes(id) ? 1 : 0;
    if (isQuorum(selfVotes, membership.voters.length)) {
      for (const requestId of requestIds) {
        this.#host.readState({ requestId, index: log.commit });
      }
      return;
    }
    this.#readRound++;
    for (const requestId of requestIds) {
      const read = { requestId, index: log.commit, round: this.#readRound };
      this.#pendingReads.push(read);
    }
    this.broadcastHeartbeat();
  }

  /** Release every read whose heartbeat round a quorum of voters acknowledged. */
  releaseReads(): void {
    const { membership, id } = this.#host;
    let released = 0;
    for (const [i, read] of this.#pendingReads.entries()) {
      let acks = 0;
      for (const voter of membership.voters) {
        const ack = this.progress.get(voter)?.readAck ?? 0;
        if (voter === id || ack >= read.round) acks++;
      }
      if (isQuorum(acks, membership.voters.length)) released = i + 1;
    }
    for (const read of this.#pendingReads.splice(0, released)) {
      this.#host.readState({ requestId: read.requestId, index: read.index });
    }
  }

  checkInvariants(): void {
    const lastIndex = this.#host.log.lastIndex();
    for (const [member, progress] of this.progress) {
      assert(
        progress.match <= lastIndex,
        `match of "${member}" is past the last index`,
      );
      assert(
        progress.next > progress.match,
        `next of "${member}" is not past its match`,
      );
    }
  }
}
