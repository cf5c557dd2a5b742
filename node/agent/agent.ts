/**
 * `mill agent`: one node's process. A primary runs a Raft member whose
 * state machine is the cluster FSM, the leader's duties (leader.ts) and the
 * HTTPS API; a secondary runs its containers through containerd
 * (node/secondary), serves the leader's RPC and heartbeats (node_link.ts).
 * Raft and the RPC share one plain HTTP server: the peer port.
 */
import {
  ContainerdClient,
  ContainerRunner,
  detectHostFacts,
  ImageService,
} from "../../containerd/mod.ts";
import type { ClusterState } from "../../raft/mod.ts";
import { RaftNode } from "../../raft/mod.ts";
import { Authenticator, startApiServer } from "../api/mod.ts";
import { type ApiServer } from "../api/mod.ts";
import { loadClusterIdentity } from "../cluster_init/mod.ts";
import type { Coordinator, DeployContext } from "../deploy/mod.ts";
import { primaryRouter } from "../primary/routes.ts";
import { createRpcHandler } from "../rpc/mod.ts";
import { readClusterKeyFile } from "../secrets/mod.ts";
import { ContainerdRuntime } from "../secondary/runtime.ts";
import { FsmMachine } from "./fsm_machine.ts";
import { loadOrCreateNodeIdentity, type NodeIdentity } from "./identity.ts";
import {
  API_LABEL,
  HEARTBEAT_TIMEOUT_MS_DEFAULT,
  LeaderDuties,
  type LogLevel,
} from "./leader.ts";
import { joinHandler } from "./join_route.ts";
import type { NodeLink } from "./node_link.ts";
import { startNodeLink } from "./node_link_start.ts";
import { CleanupStack } from "./_cleanup_stack.ts";
import { startSecondaryAgent } from "./secondary_agent.ts";
import { handlePeerRequest } from "./peer.ts";
import { loadRaftJoin } from "./join_primary.ts";
import {
  primaryChannel,
  requestPromotion,
  trackPrimaryPeers,
} from "./primaries.ts";

/** How often the agent checks its Raft role and the nodes' heartbeats. */
export const AGENT_TICK_MS = 250;

export type Role = "primary" | "secondary";

export interface ContainerdOptions {
  readonly socketPath: string;
  readonly namespace?: string;
  /** runc state root of our containers (a private containerd's, in tests). */
  readonly runcRoot?: string;
  /** cgroup parent of our containers (default `/mill`). */
  readonly cgroupParent?: string;
  /** Registries reached over plain HTTP (e.g. a local test registry). */
  readonly insecureRegistries?: readonly string[];
}

export interface AgentOptions {
  /** A data dir made by `mill init`. */
  readonly dataDir: string;
  readonly roles: readonly Role[];
  /** Name on first start (kept in node.json afterwards). */
  readonly name: string;
  /** The peer port: Raft and RPC. */
  readonly listen: { readonly hostname: string; readonly port: number };
  /** The host other nodes reach this one on; default the listen host. */
  readonly advertiseHost?: string;
  /** The HTTPS API (primaries). */
  readonly apiListen?: { readonly hostname: string; readonly port: number };
  readonly containerd?: ContainerdOptions;
  readonly heartbeatTimeoutMs?: number;
  readonly heartbeatIntervalMs?: number;
  /** Overrides of the machine's resources. */
  readonly cpuMillis?: number;
  readonly memoryBytes?: number;
  readonly labels?: Readonly<Record<string, string>>;
  /** The deploy coordinator (node/deploy's `createCoordinator`). */
  readonly coordinatorFactory?: (context: DeployContext) => Coordinator;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  /** The node's log; default stderr. */
  readonly log?: (level: LogLevel, message: string) => void;
}

export interface Agent {
  readonly identity: NodeIdentity;
  readonly peerPort: number;
  /** Null on a secondary-only node. */
  readonly apiPort: number | null;
  readonly apiUrl: string | null;
  readonly leader: LeaderDuties | null;
  readonly runtime: ContainerdRuntime | null;
  readonly link: NodeLink | null;
  /** The applied FSM state (primaries). */
  state(): ClusterState;
  /** This node's Raft role (`leader`, `follower`, `learner`…); null on a secondary. */
  raftRole(): string | null;
  /** Stops serving; containers keep running for the next agent. */
  stop(): Promise<void>;
}

