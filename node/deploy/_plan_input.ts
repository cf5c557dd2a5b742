/**
 * A scheduler plan as the deploy machine's input: every placement with its
 * wave and the old alloc it replaces, and the plan's plain stops.
 */
import type { ClusterState } from "../../raft/fsm/mod.ts";
import type { Placement, Plan, PlanStep } from "../scheduler/mod.ts";
import type { MachineAlloc, MachineInput, MachineStop } from "./machine.ts";

export interface PlanInput {
  readonly input: MachineInput;
  /** Each new alloc's placement, committed when the machine says. */
  readonly placements: ReadonlyMap<string, Placement>;
}

type PlacingStep = Extract<PlanStep, { type: "place" | "replace" }>;

/** A deploy's plan: waves, replacements and stops as the scheduler laid them out. */
export function deployInput(state: ClusterState, plan: Plan): PlanInput {
  const stops: MachineStop[] = [];
  for (const step of plan.steps) {
    if (step.type !== "stop") continue;
    stops.push({
      allocId: step.allocId,
      service: state.allocs.get(step.allocId)?.workload ?? step.allocId,
      reason: step.reason,
      when: step.when,
    });
  }
  return inputOf(plan, (step) => ({
    wave: step.wave,
    replaces: step.type === "replace"
      ? { allocId: step.oldAllocId, order: step.order }
      : null,
  }), { stops, atomic: true });
}

/**
 * A drain's plan: one replacement at a time (each its own wave: the new
 * alloc healthy before the old one stops, then the next), never rolled
 * back (a replacement that fails leaves its original running); tasks and
 * other plain stops go last.
 */
export function drainInput(state: ClusterState, plan: Plan): PlanInput {
  const { input, placements } = deployInput(state, plan);
  return {
    input: {
      ...input,
      atomic: false,
      allocs: input.allocs.map((alloc, index) => ({
        ...alloc,
        wave: index + 1,
      })),
    },
    placements,
  };
}

/**
 * A repair's plan (node failure, services short of replicas): every
 * placement at once, none atomic; the allocs it makes up for are gone
 * already, so nothing old is stopped.
 */
export function repairInput(plan: Plan): PlanInput {
  return inputOf(plan, () => ({ wave: 1, replaces: null }), {
    stops: [],
    atomic: false,
  });
}

function inputOf(
  plan: Plan,
  turn: (step: PlacingStep) => Pick<MachineAlloc, "wave" | "replaces">,
  rest: Pick<MachineInput, "stops" | "atomic">,
): PlanInput {
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
      ...turn(step),
    });
  }
  return { input: { allocs, ...rest }, placements };
}
