/**
 * A plan's volume steps (create, attach, move, detach) run in order before
 * its placements, each reported as a `volume` phase of the service that
 * mounts the volume (volume_steps.ts does each step).
 */
import type { ClusterConfig } from "../../config/types.ts";
import type { Plan } from "../scheduler/mod.ts";
import { errorText } from "./_rollout.ts";
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
      const report = await volumeSteps.run(step, options.signal);
      if (report.action === "created") created.push(step.volume);
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
      ) created.push(step.volume);
      throw Object.assign(
        new Error(`${step.volume}: ${errorText(error)}`, { cause: error }),
        { created },
      );
    }
  }
  return created;
}
