import { deepStrictEqual } from "node:assert/strict";
import {
  config,
  MIB,
  registerNode,
  service,
  stateFrom,
} from "../../raft/fsm/testing.ts";
import type { Command } from "../../raft/mod.ts";
import { zoneInputOf } from "./dns_zone.ts";

const { port: _port, ...portless } = service("worker", {
  cpu: 0.1,
  memoryBytes: 64 * MIB,
});
const app = config([
  service("api", { replicas: 2, port: 8080, cpu: 0.1, memoryBytes: 64 * MIB }),
  portless,
]);

function placed(allocId: string, workload: string, ip: string): Command {
  return {
    type: "AllocScheduled",
    allocId,
    nodeId: "n1",
    workload,
    kind: "service",
    image: "busybox:1",
    cpuMillis: 100,
    memoryBytes: 64 * MIB,
    ip,
    atMs: 3000,
  };
}

function healthy(allocId: string): Command[] {
  return [
    { type: "AllocStatus", allocId, status: "starting", atMs: 3100 },
    { type: "AllocRunning", allocId, address: "x:1", atMs: 3200 },
    { type: "AllocStatus", allocId, status: "healthy", atMs: 3300 },
  ];
}

Deno.test("zoneInputOf(): services list their healthy, not stopping allocs; every live alloc and ready node has a name", () => {
  const state = stateFrom([
    registerNode(1, { network: { clusterRange: "10.210.0.0/16" } }),
    registerNode(2),
    { type: "Deploy", deployId: "d1", config: app, atMs: 2000 },
    placed("api-1", "api", "10.210.0.2"),
    ...healthy("api-1"),
    placed("api-2", "api", "10.210.0.3"),
    ...healthy("api-2"),
    {
      type: "AllocStopRequested",
      allocId: "api-2",
      reason: "rollout",
      atMs: 4000,
    },
    placed("api-3", "api", "10.210.0.4"),
    placed("worker-1", "worker", "10.210.0.5"),
    ...healthy("worker-1"),
    placed("gone-1", "worker", "10.210.0.6"),
    { type: "AllocStatus", allocId: "gone-1", status: "failed", atMs: 3500 },
    { type: "NodeDown", nodeId: "n2", reason: "test", atMs: 5000 },
  ]);
  const input = zoneInputOf(state);
  deepStrictEqual(input.services, [
    {
      name: "api",
      endpoints: [{ allocId: "api-1", address: "10.210.0.2", port: 8080 }],
    },
    {
      name: "worker",
      endpoints: [{ allocId: "worker-1", address: "10.210.0.5", port: null }],
    },
  ]);
  deepStrictEqual(
    input.allocs.map((a) => `${a.id}=${a.address}`).sort(),
    [
      "api-1=10.210.0.2",
      "api-2=10.210.0.3",
      "api-3=10.210.0.4",
      "worker-1=10.210.0.5",
    ],
  );
  deepStrictEqual(input.nodes, [{ name: "node-1", address: "10.210.0.1" }]);
});
