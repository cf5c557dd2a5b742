import { deepStrictEqual } from "node:assert/strict";
import {
  config,
  MIB,
  registerNode,
  service,
  stateFrom,
} from "../../raft/fsm/testing.ts";
import type { Command } from "../../raft/mod.ts";
import { ingressRoutesOf } from "./routes.ts";

const routes = [
  { host: "shop.example.com", path: "/" },
  {
    host: "shop.example.com",
    path: "/api",
    balance: "least-connections" as const,
  },
];
const v1 = config([
  service("web", {
    replicas: 2,
    port: 8080,
    cpu: 0.1,
    memoryBytes: 64 * MIB,
    routes,
  }),
  service("worker", { port: 9000, cpu: 0.1, memoryBytes: 64 * MIB }),
]);
const v2 = config([
  service("web", {
    replicas: 2,
    port: 3000,
    cpu: 0.1,
    memoryBytes: 64 * MIB,
    routes,
    image: "registry.test/web:v2",
  }),
]);

function placed(
  allocId: string,
  deployId: string,
  ip: string | null,
  nodeId = "n1",
): Command {
  return {
    type: "AllocScheduled",
    allocId,
    nodeId,
    workload: allocId.split("-")[0]!,
    kind: "service",
    image: "registry.test/web:v1",
    cpuMillis: 100,
    memoryBytes: 64 * MIB,
    deployId,
    ...(ip === null ? {} : { ip }),
    atMs: 3000,
  };
}

function healthy(allocId: string, address = "10.0.0.2:20001"): Command[] {
  return [
    { type: "AllocStatus", allocId, status: "starting", atMs: 3100 },
    { type: "AllocRunning", allocId, address, atMs: 3200 },
    { type: "AllocStatus", allocId, status: "healthy", atMs: 3300 },
  ];
}

const base: Command[] = [
  registerNode(1, { network: { clusterRange: "10.210.0.0/16" } }),
  registerNode(2),
  { type: "Deploy", deployId: "d1", config: v1, atMs: 2000 },
  placed("web-1", "d1", "10.210.0.2"),
  ...healthy("web-1"),
  // On host networking: where the node said it answers.
  placed("web-2", "d1", null, "n2"),
  ...healthy("web-2", "10.0.0.2:20001"),
  placed("worker-1", "d1", "10.210.0.3"),
  ...healthy("worker-1"),
];

Deno.test("ingressRoutesOf(): each route of a service, to its serving allocs at their container or host address", () => {
  const state = stateFrom([
    ...base,
    {
      type: "DeployFinished",
      deployId: "d1",
      outcome: "succeeded",
      message: "",
      atMs: 3400,
    },
  ]);
  const endpoints = [
    { address: "10.210.0.2", port: 8080, allocId: "web-1" },
    { address: "10.0.0.2", port: 20001, allocId: "web-2" },
  ];
  deepStrictEqual(ingressRoutesOf(state), [
    { host: "shop.example.com", pathPrefix: "/", service: "web", endpoints },
    {
      host: "shop.example.com",
      pathPrefix: "/api",
      balance: "least-connections",
      service: "web",
      endpoints,
    },
  ]);
});

Deno.test("ingressRoutesOf(): mid-deploy, old allocs on the old port, new ones once healthy, stopping ones gone", () => {
  const state = stateFrom([
    ...base,
    {
      type: "DeployFinished",
      deployId: "d1",
      outcome: "succeeded",
      message: "",
      atMs: 3400,
    },
    { type: "Deploy", deployId: "d2", config: v2, atMs: 4000 },
    placed("web-3", "d2", "10.210.0.4"),
    ...healthy("web-3"),
    placed("web-4", "d2", "10.210.0.5"),
    {
      type: "AllocStopRequested",
      allocId: "web-2",
      reason: "rollout",
      atMs: 4100,
    },
  ]);
  const [root] = ingressRoutesOf(state);
  deepStrictEqual(root?.endpoints, [
    { address: "10.210.0.2", port: 8080, allocId: "web-1" },
    { address: "10.210.0.4", port: 3000, allocId: "web-3" },
  ]);
});
