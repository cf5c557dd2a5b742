/**
 * One simulation run: a cluster of cores driven by one seed through a faulty
 * network, crashes, partitions, membership changes and compaction, with
 * safety checked after every step and the client history checked
 * linearizable at the end.
 */
import type { RaftCore } from "../core.ts";
import { SeededRng } from "../rng.ts";
import type { MemberId, Message, Snapshot } from "../types.ts";
import { SimClients } from "./clients.ts";
import { SimDisk } from "./disk.ts";
import {
  checkLinearizable,
  type HistoryOp,
  LINEARIZABILITY_STEPS_MAX,
} from "./linearizability.ts";
import { SimNetwork } from "./network.ts";
import { type Applied, type NodeSink, SimNode } from "./node.ts";
import { SafetyChecker, SafetyViolation } from "./safety.ts";
import { Faults, pickProfile, type Profile } from "./faults.ts";

/** Deliberately broken variants, to prove the checkers can fail. */
export interface Broken {
  /** Clients read any member's state without ReadIndex. */
  readonly staleReads?: boolean;
  /** Votes are never made durable. */
  readonly forgetVotes?: boolean;
  /** Messages leave before the fsync they depend on. */
  readonly ackBeforeFsync?: boolean;
  /** A corrupt WAL is cut at the bad record (as if torn) instead of refused. */
  readonly cutCorruption?: boolean;
}

export interface RunOptions {
  readonly steps: number;
  /** Deliberately broken variants, to prove the checkers can fail. */
  readonly broken?: Broken;
  /** Keep every trace line (debugging one seed), not only the last ones. */
  readonly fullTrace?: boolean;
  /** Search steps per key for the linearizability check (default `LINEARIZABILITY_STEPS_MAX`). */
  readonly linearizabilityStepsMax?: number;
}

export interface RunResult {
  readonly seed: number;
  readonly steps: number;
  readonly violation: {
    readonly code: string;
    readonly message: string;
    readonly trace: readonly string[];
  } | null;
  readonly completedOps: number;
  /** Events seen (elections, snapshots installed, membership committed…): coverage, not correctness. */
  readonly counts: Readonly<Record<string, number>>;
  /**
   * The history check's outcome: "unknown" when its search hit the step
   * bound (the seed then proves nothing about linearizability), "unchecked"
   * when a violation ended the run before it.
   */
  readonly linearizability: "ok" | "unknown" | "violation" | "unchecked";
}

/** Trace lines kept for a violation report. */
export const TRACE_LINES_MAX = 40;
/** Steps between full log-matching checks (cheaper checks run every step). */
const LOG_MATCHING_EVERY_STEPS = 64;
/** Messages in flight past which time only advances once the network is idle. */
const EARLY_TICK_BACKLOG_MAX = 48;
/**
 * The quiet phase at the end, in which the cluster must elect a leader and
 * commit, lasts at most this many election timeouts (liveness is about time,
 * so it is bounded in ticks; the step bound only guards against a stuck clock).
 */
const QUIESCE_ELECTION_TIMEOUTS_MAX = 30;
const QUIESCE_STEPS_MAX = 200_000;

export class Simulation implements NodeSink {
  readonly rng: SeededRng;
  readonly nodes: SimNode[] = [];
  readonly network: SimNetwork;
  readonly safety = new SafetyChecker();
  readonly clients: SimClients;
  readonly profile: Profile;
  readonly faults: Faults;
  readonly trace: string[] = [];
  step = 0;
  tick = 0;
  readonly #options: RunOptions;

  constructor(readonly seed: number, options: RunOptions) {
    this.#options = options;
    this.rng = new SeededRng(seed);
    this.profile = pickProfile(this.rng);
    this.network = new SimNetwork(
      new SeededRng(seed ^ 0x5bd1e995),
      this.profile.network,
    );
    this.clients = new SimClients(new SeededRng(seed ^ 0x27d4eb2f), {
      clients: 3,
      keys: 3,
      staleReads: options.broken?.staleReads ?? false,
    });
    const voters = Array.from(
      { length: this.profile.voters },
      (_, i) => `n${i + 1}`,
    );
    for (const id of voters) this.addNode(id, { voters, learners: [] }).start();
    this.faults = new Faults(this, new SeededRng(seed ^ 0x165667b1));
  }

