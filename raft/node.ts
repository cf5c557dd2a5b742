/**
 * The I/O shell around the pure core: a timer ticks it, the transport feeds
 * it messages, and one loop drains `ready()` in the contract's order —
 * persist (fsync) first, then send, then restore/apply, then `advance()`.
 * It also takes FSM snapshots every `snapshotEveryEntries` applied entries
 * (compaction) and turns proposals and ReadIndex requests into promises.
 */
import { RaftCore } from "./core.ts";
import { SeededRng } from "./rng.ts";
import { DiskStorage, recoveryNotes } from "./storage/disk_storage.ts";
import type { WalOptions } from "./storage/wal.ts";
import {
  HttpTransport,
  type PeerContext,
  type TransportOptions,
  type TransportStats,
} from "./transport.ts";
import type {
  CoreConfig,
  Entry,
  MemberId,
  Membership,
  MembershipChange,
  Message,
  ProposeErrorCode,
  ProposeResult,
  Ready,
  Role,
  Snapshot,
} from "./types.ts";

/** What Raft drives: applied in log order, snapshotted and restored whole. */
export interface StateMachine {
  /** Applies a committed command; the result resolves the proposer's promise. */
  apply(entry: Entry): unknown;
  snapshot(): Uint8Array;
  /** Replaces the state with a snapshot's, which covers the log up to `index`. */
  restore(data: Uint8Array, index: number): void;
}

export type RaftErrorCode =
  | ProposeErrorCode
  /** Leadership changed before the entry applied: it may or may not commit. */
  | "raft.leadership_lost"
  | "raft.stopped";

