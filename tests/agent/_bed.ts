/**
 * A one-node mill on a private containerd and registry: `mill init` in a
 * temp data dir, then the agent in-process (the same `startAgent` that
 * `mill agent` and `mill up` run). Used by the single-node e2e tests.
 */
import {
  type Agent,
  type AgentOptions,
  startAgent,
} from "../../node/agent/mod.ts";
import {
  type ClusterIdentity,
  initCluster,
  saveCliContext,
} from "../../node/cluster_init/mod.ts";
import { ContainerdClient } from "../../containerd/mod.ts";
import { startTestBed, type TestBed } from "../containerd/testbed.ts";

export const WAIT_MS = 30_000;

export interface AgentBed {
  readonly bed: TestBed;
  readonly agent: Agent;
  /**
   * Stops the agent (its containers keep running), runs `whileStopped`,
   * and starts it again.
   */
  restartAgent(whileStopped?: () => Promise<void>): Promise<void>;
  readonly cluster: ClusterIdentity;
  readonly dataDir: string;
  /** What the agent was started with. */
  readonly agentOptions: AgentOptions;
  readonly contextPath: string;
  readonly logs: string[];
  /** GET/PUT… on the API with the admin token and the cluster CA. */
  api(path: string, init?: RequestInit): Promise<Response>;
  stop(): Promise<void>;
}

export async function startAgentBed(
  options: {
    heartbeatTimeoutMs?: number;
    /** The node's size (default 4 cores, 4 GiB). */
    resources?: { cpuMillis: number; memoryBytes: number };
  } = {},
): Promise<AgentBed> {
  const bed = await startTestBed();
  const dataDir = await Deno.makeTempDir({ prefix: "mill-agent-" });
  const contextPath = `${dataDir}-cli/config.json`;
  const logs: string[] = [];
  try {
    const cluster = await initCluster({
      dataDir,
      nodeName: "node-1",
      apiAddresses: ["127.0.0.1"],
      apiPort: 7443,
      contextPath,
      nowMs: Date.now(),
    });
    const agentOptions: AgentOptions = {
      dataDir,
      roles: ["primary", "secondary"],
      name: "node-1",
      peer: { listen: { hostname: "127.0.0.1", port: 0 } },
      api: { listen: { hostname: "127.0.0.1", port: 0 } },
      containerd: {
        socketPath: bed.containerd.socketPath,
        runcRoot: bed.containerd.runcRoot,
        cgroupParent: bed.containerd.cgroupParent,
        insecureRegistries: [bed.registry.host],
      },
      heartbeat: {
        intervalMs: 200,
        ...(options.heartbeatTimeoutMs === undefined
          ? {}
          : { timeoutMs: options.heartbeatTimeoutMs }),
      },
      resources: options.resources ??
        { cpuMillis: 4000, memoryBytes: 4 * 1024 ** 3 },
      raft: { tickMs: 20 },
      log: (level, message) => logs.push(`${level} ${message}`),
    };
    let agent = await startAgent(agentOptions);
    // The agent took a free API port: point the CLI context at it.
    const saveContext = () =>
      saveCliContext(contextPath, "default", {
        apiUrl: agent.apiUrl ?? "",
        clusterId: cluster.clusterId,
        caCertPem: cluster.caCertPem,
        token: cluster.adminToken,
      });
    await saveContext();
    const client = Deno.createHttpClient({ caCerts: [cluster.caCertPem] });
    return {
      bed,
      get agent() {
        return agent;
      },
      async restartAgent(whileStopped) {
        await agent.stop();
        await whileStopped?.();
        agent = await startAgent(agentOptions);
        await saveContext();
      },
      cluster,
      dataDir,
      agentOptions,
      contextPath,
      logs,
      api: (path, init = {}) =>
        fetch(`${agent.apiUrl}${path}`, {
          ...init,
          client,
          headers: {
            authorization: `Bearer ${cluster.adminToken}`,
            ...(init.headers as Record<string, string> | undefined),
          },
        }),
      async stop() {
        client.close();
        // Containers outlive their (killed) shims: stop every alloc first.
        const runtime = agent.runtime;
        if (runtime !== null) {
          for (const allocId of runtime.allocIds) {
            await runtime.stop(
              { allocId, signal: "SIGKILL", gracePeriodMs: 0 },
              AbortSignal.timeout(30_000),
            ).catch(() => {/* already gone */});
          }
        }
        await killAllTasks(bed.containerd.socketPath);
        await agent.stop();
        await bed.stop();
        await Deno.remove(dataDir, { recursive: true });
        await Deno.remove(`${dataDir}-cli`, { recursive: true }).catch(
          () => {},
        );
      },
    };
  } catch (error) {
    await bed.stop();
    await Deno.remove(dataDir, { recursive: true });
    throw error;
  }
}

/** Waits for `check` under a deadline (no sleeps in assertions). */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = WAIT_MS,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/**
 * Kills and deletes every task of mill's namespace on a containerd, so no
 * container outlives a test whose agent is gone (their shims are killed
 * with containerd, the containers would not be).
 */
export async function killAllTasks(socketPath: string): Promise<void> {
  const client = new ContainerdClient(socketPath, { namespace: "mill" });
  try {
    for (const task of await client.listTasks()) {
      const id = task.containerId === "" ? task.id : task.containerId;
      await client.killTask(id, 9, true).catch(() => {/* already gone */});
      await client.waitTask(id, 10_000).catch(() => {/* already gone */});
      await client.deleteTask(id).catch(() => {/* already gone */});
    }
  } finally {
    client.close();
  }
}

/** An alloc placed and started by hand, as the coordinator would: scheduled, starting, pulled, started. */
export async function placeByHand(
  bed: AgentBed,
  alloc: {
    readonly allocId: string;
    readonly nodeId: string;
    readonly workload: string;
    readonly kind: "service" | "task";
    readonly image: string;
    readonly labels?: Readonly<Record<string, string>>;
  },
  signal: AbortSignal,
): Promise<void> {
  const leader = bed.agent.leader!;
  const atMs = Date.now();
  const memoryBytes = 32 * 1024 * 1024;
  for (
    const command of [
      {
        type: "AllocScheduled",
        allocId: alloc.allocId,
        nodeId: alloc.nodeId,
        workload: alloc.workload,
        kind: alloc.kind,
        image: alloc.image,
        cpuMillis: 100,
        memoryBytes,
        atMs,
      },
      { type: "AllocStatus", allocId: alloc.allocId, status: "starting", atMs },
    ] as const
  ) {
    const result = await leader.commit(command);
    if (!result.ok) throw new Error(JSON.stringify(result));
  }
  const runtime = leader.runtime(alloc.nodeId);
  await runtime.pull({ image: alloc.image }, signal);
  await runtime.start({
    allocId: alloc.allocId,
    name: alloc.workload,
    kind: alloc.kind,
    image: alloc.image,
    env: {},
    secretValues: {},
    cpu: 0.1,
    memoryBytes,
    labels: { ...alloc.labels },
    stopSignal: "SIGTERM",
    stopGracePeriodMs: 1_000,
  }, signal);
}