  addNode(
    id: MemberId,
    membership: { voters: MemberId[]; learners: MemberId[] },
  ): SimNode {
    const snapshot: Snapshot = {
      meta: { index: 0, term: 0, membership },
      data: new Uint8Array(),
    };
    const disk = new SimDisk(snapshot, {
      forgetVotes: this.#options.broken?.forgetVotes ?? false,
      cutCorruption: this.#options.broken?.cutCorruption ?? false,
    });
    const node = new SimNode(
      id,
      disk,
      this.profile.core,
      new SeededRng(this.seed * 31 + this.nodes.length),
      { ackBeforeFsync: this.#options.broken?.ackBeforeFsync ?? false },
    );
    this.nodes.push(node);
    return node;
  }

  node(id: MemberId): SimNode | undefined {
    return this.nodes.find((node) => node.id === id);
  }

  /** How often each interesting event happened (coverage, not correctness). */
  readonly counts = new Map<string, number>();

  count(event: string): void {
    this.counts.set(event, (this.counts.get(event) ?? 0) + 1);
  }

  log(line: string): void {
    this.trace.push(`#${this.step} t${this.tick} ${line}`);
    if (this.trace.length > TRACE_LINES_MAX * 4 && !this.#options.fullTrace) {
      this.trace.splice(0, this.trace.length - TRACE_LINES_MAX);
    }
  }

  // NodeSink
  send(message: Message): void {
    this.network.send(message, this.tick);
  }
  applied(applied: Applied): void {
    if (this.safety.recordApplied(applied.node, applied.entry)) {
      this.count(`${applied.entry.kind}-committed`);
    }
    this.clients.onApplied(applied, this.step);
  }
  readState(node: MemberId, read: { requestId: string; index: number }): void {
    this.clients.onReadState(node, read);
  }
  snapshotInstalled(node: MemberId, snapshot: Snapshot): void {
    this.safety.recordSnapshot(snapshot.meta.index);
    this.count("snapshot-installed");
    this.log(
      `${node} installs snapshot ${snapshot.meta.index}@${snapshot.meta.term}`,
    );
  }

  /** One random action, then the per-step checks. */
  runStep(faultsOn: boolean): void {
    this.step++;
    // Messages and disk writes are fast next to a tick (LAN latency against a
    // 100 ms tick): time advances when nothing else can happen, plus now and
    // then early, to race timeouts against traffic. Early ticks stop while a
    // backlog builds, else time would outrun a network that never drains.
    const roll = this.rng.nextInt(100);
    if (roll < 3 && this.network.size < EARLY_TICK_BACKLOG_MAX) this.#tickAll();
    else if (roll < 13) {
      if (faultsOn || this.clients.busy) {
        this.log(this.clients.act(this.step, this.nodes, faultsOn));
      }
    } else if (roll < 16) {
      if (faultsOn) this.faults.maybeInject();
    } else {
      const canDeliver = this.network.hasDue(this.tick);
      const ready = this.nodes.filter((node) =>
        node.canPersist() || node.canDeliver() || node.canFlushCommit()
      );
      if (!canDeliver && ready.length === 0) this.#tickAll();
      else if (canDeliver && (ready.length === 0 || this.rng.chance(0.6))) {
        this.#deliverOne();
      } else this.#handleReady(ready, faultsOn);
    }
    this.clients.serveReads(this.step, this.nodes);
    const cores = this.liveCores();
    const elected = this.safety.checkLeaders(cores);
    if (elected > 0) this.count("leader-elected");
    if (this.step % LOG_MATCHING_EVERY_STEPS === 0) {
      this.safety.checkLogMatching(cores);
    }
  }

  liveCores(): RaftCore[] {
    // A plain loop: this runs every step, and flatMap's arrays showed up in profiles.
    const cores: RaftCore[] = [];
    for (const node of this.nodes) {
      if (node.core !== null) cores.push(node.core);
    }
    return cores;
  }

  #deliverOne(): void {
    const message = this.network.takeDue(this.tick);
    if (!message) return;
    const node = this.node(message.to);
    if (!node?.core) return;
    this.log(`${describe(message)}`);
    node.core.step(message);
  }

