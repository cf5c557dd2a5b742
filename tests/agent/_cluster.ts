/**
 * Three primaries on loopback (the agent bed plus two joined primaries),
 * each with its own data dir, ports and containerd, for multi-node tests.
 */
import {
  type Agent,
  type AgentOptions,
  startAgent,
} from "../../node/agent/mod.ts";
import { formatJoinToken } from "../../node/agent/join.ts";
import { joinAsPrimary } from "../../node/agent/join_primary.ts";
import { readCertificate } from "../../node/cluster_init/mod.ts";
import {
  type ContainerdHandle,
  freePort,
  startContainerd,
} from "../containerd/testbed.ts";
import { type AgentBed, killAllTasks, startAgentBed, waitFor } from "./_bed.ts";

export interface ClusterNode {
  readonly name: string;
  agent: Agent;
  readonly options: AgentOptions;
  readonly containerd: ContainerdHandle;
  readonly dataDir: string;
}

export interface TestCluster {
  readonly bed: AgentBed;
  /** node-2 and node-3. */
  readonly joined: ClusterNode[];
  /** Starts a joined node's agent again (after `agent.stop()`). */
  restart(node: ClusterNode): Promise<void>;
  stop(): Promise<void>;
}

export async function startThreePrimaries(options: {
  readonly heartbeatTimeoutMs: number;
}): Promise<TestCluster> {
  const bed = await startAgentBed(options);
  const joined: ClusterNode[] = [];
  const cluster: TestCluster = {
    bed,
    joined,
    async restart(node) {
      node.agent = await startAgent(node.options);
    },
    async stop() {
      for (const node of joined) {
        await killAllTasks(node.containerd.socketPath);
        await node.agent.stop();
        await node.containerd.stop();
        await Deno.remove(node.dataDir, { recursive: true });
      }
      await bed.stop();
    },
  };
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
      const containerd = await startContainerd();
      const dataDir = await Deno.makeTempDir({ prefix: `mill-${name}-` });
      const port = freePort();
      await joinAsPrimary(dataDir, `127.0.0.1:${bed.agent.peerPort}`, token, {
        name,
        peer: `127.0.0.1:${port}`,
        apiAddresses: ["127.0.0.1"],
      });
      const agentOptions: AgentOptions = {
        dataDir,
        roles: ["primary", "secondary"],
        name,
        peer: { listen: { hostname: "127.0.0.1", port } },
        api: { listen: { hostname: "127.0.0.1", port: 0 } },
        containerd: {
          socketPath: containerd.socketPath,
          runcRoot: containerd.runcRoot,
          cgroupParent: containerd.cgroupParent,
          insecureRegistries: [bed.bed.registry.host],
        },
        heartbeat: { intervalMs: 200, timeoutMs: options.heartbeatTimeoutMs },
        resources: { cpuMillis: 2000, memoryBytes: 2 * 1024 ** 3 },
        raft: { tickMs: 20 },
        log: (level, message) => bed.logs.push(`${name} ${level} ${message}`),
      };
      const agent = await startAgent(agentOptions);
      joined.push({ name, agent, options: agentOptions, containerd, dataDir });
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
    }
    return cluster;
  } catch (error) {
    await cluster.stop();
    throw error;
  }
}
