import { deepStrictEqual, strictEqual } from "node:assert/strict";
import type { Command } from "../../raft/fsm/mod.ts";
import {
  config,
  MIB,
  registerNode,
  service,
  stateFrom,
} from "../../raft/fsm/testing.ts";
import { commitPlan, deployPlan as deploy } from "./commit_testing.ts";
import { placementsOf } from "./plan.ts";

/** Two networked nodes on a /23 (n1 gets 10.210.0.0/24, n2 10.210.1.0/24) and a host-network one. */
const mixedNodes: Command[] = [
  registerNode(1, { network: { clusterRange: "10.210.0.0/23" } }),
  registerNode(2, { network: {} }),
  registerNode(3),
];

function roll(replicas: number, image = "web:v1") {
  return config([
    service("web", {
      replicas,
      port: 80,
      cpu: 0.01,
      memoryBytes: 16 * MIB,
      image,
    }),
  ]);
}

Deno.test("schedule() gives each alloc on a networked node the lowest free address of its subnet, none on a host-network node", () => {
  const { state, plan } = deploy(stateFrom(mixedNodes), roll(6));
  deepStrictEqual(plan.unplaced, []);
  const byNode = new Map<string, (string | null)[]>();
  for (const p of placementsOf(plan)) {
    byNode.set(p.nodeName, [...(byNode.get(p.nodeName) ?? []), p.ip]);
  }
  deepStrictEqual(byNode.get("node-1"), ["10.210.0.2", "10.210.0.3"]);
  deepStrictEqual(byNode.get("node-2"), ["10.210.1.2", "10.210.1.3"]);
  deepStrictEqual(byNode.get("node-3"), [null, null]);
  const result = commitPlan(state, plan, 100, { waves: true });
  deepStrictEqual(result.rejections, []);
  deepStrictEqual(result.state.nodes.get("n1")?.allocHosts, [2, 3]);
});

Deno.test("a rolling update's new allocs take fresh addresses while the old ones still hold theirs", () => {
  const first = deploy(stateFrom(mixedNodes.slice(0, 1)), roll(2));
  const live = commitPlan(first.state, first.plan, 100, { waves: true });
  deepStrictEqual(live.rejections, []);
  const second = deploy(live.state, roll(2, "web:v2"), "d2");
  const ips = placementsOf(second.plan).map((p) => p.ip);
  strictEqual(ips.includes("10.210.0.2"), false, String(ips));
  strictEqual(ips.includes("10.210.0.3"), false, String(ips));
  const after = commitPlan(second.state, second.plan, 200, { waves: true });
  deepStrictEqual(after.rejections, []);
});

Deno.test("a node whose subnet is full takes no more allocs; the others do", () => {
  const { plan } = deploy(
    stateFrom(mixedNodes.slice(0, 2)),
    config([
      service("web", { replicas: 510, cpu: 0.001, memoryBytes: 1 * MIB }),
    ]),
  );
  const placements = placementsOf(plan);
  strictEqual(placements.length, 506, "253 addresses on each of two /24s");
  strictEqual(plan.unplaced.length > 0, true);
  strictEqual(new Set(placements.map((p) => p.ip)).size, 506);
});