export class RaftError extends Error {
  override name = "RaftError";
  constructor(
    readonly code: RaftErrorCode,
    message: string,
    readonly leader: MemberId | null = null,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Defaults for a LAN: elections after 500–1000 ms of silence, heartbeats every 100 ms. */
export const NODE_DEFAULTS = {
  tickMs: 100,
  electionTicks: 5,
  heartbeatTicks: 1,
  maxEntriesPerAppend: 1024,
  maxBytesPerAppend: 1024 * 1024,
  maxInflight: 256,
  maxUncommittedEntries: 65_536,
  maxPendingReads: 4096,
  snapshotEveryEntries: 10_000,
  /**
   * How long a leader with nothing else to send waits before it sends a
   * commit on its own: under load the next proposal's append carries it.
   */
  commitFlushDelayMs: 5,
} as const;

export interface RaftNodeOptions {
  readonly id: MemberId;
  readonly dataDir: string;
  /** Every member's base URL (our own is ignored). */
  readonly peers: ReadonlyMap<MemberId, string>;
  /** The membership of a brand-new cluster (ignored once the data directory has state). */
  readonly initialMembership: Membership;
  readonly stateMachine: StateMachine;
  /** Where to serve Raft traffic; omit it to mount `handle` on your own server. */
  readonly listen?: { readonly hostname: string; readonly port: number };
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  readonly snapshotEveryEntries?: number;
  /** Seed of the election-timeout jitter (default: random). */
  readonly seed?: number;
  readonly wal?: WalOptions;
  readonly transport?: Omit<TransportOptions, "id" | "peers">;
  /** Called once if the node stops on an error (a failed fsync, say); default: log it. */
  readonly onFatal?: (err: unknown) => void;
  /** Called after the role, leader or term changed (not for every Ready). Must not throw. */
  readonly onRoleChange?: () => void;
  /**
   * The node's log (e.g. a torn WAL tail cut at start-up, with file, offset
   * and bytes dropped). Must not throw; default: stderr.
   */
  readonly log?: (level: "info" | "warn" | "error", message: string) => void;
}

export interface NodeStatus {
  readonly id: MemberId;
  readonly role: Role;
  readonly leader: MemberId | null;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  readonly walSyncs: number;
  readonly transport: TransportStats;
}

interface PendingProposal {
  readonly term: number;
  resolve(value: { index: number; term: number; result: unknown }): void;
  reject(err: RaftError): void;
}

interface PendingRead {
  index: number | null;
  resolve(index: number): void;
  reject(err: RaftError): void;
}

/** One Raft member with its disk, network and clock. */
export class RaftNode {
  readonly #core: RaftCore;
  readonly #storage: DiskStorage;
  readonly #transport: HttpTransport;
  readonly #fsm: StateMachine;
  readonly #snapshotEveryEntries: number;
  readonly #onFatal: (err: unknown) => void;
  readonly #onRoleChange: () => void;
  readonly #proposals = new Map<number, PendingProposal>();
  readonly #reads = new Map<string, PendingRead>();
  #readSeq = 0;
  #applied: number;
  #snapshotIndex: number;
  #ticker: ReturnType<typeof setInterval> | undefined;
  #commitFlush: ReturnType<typeof setTimeout> | undefined;
  #looping = false;
  #earlySendQueued = false;
  #loopDone: Promise<void> = Promise.resolve();
  #stopped = false;
  #port: number | null = null;

  private constructor(
    options: RaftNodeOptions,
    core: RaftCore,
    storage: DiskStorage,
    applied: number,
  ) {
    this.#core = core;
    this.#storage = storage;
    this.#fsm = options.stateMachine;
    this.#applied = applied;
    this.#snapshotIndex = applied;
    this.#snapshotEveryEntries = options.snapshotEveryEntries ??
      NODE_DEFAULTS.snapshotEveryEntries;
    this.#onRoleChange = options.onRoleChange ?? (() => {});
    this.#onFatal = options.onFatal ??
      ((err) => console.error(`raft node "${options.id}" stopped:`, err));
    this.#transport = new HttpTransport(
      { ...options.transport, id: options.id, peers: options.peers },
      {
        view: () => ({
          term: this.#core.term,
          lastIndex: this.#core.lastIndex,
          members: this.#core.members(),
        }),
        deliver: (message) => this.#receive(message),
      },
    );
  }

  /** Opens the data directory, restores the FSM, starts ticking and serving. */
  static async start(options: RaftNodeOptions): Promise<RaftNode> {
    const { storage, state } = await DiskStorage.open(
      options.dataDir,
      options.wal ?? {},
    );
    const log = options.log ??
      ((level, message) =>
        console.error(`raft node "${options.id}" ${level}: ${message}`));
    for (const note of recoveryNotes(options.dataDir, state)) {
      log(note.level, note.message);
    }
    const snapshot: Snapshot = state.snapshot ??
      {
        meta: { index: 0, term: 0, membership: options.initialMembership },
        data: new Uint8Array(0),
      };
    if (state.snapshot !== null) {
      options.stateMachine.restore(
        state.snapshot.data,
        state.snapshot.meta.index,
      );
    }
    const config: CoreConfig = {
      id: options.id,
      electionTicks: options.electionTicks ?? NODE_DEFAULTS.electionTicks,
      heartbeatTicks: options.heartbeatTicks ?? NODE_DEFAULTS.heartbeatTicks,
      preVote: true,
      checkQuorum: true,
      maxEntriesPerAppend: NODE_DEFAULTS.maxEntriesPerAppend,
      maxBytesPerAppend: NODE_DEFAULTS.maxBytesPerAppend,
      maxInflight: NODE_DEFAULTS.maxInflight,
      maxUncommittedEntries: NODE_DEFAULTS.maxUncommittedEntries,
      maxPendingReads: NODE_DEFAULTS.maxPendingReads,
      rng: new SeededRng(
        options.seed ?? crypto.getRandomValues(new Uint32Array(1))[0]!,
      ),
    };
    const core = new RaftCore(config, {
      hardState: state.hardState,
      snapshot,
      entries: state.entries,
      applied: snapshot.meta.index,
    });
    const node = new RaftNode(options, core, storage, snapshot.meta.index);
    if (options.listen !== undefined) {
      node.#port = node.#transport.listen(options.listen).port;
    }
    const tickMs = options.tickMs ?? NODE_DEFAULTS.tickMs;
    node.#ticker = setInterval(() => {
      if (node.#stopped) return;
      node.#core.tick();
      node.#kick();
    }, tickMs);
    node.#kick();
    return node;
  }

