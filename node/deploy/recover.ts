/**
 * What a new leader does about work the old one left in flight. Pure: from
 * the FSM state alone (the old leader's memory is gone).
 *
 * - A deploy still `running` is finished when it had reached its commit
 *   point (every new alloc healthy, every added or replaced service at full
 *   strength): the old allocs it replaces are stopped and it succeeds.
 *   Otherwise it is rolled back: its live allocs are stopped, the config
 *   before it restored, and a repair gives the old services back the
 *   replicas a roll had already stopped. Either way nothing stays
 *   `pulling` or `starting`.
 * - An alloc whose stop the old leader had begun (`stopRequested`) is
 *   stopped for good.
 * - Allocs of no running deploy stuck in `pulling` or `starting` (a repair
 *   or a spawn the old leader drove) are failed; a repair plan replaces the
 *   services among them.
 */
import type { ClusterConfig } from "../../config/types.ts";
import {
  type Alloc,
  type ClusterState,
  diffConfig,
  EMPTY_CONFIG,
  isTerminal,
  needsReplacement,
  runningDeploy,
} from "../../raft/fsm/mod.ts";

export interface RecoveryStop {
  readonly allocId: string;
  readonly finalStatus: "stopped" | "failed";
  readonly reason: string;
}

export interface RecoveryPlan {
  /** The deploy to finish, and how; null when none is running. */
  readonly deploy: {
    readonly deployId: string;
    readonly outcome: "succeeded" | "rolled_back";
    readonly message: string;
  } | null;
  /** Allocs to stop, in order, before the deploy is finished. */
  readonly stops: readonly RecoveryStop[];
  /** Whether services lost allocs here and need a repair plan afterwards. */
  readonly repair: boolean;
}

/** The recovery a new leader runs, from its state. */
export function planRecovery(state: ClusterState): RecoveryPlan {
  const record = runningDeploy(state);
  const stops: RecoveryStop[] = [];
  let deploy: RecoveryPlan["deploy"] = null;
  const inDeploy = new Set<string>();
  if (record !== null) {
    const mine = [...state.allocs.values()].filter((a) =>
      a.deployId === record.id
    );
    for (const alloc of mine) inDeploy.add(alloc.id);
    const previous = record.previousConfig ?? EMPTY_CONFIG;
    if (reachedCommitPoint(state.config, previous, mine)) {
      deploy = {
        deployId: record.id,
        outcome: "succeeded",
        message: "finished by a new leader",
      };
      for (const alloc of replacedAllocs(state, previous, record.id)) {
        stops.push({
          allocId: alloc.id,
          finalStatus: "stopped",
          reason: `replaced by deploy ${record.id}`,
        });
      }
    } else {
      deploy = {
        deployId: record.id,
        outcome: "rolled_back",
        message: "rolled back by a new leader: the deploy was cut short",
      };
      for (const alloc of mine) {
        if (isTerminal(alloc.status)) continue;
        stops.push({
          allocId: alloc.id,
          finalStatus: "stopped",
          reason: "rolled back by a new leader",
        });
      }
    }
  }
  let repair = deploy?.outcome === "rolled_back";
  const stopping = new Set(stops.map((stop) => stop.allocId));
  for (const alloc of sortedAllocs(state)) {
    if (inDeploy.has(alloc.id) || stopping.has(alloc.id)) continue;
    if (alloc.stopRequested && !isTerminal(alloc.status)) {
      stops.push({
        allocId: alloc.id,
        finalStatus: "stopped",
        reason: "its stop was finished by a new leader",
      });
      continue;
    }
    if (alloc.status !== "pulling" && alloc.status !== "starting") continue;
    if (alloc.kind === "service") repair = true;
    stops.push({
      allocId: alloc.id,
      finalStatus: "failed",
      reason: "leader changed while it was starting",
    });
  }
  return { deploy, stops, repair };
}

/**
 * Every alloc of the deploy healthy and every added or replaced service at
 * its replica count with them.
 */
function reachedCommitPoint(
  config: ClusterConfig,
  previous: ClusterConfig,
  mine: readonly Alloc[],
): boolean {
  const live = mine.filter((a) => !isTerminal(a.status));
  if (live.some((a) => a.status !== "healthy" || a.stopRequested)) return false;
  const diff = diffConfig(previous, config);
  const rolled = [
    ...diff.services.added,
    ...diff.services.changed.filter(needsReplacement).map((c) => c.name),
  ];
  for (const name of rolled) {
    const service = config.services[name];
    if (service === undefined) continue;
    const healthy = live.filter((a) => a.workload === name).length;
    if (healthy < service.replicas) return false;
  }
  return true;
}

/**
 * Old allocs a finished deploy stops: those of removed services and of
 * replaced services that the deploy did not start. (Scale-downs the old
 * leader had not done yet are left to the next deploy.)
 */
function replacedAllocs(
  state: ClusterState,
  previous: ClusterConfig,
  deployId: string,
): Alloc[] {
  const diff = diffConfig(previous, state.config);
  const replaced = new Set([
    ...diff.services.removed,
    ...diff.services.changed.filter(needsReplacement).map((c) => c.name),
  ]);
  return sortedAllocs(state).filter((alloc) =>
    alloc.kind === "service" && replaced.has(alloc.workload) &&
    alloc.deployId !== deployId && !isTerminal(alloc.status)
  );
}

function sortedAllocs(state: ClusterState): Alloc[] {
  return [...state.allocs.values()].sort((a, b) =>
    a.id < b.id ? -1 : a.id > b.id ? 1 : 0
  );
}
