/**
 * One simulated member: a core, its disk and its key-value machine. Handling
 * a Ready is split in two phases so a crash can fall between the fsync and
 * the sends: `persist()` writes the disk, `deliver()` sends, applies and
 * advances.
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
import { SimDisk } from "./disk.ts";
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
}

export type CoreSettings = Omit<CoreConfig, "id" | "rng">;

export class SimNode {
  readonly id: MemberId;
  readonly disk: SimDisk;
  core: RaftCore | null = null;
  machine = new KvMachine();
  #pending: Ready | null = null;
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

  /** Boot from disk: the FSM restarts from the snapshot and re-applies the log. */
  start(): void {
    this.core = new RaftCore(
      { ...this.#settings, id: this.id, rng: this.#rng },
      this.disk.restored(),
    );
    this.machine = KvMachine.deserialize(this.disk.snapshot.data);
    this.#pending = null;
  }

  /** kill -9: everything not persisted is gone, including a Ready half handled. */
  crash(): void {
    this.core = null;
    this.#pending = null;
  }

  canPersist(): boolean {
    return this.core !== null && this.#pending === null && this.core.hasReady();
  }

  canDeliver(): boolean {
    return this.#pending !== null;
  }

  /** Phase one: fsync what the Ready asks (or, broken, send first). */
  persist(sink: NodeSink): void {
    const ready = this.core!.ready();
    if (this.ackBeforeFsync) {
      for (const message of ready.messages) sink.send(message);
    } else {
      this.disk.write(ready.persist);
    }
    this.#pending = ready;
  }

  /** Phase two: send, apply, advance (or, broken, fsync late). */
  deliver(sink: NodeSink): void {
    const ready = this.#pending!;
    this.#pending = null;
    if (this.ackBeforeFsync) this.disk.write(ready.persist);
    else for (const message of ready.messages) sink.send(message);
    if (ready.persist.snapshot) {
      this.machine = KvMachine.deserialize(ready.persist.snapshot.data);
      sink.snapshotInstalled(this.id, ready.persist.snapshot);
    }
    for (const entry of ready.committed) {
      const output = entry.kind === "command"
        ? this.machine.apply(decodeCommand(entry.data))
        : undefined;
      sink.applied({ node: this.id, entry, output });
    }
    for (const read of ready.readStates) sink.readState(this.id, read);
    this.core!.advance();
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
