import { deepStrictEqual, strictEqual } from "node:assert/strict";
import type { Command } from "./command.ts";
import { baseState, scheduled, toHealthy } from "./fixtures_testing.ts";
import {
  allocsByNode,
  allocsOfWorkload,
  allocsToStop,
  diffWithCurrent,
  freeResources,
  healthyEndpoints,
  nodeResources,
  routeTargets,
  runningDeploy,
  serviceEndpoints,
  staleNodes,
  volumeLocations,
  volumeNode,
} from "./queries.ts";
import { config, GIB, MIB, service, stateFrom } from "./testing.ts";

const busy: Command[] = [
  scheduled("web-1", "n1", "web", { hostPort: 20000 }),
  ...toHealthy("web-1", "10.0.0.1:20000"),
  scheduled("web-2", "n3", "web", { hostPort: 20001 }),
  ...toHealthy("web-2", "10.0.0.3:20001"),
  scheduled("web-3", "n2", "web", { hostPort: 20000 }),
  { type: "AllocStatus", allocId: "web-3", status: "starting", atMs: 1 },
  scheduled("api-1", "n2", "api", { hostPort: 20001 }),
  ...toHealthy("api-1", "10.0.0.2:20001"),
  { type: "AllocStopRequested", allocId: "api-1", reason: "replaced", atMs: 5 },
  scheduled("migrate-1", "n1", "migrate"),
  {
    type: "AllocStatus",
    allocId: "migrate-1",
    status: "stopped",
    exitCode: 0,
    atMs: 6,
  },
];

Deno.test("healthyEndpoints() lists healthy, serving allocs as node address and host port", () => {
  const state = stateFrom(busy, baseState());
  const endpoints = healthyEndpoints(state);
  deepStrictEqual([...endpoints.keys()], ["web"]);
  deepStrictEqual(serviceEndpoints(state, "web"), [
    { allocId: "web-1", nodeId: "n1", host: "10.0.0.1", port: 20000 },
    { allocId: "web-2", nodeId: "n3", host: "10.0.0.3", port: 20001 },
  ]);
  deepStrictEqual(serviceEndpoints(state, "api"), []);
});

Deno.test("healthyEndpoints() drops the allocs of a node that goes down", () => {
  const state = stateFrom([...busy, {
    type: "NodeDown",
    nodeId: "n1",
    reason: "",
    atMs: 9,
  }], baseState());
  deepStrictEqual(serviceEndpoints(state, "web").map((e) => e.allocId), [
    "web-2",
  ]);
});

Deno.test("freeResources() reports capacity minus live reservations per node", () => {
  const state = stateFrom(busy, baseState());
  const byName = new Map(freeResources(state).map((r) => [r.name, r]));
  deepStrictEqual([...byName.keys()], ["node-1", "node-2", "node-3"]);
  strictEqual(byName.get("node-1")?.cpuMillisFree, 3500);
  strictEqual(byName.get("node-1")?.memoryBytesFree, 8 * GIB - 512 * MIB);
  // A stop request keeps the reservation until the alloc has stopped.
  strictEqual(byName.get("node-2")?.cpuMillisFree, 4000 - 500 - 1000);
  strictEqual(nodeResources(state, "n3")?.activeAllocs, 1);
  strictEqual(nodeResources(state, "n9"), null);
});

Deno.test("volumeLocations() and volumeNode() say where each volume is", () => {
  const state = stateFrom([{
    type: "VolumeCreated",
    name: "cache",
    cloudId: "vol-9",
    atMs: 1,
  }], baseState());
  deepStrictEqual(volumeLocations(state), [
    {
      name: "cache",
      cloudId: "vol-9",
      state: "detached",
      nodeId: null,
      nodeName: null,
    },
    {
      name: "pgdata",
      cloudId: "vol-abc123",
      state: "attached",
      nodeId: "n2",
      nodeName: "node-2",
    },
  ]);
  strictEqual(volumeNode(state, "pgdata"), "n2");
  strictEqual(volumeNode(state, "cache"), null);
  strictEqual(volumeNode(state, "nope"), null);
});

