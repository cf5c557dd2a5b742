/**
 * Rolling updates on a node without room for twice a service: the plan's
 * waves and orders, and the same plan committed through `apply` in the
 * order the deploy runs it (the scheduler and the commit check agree).
 */
import { deepStrictEqual, strictEqual } from "node:assert/strict";
import type { ServiceConfig } from "../../config/types.ts";
import { type ClusterState, isTerminal } from "../../raft/fsm/mod.ts";
import {
  config,
  GIB,
  registerNode,
  service,
  stateFrom,
} from "../../raft/fsm/testing.ts";
import { commitPlan, deployPlan as deploy } from "./commit_testing.ts";
import type { Plan, PlanStep } from "./plan.ts";

/** One node with 2 cores and 8 GiB, like the `mill up` machine of the report. */
const oneNode = () =>
  stateFrom([registerNode(1, { cpuMillis: 2000, memoryBytes: 8 * GIB })]);

/** Commits the plan in deploy order and finishes the deploy. */
function landed(state: ClusterState, plan: Plan, id: string): ClusterState {
  const result = commitPlan(state, plan, 10, { waves: true });
  deepStrictEqual(result.rejections.map((r) => r.rejection.message), []);
  return stateFrom([{
    type: "DeployFinished",
    deployId: id,
    outcome: "succeeded",
    message: "",
    atMs: 20,
  }], result.state);
}

const storefront = (overrides: Partial<ServiceConfig> = {}) =>
  service("storefront", { replicas: 3, cpu: 0.25, port: 3000, ...overrides });
const other = service("worker", { replicas: 1, cpu: 1 });

/** A cluster where `services` were deployed (as d1) and are running. */
function runningAfterFirst(
  services: ServiceConfig[],
  node: ClusterState = oneNode(),
): ClusterState {
  const first = deploy(node, config(services), "d1");
  return landed(first.state, first.plan, "d1");
}

function rollSteps(plan: Plan): string[] {
  return plan.steps.map((step: PlanStep) =>
    step.type === "replace"
      ? `wave ${step.wave} ${step.order} ${step.oldAllocId}`
      : step.type === "stop"
      ? `stop ${step.when} ${step.allocId}`
      : step.type === "place"
      ? `wave ${step.wave} place ${step.placement.workload}`
      : step.type
  );
}

function running(state: ClusterState, workload: string) {
  return [...state.allocs.values()].filter((a) =>
    a.workload === workload && !isTerminal(a.status)
  );
}

Deno.test("a roll on a node with room for one more goes start-first, one replica per wave", () => {
  // 1.75 of 2 cores reserved: room for exactly one more 0.25 replica.
  const before = runningAfterFirst([storefront(), other]);
  const changed = config([storefront({ env: { MODE: "b" } }), other]);
  const roll = deploy(before, changed, "d2");
  deepStrictEqual(roll.plan.unplaced, []);
  deepStrictEqual(rollSteps(roll.plan), [
    "wave 1 start-first storefront-d1-1",
    "wave 2 start-first storefront-d1-2",
    "wave 3 start-first storefront-d1-3",
  ]);
  const after = landed(roll.state, roll.plan, "d2");
  deepStrictEqual(
    running(after, "storefront").map((a) => a.id).sort(),
    ["storefront-d2-1", "storefront-d2-2", "storefront-d2-3"],
  );
});

Deno.test("a roll on a full node goes stop-first and reuses each old replica's room", () => {
  const full = service("worker", { replicas: 1, cpu: 1.25 });
  const before = runningAfterFirst([storefront(), full]);
  strictEqual(before.nodes.get("n1")?.cpuMillisReserved, 2000);
  const roll = deploy(
    before,
    config([storefront({ image: "storefront:v2" }), full]),
    "d2",
  );
  deepStrictEqual(roll.plan.unplaced, []);
  deepStrictEqual(rollSteps(roll.plan), [
    "wave 1 stop-first storefront-d1-1",
    "wave 2 stop-first storefront-d1-2",
    "wave 3 stop-first storefront-d1-3",
  ]);
  landed(roll.state, roll.plan, "d2");
});

Deno.test("update { order = start-first } without room is refused with the way out", () => {
  const full = service("worker", { replicas: 1, cpu: 1.25 });
  const before = runningAfterFirst([storefront(), full]);
  const roll = deploy(
    before,
    config([
      storefront({
        image: "storefront:v2",
        update: { order: "start-first", maxParallel: 1 },
      }),
      full,
    ]),
    "d2",
  );
  strictEqual(roll.plan.unplaced.length, 1);
  const message = roll.plan.unplaced[0]!.message;
  strictEqual(message.includes("needs 0.25 cpu"), true, message);
  strictEqual(message.includes('order = "stop-first"'), true, message);
});

Deno.test("update { order = stop-first; max_parallel = 2 } replaces two at a time, stopping first even with room", () => {
  const big = stateFrom([registerNode(1, { cpuMillis: 16000 })]);
  const before = runningAfterFirst([storefront()], big);
  const roll = deploy(
    before,
    config([
      storefront({
        image: "storefront:v2",
        update: { order: "stop-first", maxParallel: 2 },
      }),
    ]),
    "d2",
  );
  deepStrictEqual(rollSteps(roll.plan), [
    "wave 1 stop-first storefront-d1-1",
    "wave 1 stop-first storefront-d1-2",
    "wave 2 stop-first storefront-d1-3",
  ]);
  landed(roll.state, roll.plan, "d2");
});

Deno.test("a service that replaces another gets the dropped one's room: stopped first on a full node, last with room", async (t) => {
  const cases = [
    {
      name: "full node: stopped first",
      cpu: 1,
      replicas: 2,
      steps: [
        "stop first web-d1-1",
        "stop first web-d1-2",
        "wave 1 place shop",
        "wave 1 place shop",
      ],
    },
    {
      name: "room for both: stopped last, a rollback finds it serving",
      cpu: 0.5,
      replicas: 1,
      steps: ["stop last web-d1-1", "wave 1 place shop"],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const shape = { replicas: c.replicas, cpu: c.cpu, port: 3000 };
      const before = runningAfterFirst([service("web", shape)]);
      const swap = deploy(before, config([service("shop", shape)]), "d2");
      deepStrictEqual(swap.plan.unplaced, []);
      deepStrictEqual(rollSteps(swap.plan), c.steps);
      const after = landed(swap.state, swap.plan, "d2");
      strictEqual(running(after, "shop").length, c.replicas);
      strictEqual(running(after, "web").length, 0);
    });
  }
});

Deno.test("an empty config stops every service last", () => {
  const web = service("web", { replicas: 2, cpu: 0.5, port: 3000 });
  const before = runningAfterFirst([web]);
  const down = deploy(before, config([]), "d2");
  deepStrictEqual(rollSteps(down.plan), [
    "stop last web-d1-1",
    "stop last web-d1-2",
  ]);
  const after = landed(down.state, down.plan, "d2");
  strictEqual(running(after, "web").length, 0);
});
