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
  joinAsSecondary,
  JoinError,
} from "../../node/agent/join.ts";
import { testPki } from "../../node/agent/pki_testing.ts";
import {
  NODE_CERT_FILE,
  NODE_KEY_FILE,
} from "../../node/agent/node_certificate.ts";
import { parseConfig } from "../../config/mod.ts";
import { publicKeyOf, readCertificate } from "../../node/cluster_init/mod.ts";
import { startContainerd } from "../containerd/testbed.ts";
import { killAllTasks, startAgentBed, waitFor } from "./_bed.ts";

const HEARTBEAT_TIMEOUT_MS = 1_500;

Deno.test("a secondary joins with a checked CA, runs RPC for the leader, goes down and comes back", async (t) => {
  const bed = await startAgentBed({ heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS });
  const containerd = await startContainerd();
  const dataDir = await Deno.makeTempDir({ prefix: "mill-node2-" });
  let secondary: Agent | null = null;
  const caClient = Deno.createHttpClient({ caCerts: [bed.cluster.caCertPem] });
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
      "a token with another CA's fingerprint or a wrong token is refused, and nothing is kept",
      async () => {
        const scratch = await Deno.makeTempDir({ prefix: "mill-refused-" });
        try {
          const join = (token: string) =>
            joinAsSecondary(scratch, peer, token, {
              name: "x",
              hosts: ["127.0.0.1"],
            }).catch((e) => e);
          const wrongCa = formatJoinToken(
            bed.cluster.joinToken,
            "0".repeat(64),
          );
          const refused = await join(wrongCa);
          assertTrue(refused instanceof JoinError, String(refused));
          assertEquals(refused.code, "join.ca_mismatch");
          const wrongToken = formatJoinToken(bed.cluster.rpcToken, fingerprint);
          const denied = await join(wrongToken);
          assertTrue(denied instanceof JoinError, String(denied));
          assertEquals(denied.code, "api.unauthenticated");
          // The join token does not make a primary: that takes the admin token.
          const primaryByJoinToken = await fetch(
            `${bed.agent.apiUrl}/v1/join`,
            {
              method: "POST",
              client: caClient,
              headers: {
                authorization: `Bearer ${bed.cluster.joinToken}`,
                "content-type": "application/json",
              },
              body: JSON.stringify({
                role: "primary",
                name: "p",
                nodeId: "n-p",
                peer: "127.0.0.1:1",
                apiAddresses: [],
              }),
            },
          );
          assertEquals(
            [primaryByJoinToken.status, (await primaryByJoinToken.json()).code],
            [403, "join.primary_needs_admin"],
          );
          // Nor a certificate for a node id that is in use (the leader's).
          const key = await testPki().then((p) => p.nodeTls("unused"));
          const impersonation = await fetch(`${bed.agent.apiUrl}/v1/join`, {
            method: "POST",
            client: caClient,
            headers: {
              authorization: `Bearer ${bed.cluster.joinToken}`,
              "content-type": "application/json",
            },
            body: JSON.stringify({
              name: "evil",
              nodeId: bed.agent.identity.nodeId,
              publicKeyPem: await publicKeyOfTls(key.keyPem),
              hosts: ["127.0.0.1"],
            }),
          });
          assertEquals(
            [impersonation.status, (await impersonation.json()).code],
            [409, "join.node_exists"],
          );
        } finally {
          await Deno.remove(scratch, { recursive: true });
        }
      },
    );

    await t.step("the node joins and registers with the leader", async () => {
      const clusterId = await joinAsSecondary(
        dataDir,
        peer,
        formatJoinToken(bed.cluster.joinToken, fingerprint),
        { name: "node-2", hosts: ["127.0.0.1"] },
      );
      assertEquals(clusterId, bed.cluster.clusterId);
      // The grant is a certificate for the node's own key: no token, no key.
      for (const file of [NODE_CERT_FILE, NODE_KEY_FILE, "joined.json"]) {
        assertEquals(
          (await Deno.stat(`${dataDir}/${file}`)).mode! & 0o777,
          0o600,
        );
      }
      const kept = await Deno.readTextFile(`${dataDir}/joined.json`);
      assertTrue(!kept.includes(bed.cluster.rpcToken));
      assertTrue(!kept.includes(bed.cluster.joinToken));
      const hasKey = await Deno.stat(`${dataDir}/cluster.key`).then(
        () => true,
        () => false,
      );
      assertTrue(!hasKey, "a secondary holds no cluster key");
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

    await t.step(
      "the peer port speaks only to nodes with a certificate of this cluster, each for itself",
      async () => {
        const pki = await testPki();
        const url = (path: string) => `https://${peer}${path}`;
        const heartbeat = (nodeId: string) =>
          JSON.stringify({ nodeId, statuses: [], running: [] });
        const post = (client: Deno.HttpClient, path: string, body: string) =>
          fetch(url(path), {
            method: "POST",
            client,
            headers: { "content-type": "application/json" },
            body,
          });
        // No certificate at all, for every route family.
        for (
          const path of ["/peer/v1/heartbeat", "/raft/messages", "/rpc/v1/pull"]
        ) {
          const anonymous = await post(caClient, path, "{}");
          assertEquals([path, anonymous.status], [path, 401]);
          await anonymous.body?.cancel();
        }
        // A certificate another CA signed (whatever node id it names).
        const strangerClient = Deno.createHttpClient({
          caCerts: [bed.cluster.caCertPem],
          ...(await pki.nodeTls(bed.agent.identity.nodeId)),
        });
        const stranger = await post(
          strangerClient,
          "/peer/v1/heartbeat",
          heartbeat(bed.agent.identity.nodeId),
        );
        assertEquals(stranger.status, 401);
        await stranger.body?.cancel();
        strangerClient.close();
        // A real node of the cluster, speaking for another one.
        const nodeClient = await nodeClientOf(dataDir);
        try {
          const forged = await post(
            nodeClient,
            "/peer/v1/heartbeat",
            heartbeat(bed.agent.identity.nodeId),
          );
          assertEquals(
            [forged.status, (await forged.json()).code],
            [403, "peer.forged_sender"],
          );
          const malformed = await post(
            nodeClient,
            "/peer/v1/heartbeat",
            JSON.stringify({ statuses: "all" }),
          );
          assertEquals(malformed.status, 400);
          assertEquals((await malformed.json()).code, "peer.bad_request");
          // A secondary is no Raft member: its Raft messages are refused.
          const raft = await fetch(url("/raft/messages"), {
            method: "POST",
            client: nodeClient,
            headers: { "content-type": "application/octet-stream" },
            body: new Uint8Array(16),
          });
          assertEquals(raft.status, 403);
          await raft.body?.cancel();
        } finally {
          nodeClient.close();
        }
      },
    );

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
          secretValues: {},
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
    caClient.close();
    const running: Agent | null = secondary;
    if (running !== null) await (running as Agent).stop();
    await killAllTasks(containerd.socketPath);
    await containerd.stop();
    await Deno.remove(dataDir, { recursive: true });
    await bed.stop();
  }
});

const publicKeyOfTls = publicKeyOf;

/** A client that presents the certificate a join left in `dataDir`. */
async function nodeClientOf(dataDir: string): Promise<Deno.HttpClient> {
  const joined = JSON.parse(await Deno.readTextFile(`${dataDir}/joined.json`));
  return Deno.createHttpClient({
    caCerts: [joined.caCertPem],
    cert: await Deno.readTextFile(`${dataDir}/${NODE_CERT_FILE}`),
    key: await Deno.readTextFile(`${dataDir}/${NODE_KEY_FILE}`),
  });
}
