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
  | "restart"
  | "partition"
  | "heal"
  | "membership"
  | "snapshot"
  | "transfer";

/** Members a run may add beyond its first voters (ids are never reused). */
export const ADDED_MEMBERS_MAX = 2;

function pick<T>(rng: SeededRng, items: readonly T[]): T {
  return items[rng.nextInt(items.length)]!;
}

export function pickProfile(rng: SeededRng): Profile {
  const electionTicks = pick(rng, [10, 10, 20]);
  return {
    voters: pick(rng, [3, 3, 5]),
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
      restart: 4,
      partition: pick(rng, [0, 2, 6]),
      heal: 3,
      membership: pick(rng, [0, 2, 4]),
      snapshot: pick(rng, [1, 4]),
      transfer: pick(rng, [0, 1, 3]),
    },
  };
}

export class Faults {
  readonly #sim: FaultedSimulation;
  readonly #rng: SeededRng;
  #added = 0;

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
    const down = sim.nodes.filter((node) => !node.up);
    switch (kind) {
      case "crash":
        if (up.length > 1) {
          // Half the crashes hit a node between its fsync and its sends: the
          // window where lost writes would hurt.
          const midReady = up.filter((node) => node.canDeliver());
          const node = midReady.length > 0 && this.#rng.chance(0.5)
            ? pick(this.#rng, midReady)
            : pick(this.#rng, up);
          node.crash();
          sim.count("crash");
          sim.log(`CRASH ${node.id}`);
        }
        return;
      case "restart":
        if (down.length > 0) {
          const node = pick(this.#rng, down);
          node.start();
          sim.count("restart");
          sim.log(
            `RESTART ${node.id} term ${node.core!.term} last ${
              node.core!.lastIndex
            } commit ${node.core!.commitIndex}`,
          );
        }
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

  #partition(): void {
    const sim = this.#sim;
    const ids = sim.nodes.map((node) => node.id);
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
      const id = pick(this.#rng, voters);
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
    for (const node of sim.nodes) {
      if (!node.up) node.start();
    }
    sim.log("HEAL all, restart all");
  }
}
