/**
 * Draining a node (seed 001), run by the leader's coordinator once
 * `NodeDrain` is committed: every service alloc on the node is replaced
 * elsewhere, one at a time, the new one healthy before the old one stops
 * (zero downtime); its tasks are stopped, not moved. A replacement that
 * cannot be placed or never gets healthy leaves its original running and
 * the drain reports the failure; the node stays draining, so running the
 * drain again takes up what is left. A node that is down has nothing
 * running: its drain completes at once.
 */
import { type Alloc, isTerminal } from "../../raft/fsm/mod.ts";
import type { ServiceConfig, TaskConfig } from "../../config/types.ts";
import { schedule } from "../scheduler/mod.ts";
import { drainInput } from "./_plan_input.ts";
import {
  CommitLost,
  errorText,
  type PhaseReport,
  runRollout,
} from "./_rollout.ts";
import { runPlanVolumeSteps } from "./plan_volume_steps.ts";

export type { DrainEvent, DrainOutcome } from "./events.ts";
import type { DeployContext } from "./context.ts";
import type { DrainEvent, DrainOutcome } from "./events.ts";
import { DeployMachine } from "./machine.ts";

export async function runDrain(
  context: DeployContext,
  nodeId: string,
  workloadOf: (alloc: Alloc) => ServiceConfig | TaskConfig | undefined,
  onEvent: (event: DrainEvent) => void,
): Promise<DrainOutcome> {
  const startedAt = performance.now();
  const elapsedMs = () => Math.round(performance.now() - startedAt);
  const state = context.state();
  const nodeName = state.nodes.get(nodeId)?.name ?? nodeId;
  const plan = schedule(state, {
    type: "drain",
    nodeId,
    idPrefix: context.newId(),
  });
  const { input, placements } = drainInput(state, plan);
  onEvent({
    type: "start",
    node: nodeName,
    replacing: input.allocs.flatMap((a) =>
      a.replaces === null ? [] : [a.replaces.allocId]
    ),
    stopping: input.stops.map((s) => s.allocId),
    elapsedMs: elapsedMs(),
  });
  const reasons: string[] = plan.unplaced.map((u) => u.message);
  for (const unplaced of plan.unplaced) {
    onEvent({
      type: "phase",
      service: unplaced.workload,
      allocId: null,
      node: null,
      phase: "failed",
      message: `no other node can take it: ${unplaced.message}`,
      elapsedMs: elapsedMs(),
    });
  }
  // Seed 001's "detach volumes": a volume-backed service cannot run in two
  // places, so its alloc here stops, its volume moves to the replacement's
  // node (or, with nothing to move it to, is detached and left ready), and
  // only then does the rollout start the replacement.
  try {
    await runPlanVolumeSteps(context, plan, state.config, {
      emit: (event) => onEvent({ ...event, elapsedMs: elapsedMs() }),
    });
  } catch (error) {
    if (error instanceof CommitLost) throw error;
    return failed(`volume ${errorText(error)}`);
  }
  // What the volume handoff stopped is not stopped twice.
  const stops = input.stops.filter((stop) => {
    const alloc = context.state().allocs.get(stop.allocId);
    return alloc !== undefined && !isTerminal(alloc.status);
  });
  if (input.allocs.length > 0 || stops.length > 0) {
    const result = await runRollout(new DeployMachine({ ...input, stops }), {
      context,
      placements,
      deployId: null,
      workloadOf,
      onPhase: (report: PhaseReport) => {
        const node = report.nodeId === null
          ? undefined
          : context.state().nodes.get(report.nodeId);
        onEvent({
          type: "phase",
          service: report.service,
          allocId: report.allocId,
          node: node?.name ?? report.nodeId,
          phase: report.phase,
          message: report.message,
          elapsedMs: elapsedMs(),
        });
      },
    });
    if (result.kind === "lost") throw result.error;
    reasons.push(...result.failures.map((f) => `${f.service}: ${f.reason}`));
  }
  const remaining = remainingOn(context, nodeId);
  if (remaining.length === 0) {
    onEvent({ type: "done", node: nodeName, elapsedMs: elapsedMs() });
    return { ok: true, remaining };
  }
  return failed(
    reasons.length > 0
      ? reasons.join("; ")
      : `${remaining.length} allocation(s) still run on ${nodeName}`,
  );

  function failed(reason: string): DrainOutcome {
    const remaining = remainingOn(context, nodeId);
    onEvent({
      type: "failed",
      node: nodeName,
      code: "drain.incomplete",
      reason,
      remaining,
      elapsedMs: elapsedMs(),
    });
    return { ok: false, remaining };
  }
}

function remainingOn(context: DeployContext, nodeId: string): string[] {
  return [...context.state().allocs.values()]
    .filter((a) => a.nodeId === nodeId && !isTerminal(a.status))
    .map((a) => a.id)
    .sort();
}