Deno.test("allocsByNode() groups allocs under every node, optionally only the live ones", () => {
  const state = stateFrom(busy, baseState());
  const all = allocsByNode(state, { activeOnly: false });
  deepStrictEqual(all.get("n1")?.map((a) => a.id), ["migrate-1", "web-1"]);
  const live = allocsByNode(state, { activeOnly: true });
  deepStrictEqual(live.get("n1")?.map((a) => a.id), ["web-1"]);
  deepStrictEqual(live.get("n2")?.map((a) => a.id), ["api-1", "web-3"]);
  deepStrictEqual(
    allocsOfWorkload(state, "web", { activeOnly: true }).map((a) => a.id),
    ["web-1", "web-2", "web-3"],
  );
});

Deno.test("diffWithCurrent() and runningDeploy() read the current config and deploy", () => {
  const state = baseState();
  strictEqual(runningDeploy(state)?.id, "d1");
  const diff = diffWithCurrent(
    state,
    config([
      service("web", {
        replicas: 2,
        port: 3000,
        routes: [{ host: "app.example.com", path: "/" }],
      }),
    ]),
  );
  deepStrictEqual(diff.services.removed, ["api", "postgres"]);
  deepStrictEqual(diff.tasks.removed, ["migrate"]);
});

Deno.test("routeTargets() maps each route to its service's healthy endpoints, longest path first", () => {
  const next = config([
    service("web", { routes: [{ host: "app.example.com", path: "/" }] }),
    service("api", {
      routes: [{ host: "app.example.com", path: "/api" }, {
        host: "api.example.com",
        path: "/",
      }],
    }),
  ]);
  const state = stateFrom([
    {
      type: "DeployFinished",
      deployId: "d1",
      outcome: "succeeded",
      message: "",
      atMs: 1,
    },
    { type: "Deploy", deployId: "d2", config: next, atMs: 2 },
    { ...scheduled("web-1", "n1", "web", { hostPort: 20000 }), cpuMillis: 500 },
    ...toHealthy("web-1", "10.0.0.1:20000"),
  ], baseState());
  deepStrictEqual(
    routeTargets(state).map((
      r,
    ) => [r.host, r.path, r.service, r.endpoints.length]),
    [
      ["api.example.com", "/", "api", 0],
      ["app.example.com", "/api", "api", 0],
      ["app.example.com", "/", "web", 1],
    ],
  );
});

Deno.test("staleNodes() lists ready nodes whose heartbeats stopped", () => {
  const state = stateFrom([
    { type: "NodeHeartbeat", nodeId: "n1", statuses: [], atMs: 20_000 },
    { type: "NodeHeartbeat", nodeId: "n2", statuses: [], atMs: 5_000 },
    { type: "NodeDown", nodeId: "n3", reason: "", atMs: 6_000 },
  ], baseState());
  deepStrictEqual(
    staleNodes(state, { nowMs: 21_000, heartbeatTimeoutMs: 15_000 }).map((n) =>
      n.id
    ),
    ["n2"],
  );
  deepStrictEqual(
    staleNodes(state, { nowMs: 20_000, heartbeatTimeoutMs: 15_000 }),
    [],
  );
});

Deno.test("allocsToStop() names what a returning node runs but should not", () => {
  const state = stateFrom([
    ...busy,
    { type: "NodeDown", nodeId: "n1", reason: "", atMs: 9 },
    { type: "NodeUp", nodeId: "n1", atMs: 10 },
  ], baseState());
  deepStrictEqual(allocsToStop(state, "n1", ["web-1", "web-2", "ghost"]), [
    "ghost",
    "web-1",
    "web-2",
  ]);
  deepStrictEqual(allocsToStop(state, "n2", ["web-3", "api-1"]), ["api-1"]);
});
