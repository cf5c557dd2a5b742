/**
 * The commit of placements meant to land together (a wave of a deploy, a
 * repair's replacements): one `AllocsScheduled` entry, applied whole or not
 * at all, and what that means for each alloc, as the machine's events.
 *
 * - Accepted: every alloc is `scheduled`.
 * - Refused, atomic run (a deploy): every alloc of the entry, and of the
 *   entries after it, fails with the rejection's message, the refused one
 *   first (the deploy reports the first failure).
 * - Refused, not atomic (a repair): the refused alloc fails alone, and the
 *   entry is proposed again without it, so each placement that fits is
 *   committed, as when each was its own entry.
 *
 * A wave past `SCHEDULE_PLACEMENTS_MAX` takes several entries, in order.
 */
import type { Command, ScheduledPlacement } from "../../raft/fsm/mod.ts";
import { type Placement, placementBatches } from "../scheduler/mod.ts";
import type { CommitResult } from "./commit_result.ts";
import type { MachineEvent } from "./machine.ts";

export interface CommitPlacementsOptions {
  /** Commits one command; a refusal is data, a lost commit throws. */
  readonly commit: (command: Command) => Promise<CommitResult>;
  readonly atMs: number;
  /** The deploy the placements belong to; null for a repair. */
  readonly deployId: string | null;
  /** A deploy (true): a refusal fails them all. A repair: only the refused one. */
  readonly atomic: boolean;
}

/** Commits `placements` as whole entries; answers one event per alloc, in feeding order. */
export async function commitPlacements(
  placements: readonly Placement[],
  options: CommitPlacementsOptions,
): Promise<MachineEvent[]> {
  const byId = new Map(placements.map((p) => [p.allocId, p]));
  const events: MachineEvent[] = [];
  const batches = placementBatches(placements, options);
  for (const [index, first] of batches.entries()) {
    let batch = first;
    for (;;) {
      const result = await options.commit(batch);
      if (result.ok) {
        for (const placement of batch.placements) {
          events.push({ type: "scheduled", allocId: placement.allocId });
        }
        break;
      }
      const { message, allocId } = result.rejection;
      const refused = batch.placements.find((p) => p.allocId === allocId);
      if (options.atomic) {
        // Nothing of this entry exists, and the later ones are not tried.
        const rest = batches.slice(index).flatMap((b) => b.placements);
        events.push(...refusedEvents(rest, refused, message, byId));
        return events;
      }
      if (refused === undefined) {
        // Not about one placement (a malformed entry): none of it exists.
        events.push(...refusedEvents(batch.placements, refused, message, byId));
        break;
      }
      events.push(
        failed(
          refused,
          `cannot place on ${nodeName(refused, byId)}: ${message}`,
        ),
      );
      const left = batch.placements.filter((p) => p !== refused);
      if (left.length === 0) break;
      batch = { ...batch, placements: left };
    }
  }
  return events;
}

function refusedEvents(
  placements: readonly ScheduledPlacement[],
  refused: ScheduledPlacement | undefined,
  message: string,
  byId: ReadonlyMap<string, Placement>,
): MachineEvent[] {
  const ordered = refused === undefined
    ? placements
    : [refused, ...placements.filter((p) => p !== refused)];
  return ordered.map((placement) =>
    failed(
      placement,
      placement === refused
        ? `cannot place on ${nodeName(placement, byId)}: ${message}`
        : `not placed, its wave was refused whole: ${message}`,
    )
  );
}

function failed(placement: ScheduledPlacement, reason: string): MachineEvent {
  return {
    type: "allocFailed",
    allocId: placement.allocId,
    reason,
    started: false,
    logLines: [],
  };
}

function nodeName(
  placement: ScheduledPlacement,
  byId: ReadonlyMap<string, Placement>,
): string {
  return byId.get(placement.allocId)?.nodeName ?? placement.nodeId;
}
