/**
 * The scheduler: a pure function from a cluster state snapshot and a
 * request to a `Plan`. No clock, no randomness, no I/O; the same input
 * always gives the same plan. The leader re-checks each placement through
 * `apply` (it commits `AllocScheduled`), so a stale plan is refused, never
 * over-commits.
 *
 * Rules: declared cpu and memory are reserved; replicas of one service go to
 * distinct nodes while there are enough, then to the least loaded; a
 * service with persistent volumes is pinned to the node they are attached
 * to; draining and down nodes get nothing; `node.name`, `node.id` and
 * `node.label.<key>` constraints with `==`/`!=` are honoured.
 */
import {
  type ClusterConfig,
  type ServiceConfig,
  UPDATE_DEFAULT,
} from "../../config/types.ts";
import {
  type Alloc,
  type ClusterState,
  type ConfigDiff,
  needsReplacement,
} from "../../raft/fsm/mod.ts";
import type { Plan, UnplacedCode } from "./plan.ts";
import { PlanBuilder } from "./_builder.ts";
import { planDrain, planNodeFailure, planRepair } from "./_repair.ts";

export type ScheduleRequest =
  /** Placements, replacements and stops that take the cluster to `config`. */
  | {
    readonly type: "deploy";
    readonly config: ClusterConfig;
    /** `diffConfig(state.config before the deploy, config)`. */
    readonly diff: ConfigDiff;
    readonly idPrefix: string;
  }
  /** One alloc of a task of the current config (`mill spawn`). */
  | { readonly type: "task"; readonly task: string; readonly idPrefix: string }
  /** Replacements for every service of the current config short of replicas. */
  | { readonly type: "repair"; readonly idPrefix: string }
  /** Replacements for the services that had allocs on a failed node. */
  | {
    readonly type: "node-failure";
    readonly nodeId: string;
    readonly idPrefix: string;
  }
  /** Move everything off a node, one alloc at a time (seed 001). */
  | {
    readonly type: "drain";
    readonly nodeId: string;
    readonly idPrefix: string;
  };

/**
 * The plan for a request. New alloc ids are `<workload>-<idPrefix>-<n>`;
 * the leader picks an `idPrefix` unique per plan (the deploy id, say).
 *
 * @example
 * ```ts
 * const plan = schedule(state, { type: "deploy", config, diff, idPrefix: "d7" });
 * for (const u of plan.unplaced) console.log(u.message); // "web: needs 2 cpu; …"
 * ```
 */
export function schedule(state: ClusterState, request: ScheduleRequest): Plan {
  switch (request.type) {
    case "deploy":
      return planDeploy(state, request.config, request.diff, request.idPrefix);
    case "task":
      return planTask(state, request.task, request.idPrefix);
    case "repair":
      return planRepair(state, { idPrefix: request.idPrefix, only: null });
    case "node-failure":
      return planNodeFailure(state, request.nodeId, request.idPrefix);
    case "drain":
      return planDrain(state, request.nodeId, request.idPrefix);
    default: {
      const _exhaustive: never = request;
      throw new Error(
        `unknown schedule request ${JSON.stringify(_exhaustive)}`,
      );
    }
  }
}

/**
 * Removed services and scale-downs stop last (a rollback finds them still
 * serving) unless the new allocs need their room: then they stop first.
 */
function planDeploy(
  state: ClusterState,
  config: ClusterConfig,
  diff: ConfigDiff,
  idPrefix: string,
): Plan {
  const late = buildDeploy(state, config, diff, idPrefix, "last");
  if (!late.unplaced.some((u) => ROOM_CODES.has(u.code))) return late;
  return buildDeploy(state, config, diff, idPrefix, "first");
}

/** Refusals that stopping what the deploy drops anyway may cure. */
const ROOM_CODES: ReadonlySet<UnplacedCode> = new Set([
  "insufficient_cpu",
  "insufficient_memory",
  "insufficient_resources",
  "no_free_port",
]);

