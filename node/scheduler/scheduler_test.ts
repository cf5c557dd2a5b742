import { deepStrictEqual, strictEqual } from "node:assert/strict";
import type { ClusterConfig } from "../../config/types.ts";
import {
  type ClusterState,
  type Command,
  diffConfig,
  EMPTY_CONFIG,
} from "../../raft/fsm/mod.ts";
import {
  config,
  GIB,
  MIB,
  registerNode,
  service,
  stateFrom,
  task,
} from "../../raft/fsm/testing.ts";
import { commitPlan, deployPlan as deploy } from "./commit_testing.ts";
import { placementsOf, type Plan } from "./plan.ts";
import { schedule } from "./scheduler.ts";

const threeNodes: Command[] = [
  registerNode(1),
  registerNode(2),
  registerNode(3),
];

function nodesOf(plan: Plan): string[] {
  return placementsOf(plan).map((p) => p.nodeName);
}

function committed(state: ClusterState, plan: Plan): ClusterState {
  const result = commitPlan(state, plan, 100, { waves: true });
  deepStrictEqual(result.rejections, []);
  return result.state;
}

const seed002 = config([
  service("web", { replicas: 2, port: 3000, cpu: 0.5, memoryBytes: 512 * MIB }),
  service("api", { port: 8080, cpu: 1, memoryBytes: 1 * GIB }),
]);

Deno.test("schedule() spreads seed 002's first deploy over three nodes", () => {
  const { state, plan } = deploy(stateFrom(threeNodes), seed002);
  deepStrictEqual(plan.unplaced, []);
  const placements = placementsOf(plan);
  deepStrictEqual(placements.map((p) => `${p.workload}@${p.nodeName}`), [
    "api@node-1",
    "web@node-2",
    "web@node-3",
  ]);
  deepStrictEqual(placements.map((p) => p.hostPort), [20000, 20000, 20000]);
  deepStrictEqual(placements.map((p) => p.allocId), [
    "api-d1-1",
    "web-d1-1",
    "web-d1-2",
  ]);
  const after = committed(state, plan);
  strictEqual(after.allocs.size, 3);
});

Deno.test("schedule() gives the same plan for the same input", () => {
  const { state } = deploy(stateFrom(threeNodes), seed002);
  const request = {
    type: "deploy" as const,
    config: seed002,
    diff: diffConfig(EMPTY_CONFIG, seed002),
    idPrefix: "x",
  };
  deepStrictEqual(schedule(state, request), schedule(state, request));
});

Deno.test("schedule() puts a replica on the least loaded node", () => {
  const base = stateFrom([
    ...threeNodes,
    registerNode(4, { cpuMillis: 16000, memoryBytes: 64 * GIB }),
  ]);
  const { plan } = deploy(
    base,
    config([service("one", { cpu: 2, memoryBytes: 1 * GIB })]),
  );
  deepStrictEqual(nodesOf(plan), ["node-4"]);
});