  /** The port Raft traffic is served on, when `listen` was given. */
  get port(): number | null {
    return this.#port;
  }

  /** The membership in force here: the latest in the log, else the snapshot's. */
  get membership(): Membership {
    return this.#core.membership;
  }

  get status(): NodeStatus {
    return {
      id: this.#core.id,
      role: this.#core.role,
      leader: this.#core.leader,
      term: this.#core.term,
      commit: this.#core.commitIndex,
      applied: this.#applied,
      lastIndex: this.#core.lastIndex,
      snapshotIndex: this.#snapshotIndex,
      walSyncs: this.#storage.walSyncs,
      transport: { ...this.#transport.stats },
    };
  }

  /**
   * Serves Raft traffic from a server you own; null for other paths.
   * `sender` is the caller's node id as the peer port authenticated it:
   * every message must be from it, and it must be a member we know (see
   * the transport section of raft/README.md). Refusals are answered 400,
   * 403, 413 or 421 with `{ code, message }`, never thrown.
   */
  handle(request: Request, context: PeerContext): Promise<Response | null>;
  /**
   * @deprecated Pass `{ sender }`, the authenticated caller: without it the
   * batch's claimed `from` stands in, which only a server that authenticates
   * nobody (a test) may rely on.
   */
  handle(request: Request): Promise<Response | null>;
  handle(
    request: Request,
    context?: PeerContext,
  ): Promise<Response | null> {
    return this.#transport.handle(request, context ?? null);
  }

  /**
   * Proposes an FSM command. Resolves once it is committed and applied here
   * (with the FSM's result); rejects with `RaftError` if this node is not the
   * leader, is overloaded, or loses leadership first (outcome then unknown).
   */
  propose(
    data: Uint8Array,
  ): Promise<{ index: number; term: number; result: unknown }> {
    if (this.#stopped) {
      return Promise.reject(
        new RaftError("raft.stopped", "The raft node is stopped"),
      );
    }
    return this.#track(this.#core.propose(data), "Proposal");
  }

  #track(
    result: ProposeResult,
    what: string,
  ): Promise<{ index: number; term: number; result: unknown }> {
    if (!result.ok) {
      return Promise.reject(
        new RaftError(
          result.code,
          `${what} refused (${result.code})`,
          result.leader,
        ),
      );
    }
    const { index, term } = result;
    const done = new Promise<{ index: number; term: number; result: unknown }>(
      (resolve, reject) =>
        this.#proposals.set(index, { term, resolve, reject }),
    );
    if (this.#looping) this.#sendEarlySoon();
    this.#kick();
    return done;
  }

  /**
   * A linearizable read barrier (ReadIndex): resolves with an index once this
   * leader confirmed it still leads and applied at least that far; read the
   * FSM right after.
   */
  readBarrier(): Promise<number> {
    if (this.#stopped) {
      return Promise.reject(
        new RaftError("raft.stopped", "The raft node is stopped"),
      );
    }
    const requestId = `r${++this.#readSeq}`;
    const result = this.#core.readIndex(requestId);
    if (!result.ok) {
      return Promise.reject(
        new RaftError(
          result.code,
          `Read refused (${result.code})`,
          result.leader,
        ),
      );
    }
    const done = new Promise<number>((resolve, reject) => {
      this.#reads.set(requestId, { index: null, resolve, reject });
    });
    this.#kick();
    return done;
  }

  /**
   * Proposes a one-server-at-a-time membership change (add a learner,
   * promote it, remove a member). Resolves once the change is applied here;
   * give the new member's URL with `setPeer` first.
   */
  proposeMembership(
    change: MembershipChange,
  ): Promise<{ index: number; term: number; result: unknown }> {
    if (this.#stopped) {
      return Promise.reject(
        new RaftError("raft.stopped", "The raft node is stopped"),
      );
    }
    return this.#track(
      this.#core.proposeMembership(change),
      "Membership change",
    );
  }

