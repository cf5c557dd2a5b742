/**
 * A second node joins as a secondary (its own data dir, peer port and
 * containerd): the CA is checked against the join token, the node
 * registers, the leader reaches its runtime over RPC; when its agent dies
 * the leader declares it down after the heartbeat timeout, and it comes
 * back up when the agent returns.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { type Agent, startAgent } from "../../node/agent/mod.ts";
import {
  formatJoinToken,
  JoinError,
  requestJoin,
  saveJoinedIdentity,
} from "../../node/agent/join.ts";
import { parseConfig } from "../../config/mod.ts";
import { readCertificate } from "../../node/cluster_init/mod.ts";
import { startContainerd } from "../containerd/testbed.ts";
import { killAllTasks, startAgentBed, waitFor } from "./_bed.ts";

const HEARTBEAT_TIMEOUT_MS = 1_500;

Deno.test("a secondary joins with a checked CA, runs RPC for the leader, goes down and comes back", async (t) => {
  const bed = await startAgentBed({ heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS });
  const containerd = await startContainerd();
  const dataDir = await Deno.makeTempDir({ prefix: "mill-node2-" });
  let secondary: Agent | null = null;
  const logs: string[] = [];
  const startSecondary = () =>
    startAgent({
      dataDir,
      roles: ["secondary"],
      name: "node-2",
      peer: { listen: { hostname: "127.0.0.1", port: 0 } },
      containerd: {
        socketPath: containerd.socketPath,
        runcRoot: containerd.runcRoot,
        cgroupParent: containerd.cgroupParent,
        insecureRegistries: [bed.bed.registry.host],
      },
      heartbeat: { intervalMs: 200 },
      resources: { cpuMillis: 2000, memoryBytes: 2 * 1024 ** 3 },
      log: (level, message) => logs.push(`${level} ${message}`),
    });
  try {
    await waitFor(
      "the primary leading and registered",
      () =>
        bed.agent.leader?.isLeader === true &&
        bed.agent.state().nodes.size === 1,
    );
    const peer = `127.0.0.1:${bed.agent.peerPort}`;
    const fingerprint = (await readCertificate(bed.cluster.caCertPem))
      .fingerprintSha256;

    await t.step(
      "a token with another CA's fingerprint or a wrong token is refused",
      async () => {
        const wrongCa = formatJoinToken(bed.cluster.joinToken, "0".repeat(64));
        const refused = await requestJoin(peer, wrongCa, { name: "x" }).catch((
          e,
        ) => e);
        assertTrue(refused instanceof JoinError);
        assertEquals(refused.code, "join.ca_mismatch");
        const wrongToken = formatJoinToken(bed.cluster.rpcToken, fingerprint);
        const denied = await requestJoin(peer, wrongToken, { name: "x" }).catch(
          (e) => e,
        );
        assertTrue(denied instanceof JoinError);
        assertEquals(denied.code, "api.unauthenticated");
      },
    );

    await t.step(
      "node messages need the RPC token and a well-formed body",
      async () => {
        const post = (token: string, body: string) =>
          fetch(`http://${peer}/peer/v1/heartbeat`, {
            method: "POST",
            headers: {
              authorization: `Bearer ${token}`,
              "content-type": "application/json",
            },
            body,
          });
        const anonymous = await post(bed.cluster.joinToken, "{}");
        assertEquals(anonymous.status, 401);
        await anonymous.body?.cancel();
        const malformed = await post(
          bed.cluster.rpcToken,
          JSON.stringify({ nodeId: "n", statuses: "all", running: [] }),
        );
        assertEquals(malformed.status, 400);
        assertEquals((await malformed.json()).code, "peer.bad_request");
        const unknown = await post(
          bed.cluster.rpcToken,
          JSON.stringify({ nodeId: "ghost", statuses: [], running: [] }),
        );
        assertEquals(unknown.status, 422);
        assertEquals((await unknown.json()).code, "node.unknown");
      },
    );

    await t.step("the node joins and registers with the leader", async () => {
      const joined = await requestJoin(
        peer,
        formatJoinToken(bed.cluster.joinToken, fingerprint),
        { name: "node-2" },
      );
      assertEquals(joined.clusterId, bed.cluster.clusterId);
      assertEquals(joined.primaries, [peer]);
      await saveJoinedIdentity(dataDir, joined);
      secondary = await startSecondary();
      const id = secondary.identity.nodeId;
      await waitFor(
        "node-2 registered",
        () => bed.agent.state().nodes.get(id)?.status === "ready",
      );
      const nodes = await (await bed.api("/v1/nodes")).json();
      assertEquals(nodes.nodes.map((n: { name: string }) => n.name), [
        "node-1",
        "node-2",
      ]);
    });

    await t.step("the leader pulls an image on node-2 over RPC", async () => {
      const runtime = bed.agent.leader!.runtime(secondary!.identity.nodeId);
      const signal = AbortSignal.timeout(30_000);
      const first = await runtime.pull(
        { image: bed.bed.images.sleeper },
        signal,
      );
      assertEquals(first.cached, false);
      const again = await runtime.pull(
        { image: bed.bed.images.sleeper },
        signal,
      );
      assertEquals(again.cached, true);
      const status = await runtime.status({ allocIds: ["nope"] }, signal);
      assertEquals(status.allocs[0]?.state, "unknown");
    });

    await t.step(
      "the leader starts a container on node-2 over RPC",
      async () => {
        const leader = bed.agent.leader!;
        const nodeId = secondary!.identity.nodeId;
        const parsed = parseConfig(
          `service "idle" {\n  image = "${bed.bed.images.sleeper}"\n}\n`,
          "idle.mill",
        );
        assertTrue(parsed.ok);
        if (!parsed.ok) return;
        const atMs = Date.now();
        for (
          const command of [
            { type: "Deploy", deployId: "d1", config: parsed.config, atMs },
            {
              type: "AllocScheduled",
              allocId: "idle-1",
              nodeId,
              workload: "idle",
              kind: "service",
              image: bed.bed.images.sleeper,
              cpuMillis: 100,
              memoryBytes: 32 * 1024 * 1024,
              atMs,
            },
            {
              type: "AllocStatus",
              allocId: "idle-1",
              status: "starting",
              atMs,
            },
          ] as const
        ) {
          const result = await leader.commit(command);
          assertTrue(result.ok, JSON.stringify(result));
        }
        await leader.runtime(nodeId).start({
          allocId: "idle-1",
          name: "idle",
          kind: "service",
          image: bed.bed.images.sleeper,
          env: {},
          secrets: {},
          cpu: 0.1,
          memoryBytes: 32 * 1024 * 1024,
          labels: {},
          stopSignal: "SIGTERM",
          stopGracePeriodMs: 5_000,
        }, AbortSignal.timeout(30_000));
        const status = await leader.runtime(nodeId).status(
          {},
          AbortSignal.timeout(10_000),
        );
        assertEquals(status.allocs.map((a) => a.state), ["running"]);
      },
    );

    await t.step(
      "a dead secondary is declared down after the heartbeat timeout",
      async () => {
        const id = secondary!.identity.nodeId;
        await secondary!.stop();
        secondary = null;
        await waitFor(
          "NodeDown",
          () => bed.agent.state().nodes.get(id)?.status === "down",
          HEARTBEAT_TIMEOUT_MS + 10_000,
        );
        assertTrue(bed.logs.some((l) => l.includes("node node-2 is down")));
      },
    );

    await t.step("it is up again when its agent returns", async () => {
      secondary = await startSecondary();
      const id = secondary.identity.nodeId;
      // A restarted agent registers again, which makes the node ready.
      // Its container was failed by NodeDown: the leader has it stopped.
      await waitFor(
        "the stray container stopped",
        async () =>
          (await secondary!.runtime!.status({}, AbortSignal.timeout(5_000)))
            .allocs.length === 0,
      );
      assertEquals(bed.agent.state().allocs.get("idle-1")?.status, "failed");
      await waitFor(
        "ready again",
        () => bed.agent.state().nodes.get(id)?.status === "ready",
      );
    });
  } finally {
    const running: Agent | null = secondary;
    if (running !== null) await (running as Agent).stop();
    await killAllTasks(containerd.socketPath);
    await containerd.stop();
    await Deno.remove(dataDir, { recursive: true });
    await bed.stop();
  }
});
