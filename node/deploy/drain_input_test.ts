import { deepStrictEqual, strictEqual } from "node:assert/strict";
import {
  config,
  MIB,
  registerNode,
  service,
  stateFrom,
  task,
} from "../../raft/fsm/testing.ts";
import type { Command } from "../../raft/mod.ts";
import { schedule } from "../scheduler/mod.ts";
import { drainInput } from "./_plan_input.ts";

const app = config([
  service("web", { replicas: 3, cpu: 0.1, memoryBytes: 64 * MIB }),
], [task("migrate", { cpu: 0.1, memoryBytes: 64 * MIB })]);

function placed(allocId: string, nodeId: string, kind = "service"): Command[] {
  return [
    {
      type: "AllocScheduled",
      allocId,
      nodeId,
      workload: allocId.split("-")[0]!,
      kind: kind as "service" | "task",
      image: "registry.test/web:v1",
      cpuMillis: 100,
      memoryBytes: 64 * MIB,
      atMs: 3000,
    },
    { type: "AllocStatus", allocId, status: "starting", atMs: 3100 },
    { type: "AllocRunning", allocId, address: "10.0.0.1:20000", atMs: 3200 },
  ];
}

Deno.test("drainInput(): one replacement per wave, start-first, never rolled back; tasks stopped", () => {
  const state = stateFrom([
    registerNode(1),
    registerNode(2),
    { type: "Deploy", deployId: "d1", config: app, atMs: 2000 },
    ...placed("web-1", "n1"),
    ...placed("web-2", "n1"),
    ...placed("web-3", "n2"),
    ...placed("migrate-1", "n1", "task"),
    { type: "NodeDrain", nodeId: "n1", atMs: 4000 },
  ]);
  const plan = schedule(state, { type: "drain", nodeId: "n1", idPrefix: "x" });
  const { input } = drainInput(state, plan);
  strictEqual(input.atomic, false);
  deepStrictEqual(
    input.allocs.map((a) => [a.wave, a.nodeId, a.replaces]),
    [
      [1, "n2", { allocId: "web-1", order: "start-first" }],
      [2, "n2", { allocId: "web-2", order: "start-first" }],
    ],
  );
  deepStrictEqual(input.stops.map((s) => s.allocId), ["migrate-1"]);
});
