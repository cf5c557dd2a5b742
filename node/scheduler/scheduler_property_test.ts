import { deepStrictEqual } from "node:assert/strict";
import type { ClusterConfig, ServiceConfig } from "../../config/types.ts";
import {
  checkInvariants,
  type ClusterState,
  type Command,
  cpuMillisOf,
  decodeSnapshot,
  diffConfig,
  EMPTY_CONFIG,
  encodeSnapshot,
  isSchedulable,
  isTerminal,
} from "../../raft/fsm/mod.ts";
import { testSeeds, withSeed } from "../../raft/fsm/seed_testing.ts";
import {
  config,
  GIB,
  MIB,
  registerNode,
  Rng,
  service,
  stateFrom,
} from "../../raft/fsm/testing.ts";
import { commitPlan } from "./commit_testing.ts";
import { placementsOf } from "./plan.ts";
import { schedule, type ScheduleRequest } from "./scheduler.ts";
import { meetsConstraints } from "./_choose.ts";

const SEEDS = 30;

function randomCluster(rng: Rng, ample: boolean): ClusterState {
  const count = rng.int(1, 12);
  const commands: Command[] = [];
  for (let n = 1; n <= count; n++) {
    commands.push(registerNode(n, {
      cpuMillis: ample ? 1_000_000 : rng.pick([1000, 2000, 4000, 8000]),
      memoryBytes: ample ? 1024 * GIB : rng.pick([1, 2, 4, 16]) * GIB,
      labels: rng.bool() ? { zone: rng.pick(["a", "b"]) } : {},
    }));
    if (!ample && rng.bool(0.1)) {
      commands.push({ type: "NodeDrain", nodeId: `n${n}`, atMs: 2 });
    }
    if (!ample && rng.bool(0.1)) {
      commands.push({ type: "NodeDown", nodeId: `n${n}`, reason: "", atMs: 2 });
    }
  }
  return stateFrom(commands);
}

function randomConfig(
  rng: Rng,
  ample: boolean,
  version: number,
): ClusterConfig {
  const services: ServiceConfig[] = [];
  for (let index = rng.int(1, 10); index > 0; index--) {
    services.push(service(`s${index}`, {
      replicas: rng.int(0, 6),
      cpu: rng.pick([0.1, 0.25, 0.5, 1, 2]),
      memoryBytes: rng.pick([64, 256, 1024, 3072]) * MIB,
      image: `s${index}:v${rng.int(version, version + 1)}`,
      ...(rng.bool(0.3) ? {} : { port: 8080 }),
      constraints: !ample && rng.bool(0.2)
        ? [{
          attribute: "node.label.zone",
          operator: rng.pick(["==", "!="] as const),
          value: "a",
        }]
        : [],
      volumes: !ample && rng.bool(0.15)
        ? [{ name: `vol-s${index}`, path: "/data", ephemeral: false }]
        : [],
    }));
  }
  return config(services);
}

function deployAndCommit(state: ClusterState, next: ClusterConfig, id: string) {
  const running = state.deploys.at(-1);
  const finish: Command[] = running?.status === "running"
    ? [{
      type: "DeployFinished",
      deployId: running.id,
      outcome: "succeeded",
      message: "",
      atMs: 3,
    }]
    : [];
  const before = state.config;
  const deployed = stateFrom([...finish, {
    type: "Deploy",
    deployId: id,
    config: next,
    atMs: 4,
  }], state);
  const plan = schedule(deployed, {
    type: "deploy",
    config: next,
    diff: diffConfig(before, next),
    idPrefix: id,
  });
  const result = commitPlan(deployed, plan, 10, { waves: true });
  if (result.rejections.length > 0) {
    const first = result.rejections[0]!;
    throw new Error(
      `plan refused by apply: ${first.command.type}: ${first.rejection.message}`,
    );
  }
  const problems = checkInvariants(result.state);
  if (problems.length > 0) {
    throw new Error(`invariants: ${problems.join("; ")}`);
  }
  return { plan, state: result.state };
}

/** Replicas per node of a service's live allocs. */
function replicaCounts(state: ClusterState, name: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const alloc of state.allocs.values()) {
    if (alloc.workload !== name || isTerminal(alloc.status)) continue;
    counts.set(alloc.nodeId, (counts.get(alloc.nodeId) ?? 0) + 1);
  }
  return counts;
}

/** Co-located replicas only when no other eligible node had room for one. */
function checkSpread(state: ClusterState, next: ClusterConfig): void {
  for (const svc of Object.values(next.services)) {
    if (svc.volumes.length > 0) continue;
    const counts = replicaCounts(state, svc.name);
    if (![...counts.values()].some((count) => count > 1)) continue;
    for (const node of state.nodes.values()) {
      if (!isSchedulable(node) || counts.has(node.id)) continue;
      if (!meetsConstraints(node, svc.constraints)) continue;
      const cpuFree = node.cpuMillis - node.cpuMillisReserved;
      const memoryFree = node.memoryBytes - node.memoryBytesReserved;
      if (cpuFree >= cpuMillisOf(svc.cpu) && memoryFree >= svc.memoryBytes) {
        throw new Error(
          `${svc.name} doubled up while ${node.name} had room and no replica`,
        );
      }
    }
  }
}

