/**
 * bench/scheduler's committed figures: deploys through a three-node Raft
 * (`_fsm_cluster.ts`), each timed on the leader from proposing its
 * `Deploy` until its placements are committed and applied; medians of
 * `rounds` deploys, each into empty nodes. A deploy cut by a leader change
 * (an election under load) is not a figure: it is counted, undone, and the
 * round run again (at most `rounds` times in all).
 */
import {
  type CommittedDeploy,
  FsmCluster,
  LeaderLost,
} from "./_fsm_cluster.ts";
import { clusterConfig, median, nodeRegister } from "./_scheduler_setup.ts";

const GIB = 1024 ** 3;

export interface CommittedScale {
  /** Median placements per second over the rounds. */
  readonly perSecond: number;
  /** Median ms per deploy. */
  readonly deployMs: number;
  /** Raft entries per deploy: its `Deploy` (with wave 1) and later waves'. */
  readonly entries: number;
  /** Placements committed in the `Deploy`'s own entry, per deploy. */
  readonly withDeploy: number;
  /** Median ms of the schedule (prepare), the Deploy's commit, later waves' commits. */
  readonly deployCommitMs: number;
  readonly scheduleMs: number;
  readonly placementsCommitMs: number;
  /** Deploys cut by a leader change, run again. */
  readonly leaderLost: number;
}

export interface CommittedFigures {
  readonly seed: CommittedScale;
  readonly wide: CommittedScale;
}

interface Scale {
  readonly label: string;
  readonly nodes: number;
  readonly size: { cpuMillis: number; memoryBytes: number };
  readonly services: number;
  readonly replicas: number;
}

const SEED: Scale = {
  label: "(d) committed, 20 nodes × 50 services × 3 replicas",
  nodes: 20,
  size: { cpuMillis: 16_000, memoryBytes: 64 * GIB },
  services: 50,
  replicas: 3,
};

const WIDE: Scale = {
  label: "(e) committed, 100 nodes × 1,000 services × 3 replicas",
  nodes: 100,
  size: { cpuMillis: 32_000, memoryBytes: 128 * GIB },
  services: 1000,
  replicas: 3,
};

async function benchScale(
  scale: Scale,
  rounds: number,
  log: (line: string) => void,
): Promise<CommittedScale> {
  const cluster = await FsmCluster.start();
  try {
    const nodes = Array.from(
      { length: scale.nodes },
      (_, i) => nodeRegister(i + 1, scale.size),
    );
    await cluster.commitAll(nodes);
    const runs: CommittedDeploy[] = [];
    let leaderLost = 0;
    // One warm-up deploy first (JIT, the members' first big entries).
    for (let round = 0; runs.length < rounds; round++) {
      const config = clusterConfig(
        scale.services,
        scale.replicas,
        `r${round}-svc`,
      );
      let result: CommittedDeploy;
      try {
        result = await cluster.deploy(`d${round}`, config);
      } catch (error) {
        if (!(error instanceof LeaderLost) || leaderLost >= rounds) throw error;
        leaderLost++;
        await cluster.reset();
        continue;
      }
      const expected = scale.services * scale.replicas;
      if (result.placements !== expected) {
        throw new Error(`placed ${result.placements} of ${expected}`);
      }
      await cluster.reset();
      if (round > 0) runs.push(result);
    }
    const syncs = await cluster.walSyncs();
    if (syncs.some((count) => count < rounds)) {
      throw new Error(`a member did not fsync its WAL: ${syncs.join(", ")}`);
    }
    const of = (pick: (run: CommittedDeploy) => number) =>
      median(runs.map(pick));
    const figures: CommittedScale = {
      perSecond: of((run) => (run.placements / run.elapsedMs) * 1000),
      deployMs: of((run) => run.elapsedMs),
      entries: runs[0]!.entries,
      withDeploy: runs[0]!.withDeploy,
      deployCommitMs: of((run) => run.deployCommitMs),
      scheduleMs: of((run) => run.scheduleMs),
      placementsCommitMs: of((run) => run.placementsCommitMs),
      leaderLost,
    };
    log(
      `${scale.label}: ${
        Math.round(figures.perSecond)
      } placements/s; per deploy ${figures.deployMs.toFixed(1)} ms (schedule ${
        figures.scheduleMs.toFixed(1)
      }, Deploy with ${figures.withDeploy} placements committed ${
        figures.deployCommitMs.toFixed(1)
      }, later waves ${
        figures.placementsCommitMs.toFixed(1)
      }; ${figures.entries} entries); ${leaderLost} deploys cut by a leader change, run again`,
    );
    return figures;
  } finally {
    await cluster.close();
  }
}

/** Both scales, each on a fresh three-node cluster. */
export async function benchCommitted(
  rounds: number,
  log: (line: string) => void,
): Promise<CommittedFigures> {
  // The seed's deploys take a few ms each: more of them, for a steady median.
  const seed = await benchScale(SEED, Math.max(rounds, 21), log);
  const wide = await benchScale(WIDE, rounds, log);
  return { seed, wide };
}
