/**
 * `applyAllocsScheduled`: a plan's placements as one entry, applied whole
 * or not at all (Nomad's plan apply). Each placement meets exactly the
 * check an `AllocScheduled` meets, against the state the placements before
 * it left, so a batch accepts what the same commands one by one would.
 */
import type {
  AllocScheduledCommand,
  AllocsScheduledCommand,
  Applied,
} from "./command.ts";
import type { ClusterState } from "./state.ts";
import { SCHEDULE_PLACEMENTS_MAX } from "./limits.ts";
import {
  accept,
  invalidTime,
  invalidUnless,
  isId,
  quote,
} from "./_apply_common.ts";
import { applyAllocScheduled } from "./_apply_allocs.ts";

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
