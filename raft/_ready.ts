/**
 * Assembles `Ready`s and remembers what the last one handed out, so that
 * `advance()` can mark it durable and applied.
 */
import { assert } from "./_assert.ts";
import type { RaftLog } from "./_log.ts";
import type {
  Entry,
  HardState,
  Message,
  ReadState,
  Ready,
  SoftState,
} from "./types.ts";

/** Committed entries handed out per Ready, in bytes (at least one entry always goes). */
export const COMMITTED_BYTES_MAX_PER_READY = 32 * 1024 * 1024;

type Outstanding = {
  readonly stableIndex: number;
  readonly stableTerm: number;
  readonly snapshotIndex: number | null;
  appliedTo: number;
  readonly hardState: HardState;
};

/** What the core has queued for the shell besides its log. */
export interface Pending {
  readonly hardState: HardState;
  readonly softState: SoftState;
  readonly messages: Message[];
  readonly readStates: ReadState[];
}

export class ReadyTracker {
  #previousHardState: HardState;
  #previousSoftState: SoftState;
  #outstanding: Outstanding | null = null;

  constructor(hardState: HardState, softState: SoftState) {
    this.#previousHardState = hardState;
    this.#previousSoftState = softState;
  }

  get outstanding(): boolean {
    return this.#outstanding !== null;
  }