function defaultLog(level: LogLevel, message: string): void {
  console.error(`${new Date().toISOString()} ${level} ${message}`);
}

/** Starts the agent; resolves once it serves (not necessarily leads). */
export async function startAgent(options: AgentOptions): Promise<Agent> {
  const log = options.log ?? defaultLog;
  const isPrimary = options.roles.includes("primary");
  const isSecondary = options.roles.includes("secondary");
  if (!isPrimary) return await startSecondaryAgent(options, log);
  const cluster = await loadClusterIdentity(options.dataDir);
  const clusterKey = await readClusterKeyFile(cluster.clusterKeyPath);
  const identity = await loadOrCreateNodeIdentity(
    options.dataDir,
    options.name,
  );
  const cleanups = new CleanupStack();
  const stopAll = cleanups.stopAll;
  try {
    const fsm = new FsmMachine();
    // A joined primary starts with no membership: it follows the leader
    // as a learner until promoted, and never campaigns before that.
    const raftJoin = await loadRaftJoin(options.dataDir);
    const raft = await RaftNode.start({
      id: identity.nodeId,
      dataDir: `${options.dataDir}/raft`,
      peers: new Map(
        Object.entries(raftJoin?.members ?? {}).filter(([id]) =>
          id !== identity.nodeId
        ),
      ),
      initialMembership: raftJoin === null
        ? { voters: [identity.nodeId], learners: [] }
        : { voters: [], learners: [] },
      stateMachine: fsm,
      ...(options.tickMs === undefined ? {} : { tickMs: options.tickMs }),
      ...(options.electionTicks === undefined
        ? {}
        : { electionTicks: options.electionTicks }),
      onFatal: (error) => log("error", `raft stopped: ${error}`),
    });
    cleanups.push(() => raft.stop());
    cleanups.push(trackPrimaryPeers(fsm, raft, identity.nodeId));

    let runtime: ContainerdRuntime | null = null;
    let link: NodeLink | null = null;
    if (isSecondary) {
      const opened = await openRuntime(
        options,
        clusterKey,
        (r) => link?.report(r),
        log,
      );
      runtime = opened.runtime;
      cleanups.push(() => opened.client.close());
      cleanups.push(() => opened.runtime.close());
    }
    const leader = new LeaderDuties({
      raft,
      fsm,
      nodeId: identity.nodeId,
      rpcToken: cluster.rpcToken,
      localRuntime: runtime,
      heartbeatTimeoutMs: options.heartbeatTimeoutMs ??
        HEARTBEAT_TIMEOUT_MS_DEFAULT,
      coordinatorFactory: options.coordinatorFactory ?? null,
      log,
    });
    cleanups.push(() => leader.close());

    const rpcHandler = runtime === null ? null : createRpcHandler({
      token: cluster.rpcToken,
      runtime,
      onError: (error) => log("error", `rpc: ${error}`),
    });
    let apiUrlKnown: string | null = null;
    const peerListening = Promise.withResolvers<Deno.NetAddr>();
    const peerServer = Deno.serve({
      hostname: options.listen.hostname,
      port: options.listen.port,
      onListen: (addr) => peerListening.resolve(addr),
    }, (request) =>
      handlePeerRequest(request, {
        raft,
        rpcHandler,
        leader,
        rpcToken: cluster.rpcToken,
        caCertPem: cluster.caCertPem,
        apiUrl: () => apiUrlKnown,
        log,
      }));
    cleanups.push(() => peerServer.shutdown());
    const peerPort = (await peerListening.promise).port;
    const advertiseHost = advertiseHostOf(options);

    const apiListen = options.apiListen ?? {
      hostname: "127.0.0.1",
      port: cluster.apiPort,
    };
    const forwardClient = Deno.createHttpClient({
      caCerts: [cluster.caCertPem],
    });
    cleanups.push(() => forwardClient.close());
    const api: ApiServer = await startApiServer({
      hostname: apiListen.hostname,
      port: apiListen.port,
      certPem: cluster.apiCertPem,
      keyPem: cluster.apiKeyPem,
      authenticator: new Authenticator([
        { token: cluster.adminToken, scope: "admin" },
        { token: cluster.joinToken, scope: "join" },
      ]),
      router: primaryRouter({
        clusterId: cluster.clusterId,
        nodeName: identity.name,
        state: () => fsm.state,
        raft: () => raft.status,
        isLeader: () => leader.isLeader,
        leaderApiUrl: () => {
          const id = raft.status.leader;
          return id === null
            ? null
            : fsm.state.nodes.get(id)?.labels[API_LABEL] ?? null;
        },
        commit: (command) => leader.commit(command),
        runtime: (nodeId) => leader.runtime(nodeId),
        coordinator: () => leader.coordinator,
        clusterKey,
        forwardClient,
        nowMs: Date.now,
        join: joinHandler({
          cluster,
          raft,
          selfId: identity.nodeId,
          selfPeer: () => `${advertiseHost}:${peerPort}`,
          state: () => fsm.state,
        }),
      }),
      onError: (error, request) =>
        log(
          "error",
          `api ${request?.method ?? ""} ${request?.url ?? ""}: ${error}`,
        ),
    });
    cleanups.push(() => api.shutdown());
    const apiHost = ["0.0.0.0", "::"].includes(api.hostname)
      ? advertiseHost
      : api.hostname;
    const apiUrl = `https://${
      apiHost.includes(":") ? `[${apiHost}]` : apiHost
    }:${api.port}`;
    apiUrlKnown = apiUrl;

    const ticker = setInterval(() => leader.tick(), AGENT_TICK_MS);
    cleanups.push(() => clearInterval(ticker));

    if (runtime !== null) {
      const started = startNodeLink({
        identity,
        options,
        advertiseHost,
        peerPort,
        extraLabels: { [API_LABEL]: apiUrl },
        channel: primaryChannel(leader, fsm, raft, cluster.rpcToken),
        runtime,
        log: (message) => log("info", message),
      });
      link = started;
      cleanups.pushBelowTop(() => started.stop());
    }
    if (raftJoin !== null) {
      const promotion = new AbortController();
      const promoted = requestPromotion({
        raft,
        nodeId: identity.nodeId,
        commitIndex: raftJoin.commitIndex,
        members: raftJoin.members,
        rpcToken: cluster.rpcToken,
        signal: promotion.signal,
        log,
      });
      cleanups.push(async () => {
        promotion.abort();
        await promoted;
      });
    }
    log(
      "info",
      `node ${identity.name} (${identity.nodeId}) serving: peer ${advertiseHost}:${peerPort}, api ${apiUrl}`,
    );
    return {
      identity,
      peerPort,
      apiPort: api.port,
      apiUrl,
      leader,
      runtime,
      link,
      state: () => fsm.state,
      raftRole: () => raft.status.role,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** The host others reach this node on. */
export function advertiseHostOf(options: AgentOptions): string {
  return options.advertiseHost ??
    (["0.0.0.0", "::"].includes(options.listen.hostname)
      ? "127.0.0.1"
      : options.listen.hostname);
}

export async function openRuntime(
  options: AgentOptions,
  clusterKey: Awaited<ReturnType<typeof readClusterKeyFile>>,
  onReport: Parameters<typeof ContainerdRuntime.open>[0]["onReport"],
  log: (level: LogLevel, message: string) => void,
): Promise<{ runtime: ContainerdRuntime; client: ContainerdClient }> {
  const settings = options.containerd;
  if (settings === undefined) {
    throw new Error(
      "A secondary needs a containerd socket (--containerd-socket)",
    );
  }
  const client = new ContainerdClient(settings.socketPath, {
    ...(settings.namespace === undefined
      ? {}
      : { namespace: settings.namespace }),
  });
  const images = new ImageService(client, {
    insecure: [...(settings.insecureRegistries ?? [])],
  });
  const fifoDir = `${options.dataDir}/fifo`;
  const runner = new ContainerRunner(client, images, {
    fifoDir,
    ...(settings.runcRoot === undefined ? {} : { runcRoot: settings.runcRoot }),
    host: detectHostFacts(settings.cgroupParent ?? "/mill"),
  });
  try {
    const runtime = await ContainerdRuntime.open({
      client,
      images,
      runner,
      clusterKey,
      fifoDir,
      stateDir: `${options.dataDir}/allocs`,
      onReport,
      log: (message) => log("info", message),
    });
    return { runtime, client };
  } catch (error) {
    client.close();
    throw error;
  }
}
