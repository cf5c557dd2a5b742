/**
 * A scheduler plan as the deploy machine's input: every placement with its
 * wave and the old alloc it replaces, and the plan's plain stops.
 */
import type { ClusterState } from "../../raft/fsm/mod.ts";
import type { Placement, Plan } from "../scheduler/mod.ts";
import type { MachineAlloc, MachineInput, MachineStop } from "./machine.ts";

export interface PlanInput {
  readonly input: MachineInput;
  /** Each new alloc's placement, committed when the machine says. */
  readonly placements: ReadonlyMap<string, Placement>;
}

/** A deploy's plan: waves, replacements and stops as the scheduler laid them out. */
export function deployInput(state: ClusterState, plan: Plan): PlanInput {
  const allocs: MachineAlloc[] = [];
  const stops: MachineStop[] = [];
  const placements = new Map<string, Placement>();
  for (const step of plan.steps) {
    if (step.type === "place" || step.type === "replace") {
      const { placement } = step;
      placements.set(placement.allocId, placement);
      allocs.push({
        allocId: placement.allocId,
        service: placement.workload,
        nodeId: placement.nodeId,
        image: placement.image,
        wave: step.wave,
        replaces: step.type === "replace"
          ? { allocId: step.oldAllocId, order: step.order }
          : null,
      });
    } else if (step.type === "stop") {
      stops.push({
        allocId: step.allocId,
        service: state.allocs.get(step.allocId)?.workload ?? step.allocId,
        reason: step.reason,
        when: step.when,
      });
    }
  }
  return { input: { allocs, stops, atomic: true }, placements };
}

/**
 * A repair's plan (node failure, services short of replicas): every
 * placement at once, none atomic; the allocs it makes up for are gone
 * already, so nothing old is stopped.
 */
export function repairInput(plan: Plan): PlanInput {
  const placements = new Map<string, Placement>();
  const allocs: MachineAlloc[] = [];
  for (const step of plan.steps) {
    if (step.type !== "place" && step.type !== "replace") continue;
    const { placement } = step;
    placements.set(placement.allocId, placement);
    allocs.push({
      allocId: placement.allocId,
      service: placement.workload,
      nodeId: placement.nodeId,
      image: placement.image,
      wave: 1,
      replaces: null,
    });
  }
  return { input: { allocs, stops: [], atomic: false }, placements };
}