Deno.test("schedule() co-locates replicas only when every node already has one", () => {
  const { state, plan } = deploy(
    stateFrom(threeNodes),
    config([service("web", { replicas: 5, cpu: 0.25 })]),
  );
  const counts = new Map<string, number>();
  for (const name of nodesOf(plan)) {
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  deepStrictEqual([...counts.values()].sort(), [1, 2, 2]);
  const ports = placementsOf(plan).filter((p) => p.nodeName === "node-1").map((
    p,
  ) => p.hostPort);
  deepStrictEqual(ports, [20000, 20001]);
  committed(state, plan);
});

Deno.test("schedule() says exactly why a service does not fit", async (t) => {
  const base = stateFrom([
    registerNode(1, { cpuMillis: 1000 }),
    registerNode(2, { cpuMillis: 1000 }),
    registerNode(3, { cpuMillis: 1500, memoryBytes: 1 * GIB }),
  ]);
  const cases: [string, ClusterConfig, string, string][] = [
    [
      "too much cpu",
      config([service("web", { cpu: 2 })]),
      "insufficient_cpu",
      "web: needs 2 cpu; most free is node-3 with 1.5",
    ],
    [
      "too much memory",
      config([service("big", { cpu: 0.5, memoryBytes: 16 * GIB })]),
      "insufficient_memory",
      "big: needs 16 GiB memory; most free is node-1 with 8 GiB",
    ],
    [
      "cpu and memory on different nodes",
      config([service("odd", { cpu: 1.5, memoryBytes: 4 * GIB })]),
      "insufficient_resources",
      "odd: needs 1.5 cpu and 4 GiB; no node has both free",
    ],
    [
      "an unmet constraint",
      config([
        service("eu", {
          constraints: [{
            attribute: "node.label.zone",
            operator: "==",
            value: "eu",
          }],
        }),
      ]),
      "constraints_unmet",
      'eu: no schedulable node meets node.label.zone == "eu" (3 checked)',
    ],
  ];
  for (const [name, next, code, message] of cases) {
    await t.step(name, () => {
      const { plan } = deploy(base, next);
      strictEqual(plan.unplaced.length, 1);
      strictEqual(plan.unplaced[0]?.code, code);
      strictEqual(
        plan.unplaced[0]?.message.startsWith(message),
        true,
        plan.unplaced[0]?.message,
      );
    });
  }
  await t.step("the count of replicas that did not fit", () => {
    const { plan } = deploy(
      base,
      config([service("web", { replicas: 4, cpu: 1 })]),
    );
    strictEqual(placementsOf(plan).length, 3);
    deepStrictEqual(plan.unplaced.map((u) => [u.workload, u.count, u.code]), [[
      "web",
      1,
      "insufficient_cpu",
    ]]);
  });
});

Deno.test("schedule() honours node.name, node.label and != constraints", async (t) => {
  const base = stateFrom([
    registerNode(1, { labels: { zone: "eu" } }),
    registerNode(2, { labels: { zone: "us" } }),
    registerNode(3),
  ]);
  const cases: [
    string,
    ClusterConfig["services"][string]["constraints"],
    string[],
  ][] = [
    ["node.name ==", [{
      attribute: "node.name",
      operator: "==",
      value: "node-2",
    }], ["node-2"]],
    ["node.label ==", [{
      attribute: "node.label.zone",
      operator: "==",
      value: "eu",
    }], ["node-1"]],
    ["node.label != (a node without the label passes)", [{
      attribute: "node.label.zone",
      operator: "!=",
      value: "eu",
    }], ["node-2", "node-3"]],
    ["two constraints", [
      { attribute: "node.label.zone", operator: "!=", value: "eu" },
      { attribute: "node.name", operator: "!=", value: "node-3" },
    ], ["node-2"]],
  ];
  for (const [name, constraints, nodes] of cases) {
    await t.step(name, () => {
      const { plan } = deploy(
        base,
        config([service("svc", { replicas: nodes.length, constraints })]),
      );
      deepStrictEqual(nodesOf(plan).sort(), nodes);
    });
  }
});

Deno.test("schedule() skips draining and down nodes", () => {
  const base = stateFrom([
    ...threeNodes,
    { type: "NodeDrain", nodeId: "n1", atMs: 1 },
    { type: "NodeDown", nodeId: "n2", reason: "", atMs: 1 },
  ]);
  const { plan } = deploy(base, config([service("web", { replicas: 2 })]));
  deepStrictEqual(nodesOf(plan), ["node-3", "node-3"]);
  const none = stateFrom([{ type: "NodeDrain", nodeId: "n3", atMs: 1 }], base);
  const refused = deploy(none, config([service("web")])).plan;
  strictEqual(refused.unplaced[0]?.code, "no_schedulable_node");
  strictEqual(
    refused.unplaced[0]?.message,
    "web: no schedulable node (node-1 draining, node-2 down, node-3 draining)",
  );
});

const postgres = service("postgres", {
  port: 5432,
  cpu: 1,
  memoryBytes: 2 * GIB,
  volumes: [{
    name: "pgdata",
    path: "/data",
    sizeBytes: 50 * GIB,
    ephemeral: false,
  }],
});

Deno.test("schedule() pins a volume-backed service to its volume's node", () => {
  const base = stateFrom([
    ...threeNodes,
    { type: "VolumeCreated", name: "pgdata", cloudId: "vol-1", atMs: 1 },
    { type: "VolumeAttached", name: "pgdata", nodeId: "n3", atMs: 1 },
  ]);
  const { state, plan } = deploy(base, config([postgres]));
  deepStrictEqual(plan.steps.map((s) => s.type), ["place"]);
  deepStrictEqual(nodesOf(plan), ["node-3"]);
  committed(state, plan);
});

Deno.test("schedule() creates a missing volume, or attaches a detached one, where it places", () => {
  const first = deploy(stateFrom(threeNodes), config([postgres]));
  deepStrictEqual(first.plan.steps.map((s) => s.type), [
    "createVolume",
    "place",
  ]);
  const after = committed(first.state, first.plan);
  strictEqual(
    after.volumes.get("pgdata")?.nodeId,
    placementsOf(first.plan)[0]?.nodeId,
  );

  const detached = stateFrom([
    ...threeNodes,
    { type: "VolumeCreated", name: "pgdata", cloudId: "vol-1", atMs: 1 },
  ]);
  const second = deploy(detached, config([postgres]));
  deepStrictEqual(second.plan.steps.map((s) => s.type), [
    "attachVolume",
    "place",
  ]);
  committed(second.state, second.plan);
});

Deno.test("schedule() explains a volume's node that is full", () => {
  const base = stateFrom([
    ...threeNodes,
    { type: "VolumeCreated", name: "pgdata", cloudId: "vol-1", atMs: 1 },
    { type: "VolumeAttached", name: "pgdata", nodeId: "n2", atMs: 1 },
  ]);
  const big = { ...postgres, cpu: 8 };
  const { plan } = deploy(base, config([big]));
  strictEqual(
    plan.unplaced[0]?.message,
    "postgres: needs 8 cpu; most free is node-2 with 4 (pinned to node-2 by its volume)",
  );
});

Deno.test("schedule() rolls a changed service: a replacement per old alloc, spread anew", () => {
  const first = deploy(stateFrom(threeNodes), seed002);
  const running = committed(first.state, first.plan);
  const next = config([
    service("web", {
      replicas: 2,
      port: 3000,
      cpu: 0.5,
      memoryBytes: 512 * MIB,
      image: "web:v2",
    }),
    service("api", { port: 8080, cpu: 1, memoryBytes: 1 * GIB }),
  ]);
  const second = deploy(running, next, "d2");
  deepStrictEqual(second.plan.steps.map((s) => s.type), ["replace", "replace"]);
  const replaced = second.plan.steps.map((
    s,
  ) => (s.type === "replace" ? s.oldAllocId : ""));
  deepStrictEqual(replaced, ["web-d1-1", "web-d1-2"]);
  const nodes = new Set(nodesOf(second.plan));
  strictEqual(nodes.size, 2);
  const after = committed(second.state, second.plan);
  strictEqual(after.allocs.get("web-d1-1")?.status, "stopped");
  strictEqual(after.allocs.get("web-d2-1")?.image, "web:v2");
  strictEqual(after.allocs.get("web-d2-1")?.replacesAllocId, "web-d1-1");
});

Deno.test("schedule() scales a service up and down without touching the rest", () => {
  const first = deploy(
    stateFrom(threeNodes),
    config([service("web", { replicas: 3 }), service("api")]),
  );
  const running = committed(first.state, first.plan);
  const up = deploy(
    running,
    config([service("web", { replicas: 4 }), service("api")]),
    "d2",
  );
  deepStrictEqual(up.plan.steps.map((s) => s.type), ["place"]);
  const down = deploy(
    running,
    config([service("web", { replicas: 1 }), service("api")]),
    "d3",
  );
  deepStrictEqual(down.plan.steps.map((s) => s.type), ["stop", "stop"]);
  const removed = deploy(running, config([service("api")]), "d4");
  deepStrictEqual(
    removed.plan.steps.map((s) => (s.type === "stop" ? s.reason : s.type)),
    [
      "service removed",
      "service removed",
      "service removed",
    ],
  );
  committed(removed.state, removed.plan);
});

Deno.test("schedule() spawns a task on the least loaded node, or says it does not exist", () => {
  const { state } = deploy(
    stateFrom(threeNodes),
    config([], [task("migrate")]),
  );
  const plan = schedule(state, {
    type: "task",
    task: "migrate",
    idPrefix: "t1",
  });
  deepStrictEqual(
    placementsOf(plan).map((p) => [p.allocId, p.kind, p.hostPort]),
    [["migrate-t1-1", "task", null]],
  );
  committed(state, plan);
  const missing = schedule(state, {
    type: "task",
    task: "nope",
    idPrefix: "t2",
  });
  strictEqual(missing.unplaced[0]?.code, "unknown_workload");
});

Deno.test("schedule() replaces a failed node's services and migrates its volume (seed 000)", () => {
  const base = stateFrom([
    ...threeNodes,
    { type: "VolumeCreated", name: "pgdata", cloudId: "vol-1", atMs: 1 },
    { type: "VolumeAttached", name: "pgdata", nodeId: "n2", atMs: 1 },
  ]);
  const first = deploy(
    base,
    config([postgres, service("web", { replicas: 3 })]),
  );
  const running = committed(first.state, first.plan);
  const down = stateFrom([{
    type: "NodeDown",
    nodeId: "n2",
    reason: "missed heartbeats",
    atMs: 200,
  }], running);
  const plan = schedule(down, {
    type: "node-failure",
    nodeId: "n2",
    idPrefix: "r1",
  });
  deepStrictEqual(plan.unplaced, []);
  deepStrictEqual(plan.steps.map((s) => s.type), [
    "moveVolume",
    "place",
    "place",
  ]);
  const move = plan.steps[0];
  strictEqual(move?.type === "moveVolume" && move.fromNodeId, "n2");
  const placements = placementsOf(plan);
  strictEqual(placements.every((p) => p.nodeId !== "n2"), true);
  strictEqual(placements.every((p) => p.replacesAllocId !== null), true);
  const after = committed(down, plan);
  strictEqual(after.volumes.get("pgdata")?.nodeId, placements[0]?.nodeId);
  // Nothing left to repair.
  deepStrictEqual(
    schedule(after, { type: "repair", idPrefix: "r2" }).steps,
    [],
  );
});

Deno.test("schedule() drains a node one alloc at a time (seed 001)", () => {
  const base = stateFrom([
    ...threeNodes,
    { type: "VolumeCreated", name: "pgdata", cloudId: "vol-1", atMs: 1 },
    { type: "VolumeAttached", name: "pgdata", nodeId: "n3", atMs: 1 },
    { type: "VolumeCreated", name: "spare", cloudId: "vol-2", atMs: 1 },
    { type: "VolumeAttached", name: "spare", nodeId: "n3", atMs: 1 },
  ]);
  const first = deploy(
    base,
    config([postgres, service("web", { replicas: 3 })], [task("job")]),
  );
  let running = committed(first.state, first.plan);
  running = committed(
    running,
    schedule(running, { type: "task", task: "job", idPrefix: "t" }),
  );
  const draining = stateFrom(
    [{ type: "NodeDrain", nodeId: "n3", atMs: 300 }],
    running,
  );
  const jobNode = [...draining.allocs.values()].find((a) =>
    a.workload === "job"
  )?.nodeId;
  const plan = schedule(draining, {
    type: "drain",
    nodeId: "n3",
    idPrefix: "dr",
  });
  deepStrictEqual(plan.unplaced, []);
  const expected = ["stop", "moveVolume", "place", "replace"];
  if (jobNode === "n3") expected.push("stop");
  expected.push("detachVolume");
  deepStrictEqual(plan.steps.map((s) => s.type), expected);
  const after = committed(draining, plan);
  strictEqual(after.nodes.get("n3")?.activeAllocs, 0);
  strictEqual(after.volumes.get("spare")?.state, "ready");
  const removed = stateFrom(
    [{ type: "NodeRemove", nodeId: "n3", atMs: 400 }],
    after,
  );
  strictEqual(removed.nodes.has("n3"), false);
});

Deno.test("schedule() keeps a drained alloc running when its replacement does not fit", () => {
  const base = stateFrom([
    registerNode(1),
    registerNode(2, { cpuMillis: 500 }),
  ]);
  const first = deploy(base, config([service("api", { cpu: 2 })]));
  const running = committed(first.state, first.plan);
  const draining = stateFrom(
    [{ type: "NodeDrain", nodeId: "n1", atMs: 1 }],
    running,
  );
  const plan = schedule(draining, {
    type: "drain",
    nodeId: "n1",
    idPrefix: "dr",
  });
  deepStrictEqual(plan.steps, []);
  strictEqual(
    plan.unplaced[0]?.message,
    "api: needs 2 cpu; most free is node-2 with 0.5",
  );
});

Deno.test("schedule() replaces a volume-backed alloc in place, stopping it first when its node has no room for both", () => {
  const base = stateFrom([
    registerNode(1),
    registerNode(2),
    { type: "VolumeCreated", name: "pgdata", cloudId: "vol-1", atMs: 1 },
    { type: "VolumeAttached", name: "pgdata", nodeId: "n1", atMs: 1 },
  ]);
  const big = { ...postgres, cpu: 3 };
  const first = deploy(base, config([big]));
  const running = committed(first.state, first.plan);
  const second = deploy(
    running,
    config([{ ...big, image: "postgres:17" }]),
    "d2",
  );
  deepStrictEqual(second.plan.steps.map((s) => s.type), ["stop", "place"]);
  deepStrictEqual(nodesOf(second.plan), ["node-1"]);
  const after = committed(second.state, second.plan);
  strictEqual(
    after.allocs.get("postgres-d2-1")?.replacesAllocId,
    "postgres-d1-1",
  );
  // With room for both, the replacement starts before the original stops.
  const small = deploy(
    running,
    config([{ ...big, cpu: 1, image: "postgres:17" }]),
    "d3",
  );
  deepStrictEqual(small.plan.steps.map((s) => s.type), ["replace"]);
});
