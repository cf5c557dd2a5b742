/**
 * A plan's volume steps (create, attach, move, detach) run in order before
 * its placements, each reported as a `volume` phase of the service that
 * mounts the volume (volume_steps.ts does each step).
 *
 * A volume leaving a node that still runs (a drain, seed 001's "detach
 * volumes" step) is first let go there: the allocs the plan stops that
 * mount it stop now, and the node flushes and unmounts it as the last one
 * ends. A live alloc the plan does not stop holds it: the step is refused
 * rather than pulling a mounted disk from under a running container.
 */
import type { ClusterConfig } from "../../config/types.ts";
import { type Alloc, isTerminal } from "../../raft/fsm/mod.ts";
import type { Plan } from "../scheduler/mod.ts";
import { errorText, stopAlloc } from "./_rollout.ts";
import type { DeployContext } from "./context.ts";
import type { DeployEvent } from "./events.ts";
import type { VolumeStep } from "./volume_steps.ts";

/**
 * Resolves with the volumes the steps created. A failure throws, carrying
 * what was created so far (`created`: the deploy's to discard).
 */
export async function runPlanVolumeSteps(
  context: DeployContext,
  plan: Plan,
  config: ClusterConfig,
  options: {
    readonly signal?: AbortSignal;
    readonly emit?: (
      event: Omit<Extract<DeployEvent, { type: "phase" }>, "elapsedMs">,
    ) => void;
  } = {},
): Promise<string[]> {
  const steps = plan.steps.filter((step): step is VolumeStep =>
    step.type === "createVolume" || step.type === "attachVolume" ||
    step.type === "moveVolume" || step.type === "detachVolume"
  );
  if (steps.length === 0) return [];
  const volumeSteps = context.volumeSteps?.() ?? null;
  if (volumeSteps === null) {
    throw new Error("the cluster has no storage provider");
  }
  const created: string[] = [];
  for (const step of steps) {
    const service = Object.values(config.services).find((s) =>
      s.volumes.some((v) =>
        v.name === step.volume
      )
    )?.name ?? step.volume;
    try {
      if (step.type === "moveVolume" || step.type === "detachVolume") {
        await letGo(context, plan, config, step.volume, step.fromNodeId, (m) =>
          options.emit?.({
            type: "phase",
            service,
            allocId: m.allocId,
            node: context.state().nodes.get(step.fromNodeId)?.name ??
              step.fromNodeId,
            phase: m.phase,
            message: m.message,
          }));
      }
      const report = await volumeSteps.run(step, options.signal);
      if (report.action === "created") {
        created.push(step.volume);
      }
      context.log?.("info", `volume ${step.volume}: ${report.message}`);
      options.emit?.({
        type: "phase",
        service,
        allocId: null,
        node: null,
        phase: "volume",
        message: `volume ${step.volume}: ${report.message}`,
      });
    } catch (error) {
      // Created but not attached: it is this deploy's to discard too.
      if (
        step.type === "createVolume" &&
        context.state().volumes.has(step.volume)
      ) {
        created.push(step.volume);
      }
      throw Object.assign(
        new Error(`${step.volume}: ${errorText(error)}`, { cause: error }),
        { created },
      );
    }
  }
  return created;
}

/**
 * Stops the plan's stopped allocs on `nodeId` that mount `volume`; throws
 * when a live alloc there mounts it and the plan keeps it running.
 */
async function letGo(
  context: DeployContext,
  plan: Plan,
  config: ClusterConfig,
  volume: string,
  nodeId: string,
  report: (
    m: { allocId: string; phase: "stopping" | "stopped"; message: string },
  ) => void,
): Promise<void> {
  const own = <T>(table: Readonly<Record<string, T>>, name: string) =>
    Object.hasOwn(table, name) ? table[name] : undefined;
  const workloadOf = (alloc: Alloc) => {
    const current = context.state().config;
    return alloc.kind === "service"
      ? own(config.services, alloc.workload) ??
        own(current.services, alloc.workload)
      : own(config.tasks, alloc.workload) ?? own(current.tasks, alloc.workload);
  };
  const mounts = (alloc: Alloc) =>
    workloadOf(alloc)?.volumes.some((v) => v.name === volume) ?? false;
  const stopping = new Map<string, string>();
  for (const step of plan.steps) {
    if (step.type === "stop") stopping.set(step.allocId, step.reason);
  }
  const holders = [...context.state().allocs.values()].filter((alloc) =>
    alloc.nodeId === nodeId && !isTerminal(alloc.status) && mounts(alloc)
  ).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const kept = holders.filter((alloc) =>
    !stopping.has(alloc.id) && !alloc.stopRequested
  );
  if (kept.length > 0) {
    throw new Error(
      `${kept.map((a) => a.id).join(", ")} still ${
        kept.length === 1 ? "mounts" : "mount"
      } it on ${context.state().nodes.get(nodeId)?.name ?? nodeId}`,
    );
  }
  for (const alloc of holders) {
    const reason = stopping.get(alloc.id) ?? "its volume moves to another node";
    report({ allocId: alloc.id, phase: "stopping", message: reason });
    await stopAlloc(context, alloc.id, {
      started: true,
      finalStatus: "stopped",
      reason,
      workloadOf,
    });
    report({ allocId: alloc.id, phase: "stopped", message: reason });
  }
}