function buildDeploy(
  state: ClusterState,
  config: ClusterConfig,
  diff: ConfigDiff,
  idPrefix: string,
  dropped: "first" | "last",
): Plan {
  const builder = new PlanBuilder(state, idPrefix);
  for (const name of diff.services.removed) {
    for (const alloc of builder.live(name)) {
      builder.stop(alloc, "service removed", dropped);
    }
  }
  const rolls: Roll[] = [];
  for (const change of diff.services.changed) {
    const service = config.services[change.name];
    if (service === undefined) continue;
    if (needsReplacement(change)) {
      rolls.push(startRoll(builder, service, dropped));
    } else scaleService(builder, service, dropped);
  }
  for (const name of diff.services.added) {
    const service = config.services[name];
    if (service === undefined) continue;
    const spread = builder.spreadOf(builder.live(name));
    for (let replica = 0; replica < service.replicas; replica++) {
      builder.place(service, { spread, replaces: null, mode: "place" });
    }
  }
  for (const roll of rolls) {
    for (
      let replica = roll.old.length;
      replica < roll.service.replicas;
      replica++
    ) {
      builder.place(roll.service, {
        spread: roll.spread,
        replaces: null,
        mode: "place",
      });
    }
  }
  rollInWaves(builder, rolls);
  return builder.build();
}

/** One changed service's replacements, still to be planned. */
interface Roll {
  readonly service: ServiceConfig;
  /** The old allocs that get a replacement, in order. */
  readonly old: readonly Alloc[];
  /** Spread of the new version only: the old allocs are all going away. */
  readonly spread: Map<number, number>;
}

/** The surplus of a shrinking changed service stops; the rest is rolled. */
function startRoll(
  builder: PlanBuilder,
  service: ServiceConfig,
  dropped: "first" | "last",
): Roll {
  const old = builder.live(service.name);
  for (const alloc of old.slice(service.replicas)) {
    builder.stop(alloc, "scaled down", dropped);
  }
  return { service, old: old.slice(0, service.replicas), spread: new Map() };
}

/**
 * Wave `w` replaces the next `max_parallel` old allocs of every rolled
 * service; a start-first old alloc's room comes back only after its wave
 * (it serves until its replacement is healthy), a stop-first one's at once.
 */
function rollInWaves(builder: PlanBuilder, rolls: readonly Roll[]): void {
  for (let wave = 1;; wave++) {
    let placed = false;
    for (const roll of rolls) {
      const { maxParallel, order } = roll.service.update ?? UPDATE_DEFAULT;
      const batch = roll.old.slice(
        (wave - 1) * maxParallel,
        wave * maxParallel,
      );
      for (const alloc of batch) {
        placed = true;
        builder.place(roll.service, {
          spread: roll.spread,
          replaces: alloc,
          mode: "replace",
          order,
          wave,
        });
      }
    }
    if (!placed) return;
    builder.endWave(wave);
  }
}

/** Only the replica count (or routes) changed: add or stop the difference. */
function scaleService(
  builder: PlanBuilder,
  service: ServiceConfig,
  dropped: "first" | "last",
): void {
  const live = builder.live(service.name);
  const spread = builder.spreadOf(live);
  for (let replica = live.length; replica < service.replicas; replica++) {
    builder.place(service, { spread, replaces: null, mode: "place" });
  }
  if (live.length <= service.replicas) return;
  // Stop where replicas are most crowded first, newest id first.
  const crowding = (alloc: Alloc) =>
    spread.get(builder.view.indexOf(alloc.nodeId) ?? -1) ?? 0;
  const surplus = [...live].sort((a, b) =>
    crowding(b) - crowding(a) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)
  );
  for (const alloc of surplus.slice(0, live.length - service.replicas)) {
    const index = builder.view.indexOf(alloc.nodeId);
    if (index !== undefined) spread.set(index, (spread.get(index) ?? 1) - 1);
    builder.stop(alloc, "scaled down", dropped);
  }
}

function planTask(state: ClusterState, task: string, idPrefix: string): Plan {
  const builder = new PlanBuilder(state, idPrefix);
  const config = Object.hasOwn(state.config.tasks, task)
    ? state.config.tasks[task]
    : undefined;
  if (config === undefined) {
    builder.refuse(
      task,
      "unknown_workload",
      `${task}: no such task in the deployed config`,
    );
  } else {
    builder.place(config, { spread: new Map(), replaces: null, mode: "place" });
  }
  return builder.build();
}
