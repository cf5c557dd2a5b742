/**
 * One simulated member: a core, its disk and its key-value machine. Handling
 * a Ready is split in two phases so a crash can fall between them:
 * `persist()` issues the disk writes, `deliver()` waits for their fsync,
 * then sends, applies and advances. A crash in between keeps all of the
 * writes (the fsync had completed) or any subset of them (see `SimDisk`).
 *
 * A member whose disk recovery refuses (a corrupt WAL) stays down for the
 * rest of the run, its id retired: what an operator does before restoring
 * it from a replica or replacing it by a new member.
 */
import { RaftCore } from "../core.ts";
import type { SeededRng } from "../rng.ts";
import type {
  CoreConfig,
  Entry,
  MemberId,
  Message,
  ReadState,
  Ready,
  Snapshot,
} from "../types.ts";
import type { CrashOutcome, SimDisk } from "./disk.ts";
import { decodeCommand, KvMachine, type KvOutput } from "./kv.ts";

export interface Applied {
  readonly node: MemberId;
  readonly entry: Entry;
  /** The FSM's answer for a command entry. */
  readonly output: KvOutput | undefined;
}

export interface NodeSink {
  send(message: Message): void;
  applied(applied: Applied): void;
  readState(node: MemberId, read: ReadState): void;
  snapshotInstalled(node: MemberId, snapshot: Snapshot): void;
  /** Counts an event for `--stats`. */
  count(event: string): void;
}

export type CoreSettings = Omit<CoreConfig, "id" | "rng">;

export class SimNode {
  readonly id: MemberId;
  readonly disk: SimDisk;
  core: RaftCore | null = null;
  machine = new KvMachine();
  /** Why the disk refused to start (the member then stays down), or null. */
  refused: string | null = null;
  /** Bytes of the torn tail cut at the last start (0 when none). */
  lastTornBytes = 0;
  /** Whether the last start raised a term the hard state left behind. */
  lastTermRaised = false;
  #pending: Ready | null = null;
  /** Whether the pending Ready's committed entries were applied in phase one. */
  #appliedEarly = false;
  readonly #settings: CoreSettings;
  readonly #rng: SeededRng;

  /** Broken variant for checker tests: send before the fsync (a crash in between loses acknowledged writes). */
  readonly ackBeforeFsync: boolean;

  constructor(
    id: MemberId,
    disk: SimDisk,
    settings: CoreSettings,
    rng: SeededRng,
    options: { ackBeforeFsync?: boolean } = {},
  ) {
    this.ackBeforeFsync = options.ackBeforeFsync ?? false;
    this.id = id;
    this.disk = disk;
    this.#settings = settings;
    this.#rng = rng;
  }

  get up(): boolean {
    return this.core !== null;
  }

  /**
   * Boot from disk: the FSM restarts from the snapshot and re-applies the
   * log. Returns false when the disk refuses (the member stays down).
   */
  start(): boolean {
    if (this.refused !== null) return false;
    const recovery = this.disk.recover();
    if (!recovery.ok) {
      this.refused = recovery.message;
      return false;
    }
    this.lastTornBytes = recovery.tornBytes;
    this.lastTermRaised = recovery.termRaised;
    this.core = new RaftCore(
      { ...this.#settings, id: this.id, rng: this.#rng },
      {
        hardState: recovery.hardState,
        snapshot: recovery.snapshot,
        entries: recovery.entries,
      },
    );
    this.machine = KvMachine.deserialize(recovery.snapshot.data);
    this.#pending = null;
    return true;
  }

  /** kill -9 or power loss: what was not fsynced may be lost or torn, including a Ready half handled. */
  crash(rng: SeededRng): CrashOutcome {
    this.core = null;
    this.#pending = null;
    return this.disk.crash(rng);
  }

  canPersist(): boolean {
    return this.core !== null && this.#pending === null && this.core.hasReady();
  }

  canDeliver(): boolean {
    return this.#pending !== null;
  }

  /** A leader whose commit no append carried yet (`RaftNode` sends it shortly when idle). */
  canFlushCommit(): boolean {
    return this.core !== null && this.core.commitPending;
  }

  /**
   * Phase one, as `RaftNode` does it: issue the writes the Ready asks for,
   * send its early messages (a leader's appends go out while its own fsync
   * runs) and, unless it carries a snapshot, apply its committed entries
   * (durable on a quorum already; clients may hear back before our own
   * fsync). Broken: every message leaves at once.
   */
  persist(sink: NodeSink): void {
    const ready = this.core!.ready();
    for (const message of ready.earlyMessages) sink.send(message);
    if (this.ackBeforeFsync) {
      for (const message of ready.messages) sink.send(message);
    }
    this.disk.stage(ready.persist);
    this.#pending = ready;
    this.#appliedEarly = ready.persist.snapshot === undefined;
    if (this.#appliedEarly) this.#apply(ready, sink);
  }

  /** Phase two: the fsync completes; send, restore a snapshot and apply, advance. */
  deliver(sink: NodeSink): void {
    const ready = this.#pending!;
    this.#pending = null;
    this.disk.sync();
    if (!this.ackBeforeFsync) {
      for (const message of ready.messages) sink.send(message);
    }
    if (ready.persist.snapshot) {
      this.machine = KvMachine.deserialize(ready.persist.snapshot.data);
      sink.snapshotInstalled(this.id, ready.persist.snapshot);
    }
    if (!this.#appliedEarly) this.#apply(ready, sink);
    this.core!.advance();
  }

  /**
   * Between the phases, as `RaftNode` does when a message arrives or a client
   * proposes while the fsync runs: apply what was committed since the Ready
   * was built, and send a leader's appends and heartbeats queued since
   * (`takeEarlyMessages`: pipelined appends, a fsync before the next Ready).
   */
  betweenPhases(sink: NodeSink): void {
    for (const entry of this.core!.takeCommitted()) {
      this.#applyEntry(entry, sink);
    }
    for (const message of this.core!.takeEarlyMessages()) {
      sink.count(`${message.type}-sent-between-phases`);
      sink.send(message);
    }
  }

  #applyEntry(entry: Entry, sink: NodeSink): void {
    const output = entry.kind === "command"
      ? this.machine.apply(decodeCommand(entry.data))
      : undefined;
    sink.applied({ node: this.id, entry, output });
  }

  #apply(ready: Ready, sink: NodeSink): void {
    for (const entry of ready.committed) this.#applyEntry(entry, sink);
    for (const read of ready.readStates) sink.readState(this.id, read);
  }

  /** Write an FSM snapshot at the applied index and let the core compact. */
  snapshot(): void {
    const core = this.core!;
    if (
      this.#pending !== null || core.appliedIndex <= core.snapshot.meta.index
    ) return;
    const meta = core.snapshotMeta(core.appliedIndex);
    const snapshot: Snapshot = { meta, data: this.machine.serialize() };
    this.disk.writeSnapshot(snapshot);
    core.compact(snapshot);
  }
}
