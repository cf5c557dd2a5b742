/**
 * What the scheduler decides: an ordered plan of steps for the leader to
 * re-check, commit through Raft and dispatch, and what it could not place
 * with the exact reason.
 */
import {
  type AllocScheduledCommand,
  type AllocsScheduledCommand,
  SCHEDULE_PLACEMENTS_MAX,
  type ScheduledPlacement,
  type WorkloadKind,
} from "../../raft/fsm/mod.ts";

/** One new alloc on one node. */
export interface Placement {
  readonly allocId: string;
  readonly nodeId: string;
  readonly nodeName: string;
  readonly workload: string;
  readonly kind: WorkloadKind;
  readonly image: string;
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  /** From the node's pool (`HOST_PORT_MIN`-`HOST_PORT_MAX`) for services with a port. */
  readonly hostPort: number | null;
  /** Its container address on a networked node's subnet; null: host networking. */
  readonly ip: string | null;
  readonly replacesAllocId: string | null;
}

/**
 * How one replacement of a roll goes: `start-first` places the new alloc,
 * waits until it is healthy, then stops the old one (a surge of one, no
 * gap); `stop-first` stops the old one first and reuses its room.
 */
export type ReplaceOrder = "start-first" | "stop-first";

/**
 * Steps, in order. A deploy runs in waves: wave 1 holds the new services'
 * placements and the first replacement of each rolled service, wave `n + 1`
 * starts once every alloc of wave `n` is healthy and every old alloc it
 * replaces is stopped (so each wave's room is what the plan counted).
 * Within a wave, `stop-first` old allocs stop before any placement of the
 * wave is committed; then the wave's placements are committed together, in
 * plan order, as one `AllocsScheduled` (`placementBatches`).
 * `stop` steps run `first` (before wave 1: their room is needed) or `last`
 * (once everything new is healthy, so a rollback finds them serving).
 */
export type PlanStep =
  | {
    readonly type: "place";
    readonly placement: Placement;
    readonly wave: number;
  }
  | {
    readonly type: "replace";
    readonly oldAllocId: string;
    readonly placement: Placement;
    readonly order: ReplaceOrder;
    readonly wave: number;
  }
  | {
    readonly type: "stop";
    readonly allocId: string;
    readonly reason: string;
    readonly when: "first" | "last";
  }
  | {
    readonly type: "createVolume";
    readonly volume: string;
    readonly sizeBytes: number | null;
    /** Create it for this node, then attach it there. */
    readonly nodeId: string;
  }
  | {
    readonly type: "attachVolume";
    readonly volume: string;
    readonly nodeId: string;
  }
  | {
    readonly type: "moveVolume";
    readonly volume: string;
    readonly fromNodeId: string;
    readonly toNodeId: string;
  }
  | {
    readonly type: "detachVolume";
    readonly volume: string;
    readonly fromNodeId: string;
    /** Mark it `ready` for re-attachment on a replacement node. */
    readonly markReady: boolean;
  };

export type UnplacedCode =
  | "no_schedulable_node"
  | "constraints_unmet"
  | "insufficient_cpu"
  | "insufficient_memory"
  | "insufficient_resources"
  | "no_free_port"
  | "volume_conflict"
  | "volume_node_unavailable"
  | "unknown_workload";

/** Allocs of one workload that could not be placed, and exactly why. */
export interface Unplaced {
  readonly workload: string;
  readonly count: number;
  readonly code: UnplacedCode;
  /** e.g. `web: needs 2 cpu; most free is node-3 with 1.5`. */
  readonly message: string;
}

export interface Plan {
  readonly steps: readonly PlanStep[];
  readonly unplaced: readonly Unplaced[];
}

/** Every placement of a plan (from `place` and `replace` steps), in order. */
export function placementsOf(plan: Plan): Placement[] {
  const placements: Placement[] = [];
  for (const step of plan.steps) {
    if (step.type === "place" || step.type === "replace") {
      placements.push(step.placement);
    }
  }
  return placements;
}

/** When and for which deploy a placement is committed. */
export interface CommitOptions {
  readonly atMs: number;
  readonly deployId: string | null;
}

/** The command that commits one placement through Raft (a task's). */
export function placementCommand(
  placement: Placement,
  options: CommitOptions,
): AllocScheduledCommand {
  return {
    type: "AllocScheduled",
    ...scheduledPlacement(placement),
    ...(options.deployId === null ? {} : { deployId: options.deployId }),
    atMs: options.atMs,
  };
}

/**
 * The commands that commit placements meant to land together (a wave) as
 * whole Raft entries: one `AllocsScheduled` each, applied whole or not at
 * all, in order. More than `SCHEDULE_PLACEMENTS_MAX` placements take
 * several entries, cut in plan order; none when there are none.
 */
export function placementBatches(
  placements: readonly Placement[],
  options: CommitOptions,
): AllocsScheduledCommand[] {
  const batches: AllocsScheduledCommand[] = [];
  for (
    let start = 0;
    start < placements.length;
    start += SCHEDULE_PLACEMENTS_MAX
  ) {
    batches.push({
      type: "AllocsScheduled",
      placements: placements.slice(start, start + SCHEDULE_PLACEMENTS_MAX)
        .map(scheduledPlacement),
      ...(options.deployId === null ? {} : { deployId: options.deployId }),
      atMs: options.atMs,
    });
  }
  return batches;
}

function scheduledPlacement(placement: Placement): ScheduledPlacement {
  return {
    allocId: placement.allocId,
    nodeId: placement.nodeId,
    workload: placement.workload,
    kind: placement.kind,
    image: placement.image,
    cpuMillis: placement.cpuMillis,
    memoryBytes: placement.memoryBytes,
    ...(placement.hostPort === null ? {} : { hostPort: placement.hostPort }),
    ...(placement.ip === null ? {} : { ip: placement.ip }),
    ...(placement.replacesAllocId === null
      ? {}
      : { replacesAllocId: placement.replacesAllocId }),
  };
}
