/**
 * Three nodes (primary and secondary each, own containerd) running the
 * deploy coordinator: replicas spread across the nodes; a secondary that
 * dies has its service replaced on the others within the heartbeat timeout
 * + 5 s; a leader killed mid-deploy leaves nothing half-started once the
 * new leader has recovered the deploy. Services without ports, so the
 * nodes sharing one loopback do not compete for host ports.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { parseConfig } from "../../config/mod.ts";
import type { Agent } from "../../node/agent/mod.ts";
import { isTerminal } from "../../raft/mod.ts";
import { waitFor } from "./_bed.ts";
import { startThreePrimaries } from "./_cluster.ts";

const HEARTBEAT_TIMEOUT_MS = 2_000;

function config(image: string, replicas: number) {
  const parsed = parseConfig(
    `service "idle" {\n  image = "${image}"\n  replicas = ${replicas}\n  cpu = 0.1\n  memory = "32M"\n}\n`,
    "idle.mill",
  );
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.diagnostics));
  return parsed.config;
}

function leaderOf(agents: Agent[]): Agent | undefined {
  return agents.find((a) => a.leader?.isLeader === true);
}

function liveIdle(agent: Agent) {
  return [...agent.state().allocs.values()].filter((a) =>
    a.workload === "idle" && !isTerminal(a.status)
  );
}

Deno.test("three nodes: replicas spread, a dead secondary's service moves, a leader killed mid-deploy leaves nothing half-started", async (t) => {
  const cluster = await startThreePrimaries({
    heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
  });
  const images = cluster.bed.bed.images;
  try {
    await t.step("three replicas land on three nodes", async () => {
      const coordinator = cluster.bed.agent.leader!.coordinator!;
      const outcome = await coordinator.deploy(
        config(images.sleeper, 3),
        () => {},
      );
      assertTrue(outcome.ok, JSON.stringify(outcome));
      const nodes = liveIdle(cluster.bed.agent).map((a) => a.nodeId);
      assertEquals(new Set(nodes).size, 3);
    });

    await t.step(
      "a dead secondary's replica runs elsewhere within the timeout + 5 s",
      async () => {
        const victim = cluster.joined[1]!;
        const id = victim.agent.identity.nodeId;
        await victim.agent.stop();
        const startedMs = Date.now();
        await waitFor(
          "a replacement healthy on a live node",
          () => {
            const live = liveIdle(cluster.bed.agent);
            return live.length === 3 &&
              live.every((a) => a.nodeId !== id && a.status === "healthy");
          },
          HEARTBEAT_TIMEOUT_MS * 2 + 5_000,
        );
        assertTrue(Date.now() - startedMs < HEARTBEAT_TIMEOUT_MS * 2 + 5_000);
      },
    );

    await t.step(
      "a leader killed mid-deploy: the new leader finishes or rolls back",
      async () => {
        // Back to three members first: two of three must survive the leader.
        const returning = cluster.joined[1]!;
        await cluster.restart(returning);
        await waitFor(
          "node-3 back",
          () =>
            cluster.bed.agent.state().nodes.get(returning.agent.identity.nodeId)
              ?.status === "ready",
        );
        const oldLeader = cluster.bed.agent;
        const coordinator = oldLeader.leader!.coordinator!;
        // A new image for every replica; the leader dies once the deploy started.
        const started = Promise.withResolvers<void>();
        void coordinator.deploy(config(images.stubborn, 2), (event) => {
          if (event.type === "phase") started.resolve();
        }).catch(() => {/* the leader is gone: its caller learns nothing */});
        await started.promise;
        await oldLeader.stop();
        const survivors = cluster.joined.map((j) => j.agent);
        await waitFor("a new leader", () => leaderOf(survivors) !== undefined);
        const survivor = leaderOf(survivors)!;
        await waitFor(
          "the deploy finished or rolled back, nothing pulling or starting",
          () => {
            const state = survivor.state();
            const last = state.deploys.at(-1);
            const halfStarted = [...state.allocs.values()].some((a) =>
              a.status === "pulling" || a.status === "starting"
            );
            return last?.status !== "running" && !halfStarted;
          },
          30_000,
        );
      },
    );
  } finally {
    await cluster.stop();
  }
});
