import { deepStrictEqual as assertEquals } from "node:assert/strict";
import type { Command } from "../../raft/fsm/mod.ts";
import {
  config,
  registerNode,
  service,
  stateFrom,
  task,
} from "../../raft/fsm/testing.ts";
import { planRecovery } from "./recover.ts";

const v1 = config([
  service("web", { replicas: 2 }),
  service("api"),
], [task("migrate")]);
const v2 = config([
  service("web", { replicas: 2, image: "registry.test/web:v2" }),
  service("api"),
], [task("migrate")]);

function scheduled(
  allocId: string,
  nodeId: string,
  workload: string,
  deployId: string | null,
  image = `registry.test/${workload}:v1`,
): Command {
  return {
    type: "AllocScheduled",
    allocId,
    nodeId,
    workload,
    kind: workload === "migrate" ? "task" : "service",
    image,
    cpuMillis: workload === "migrate" ? 250 : 500,
    memoryBytes: workload === "migrate" ? 128 * 2 ** 20 : 512 * 2 ** 20,
    ...(deployId === null ? {} : { deployId }),
    atMs: 3000,
  };
}

function healthy(allocId: string): Command[] {
  return [
    { type: "AllocStatus", allocId, status: "starting", atMs: 3100 },
    { type: "AllocRunning", allocId, address: "10.0.0.1:20000", atMs: 3200 },
    { type: "AllocStatus", allocId, status: "healthy", atMs: 3300 },
  ];
}

/** v1 deployed and healthy, then deploy d2 (web → v2) committed. */
const before: Command[] = [
  registerNode(1),
  registerNode(2),
  { type: "Deploy", deployId: "d1", config: v1, atMs: 2000 },
  scheduled("web-a-0", "n1", "web", "d1"),
  scheduled("web-a-1", "n2", "web", "d1"),
  scheduled("api-a-0", "n1", "api", "d1"),
  ...healthy("web-a-0"),
  ...healthy("web-a-1"),
  ...healthy("api-a-0"),
  {
    type: "DeployFinished",
    deployId: "d1",
    outcome: "succeeded",
    message: "",
    atMs: 2500,
  },
  { type: "Deploy", deployId: "d2", config: v2, atMs: 4000 },
];

const v2Image = "registry.test/web:v2";

Deno.test("planRecovery() finishes or rolls back what the old leader left", async (t) => {
  const cases = [
    {
      name:
        "a deploy cut short mid-start is rolled back, its new allocs stopped",
      commands: [
        scheduled("web-b-0", "n1", "web", "d2", v2Image),
        scheduled("web-b-1", "n2", "web", "d2", v2Image),
        ...healthy("web-b-0"),
        {
          type: "AllocStatus",
          allocId: "web-b-1",
          status: "starting",
          atMs: 5000,
        },
      ] as Command[],
      deploy: "rolled_back",
      stops: ["web-b-0", "web-b-1"],
      // The restored config gets back any replica a roll had stopped.
      repair: true,
    },
    {
      name: "a deploy past its commit point succeeds and stops the old allocs",
      commands: [
        scheduled("web-b-0", "n1", "web", "d2", v2Image),
        scheduled("web-b-1", "n2", "web", "d2", v2Image),
        ...healthy("web-b-0"),
        ...healthy("web-b-1"),
      ] as Command[],
      deploy: "succeeded",
      stops: ["web-a-0", "web-a-1"],
      repair: false,
    },
    {
      name:
        "a stop-first roll cut after its old replica stopped: rolled back, the old replica's stop finished, a repair restores it",
      commands: [
        {
          type: "AllocStopRequested",
          allocId: "web-a-0",
          reason: "replaced by web-b-0",
          atMs: 4100,
        },
        scheduled("web-b-0", "n1", "web", "d2", v2Image),
      ] as Command[],
      deploy: "rolled_back",
      stops: ["web-b-0", "web-a-0"],
      repair: true,
    },
    {
      name: "a deploy with a replica never scheduled is rolled back",
      commands: [
        scheduled("web-b-0", "n1", "web", "d2", v2Image),
        ...healthy("web-b-0"),
      ] as Command[],
      deploy: "rolled_back",
      stops: ["web-b-0"],
      repair: true,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const plan = planRecovery(stateFrom([...before, ...c.commands]));
      assertEquals(plan.deploy?.deployId, "d2");
      assertEquals(plan.deploy?.outcome, c.deploy);
      assertEquals(plan.stops.map((s) => s.allocId), c.stops);
      assertEquals(plan.repair, c.repair);
    });
  }
});

Deno.test("planRecovery() fails allocs of no deploy stuck starting, and asks for a repair", () => {
  const state = stateFrom([
    ...before,
    {
      type: "DeployFinished",
      deployId: "d2",
      outcome: "rolled_back",
      message: "",
      atMs: 4100,
    },
    scheduled("migrate-x-0", "n2", "migrate", null),
    {
      type: "AllocStatus",
      allocId: "migrate-x-0",
      status: "starting",
      atMs: 5000,
    },
    scheduled("api-r-0", "n2", "api", null),
  ]);
  const plan = planRecovery(state);
  assertEquals(plan.deploy, null);
  assertEquals(plan.stops.map((s) => [s.allocId, s.finalStatus]), [
    ["api-r-0", "failed"],
    ["migrate-x-0", "failed"],
  ]);
  assertEquals(plan.repair, true);
});

Deno.test("planRecovery() has nothing to do on a settled cluster", () => {
  const state = stateFrom([
    ...before,
    {
      type: "DeployFinished",
      deployId: "d2",
      outcome: "rolled_back",
      message: "",
      atMs: 4100,
    },
  ]);
  assertEquals(planRecovery(state), { deploy: null, stops: [], repair: false });
});