  /** Asks the leader (this node) to hand leadership to `to`. */
  transferLeadership(to: MemberId): void {
    const result = this.#core.transferLeadership(to);
    if (!result.ok) {
      throw new RaftError(
        result.code,
        `Transfer refused (${result.code})`,
        result.leader,
      );
    }
    this.#kick();
  }

  /** The voters and learners this node knows (latest and committed configurations). */
  members(): ReadonlySet<MemberId> {
    return this.#core.members();
  }

  /** Re-addresses a peer (e.g. after a membership change). */
  setPeer(id: MemberId, url: string): void {
    this.#transport.setPeer(id, url);
  }

  #receive(message: Message): void {
    if (this.#stopped) return;
    try {
      this.#core.step(message);
    } catch (err) {
      // An admitted message broke an invariant of the core: a bug, after
      // which its state is unknown. Stop the node (onFatal) rather than let
      // the error escape into the HTTP server and Raft carry on.
      this.#fail(err);
      return;
    }
    // While a Ready's fsync runs, what this message committed is applied,
    // and the appends it caused are sent, at once (not after the fsync).
    if (this.#looping) {
      this.#applyCommittedNow();
      this.#sendEarlySoon();
    }
    this.#kick();
  }

  #applyCommittedNow(): void {
    const entries = this.#core.takeCommitted();
    if (entries.length === 0) return;
    try {
      for (const entry of entries) this.#applyEntry(entry);
      this.#releaseReads();
    } catch (err) {
      this.#fail(err);
    }
  }

  /** A leader's appends queued during a Ready's fsync leave at once, once per loop turn (raft/README.md). */
  #sendEarlySoon(): void {
    if (this.#earlySendQueued) return;
    this.#earlySendQueued = true;
    setTimeout(() => {
      this.#earlySendQueued = false;
      if (this.#stopped) return;
      this.#transport.send(this.#core.takeEarlyMessages());
    }, 0);
  }

  #kick(): void {
    if (this.#looping || this.#stopped) return;
    this.#looping = true;
    this.#loopDone = this.#loop();
  }

  async #loop(): Promise<void> {
    // Runs while there is work; steps arriving during an await are picked up
    // next round. `#looping` is cleared in the same microtask as the last
    // `hasReady()` check, so no step can slip in unseen.
    try {
      while (!this.#stopped && this.#core.hasReady()) {
        const ready = this.#core.ready();
        await this.#handleReady(ready);
        this.#core.advance();
        await this.#maybeSnapshot();
      }
      if (!this.#stopped && this.#core.commitPending) this.#flushCommitSoon();
    } catch (err) {
      this.#fail(err);
    } finally {
      this.#looping = false;
    }
  }

  #flushCommitSoon(): void {
    if (this.#commitFlush !== undefined) return;
    this.#commitFlush = setTimeout(() => {
      this.#commitFlush = undefined;
      if (this.#stopped) return;
      this.#core.flushCommit();
      this.#kick();
    }, NODE_DEFAULTS.commitFlushDelayMs);
  }

  async #handleReady(ready: Ready): Promise<void> {
    const { persist } = ready;
    const needsPersist = persist.entries.length > 0 ||
      persist.hardState !== undefined || persist.snapshot !== undefined;
    // The writes are issued first (their fsync is the longest wait), then a
    // leader's appends go out while the fsync runs: they promise nothing
    // about its own disk, and it counts itself toward commit only after.
    const persisting = needsPersist ? this.#storage.persist(persist) : null;
    try {
      this.#transport.send(ready.earlyMessages);
      if (persist.snapshot === undefined) {
        // Committed entries are already durable on a quorum, so they are
        // applied while our own fsync runs (as etcd does); only the
        // messages, which promise what we persist, wait for it.
        this.#applyReady(ready);
      }
    } finally {
      if (persisting !== null) await persisting;
    }
    if (this.#stopped) return;
    this.#transport.send(ready.messages);
    if (persist.snapshot !== undefined) {
      // The FSM is restored from the snapshot only once the file is durable.
      this.#installSnapshot(persist.snapshot);
      this.#applyReady(ready);
    }
  }

  #applyReady(ready: Ready): void {
    for (const entry of ready.committed) this.#applyEntry(entry);
    for (const readState of ready.readStates) {
      const read = this.#reads.get(readState.requestId);
      if (read !== undefined) read.index = readState.index;
    }
    this.#releaseReads();
    if (ready.softState !== undefined && ready.softState.role !== "leader") {
      this.#failPending("raft.leadership_lost", ready.softState.leader);
    }
    if (ready.softState !== undefined) this.#onRoleChange();
  }

  #installSnapshot(snapshot: Snapshot): void {
    this.#fsm.restore(snapshot.data, snapshot.meta.index);
    this.#applied = snapshot.meta.index;
    this.#snapshotIndex = snapshot.meta.index;
    // Our proposals at or below it were decided elsewhere; we cannot tell how.
    for (const [index, proposal] of this.#proposals) {
      if (index <= snapshot.meta.index) {
        this.#proposals.delete(index);
        proposal.reject(
          new RaftError(
            "raft.leadership_lost",
            "Replaced by a snapshot from the leader",
          ),
        );
      }
    }
  }

  #applyEntry(entry: Entry): void {
    if (entry.index <= this.#applied) return;
    const result = entry.kind === "command"
      ? this.#fsm.apply(entry)
      : undefined;
    this.#applied = entry.index;
    const proposal = this.#proposals.get(entry.index);
    if (proposal === undefined) return;
    this.#proposals.delete(entry.index);
    if (proposal.term === entry.term) {
      proposal.resolve({ index: entry.index, term: entry.term, result });
    } else {proposal.reject(
        new RaftError(
          "raft.leadership_lost",
          `Entry ${entry.index} was overwritten by a new leader`,
        ),
      );}
  }

  #releaseReads(): void {
    for (const [id, read] of this.#reads) {
      if (read.index !== null && read.index <= this.#applied) {
        this.#reads.delete(id);
        read.resolve(read.index);
      }
    }
  }

  #failPending(code: RaftErrorCode, leader: MemberId | null): void {
    const err = new RaftError(
      code,
      code === "raft.stopped" ? "The raft node stopped" : "Leadership was lost",
      leader,
    );
    for (const proposal of this.#proposals.values()) proposal.reject(err);
    this.#proposals.clear();
    for (const read of this.#reads.values()) read.reject(err);
    this.#reads.clear();
  }

  async #maybeSnapshot(): Promise<void> {
    if (this.#applied - this.#snapshotIndex < this.#snapshotEveryEntries) {
      return;
    }
    const index = this.#applied;
    const snapshot: Snapshot = {
      meta: this.#core.snapshotMeta(index),
      data: this.#fsm.snapshot(),
    };
    await this.#storage.saveSnapshot(snapshot);
    this.#core.compact(snapshot);
    this.#snapshotIndex = index;
  }

  #fail(err: unknown): void {
    if (this.#stopped) return;
    void this.stop();
    this.#onFatal(err);
  }

  /** Stops ticking, serving and sending; fails pending requests; closes the disk. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#ticker);
    clearTimeout(this.#commitFlush);
    this.#failPending("raft.stopped", null);
    await this.#loopDone;
    await this.#transport.close();
    await this.#storage.close();
  }
}
