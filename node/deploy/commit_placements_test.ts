import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import {
  type ClusterState,
  SCHEDULE_PLACEMENTS_MAX,
} from "../../raft/fsm/mod.ts";
import {
  config,
  GIB,
  MIB,
  registerNode,
  service,
  stateFrom,
} from "../../raft/fsm/testing.ts";
import { deployPlan } from "../scheduler/commit_testing.ts";
import { type Placement, placementsOf } from "../scheduler/mod.ts";
import { commitPlacements } from "./_commit_placements.ts";
import { FsmLog, seed002 } from "./_fsm_log_testing.ts";
import type { MachineEvent } from "./machine.ts";

/** Seed 002's first deploy on three nodes: committed Deploy, and its plan. */
function planned(): { state: ClusterState; placements: Placement[] } {
  const { state, plan } = deployPlan(
    stateFrom([registerNode(1), registerNode(2), registerNode(3)]),
    seed002,
  );
  deepStrictEqual(plan.unplaced, []);
  return { state, placements: placementsOf(plan) };
}

/**
 * Commits `placements` through an FSM log over `state` (a deploy's wave
 * when `deployId` is set and atomic, else a repair's).
 */
async function commitOn(
  state: ClusterState,
  placements: readonly Placement[],
  deployId: string | null,
) {
  const log = new FsmLog(state);
  const events = await commitPlacements(placements, {
    commit: log.commit,
    atMs: 50,
    deployId,
    atomic: deployId !== null,
  });
  return { log, events };
}

/** `state` after `nodeId` started draining: its room went elsewhere. */
function drainedFrom(state: ClusterState, nodeId: string): ClusterState {
  return stateFrom([{ type: "NodeDrain", nodeId, atMs: 40 }], state);
}

function kinds(events: readonly MachineEvent[]): string[] {
  return events.map((e) => `${e.type} ${"allocId" in e ? e.allocId : ""}`);
}

Deno.test("a wave's placements are committed as one entry and each alloc is scheduled", async () => {
  const { state, placements } = planned();
  const { log, events } = await commitOn(state, placements, "d1");
  strictEqual(log.entries.length, 1);
  strictEqual(log.entries[0]?.type, "AllocsScheduled");
  deepStrictEqual(
    kinds(events),
    placements.map((p) => `scheduled ${p.allocId}`),
  );
  for (const placement of placements) {
    const alloc = log.state.allocs.get(placement.allocId);
    strictEqual(alloc?.nodeId, placement.nodeId);
    strictEqual(alloc?.deployId, "d1");
  }
});

Deno.test("a deploy's refused wave fails every alloc of it, the refused one first, and commits none", async () => {
  const { state, placements } = planned();
  const victim = placements[1]!;
  // The room went to something else meanwhile: the node started draining.
  const drained = drainedFrom(state, victim.nodeId);
  const { log, events } = await commitOn(drained, placements, "d1");
  strictEqual(log.entries.length, 1);
  strictEqual(log.state, drained, "nothing was applied");
  strictEqual(events.length, placements.length);
  deepStrictEqual(
    events.map((e) => e.type),
    placements.map(() => "allocFailed"),
  );
  const [first, ...rest] = events;
  ok(first?.type === "allocFailed");
  strictEqual(first.allocId, victim.allocId);
  ok(
    first.reason.startsWith(
      `cannot place on ${victim.nodeName}: Placement 2 of 3 (alloc "${victim.allocId}") refused, so none of the 3 was applied`,
    ),
    first.reason,
  );
  ok(first.reason.includes("is draining"), first.reason);
  for (const event of rest) {
    ok(event.type === "allocFailed");
    ok(event.reason.includes("its wave was refused whole"), event.reason);
    strictEqual(event.started, false);
  }
});

Deno.test("a repair's refused placement fails alone; the others are committed in the next entry", async () => {
  const { state, placements } = planned();
  const victim = placements[0]!;
  const drained = drainedFrom(state, victim.nodeId);
  const { log, events } = await commitOn(drained, placements, null);
  strictEqual(log.entries.length, 2);
  deepStrictEqual(kinds(events), [
    `allocFailed ${victim.allocId}`,
    ...placements.slice(1).map((p) => `scheduled ${p.allocId}`),
  ]);
  strictEqual(log.state.allocs.has(victim.allocId), false);
  for (const placement of placements.slice(1)) {
    strictEqual(log.state.allocs.get(placement.allocId)?.deployId, null);
  }
});

Deno.test("a wave past the entry bound takes several entries, in plan order", async () => {
  const nodes = Array.from(
    { length: 20 },
    (_, i) =>
      registerNode(i + 1, { cpuMillis: 1_000_000, memoryBytes: 4096 * GIB }),
  );
  const count = SCHEDULE_PLACEMENTS_MAX + 10;
  const { state, plan } = deployPlan(
    stateFrom(nodes),
    config([service("wide", { replicas: count, cpu: 0.01, memoryBytes: MIB })]),
  );
  const placements = placementsOf(plan);
  strictEqual(placements.length, count);
  const { log, events } = await commitOn(state, placements, "d1");
  deepStrictEqual(
    log.entries.map((e) => e.type === "AllocsScheduled" && e.placements.length),
    [SCHEDULE_PLACEMENTS_MAX, 10],
  );
  strictEqual(events.filter((e) => e.type === "scheduled").length, count);
  strictEqual(log.state.allocs.size, count);
});