  has(log: RaftLog, pending: Pending): boolean {
    if (this.#outstanding) return false;
    return pending.messages.length > 0 || pending.readStates.length > 0 ||
      log.hasUnstable() || log.unstableSnapshot() !== null ||
      log.applied < log.commit ||
      !sameHardState(pending.hardState, this.#previousHardState) ||
      !sameSoftState(pending.softState, this.#previousSoftState);
  }

  build(log: RaftLog, pending: Pending): Ready {
    assert(
      this.#outstanding === null,
      "ready() called twice without advance()",
    );
    const { hardState, softState } = pending;
    const entries = log.unstableEntries();
    const snapshot = log.unstableSnapshot();
    const committed = log.nextCommitted(COMMITTED_BYTES_MAX_PER_READY);
    const last = entries.at(-1);
    this.#outstanding = {
      stableIndex: last?.index ?? 0,
      stableTerm: last?.term ?? 0,
      snapshotIndex: snapshot?.meta.index ?? null,
      appliedTo: committed.at(-1)?.index ?? log.applied,
      hardState,
    };
    const hardChanged = !sameHardState(hardState, this.#previousHardState);
    const softChanged = !sameSoftState(softState, this.#previousSoftState);
    this.#previousSoftState = softState;
    const { early, late } = splitMessages(
      pending.messages,
      hardState.term === this.#previousHardState.term &&
        hardState.vote === this.#previousHardState.vote,
    );
    return {
      persist: {
        entries,
        ...(hardChanged ? { hardState } : {}),
        ...(snapshot ? { snapshot } : {}),
      },
      earlyMessages: early,
      messages: dropSupersededAcks(late),
      committed,
      readStates: pending.readStates,
      ...(softChanged ? { softState } : {}),
    };
  }

  /**
   * While a Ready is out (its fsync running), the entries committed since it
   * was built, which the shell applies at once: they are durable on a quorum
   * already, and waiting for this fsync and the next Ready only adds latency.
   * None while a received snapshot waits to be installed (the FSM is
   * restored from it first).
   */
  takeCommitted(log: RaftLog): Entry[] {
    const out = this.#outstanding;
    if (out === null || out.snapshotIndex !== null) return [];
    // A snapshot received since: the FSM is restored from it first.
    if (log.unstableSnapshot() !== null) return [];
    if (out.appliedTo < log.snapshotIndex()) return [];
    // Only what will be durable here once this Ready is: a snapshot of the
    // FSM must never cover entries our own disk lacks (a follower may have
    // taken newer entries, and a commit covering them, since).
    const high = Math.min(
      log.commit,
      Math.max(log.stableIndex(), out.stableIndex),
    );
    if (out.appliedTo >= high) return [];
    const entries = log.slice(
      out.appliedTo + 1,
      high,
      Number.MAX_SAFE_INTEGER,
      COMMITTED_BYTES_MAX_PER_READY,
    );
    out.appliedTo = entries.at(-1)?.index ?? out.appliedTo;
    return entries;
  }

  /**
   * While a Ready is out (its fsync running), the messages queued since that
   * may leave at once: a leader's appends and heartbeats for entries
   * proposed or answers received meanwhile, as `earlyMessages` would carry
   * them in the next Ready (they promise nothing about our disk), but a
   * fsync sooner. Only while the term and vote they are sent under are
   * durable already; the rest stays for the next Ready (`keep`).
   */
  takeEarly(pending: Pending, keep: (rest: Message[]) => void): Message[] {
    if (this.#outstanding === null || pending.messages.length === 0) return [];
    const { early, late } = splitMessages(
      pending.messages,
      pending.hardState.term === this.#previousHardState.term &&
        pending.hardState.vote === this.#previousHardState.vote,
    );
    keep(late);
    return early;
  }

  /** The last Ready was persisted, sent and applied. */
  advance(log: RaftLog): void {
    const done = this.#outstanding;
    assert(done !== null, "advance() without ready()");
    if (done.stableIndex > 0) log.stableTo(done.stableIndex, done.stableTerm);
    if (done.snapshotIndex !== null) log.stableSnapshotTo(done.snapshotIndex);
    log.applied = Math.max(log.applied, Math.min(done.appliedTo, log.commit));
    this.#previousHardState = done.hardState;
    this.#outstanding = null;
  }
}

/**
 * A leader's appends, heartbeats, snapshots and TimeoutNow promise nothing
 * about its own disk (it counts itself toward commit only once its entries
 * are durable), so they may leave while the fsync runs — as long as the
 * term and vote they are sent under are already durable (a single voter
 * wins its election in the very Ready that raises its term). Votes and
 * answers promise what the Ready persists: they wait for it.
 */
function splitMessages(
  messages: Message[],
  termDurable: boolean,
): { early: Message[]; late: Message[] } {
  if (!termDurable) return { early: [], late: messages };
  let early: Message[] | null = null;
  let late: Message[] | null = null;
  for (const message of messages) {
    if (LEADER_MESSAGE_TYPES.has(message.type)) (early ??= []).push(message);
    else (late ??= []).push(message);
  }
  return { early: early ?? [], late: late ?? [] };
}

/**
 * A follower answers every append, and under load (appends pipelined while
 * its fsync runs) one Ready holds several answers to its leader: a success
 * answer covers every earlier one of the same term with a match no higher,
 * so those are left out (as if the network had lost them, which Raft
 * tolerates). Rejections and everything else stay, in order.
 */
function dropSupersededAcks(messages: Message[]): Message[] {
  if (messages.length < 2) return messages;
  const highest = new Map<string, number>();
  for (const m of messages) {
    if (m.type !== "append-response" || !m.success) continue;
    const key = `${m.to}\n${m.term}`;
    highest.set(key, Math.max(highest.get(key) ?? 0, m.matchIndex));
  }
  if (highest.size === 0) return messages;
  const kept: Message[] = [];
  const sent = new Set<string>();
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.type === "append-response" && m.success) {
      const key = `${m.to}\n${m.term}`;
      // Keep the last answer that carries the highest match; drop the rest.
      if (sent.has(key) || m.matchIndex < highest.get(key)!) continue;
      sent.add(key);
    }
    kept.push(m);
  }
  return kept.length === messages.length ? messages : kept.reverse();
}

const LEADER_MESSAGE_TYPES: ReadonlySet<Message["type"]> = new Set([
  "append",
  "heartbeat",
  "snapshot",
  "timeout-now",
]);

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.role === b.role && a.leader === b.leader && a.term === b.term;
}
