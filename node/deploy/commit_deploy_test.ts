import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import {
  type ClusterState,
  COMMAND_BYTES_MAX,
  encodeCommand,
  runningDeploy,
} from "../../raft/fsm/mod.ts";
import {
  config,
  GIB,
  MIB,
  registerNode,
  service,
  stateFrom,
} from "../../raft/fsm/testing.ts";
import type { ClusterConfig } from "../../config/types.ts";
import { placementsOf, type Plan } from "../scheduler/mod.ts";
import { commitDeploy, firstWaveOf } from "./_commit_deploy.ts";
import { FsmLog, seed002 } from "./_fsm_log_testing.ts";
import { DeployError } from "./errors.ts";
import { prepareDeploy } from "./prepare.ts";

const threeNodes = () =>
  stateFrom([registerNode(1), registerNode(2), registerNode(3)]);

function prepared(state: ClusterState, next: ClusterConfig, deployId: string) {
  const ready = prepareDeploy(state, next, deployId);
  if (ready instanceof DeployError) throw ready;
  return ready.plan;
}

async function deployed(
  log: FsmLog,
  next: ClusterConfig,
  deployId: string,
  plan = prepared(log.state, next, deployId),
) {
  return await commitDeploy(
    plan,
    { type: "Deploy", deployId, config: next, atMs: 5000 },
    log.commit,
  );
}

Deno.test("a first deploy commits its Deploy and wave 1 as one entry", async () => {
  const log = new FsmLog(threeNodes());
  const plan = prepared(log.state, seed002, "d1");
  const { result, withDeploy } = await deployed(log, seed002, "d1", plan);
  ok(result.ok);
  strictEqual(log.entries.length, 1);
  strictEqual(log.entries[0]!.type, "DeployWithWave");
  deepStrictEqual(withDeploy, placementsOf(plan).map((p) => p.allocId));
  strictEqual(runningDeploy(log.state)?.id, "d1");
  for (const allocId of withDeploy) {
    const alloc = log.state.allocs.get(allocId);
    strictEqual(alloc?.status, "pulling");
    strictEqual(alloc?.deployId, "d1");
  }
});

Deno.test("a wave whose room was taken since the plan refuses the deploy with it", async () => {
  const state = threeNodes();
  const plan = prepared(state, seed002, "d1");
  // Between the plan and the commit, the nodes shrank to almost nothing.
  const log = new FsmLog(stateFrom([
    registerNode(1, { cpuMillis: 100 }),
    registerNode(2, { cpuMillis: 100 }),
    registerNode(3, { cpuMillis: 100 }),
  ], state));
  const { result } = await deployed(log, seed002, "d1", plan);
  ok(!result.ok);
  strictEqual(result.rejection.code, "alloc.insufficient_cpu");
  ok(result.rejection.allocId !== undefined);
  // Nothing of it exists: no deploy record, no alloc.
  strictEqual(log.state.deploys.length, 0);
  strictEqual(log.state.allocs.size, 0);
});

Deno.test("a deploy refused while another runs places nothing", async () => {
  const log = new FsmLog(threeNodes());
  const plan = prepared(log.state, seed002, "d2");
  await log.commit({
    type: "Deploy",
    deployId: "d1",
    config: config([]),
    atMs: 4000,
  });
  const { result } = await deployed(log, seed002, "d2", plan);
  ok(!result.ok);
  strictEqual(result.rejection.code, "deploy.in_progress");
  strictEqual(log.state.allocs.size, 0);
  strictEqual(runningDeploy(log.state)?.id, "d1");
});

Deno.test("a roll on full nodes commits the Deploy alone: its wave waits for the room", async () => {
  // One node with room for exactly the replicas: the roll is stop-first.
  const log = new FsmLog(
    stateFrom([registerNode(1, { cpuMillis: 1000, memoryBytes: 2 * GIB })]),
  );
  const v1 = config([service("web", { replicas: 2, cpu: 0.5 })]);
  const first = await deployed(log, v1, "d1");
  ok(first.result.ok);
  await log.commit({
    type: "DeployFinished",
    deployId: "d1",
    outcome: "succeeded",
    message: "",
    atMs: 6000,
  });
  const v2 = config([
    service("web", { replicas: 2, cpu: 0.5, image: "registry.test/web:v2" }),
  ]);
  const plan = prepared(log.state, v2, "d2");
  ok(
    plan.steps.some((s) => s.type === "replace" && s.order === "stop-first"),
    "the fixture rolls stop-first",
  );
  const entries = log.entries.length;
  const second = await deployed(log, v2, "d2", plan);
  ok(second.result.ok);
  deepStrictEqual(second.withDeploy, []);
  deepStrictEqual(log.entries.slice(entries).map((c) => c.type), ["Deploy"]);
});

Deno.test("a config too big to share an entry with its wave commits alone", async () => {
  const log = new FsmLog(threeNodes());
  // Under the entry bound alone (by 10 bytes), over it with the wave's.
  const withBlob = (blob: string) =>
    config([service("web", { replicas: 2, env: { BLOB: blob } })]);
  const bare = encodeCommand({
    type: "Deploy",
    deployId: "d1",
    config: withBlob(""),
    atMs: 5000,
  }).length;
  const big = withBlob("x".repeat(COMMAND_BYTES_MAX - bare - 10));
  const { result, withDeploy } = await deployed(log, big, "d1");
  ok(result.ok, result.ok ? "" : result.rejection.message);
  deepStrictEqual(withDeploy, []);
  deepStrictEqual(log.entries.map((c) => c.type), ["Deploy"]);
});

Deno.test("firstWaveOf: only a wave 1 nothing must come before", () => {
  const placement = (allocId: string) => ({
    allocId,
    nodeId: "n1",
    nodeName: "node-1",
    workload: "web",
    kind: "service" as const,
    image: "registry.test/web:v1",
    cpuMillis: 100,
    memoryBytes: MIB,
    hostPort: null,
    ip: null,
    replacesAllocId: null,
  });
  const plan = (steps: Plan["steps"]): Plan => ({ steps, unplaced: [] });
  const place = (allocId: string, wave: number) => ({
    type: "place" as const,
    placement: placement(allocId),
    wave,
  });
  deepStrictEqual(
    firstWaveOf(plan([place("a", 1), place("b", 2), place("c", 1)])).map((p) =>
      p.allocId
    ),
    ["a", "c"],
  );
  deepStrictEqual(
    firstWaveOf(plan([
      place("a", 1),
      { type: "stop", allocId: "old", reason: "removed", when: "last" },
    ])).length,
    1,
  );
  for (
    const blocker of [
      { type: "stop", allocId: "old", reason: "removed", when: "first" },
      {
        type: "replace",
        oldAllocId: "old",
        placement: placement("b"),
        order: "stop-first",
        wave: 1,
      },
      { type: "attachVolume", volume: "data", nodeId: "n1" },
    ] as const
  ) {
    deepStrictEqual(firstWaveOf(plan([place("a", 1), blocker])), []);
  }
  // A start-first replacement rides with the Deploy; one of wave 2 does not.
  deepStrictEqual(
    firstWaveOf(plan([
      {
        type: "replace",
        oldAllocId: "old",
        placement: placement("b"),
        order: "start-first",
        wave: 1,
      },
      {
        type: "replace",
        oldAllocId: "old2",
        placement: placement("c"),
        order: "stop-first",
        wave: 2,
      },
    ])).map((p) => p.allocId),
    ["b"],
  );
  deepStrictEqual(firstWaveOf(plan([])), []);
});
