/**
 * Runs a plan through the FSM the way the coordinators will, minus the
 * containers: every step becomes the commands it commits (a `replace`
 * assumes the new alloc turned healthy). For tests and benchmarks: a
 * placement is only real once `apply` accepted it.
 */
import {
  apply,
  type ClusterState,
  type Command,
  type Rejection,
} from "../../raft/fsm/mod.ts";
import { placementCommand, type Plan, type PlanStep } from "./plan.ts";

export interface Committed {
  readonly state: ClusterState;
  /** `AllocScheduled` commands accepted. */
  readonly placed: number;
  readonly rejections: readonly { command: Command; rejection: Rejection }[];
}

/** The commands that commit one step. */
export function stepCommands(step: PlanStep, atMs: number): Command[] {
  switch (step.type) {
    case "place":
      return [placementCommand(step.placement, { atMs, deployId: null })];
    case "replace":
      return [
        placementCommand(step.placement, { atMs, deployId: null }),
        ...stopCommands(step.oldAllocId, "replaced", atMs),
      ];
    case "stop":
      return stopCommands(step.allocId, step.reason, atMs);
    case "createVolume":
      return [
        {
          type: "VolumeCreated",
          name: step.volume,
          cloudId: `cloud-${step.volume}`,
          ...(step.sizeBytes === null ? {} : { sizeBytes: step.sizeBytes }),
          nodeId: step.nodeId,
          atMs,
        },
        {
          type: "VolumeAttached",
          name: step.volume,
          nodeId: step.nodeId,
          atMs,
        },
      ];
    case "attachVolume":
      return [{
        type: "VolumeAttached",
        name: step.volume,
        nodeId: step.nodeId,
        atMs,
      }];
    case "moveVolume":
      return [
        { type: "VolumeDetached", name: step.volume, atMs },
        { type: "VolumeReady", name: step.volume, atMs },
        {
          type: "VolumeAttached",
          name: step.volume,
          nodeId: step.toNodeId,
          atMs,
        },
      ];
    case "detachVolume":
      return [
        { type: "VolumeDetached", name: step.volume, atMs },
        ...(step.markReady
          ? [{ type: "VolumeReady" as const, name: step.volume, atMs }]
          : []),
      ];
  }
}

function stopCommands(
  allocId: string,
  reason: string,
  atMs: number,
): Command[] {
  return [
    { type: "AllocStopRequested", allocId, reason, atMs },
    { type: "AllocStatus", allocId, status: "stopped", atMs },
  ];
}

/**
 * Applies every step's commands, collecting rejections: in plan order, or
 * with `waves` in the order a deploy runs them (`first` stops and volume
 * steps, then per wave its stop-first old allocs, its placements, its
 * start-first old allocs; then the `last` stops).
 */
export function commitPlan(
  state: ClusterState,
  plan: Plan,
  atMs: number,
  options: { readonly waves?: boolean } = {},
): Committed {
  let current = state;
  let placed = 0;
  const rejections: { command: Command; rejection: Rejection }[] = [];
  const commands = options.waves === true
    ? deployOrder(plan, atMs)
    : plan.steps.flatMap((step) => stepCommands(step, atMs));
  for (const command of commands) {
    const applied = apply(current, command);
    if (!applied.ok) {
      rejections.push({ command, rejection: applied.rejection });
      continue;
    }
    current = applied.state;
    if (command.type === "AllocScheduled") placed++;
  }
  return { state: current, placed, rejections };
}

/** A deploy plan's commands in the order the deploy machine commits them. */
function deployOrder(plan: Plan, atMs: number): Command[] {
  const commands: Command[] = [];
  const waves = new Map<number, PlanStep[]>();
  for (const step of plan.steps) {
    if (step.type === "place" || step.type === "replace") {
      waves.set(step.wave, [...waves.get(step.wave) ?? [], step]);
    } else if (step.type !== "stop" || step.when === "first") {
      commands.push(...stepCommands(step, atMs));
    }
  }
  for (const wave of [...waves.keys()].sort((a, b) => a - b)) {
    const steps = waves.get(wave)!;
    for (const step of steps) {
      if (step.type === "replace" && step.order === "stop-first") {
        commands.push(...stopCommands(step.oldAllocId, "replaced", atMs));
      }
    }
    for (const step of steps) {
      if (step.type === "place" || step.type === "replace") {
        commands.push(
          placementCommand(step.placement, { atMs, deployId: null }),
        );
      }
    }
    for (const step of steps) {
      if (step.type === "replace" && step.order === "start-first") {
        commands.push(...stopCommands(step.oldAllocId, "replaced", atMs));
      }
    }
  }
  for (const step of plan.steps) {
    if (step.type === "stop" && step.when === "last") {
      commands.push(...stopCommands(step.allocId, step.reason, atMs));
    }
  }
  return commands;
}
