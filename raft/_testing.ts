/**
 * A tiny synchronous cluster for unit tests of the core: every Ready is
 * handled at once (persist into memory, queue messages, apply), and messages
 * are delivered in FIFO order unless a filter drops them.
 */
import { RaftCore } from "./core.ts";
import { SeededRng } from "./rng.ts";
import type {
  CoreConfig,
  Entry,
  MemberId,
  Message,
  ReadState,
  RestoredState,
} from "./types.ts";

export const TEST_CONFIG = {
  electionTicks: 10,
  heartbeatTicks: 1,
  preVote: true,
  checkQuorum: true,
  maxEntriesPerAppend: 64,
  maxBytesPerAppend: 1 << 20,
  maxInflight: 8,
  maxUncommittedEntries: 10_000,
  maxPendingReads: 1_000,
} as const;

export function fresh(
  voters: readonly MemberId[],
  learners: readonly MemberId[] = [],
): RestoredState {
  return {
    hardState: { term: 0, vote: null, commit: 0 },
    snapshot: {
      meta: { index: 0, term: 0, membership: { voters, learners } },
      data: new Uint8Array(),
    },
    entries: [],
  };
}

export function makeCore(
  id: MemberId,
  restored: RestoredState,
  overrides: Partial<Omit<CoreConfig, "id">> = {},
  seed = 1,
): RaftCore {
  return new RaftCore({
    ...TEST_CONFIG,
    rng: new SeededRng(seed),
    ...overrides,
    id,
  }, restored);
}

export type Filter = (message: Message) => boolean;

export class TestCluster {
  readonly nodes = new Map<MemberId, RaftCore>();
  readonly applied = new Map<MemberId, Entry[]>();
  readonly reads = new Map<MemberId, ReadState[]>();
  queue: Message[] = [];
  /** Return false to drop a message. */
  filter: Filter = () => true;
  readonly sent: Message[] = [];

  constructor(
    ids: readonly MemberId[],
    overrides: Partial<Omit<CoreConfig, "id">> = {},
    learners: readonly MemberId[] = [],
  ) {
    for (const [i, id] of ids.entries()) {
      this.add(makeCore(id, fresh(ids, learners), overrides, i + 1));
    }
    for (const id of learners) {
      this.add(makeCore(id, fresh(ids, learners), overrides, 100));
    }
  }

  add(core: RaftCore): void {
    this.nodes.set(core.id, core);
    this.applied.set(core.id, []);
    this.reads.set(core.id, []);
  }

  node(id: MemberId): RaftCore {
    const core = this.nodes.get(id);
    if (!core) throw new Error(`no node "${id}"`);
    return core;
  }

  /**
   * Handle every Ready, then deliver queued messages, until quiet (bounded).
   * Once nothing else moves, a leader's pending commit is flushed, as the
   * node does when idle.
   */
  settle(roundsMax = 1000): void {
    for (let round = 0; round < roundsMax; round++) {
      this.drainReady();
      if (this.queue.length === 0) {
        for (const core of this.nodes.values()) core.flushCommit();
        this.drainReady();
      }
      if (this.queue.length === 0) return;
      const batch = this.queue;
      this.queue = [];
      for (const message of batch) {
        if (!this.filter(message)) continue;
        this.nodes.get(message.to)?.step(message);
      }
    }
    throw new Error("cluster did not settle");
  }

  drainReady(): void {
    for (const [id, core] of this.nodes) {
      while (core.hasReady()) {
        const ready = core.ready();
        this.queue.push(...ready.earlyMessages, ...ready.messages);
        this.sent.push(...ready.earlyMessages, ...ready.messages);
        this.applied.get(id)!.push(...ready.committed);
        this.reads.get(id)!.push(...ready.readStates);
        core.advance();
      }
    }
  }

  tick(id: MemberId, times = 1): void {
    for (let i = 0; i < times; i++) this.node(id).tick();
  }

  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const core of this.nodes.values()) core.tick();
      this.settle();
    }
  }

  /** Make `id` campaign now by ticking it past any election timeout. */
  elect(id: MemberId): void {
    const core = this.node(id);
    for (let i = 0; i < 100 && core.role !== "leader"; i++) {
      core.tick();
      this.settle();
    }
    if (core.role !== "leader") {
      throw new Error(`"${id}" did not become leader`);
    }
  }

  leaders(): RaftCore[] {
    return [...this.nodes.values()].filter((core) => core.role === "leader");
  }

  commands(id: MemberId): string[] {
    return this.applied.get(id)!.filter((entry) => entry.kind === "command")
      .map((entry) => text(entry.data));
  }
}

export function bytes(value: string): Uint8Array {
  return new TextEncoder().encode(value);
}

export function text(data: Uint8Array): string {
  return new TextDecoder().decode(data);
}