Deno.test("schedule() plans that apply always accepts, with replicas spread while nodes have room", () => {
  for (const seed of testSeeds(SEEDS)) {
    withSeed(seed, () => {
      const rng = new Rng(seed);
      const cluster = randomCluster(rng, false);
      const first = randomConfig(rng, false, 1);
      const one = deployAndCommit(cluster, first, "d1");
      let asked = 0;
      for (const svc of Object.values(first.services)) asked += svc.replicas;
      const placed = placementsOf(one.plan).length;
      const unplaced = one.plan.unplaced.reduce((sum, u) => sum + u.count, 0);
      if (placed + unplaced !== asked) {
        throw new Error(
          `asked ${asked} replicas, placed ${placed}, unplaced ${unplaced}`,
        );
      }
      checkSpread(one.state, first);
      // A second deploy (changed images, scales, removals) rolls over the first.
      const two = deployAndCommit(one.state, randomConfig(rng, false, 2), "d2");
      // Then a node drains and another fails; their plans also commit cleanly.
      const nodeIds = [...two.state.nodes.keys()].sort();
      const drained = rng.pick(nodeIds);
      let state = stateFrom(
        two.state.nodes.get(drained)?.draining
          ? []
          : [{ type: "NodeDrain", nodeId: drained, atMs: 20 }],
        two.state,
      );
      const drain = schedule(state, {
        type: "drain",
        nodeId: drained,
        idPrefix: "dr",
      });
      const afterDrain = commitPlan(state, drain, 30);
      if (afterDrain.rejections.length > 0) {
        throw new Error(
          `drain refused: ${afterDrain.rejections[0]!.rejection.message}`,
        );
      }
      state = afterDrain.state;
      const failed = rng.pick(nodeIds);
      if (state.nodes.get(failed)?.status === "ready") {
        state = stateFrom([{
          type: "NodeDown",
          nodeId: failed,
          reason: "",
          atMs: 40,
        }], state);
        const repair = commitPlan(
          state,
          schedule(state, {
            type: "node-failure",
            nodeId: failed,
            idPrefix: "r",
          }),
          50,
        );
        if (repair.rejections.length > 0) {
          throw new Error(
            `repair refused: ${repair.rejections[0]!.rejection.message}`,
          );
        }
        const problems = checkInvariants(repair.state);
        if (problems.length > 0) {
          throw new Error(`invariants: ${problems.join("; ")}`);
        }
      }
    });
  }
});

Deno.test("schedule() puts replicas of one service on distinct nodes whenever there are enough", () => {
  for (const seed of testSeeds(SEEDS)) {
    withSeed(seed, () => {
      const rng = new Rng(seed);
      const cluster = randomCluster(rng, true);
      const next = randomConfig(rng, true, 1);
      const { state, plan } = deployAndCommit(cluster, next, "d1");
      if (plan.unplaced.length > 0) {
        throw new Error(`ample cluster left ${plan.unplaced[0]!.message}`);
      }
      const nodes = cluster.nodes.size;
      for (const svc of Object.values(next.services)) {
        const counts = [...replicaCounts(state, svc.name).values()];
        const most = Math.max(0, ...counts);
        const expected = Math.ceil(svc.replicas / nodes);
        if (most !== expected) {
          throw new Error(
            `${svc.name}: ${svc.replicas} replicas on ${nodes} nodes, ${most} on one node`,
          );
        }
      }
    });
  }
});

Deno.test("schedule() on an empty config plans nothing", () => {
  const state = stateFrom([registerNode(1)]);
  const plan = schedule(state, {
    type: "deploy",
    config: EMPTY_CONFIG,
    diff: diffConfig(EMPTY_CONFIG, EMPTY_CONFIG),
    idPrefix: "x",
  });
  if (plan.steps.length !== 0 || plan.unplaced.length !== 0) {
    throw new Error("expected an empty plan");
  }
});

Deno.test("schedule() plans the same on a replica restored from a snapshot as on the leader", () => {
  for (const seed of testSeeds(10)) {
    const rng = new Rng(seed);
    const cluster = randomCluster(rng, false);
    const { state } = deployAndCommit(
      cluster,
      randomConfig(rng, false, 1),
      "d1",
    );
    const replica = decodeSnapshot(encodeSnapshot(state));
    const nodeIds = [...state.nodes.keys()].sort();
    const requests: ScheduleRequest[] = [
      { type: "repair", idPrefix: "r" },
      { type: "drain", nodeId: rng.pick(nodeIds), idPrefix: "dr" },
      { type: "node-failure", nodeId: rng.pick(nodeIds), idPrefix: "nf" },
    ];
    const next = randomConfig(rng, false, 2);
    requests.push({
      type: "deploy",
      config: next,
      diff: diffConfig(state.config, next),
      idPrefix: "d2",
    });
    for (const request of requests) {
      try {
        deepStrictEqual(schedule(replica, request), schedule(state, request));
      } catch (error) {
        throw new Error(
          `${request.type}: ${error}\nreproduce with MILL_SEED=${seed}`,
          { cause: error },
        );
      }
    }
  }
});
