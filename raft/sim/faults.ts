/**
 * Fault injection for a simulation run: each seed draws a profile (how
 * lossy, how crashy…), then faults fire at random steps.
 */
import type { SeededRng } from "../rng.ts";
import type { MemberId } from "../types.ts";
import type { NetworkFaults } from "./network.ts";
import type { CoreSettings } from "./node.ts";
import type { RaftCore } from "../core.ts";
import type { SimNetwork } from "./network.ts";
import type { SimNode } from "./node.ts";

/** What the faults act on: the simulation (run.ts), as far as they use it. */
export interface FaultedSimulation {
  readonly profile: Profile;
  readonly network: SimNetwork;
  readonly nodes: readonly SimNode[];
  liveCores(): RaftCore[];
  addNode(
    id: MemberId,
    membership: { voters: MemberId[]; learners: MemberId[] },
  ): SimNode;
  count(event: string): void;
  log(line: string): void;
}

export interface Profile {
  readonly voters: number;
  readonly core: CoreSettings;
  readonly network: NetworkFaults;
  readonly clockSkipRate: number;
  /** Relative weights of the fault kinds. */
  readonly weights: Readonly<Record<FaultKind, number>>;
}

type FaultKind =
  | "crash"
  | "corrupt"
  | "restart"
  | "partition"
  | "heal"
  | "membership"
  | "snapshot"
  | "transfer";

/**
 * Chance that a node which just issued hard state and entries together (a
 * new term learnt from an append) crashes before their fsyncs complete:
 * such Readies are rare, and this is where a crash keeps one write and not
 * the other.
 */
const SPLIT_CRASH_RATE = 0.25;

/** Members a run may add beyond its first voters (ids are never reused). */
export const ADDED_MEMBERS_MAX = 2;

function sameIds(a: readonly MemberId[], b: readonly MemberId[]): boolean {
  return a.length === b.length && a.every((id) => b.includes(id));
}

/**
 * A member whose disk went bad (refused, or corrupted and not started since):
 * the operator replaces it, so it is removed first and never promoted.
 */
function isLost(node: SimNode | undefined): boolean {
  return node !== undefined &&
    (node.refused !== null || (node.disk.corrupted && !node.up));
}

function pick<T>(rng: SeededRng, items: readonly T[]): T {
  return items[rng.nextInt(items.length)]!;
}

export function pickProfile(rng: SeededRng): Profile {
  const electionTicks = pick(rng, [10, 10, 20]);
  // One voter in six: it commits on its own fsync alone. It gets no
  // learners: they would trail a leader that commits alone without bound.
  const voters = pick(rng, [1, 3, 3, 3, 5, 5]);
  return {
    voters,
    // Safety must hold with every option off too; liveness is checked with them as drawn.
    core: {
      electionTicks,
      heartbeatTicks: pick(rng, [1, 2, 3]),
      preVote: pick(rng, [true, true, false]),
      checkQuorum: pick(rng, [true, true, false]),
      maxEntriesPerAppend: pick(rng, [1, 8, 64]),
      maxBytesPerAppend: pick(rng, [256, 4096]),
      maxInflight: pick(rng, [1, 4, 16]),
      maxUncommittedEntries: pick(rng, [16, 200]),
      maxPendingReads: 64,
    },
    network: {
      lossRate: pick(rng, [0, 0.01, 0.05, 0.2]),
      duplicateRate: pick(rng, [0, 0.02, 0.1]),
      delayTicksMax: pick(rng, [0, 1, 3]),
    },
    clockSkipRate: pick(rng, [0, 0.1]),
    weights: {
      crash: pick(rng, [0, 2, 6]),
      corrupt: pick(rng, [0, 1, 2]),
      restart: 4,
      partition: pick(rng, [0, 2, 6]),
      heal: 3,
      // Drawn either way, so that the draws after it stay in step.
      membership: pick(rng, [0, 2, 4]) * (voters === 1 ? 0 : 1),
      snapshot: pick(rng, [1, 4]),
      transfer: pick(rng, [0, 1, 3]),
    },
  };
}

export class Faults {
  readonly #sim: FaultedSimulation;
  readonly #rng: SeededRng;
  #added = 0;
  /** Corruption hits at most one member per run (its id is then retired). */
  #corrupted = false;

  constructor(sim: FaultedSimulation, rng: SeededRng) {
    this.#sim = sim;
    this.#rng = rng;
  }

