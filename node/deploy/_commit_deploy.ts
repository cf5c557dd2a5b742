/**
 * A deploy's first commit: its `Deploy`, carrying wave 1's placements as
 * one `DeployWithWave` entry when nothing in the plan must happen before
 * them, so starting a deploy and placing its first wave cost one Raft
 * round (one fsync on a majority) instead of two in turn. The entry is
 * applied whole or not at all: a wave refused (its room went to something
 * else since the plan) refuses the deploy with it, and nothing starts.
 */
import {
  type Command,
  COMMAND_BYTES_MAX,
  type DeployCommand,
  SCHEDULE_PLACEMENTS_MAX,
} from "../../raft/fsm/mod.ts";
import {
  type Placement,
  placementBatches,
  type Plan,
} from "../scheduler/mod.ts";
import type { CommitResult } from "./context.ts";

export interface DeployCommitted {
  /** The entry's outcome: the `Deploy`'s, and its wave's when it carried one. */
  readonly result: CommitResult;
  /** The allocs committed with the deploy (wave 1), in plan order; empty when none. */
  readonly withDeploy: readonly string[];
}

/** Commits `deploy`, with its first wave when the plan allows (`firstWaveOf`). */
export async function commitDeploy(
  plan: Plan,
  deploy: DeployCommand,
  commit: (command: Command) => Promise<CommitResult>,
): Promise<DeployCommitted> {
  const wave = firstWaveOf(plan);
  if (wave.length === 0) {
    return { result: await commit(deploy), withDeploy: [] };
  }
  const [batch] = placementBatches(wave, {
    atMs: deploy.atMs,
    deployId: deploy.deployId,
  });
  const withWave: Command = {
    type: "DeployWithWave",
    deployId: deploy.deployId,
    config: deploy.config,
    placements: batch!.placements,
    atMs: deploy.atMs,
  };
  if (tooLarge(withWave)) {
    return { result: await commit(deploy), withDeploy: [] };
  }
  const result = await commit(withWave);
  return { result, withDeploy: wave.map((p) => p.allocId) };
}

const encoder = new TextEncoder();

/**
 * Over what one entry may hold (a config near the bound plus its wave):
 * then the wave goes in entries of its own. UTF-8 takes at most 3 bytes
 * per UTF-16 unit, so only a text near the bound is encoded to measure.
 */
function tooLarge(command: Command): boolean {
  const text = JSON.stringify(command);
  return text.length * 3 > COMMAND_BYTES_MAX &&
    encoder.encode(text).length > COMMAND_BYTES_MAX;
}

/**
 * Wave 1's placements when they may be committed with the `Deploy`: no
 * `first` stop, no volume step and no stop-first replacement in wave 1
 * (the room those free must be freed first, so the deploy machine commits
 * that wave later), and few enough for one entry. Empty otherwise.
 */
export function firstWaveOf(plan: Plan): Placement[] {
  const placements: Placement[] = [];
  for (const step of plan.steps) {
    switch (step.type) {
      case "stop":
        if (step.when === "first") return [];
        break;
      case "replace":
        if (step.wave !== 1) break;
        if (step.order === "stop-first") return [];
        placements.push(step.placement);
        break;
      case "place":
        if (step.wave === 1) placements.push(step.placement);
        break;
      default:
        return []; // a volume step comes before every wave
    }
  }
  return placements.length > SCHEDULE_PLACEMENTS_MAX ? [] : placements;
}
