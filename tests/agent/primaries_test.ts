/**
 * Three primaries on loopback, each with its own data dir, ports and
 * containerd: two join the first one's Raft group (learner, then voter),
 * every follower's API forwards to the leader, and when the leader's agent
 * dies the others elect a new leader that declares it down.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { type Agent, startAgent } from "../../node/agent/mod.ts";
import { formatJoinToken } from "../../node/agent/join.ts";
import { joinAsPrimary } from "../../node/agent/join_primary.ts";
import { readCertificate } from "../../node/cluster_init/mod.ts";
import {
  type ContainerdHandle,
  freePort,
  startContainerd,
} from "../containerd/testbed.ts";
import { killAllTasks, startAgentBed, waitFor } from "./_bed.ts";

const HEARTBEAT_TIMEOUT_MS = 1_500;

interface Joined {
  readonly agent: Agent;
  readonly containerd: ContainerdHandle;
  readonly dataDir: string;
}

Deno.test("primaries join the Raft group, followers forward the API, and a dead leader is replaced", async (t) => {
  const bed = await startAgentBed({ heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS });
  const joined: Joined[] = [];
  try {
    await waitFor(
      "node-1 leading and registered",
      () =>
        bed.agent.leader?.isLeader === true &&
        bed.agent.state().nodes.size === 1,
    );
    const fingerprint = (await readCertificate(bed.cluster.caCertPem))
      .fingerprintSha256;
    const token = formatJoinToken(bed.cluster.adminToken, fingerprint);

    for (const name of ["node-2", "node-3"]) {
      await t.step(
        `${name} joins as a primary and becomes a voter`,
        async () => {
          const containerd = await startContainerd();
          const dataDir = await Deno.makeTempDir({ prefix: `mill-${name}-` });
          const port = freePort();
          await joinAsPrimary(
            dataDir,
            `127.0.0.1:${bed.agent.peerPort}`,
            token,
            {
              name,
              peer: `127.0.0.1:${port}`,
              apiAddresses: ["127.0.0.1"],
            },
          );
          const agent = await startAgent({
            dataDir,
            roles: ["primary", "secondary"],
            name,
            peer: { listen: { hostname: "127.0.0.1", port } },
            api: { listen: { hostname: "127.0.0.1", port: 0 } },
            containerd: {
              socketPath: containerd.socketPath,
              runcRoot: containerd.runcRoot,
              cgroupParent: containerd.cgroupParent,
            },
            heartbeat: { intervalMs: 200, timeoutMs: HEARTBEAT_TIMEOUT_MS },
            resources: { cpuMillis: 2000, memoryBytes: 2 * 1024 ** 3 },
            raft: { tickMs: 20 },
            log: (level, message) =>
              bed.logs.push(`${name} ${level} ${message}`),
          });
          joined.push({ agent, containerd, dataDir });
          // A learner first; a follower once promoted.
          await waitFor(
            `${name} a voter`,
            () => ["follower", "leader"].includes(agent.raftRole() ?? ""),
          );
          await waitFor(
            `${name} registered`,
            () =>
              bed.agent.state().nodes.get(agent.identity.nodeId)?.status ===
                "ready",
          );
        },
      );
    }

    await t.step(
      "every node holds the same state, and a follower's API forwards to the leader",
      async () => {
        for (const { agent } of joined) {
          await waitFor(
            "replicated nodes",
            () => agent.state().nodes.size === 3,
          );
        }
        const follower = joined[0]!.agent;
        const client = Deno.createHttpClient({
          caCerts: [bed.cluster.caCertPem],
        });
        try {
          const response = await fetch(`${follower.apiUrl}/v1/status`, {
            client,
            headers: { authorization: `Bearer ${bed.cluster.adminToken}` },
          });
          assertEquals(response.status, 200);
          const status = await response.json();
          assertEquals(status.leader.name, "node-1");
          assertEquals(status.nodes.total, 3);
        } finally {
          client.close();
        }
      },
    );

    await t.step(
      "when the leader dies, another primary leads and declares it down",
      async () => {
        const oldLeader = bed.agent.identity.nodeId;
        await bed.agent.stop();
        let next: Agent | null = null;
        await waitFor("a new leader", () => {
          next = joined.map((j) => j.agent).find((a) => a.leader?.isLeader) ??
            null;
          return next !== null;
        });
        const leader = next as unknown as Agent;
        await waitFor(
          "node-1 down",
          () => leader.state().nodes.get(oldLeader)?.status === "down",
          HEARTBEAT_TIMEOUT_MS * 2 + 10_000,
        );
        assertTrue(leader.state().nodes.size === 3);
      },
    );
  } finally {
    for (const { agent, containerd, dataDir } of joined) {
      await agent.stop();
      await killAllTasks(containerd.socketPath);
      await containerd.stop();
      await Deno.remove(dataDir, { recursive: true });
    }
    await bed.stop();
  }
});