  #handleReady(ready: readonly SimNode[], faultsOn: boolean): void {
    const node = ready[this.rng.nextInt(ready.length)]!;
    if (node.canDeliver()) {
      // Now and then the fsync is still running: apply what committed since
      // and send a leader's appends queued since, as RaftNode does.
      if (this.rng.chance(0.25)) node.betweenPhases(this);
      else node.deliver(this);
    } else if (!node.canPersist()) node.core!.flushCommit();
    else {
      node.persist(this);
      if (faultsOn) this.faults.afterPersist(node);
    }
  }

  #tickAll(): void {
    this.tick++;
    for (const node of this.nodes) {
      // A node skips a tick now and then: clocks drift.
      if (node.core && !this.rng.chance(this.profile.clockSkipRate)) {
        node.core.tick();
      }
    }
    const leaders = this.liveCores().filter((core) => core.role === "leader")
      .map((core) => `${core.id}@${core.term}`);
    if (this.tick % 10 === 0) {
      this.log(`tick; leaders ${leaders.join(",") || "none"}`);
    }
  }

  /**
   * Heal everything and let the cluster settle: a leader must commit in its
   * term, then every member must apply up to that commit.
   */
  quiesce(): void {
    this.faults.healAll();
    const leader = this.#runUntil(() => this.#settledLeader());
    if (!leader) {
      throw new SafetyViolation(
        "liveness",
        `no leader committed in its term within ${QUIESCE_ELECTION_TIMEOUTS_MAX} election timeouts after all faults healed`,
      );
    }
    const target = leader.commitIndex;
    const members = [
      ...leader.membership.voters,
      ...leader.membership.learners,
    ];
    // A member refused for corruption stays down: it is not waited for.
    const behind = () =>
      this.nodes.filter((node) =>
        members.includes(node.id) && node.refused === null &&
        (node.core?.appliedIndex ?? 0) < target
      );
    if (!this.#runUntil(() => behind().length === 0 ? true : null)) {
      const names = behind().map((node) =>
        `${node.id}@${node.core?.appliedIndex}`
      );
      throw new SafetyViolation(
        "liveness",
        `members ${
          names.join(", ")
        } did not apply up to ${target} within ${QUIESCE_ELECTION_TIMEOUTS_MAX} election timeouts`,
      );
    }
  }

  /** Step without faults until `done` gives a value (checked every few steps), bounded in ticks. */
  #runUntil<T>(done: () => T | null): T | null {
    const tickEnd = this.tick +
      QUIESCE_ELECTION_TIMEOUTS_MAX * this.profile.core.electionTicks;
    for (let i = 0; i < QUIESCE_STEPS_MAX && this.tick < tickEnd; i++) {
      this.runStep(false);
      if (i % 50 === 0) {
        const value = done();
        if (value !== null) return value;
      }
    }
    return done();
  }

  #settledLeader(): RaftCore | null {
    // Writes proposed past the leader's log were lost with a crashed leader's
    // memory; they stay indeterminate, which the checker allows.
    const lowestOpen = this.clients.lowestOpenWrite();
    return this.liveCores().find((core) =>
      core.role === "leader" && core.termAt(core.commitIndex) === core.term &&
      (lowestOpen === null || lowestOpen > core.lastIndex)
    ) ?? null;
  }
}

/** Run one seed to the end; a violation is returned, never thrown. */
export function runSeed(seed: number, options: RunOptions): RunResult {
  const sim = new Simulation(seed, options);
  let linearizability: RunResult["linearizability"] = "unchecked";
  let violation: RunResult["violation"] = null;
  try {
    for (let i = 0; i < options.steps; i++) sim.runStep(true);
    sim.quiesce();
    sim.safety.checkLogMatching(sim.liveCores());
    const history = sim.clients.history();
    for (const op of history) {
      if (op.returnedAt !== null) sim.count(`${op.op.op}-answered`);
    }
    const result = checkLinearizable(
      history,
      options.linearizabilityStepsMax ?? LINEARIZABILITY_STEPS_MAX,
    );
    linearizability = result.outcome;
    if (result.outcome === "violation") {
      throw new SafetyViolation(
        "linearizability",
        describeHistory(result.key, result.ops),
      );
    }
  } catch (error) {
    if (!(error instanceof Error)) throw error;
    const code = error instanceof SafetyViolation
      ? error.code
      : `crash.${error.name}`;
    const trace = sim.trace.slice(-TRACE_LINES_MAX);
    violation = { code, message: error.message, trace };
  }
  return {
    seed,
    steps: sim.step,
    violation,
    completedOps: sim.clients.completed,
    linearizability,
    counts: Object.fromEntries(sim.counts),
  };
}

function describeHistory(key: string, ops: readonly HistoryOp[]): string {
  const lines = ops.map((op) =>
    `c${op.client} ${JSON.stringify(op.op)} [${op.invokedAt}, ${
      op.returnedAt ?? "?"
    }] -> ${JSON.stringify(op.output)}`
  );
  return `history of key "${key}" is not linearizable:\n  ${
    lines.slice(-30).join("\n  ")
  }`;
}

function describe(message: Message): string {
  const head = `${message.from}>${message.to} ${message.type}@${message.term}`;
  switch (message.type) {
    case "append":
      return `${head} prev ${message.prevLogIndex}@${message.prevLogTerm} n=${message.entries.length} commit ${message.commit}`;
    case "append-response":
      return `${head} ${
        message.success ? "ok" : "reject"
      } ${message.matchIndex} hint ${message.rejectHint}@${message.rejectTerm}`;
    case "vote":
    case "pre-vote":
      return `${head} last ${message.lastLogIndex}@${message.lastLogTerm}${
        message.transfer ? " transfer" : ""
      }`;
    case "vote-response":
    case "pre-vote-response":
      return `${head} ${message.granted ? "granted" : "rejected"}`;
    case "heartbeat":
      return `${head} commit ${message.commit} ctx ${message.context}`;
    case "snapshot":
      return `${head} ${message.snapshot.meta.index}@${message.snapshot.meta.term}`;
    default:
      return head;
  }
}
