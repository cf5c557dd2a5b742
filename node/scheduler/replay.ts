/**
 * A deploy plan replayed through the FSM's own `apply`, in the order the
 * deploy commits it (`first` stops and volume steps, then per wave its
 * stop-first old allocs, its placements as one `AllocsScheduled`, its
 * start-first old allocs, then the `last` stops), each replacement assumed
 * healthy. The deploy's
 * precheck runs it so the scheduler and the commit check can never
 * disagree: a plan `apply` would refuse is refused before anything starts.
 */
import {
  apply,
  type ClusterState,
  type Command,
  type Rejection,
} from "../../raft/fsm/mod.ts";
import {
  placementBatches,
  placementCommand,
  type Plan,
  type PlanStep,
} from "./plan.ts";

/** The first command of the replay `apply` refuses, or null. */
export function replayDeploy(
  state: ClusterState,
  plan: Plan,
  atMs: number,
): { command: Command; rejection: Rejection } | null {
  let current = state;
  for (const command of deployCommands(plan, atMs)) {
    const applied = apply(current, command);
    if (!applied.ok) return { command, rejection: applied.rejection };
    current = applied.state;
  }
  return null;
}

/** A deploy plan's commands in the order the deploy machine commits them. */
export function deployCommands(plan: Plan, atMs: number): Command[] {
  const commands: Command[] = [];
  const waves = new Map<number, PlanStep[]>();
  for (const step of plan.steps) {
    if (step.type === "place" || step.type === "replace") {
      const wave = waves.get(step.wave);
      if (wave === undefined) waves.set(step.wave, [step]);
      else wave.push(step);
    } else if (step.type === "stop") {
      if (step.when === "first") {
        commands.push(...stopCommands(step.allocId, step.reason, atMs));
      }
    } else {
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
    const placements = steps.flatMap((step) =>
      step.type === "place" || step.type === "replace" ? [step.placement] : []
    );
    commands.push(...placementBatches(placements, { atMs, deployId: null }));
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

export function stopCommands(
  allocId: string,
  reason: string,
  atMs: number,
): Command[] {
  return [
    { type: "AllocStopRequested", allocId, reason, atMs },
    { type: "AllocStatus", allocId, status: "stopped", atMs },
  ];
}
