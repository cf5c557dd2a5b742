/**
 * `applyAllocsScheduled`: a plan's placements as one entry, applied whole
 * or not at all (Nomad's plan apply). Each placement meets exactly the
 * check an `AllocScheduled` meets, against the state the placements before
 * it left, so a batch accepts what the same commands one by one would.
 *
 * A batch that names a deploy belongs to it: that deploy must be the one
 * running, so no placement lands in a deploy that has finished or been
 * rolled back, nor in one whose `Deploy` was refused. `DeployWithWave` is
 * a `Deploy` and its first wave in one entry.
 */
import type {
  AllocScheduledCommand,
  AllocsScheduledCommand,
  Applied,
  DeployWithWaveCommand,
} from "./command.ts";
import type { ClusterState } from "./state.ts";
import { SCHEDULE_PLACEMENTS_MAX } from "./limits.ts";
import {
  accept,
  invalidTime,
  invalidUnless,
  isId,
  quote,
  reject,
} from "./_apply_common.ts";
import { applyAllocScheduled } from "./_apply_allocs.ts";
import { applyDeploy } from "./_apply_config.ts";

export function applyAllocsScheduled(
  state: ClusterState,
  command: AllocsScheduledCommand,
): Applied {
  const count = command.placements.length;
  const invalid = invalidTime(command.atMs) ??
    invalidUnless(
      count >= 1,
      "AllocsScheduled must hold at least one placement",
    ) ??
    invalidUnless(
      count <= SCHEDULE_PLACEMENTS_MAX,
      `AllocsScheduled may hold at most ${SCHEDULE_PLACEMENTS_MAX} placements, got ${count}`,
    ) ??
    invalidUnless(
      command.deployId === undefined || isId(command.deployId),
      "Deploy id must be non-empty when given",
    );
  if (invalid) return invalid;
  const notRunning = command.deployId === undefined
    ? null
    : deployNotRunning(state, command.deployId, count);
  if (notRunning) return notRunning;
  let current = state;
  for (const [index, placement] of command.placements.entries()) {
    const single: AllocScheduledCommand = {
      type: "AllocScheduled",
      ...placement,
      ...(command.deployId === undefined ? {} : { deployId: command.deployId }),
      atMs: command.atMs,
    };
    const applied = applyAllocScheduled(current, single);
    if (!applied.ok) {
      const { code, message } = applied.rejection;
      return {
        ok: false,
        rejection: {
          code,
          message: `Placement ${index + 1} of ${count} (alloc ${
            quote(placement.allocId)
          }) refused, so none of the ${count} was applied: ${message}`,
          allocId: placement.allocId,
        },
      };
    }
    current = applied.state;
  }
  return accept(current);
}

/** A `Deploy`, then its first wave as its `AllocsScheduled`: both or neither. */
export function applyDeployWithWave(
  state: ClusterState,
  command: DeployWithWaveCommand,
): Applied {
  const { deployId, config, placements, atMs } = command;
  const deployed = applyDeploy(state, {
    type: "Deploy",
    deployId,
    config,
    atMs,
  });
  if (!deployed.ok) return deployed;
  return applyAllocsScheduled(deployed.state, {
    type: "AllocsScheduled",
    placements,
    deployId,
    atMs,
  });
}

/** Why placements of deploy `deployId` cannot be applied now, or null. */
function deployNotRunning(
  state: ClusterState,
  deployId: string,
  count: number,
): Applied | null {
  const record = state.deploys.findLast((deploy) => deploy.id === deployId);
  const none = `so none of the ${count} placements was applied`;
  if (record === undefined) {
    return reject(
      "deploy.unknown",
      `Deploy ${
        quote(deployId)
      } is unknown (its Deploy was not applied), ${none}`,
    );
  }
  if (record.status !== "running") {
    return reject(
      "deploy.not_running",
      `Deploy ${quote(deployId)} is not running (${record.status}), ${none}`,
    );
  }
  return null;
}