  maybeInject(): void {
    const weights = Object.entries(this.#sim.profile.weights) as [
      FaultKind,
      number,
    ][];
    const total = weights.reduce((sum, [, weight]) => sum + weight, 0);
    let roll = this.#rng.nextInt(total);
    for (const [kind, weight] of weights) {
      if (roll < weight) return this.#inject(kind);
      roll -= weight;
    }
  }

  #inject(kind: FaultKind): void {
    const sim = this.#sim;
    const up = sim.nodes.filter((node) => node.up);
    const down = sim.nodes.filter((node) => !node.up && node.refused === null);
    switch (kind) {
      case "crash":
        // One member stays up, except a lone voter: its crash is the point.
        if (up.length > 1 || (up.length === 1 && sim.nodes.length === 1)) {
          // Half the crashes hit a node between issuing its writes and its
          // sends: the window where lost or torn writes would hurt; half of
          // those, when there is one, a node writing hard state and entries
          // at once, which a crash can split.
          const midReady = up.filter((node) => node.canDeliver());
          const split = midReady.filter((node) =>
            node.disk.inFlight?.hardState === true &&
            node.disk.inFlight.entries
          );
          const node = midReady.length > 0 && this.#rng.chance(0.5)
            ? pick(
              this.#rng,
              split.length > 0 && this.#rng.chance(0.5) ? split : midReady,
            )
            : pick(this.#rng, up);
          this.#crash(node);
        }
        return;
      case "corrupt":
        return this.#corrupt();
      case "restart":
        if (down.length > 0) this.restart(pick(this.#rng, down));
        return;
      case "partition":
        return this.#partition();
      case "heal":
        sim.network.heal();
        sim.log("HEAL network");
        return;
      case "membership":
        return this.#changeMembership();
      case "snapshot": {
        const candidates = up.filter((node) =>
          node.core!.appliedIndex - node.core!.snapshot.meta.index >= 4
        );
        if (candidates.length > 0) {
          const node = pick(this.#rng, candidates);
          node.snapshot();
          sim.count("snapshot-taken");
          sim.log(`SNAPSHOT ${node.id} at ${node.core!.snapshot.meta.index}`);
        }
        return;
      }
      case "transfer": {
        const leader = this.#leader();
        if (!leader) return;
        const others = leader.membership.voters.filter((id) =>
          id !== leader.id
        );
        if (others.length === 0) return;
        const to = pick(this.#rng, others);
        const result = leader.transferLeadership(to);
        if (result.ok) sim.count("transfer-started");
        sim.log(
          `TRANSFER ${leader.id} -> ${to}: ${
            result.ok ? "started" : result.code
          }`,
        );
        return;
      }
    }
  }

  /** Called once a node issued a Ready's writes (faults on): maybe crash it mid-persist. */
  afterPersist(node: SimNode): void {
    const sim = this.#sim;
    const inFlight = node.disk.inFlight;
    if (
      sim.profile.weights.crash === 0 || inFlight === null ||
      !inFlight.hardState || !inFlight.entries ||
      (sim.nodes.length > 1 &&
        sim.nodes.filter((other) => other.up).length < 2) ||
      !this.#rng.chance(SPLIT_CRASH_RATE)
    ) return;
    this.#crash(node);
  }

  #crash(node: SimNode): void {
    const sim = this.#sim;
    const outcome = node.crash(this.#rng);
    sim.count("crash");
    if (outcome.kind === "synced") sim.count("crash-after-fsync");
    if (outcome.kind === "torn") sim.count("crash-torn");
    if (outcome.walBytesLost > 0 && outcome.walBytesKept > 0) {
      sim.count("crash-wal-cut-mid-write");
    }
    if (outcome.hardStateKept && outcome.walBytesLost > 0) {
      sim.count("crash-hard-state-without-wal");
    }
    sim.log(
      `CRASH ${node.id} ${outcome.kind}${
        outcome.kind === "torn"
          ? ` (hard state ${
            outcome.hardStateKept ? "kept" : "lost"
          }, WAL ${outcome.walBytesKept} bytes kept, ${outcome.walBytesLost} lost)`
          : ""
      }`,
    );
  }

  /** Starts a member from its disk; a corrupt disk refuses and the member stays down. */
  restart(node: SimNode): void {
    const sim = this.#sim;
    if (!node.start()) {
      sim.count("restart-refused");
      sim.log(`REFUSED ${node.id}: ${node.refused}`);
      return;
    }
    sim.count("restart");
    if (node.lastTornBytes > 0) sim.count("torn-tail-cut");
    if (node.lastTermRaised) sim.count("term-raised");
    sim.log(
      `RESTART ${node.id} term ${node.core!.term} last ${
        node.core!.lastIndex
      } commit ${node.core!.commitIndex}${
        node.lastTornBytes > 0 ? ` (cut ${node.lastTornBytes} torn bytes)` : ""
      }`,
    );
  }

  /**
   * A bit flips in one member's fsynced WAL bytes, then it crashes, so that
   * its next start reads the bad bit. Only where the cluster can lose that
   * member for good: every member up, all of them on one committed
   * configuration of at least three voters (a change in flight could leave
   * the lost member needed for a quorum).
   */
  #corrupt(): void {
    const sim = this.#sim;
    if (this.#corrupted || sim.nodes.some((node) => !node.up)) return;
    const cores = sim.liveCores();
    const voters = cores[0]?.membership.voters ?? [];
    const stable = voters.length >= 3 &&
      cores.every((core) =>
        sameIds(core.membership.voters, voters) &&
        core.members().size ===
          core.membership.voters.length + core.membership.learners.length
      );
    if (!stable) return;
    const node = pick(this.#rng, sim.nodes);
    // Flipped before the crash: the bit sits in a record already fsynced
    // (acknowledged), not in the tail the crash may tear.
    const flip = node.disk.flipBit(this.#rng);
    this.#crash(node);
    this.#corrupted = true;
    sim.count("wal-corrupted");
    sim.log(
      `CORRUPT ${node.id}: bit ${flip.bit} of byte ${flip.offset} of ${flip.segment}`,
    );
  }

  #partition(): void {
    const sim = this.#sim;
    const ids = sim.nodes.map((node) => node.id);
    // A lone voter (until it adds a learner) has no link to cut.
    if (ids.length < 2) return;
    const shape = this.#rng.nextInt(3);
    if (shape === 0) {
      const side = ids.filter(() => this.#rng.chance(0.5));
      sim.network.partition(side, ids);
    } else if (shape === 1) {
      sim.network.partition([pick(this.#rng, ids)], ids);
    } else {
      const from = pick(this.#rng, ids);
      const to = pick(this.#rng, ids.filter((id) => id !== from));
      sim.network.block(from, to);
    }
    sim.count("partition");
    sim.log(`PARTITION blocked ${sim.network.describeBlocked()}`);
  }

  #leader() {
    return this.#sim.liveCores().find((core) => core.role === "leader") ?? null;
  }

  #changeMembership(): void {
    const sim = this.#sim;
    const leader = this.#leader();
    if (!leader) return;
    const { voters, learners } = leader.membership;
    const roll = this.#rng.nextInt(3);
    if (roll === 0 && this.#added < ADDED_MEMBERS_MAX) {
      const id: MemberId = `n${sim.profile.voters + this.#added + 1}`;
      const result = leader.proposeMembership({ type: "add-learner", id });
      if (result.ok) {
        this.#added++;
        sim.count("add-learner-proposed");
        sim.addNode(id, { voters: [], learners: [] }).start();
      }
      sim.log(
        `ADD-LEARNER ${id} via ${leader.id}: ${
          result.ok ? result.index : result.code
        }`,
      );
    } else if (roll === 1 && learners.length > 0) {
      const id = pick(this.#rng, learners);
      if (isLost(sim.nodes.find((node) => node.id === id))) return;
      const caughtUp =
        (leader.progressOf(id)?.match ?? 0) >= leader.commitIndex;
      if (!caughtUp) return;
      const result = leader.proposeMembership({ type: "promote", id });
      if (result.ok) sim.count("promote-proposed");
      sim.log(
        `PROMOTE ${id} via ${leader.id}: ${
          result.ok ? result.index : result.code
        }`,
      );
    } else if (roll === 2 && voters.length > 2) {
      // A member whose disk went bad is removed first (the operator
      // replaces it); no healthy voter goes while it still counts.
      const lost = voters.filter((id) =>
        isLost(sim.nodes.find((node) => node.id === id))
      );
      const id = lost[0] ?? pick(this.#rng, voters);
      const result = leader.proposeMembership({ type: "remove", id });
      if (result.ok) sim.count("remove-proposed");
      sim.log(
        `REMOVE ${id} via ${leader.id}: ${
          result.ok ? result.index : result.code
        }`,
      );
    }
  }

  /** End of the run: no more faults, every member back up. */
  healAll(): void {
    const sim = this.#sim;
    sim.network.heal();
    sim.network.faults = {
      lossRate: 0,
      duplicateRate: 0,
      delayTicksMax: sim.network.faults.delayTicksMax,
    };
    sim.log("HEAL all, restart all");
    for (const node of sim.nodes) {
      if (!node.up && node.refused === null) this.restart(node);
    }
  }
}
