/**
 * The composition root: the only place that knows every part of a node.
 * It builds the parts from the agent's options, each with its own slice,
 * in dependency order, and hands them to one supervisor that starts them
 * in that order and stops them in reverse. The same list serves every role:
 * a part is in it when the node's roles need it.
 *
 * | part           | roles               | what it is                                   |
 * | -------------- | ------------------- | -------------------------------------------- |
 * | data-dir-lock  | all                 | one process per data dir (flock)             |
 * | credentials    | all                 | identity, peer token, CA, cluster key        |
 * | peer-server    | all                 | the peer port; parts mount their routes      |
 * | raft           | primary             | Raft member + the FSM (the cluster view)     |
 * | state-replica  | secondary-only      | the cluster view from the watch stream       |
 * | network        | secondary (bridge)  | bridge, alloc namespaces, nft table, DNS     |
 * | mesh           | secondary (bridge)  | WireGuard key, interface, peers from state   |
 * | runtime        | secondary           | containerd, re-attach, the RPC routes        |
 * | node-runtimes  | all                 | every node's runtime (local or RPC)          |
 * | state-watch    | primary             | the watch stream for the replicas            |
 * | peer-routes    | primary             | node messages, promotion, watch routes       |
 * | mesh-cert      | primary             | certificates naming a node's mesh address    |
 * | leadership     | primary             | leader duties, started per term              |
 * | api            | primary             | the HTTPS API, the CA bootstrap              |
 * | node-link      | secondary           | registration and heartbeats                  |
 * | mesh-peer      | secondary (bridge)  | the peer port on the mesh address            |
 * | promotion      | primary (joined)    | learner → voter                              |
 *
 * A new subsystem is a new part here (a node-wide service) or a new leader
 * duty in the leadership's list.
 */
import {
  type ClusterState,
  decodeSnapshot,
  type FsmNode,
} from "../../raft/mod.ts";
import type { ContainerdRuntime } from "../secondary/runtime.ts";
import type { Registration } from "./channel.ts";
import { Credentials } from "./credentials.ts";
import { DataDirLock } from "./data_dir_lock.ts";
import type { ClusterView } from "./fsm_machine.ts";
import { machineResources, type NodeIdentity } from "./identity.ts";
import { NodeLink } from "./node_link.ts";
import { MESH_MTU_DEFAULT } from "../../net/mesh/mod.ts";
import { meshInterfaceOf, NodeMesh } from "../network/node_mesh.ts";
import { NO_MESH, peerEndpointOf } from "../network/peer_route.ts";
import { MeshPeer } from "./mesh_peer.ts";
import { NodeNetwork } from "../network/node_network.ts";
import { type AgentLog, type AgentOptions, MACHINE_LABEL } from "./options.ts";
import { advertiseHostOf, PeerServer } from "./peer_server.ts";
import { RaftMember } from "./raft_member.ts";
import { remoteChannel } from "./remote_channel.ts";
import { ReportOutbox } from "./report_outbox.ts";
import { RuntimeService } from "./runtime_service.ts";
import { NodeRuntimes } from "./runtimes.ts";
import { StateReplica } from "./state_replica.ts";
import { IngressService } from "../ingress/ingress_service.ts";
import { MeshGuard } from "../network/mesh_guard.ts";
import {
  decryptedCertificates,
  fetchCertificates,
} from "../ingress/certificate_keys.ts";
import { type Service, Supervisor } from "./supervisor.ts";
import {
  buildPrimary,
  type LeaderHandle,
  primaryClusterKey,
} from "./primary_parts.ts";

export type { LeaderHandle } from "./primary_parts.ts";

/** How often the agent checks its Raft role and its leader duties tick. */
export const AGENT_TICK_MS = 250;

/** A running node. */
export interface Agent {
  readonly identity: NodeIdentity;
  readonly peerPort: number;
  /** Null on a secondary-only node. */
  readonly apiPort: number | null;
  readonly apiUrl: string | null;
  /** Null on a secondary-only node. */
  readonly leader: LeaderHandle | null;
  readonly runtime: ContainerdRuntime | null;
  readonly link: NodeLink | null;
  /** The cluster state as this node sees it (every role). */
  readonly view: ClusterView;
  state(): ClusterState;
  /** This node's Raft role (`leader`, `follower`, `learner`…); null on a secondary-only node. */
  raftRole(): string | null;
  /** Stops serving; containers keep running for the next agent. */
  stop(): Promise<void>;
}

function defaultLog(level: string, message: string): void {
  console.error(`${new Date().toISOString()} ${level} ${message}`);
}

/** Builds the node's parts and starts them; resolves once it serves (not necessarily leads). */
export async function startAgent(options: AgentOptions): Promise<Agent> {
  const log: AgentLog = options.log ?? defaultLog;
  const isPrimary = options.roles.includes("primary");
  const isSecondary = options.roles.includes("secondary");
  if (!isPrimary && !isSecondary) {
    throw new Error("An agent needs a role: primary, secondary or both");
  }
  if (isSecondary && options.containerd === undefined) {
    throw new Error(
      "A secondary needs a containerd socket (--containerd-socket)",
    );
  }
  const tickMs = options.tickMs ?? AGENT_TICK_MS;
  const nowMs = Date.now;
  const { dataDir } = options;

  const lock = new DataDirLock(dataDir);
  const credentials = new Credentials({
    dataDir,
    name: options.name,
    primary: isPrimary,
    hosts: [advertiseHostOf(options.peer)],
  });
  const peerClient = () => credentials.current.peerClient;
  const selfId = () => credentials.current.identity.nodeId;
  const peerServer = new PeerServer({
    ...options.peer,
    tls: () => ({
      ...credentials.current.nodeTls,
      clientCaPem: credentials.current.caCertPem,
    }),
    // Asked per request, long after `view` below exists.
    revoked: (id) => view.state.removedNodes.includes(id),
    log,
  });
  const outbox = new ReportOutbox();

  const raftMember = isPrimary
    ? new RaftMember({
      dataDir,
      nodeId: selfId,
      peerClient,
      peerRouter: peerServer.router,
      peerEndpoint: (node) => peerEndpoint(node),
      ...options.raft,
      log,
    })
    : null;
  const replica = raftMember === null
    ? new StateReplica({
      primaries: (state) =>
        primaryEndpoints(
          credentials.current.joinedPrimaries,
          state,
          peerEndpoint,
        ),
      peerClient,
      decodeSnapshot,
      log,
    })
    : null;
  const view: ClusterView = raftMember?.fsm ?? replica!;
  const state = () => view.state;

  const network: NodeNetwork | null = isSecondary &&
      options.network?.mode === "bridge"
    ? new NodeNetwork({
      dir: `${dataDir}/network`,
      selfId,
      state: () => view.state,
      subscribe: (listener) => view.subscribe(listener),
      agentPorts: (): number[] =>
        agentPortsOf(peerServer.port, primary?.api.guardedPort),
      ...options.network,
      meshInterface: meshInterfaceOf(options.network?.netnsPrefix),
      mtu: MESH_MTU_DEFAULT,
      log,
    })
    : null;
  // On the mesh with bridge networking, whatever the roles: a primary-only
  // node runs no containers but speaks Raft through it.
  const meshed = options.network?.mode === "bridge";
  const mesh: NodeMesh | null = !meshed ? null : new NodeMesh({
    dataDir,
    selfId,
    state: () => view.state,
    subscribe: (listener) => view.subscribe(listener),
    endpointHost: () => advertiseHostOf(options.peer),
    interfaceName: meshInterfaceOf(options.network?.netnsPrefix),
    ...(options.network?.meshPort === undefined
      ? {}
      : { listenPort: options.network.meshPort }),
    log,
  });
  // Without a container network, the mesh rule of its table on its own.
  const meshGuard = mesh !== null && network === null
    ? new MeshGuard({
      meshInterface: meshInterfaceOf(options.network?.netnsPrefix),
      agentPorts: () => agentPortsOf(peerServer.port, primary?.api.guardedPort),
      ...(options.network?.netnsPrefix === undefined
        ? {}
        : { netnsPrefix: options.network.netnsPrefix }),
      log,
    })
    : null;
  /** Other nodes' peer ports, through the mesh once both ends are on it. */
  const peerEndpoint = (node: FsmNode) =>
    peerEndpointOf(node, mesh?.route ?? NO_MESH);
  const runtime = isSecondary
    ? new RuntimeService({
      dataDir,
      containerd: options.containerd!,
      ...(network === null ? {} : { network }),
      outbox,
      peerRouter: peerServer.router,
      view,
      // Only primaries tell a node what to run; a node not yet synced (an
      // empty view) cannot tell them apart yet and accepts any member.
      mayCall: (nodeId) =>
        view.index === 0 || view.state.nodes.get(nodeId)?.endpoints.api != null,
      log,
    })
    : null;
  const runtimes = new NodeRuntimes({
    selfId,
    local: () => runtime?.runtime ?? null,
    state,
    peerClient,
    peerEndpoint,
  });

  const primary = raftMember === null ? null : buildPrimary({
    options,
    raftMember,
    credentials,
    peerServer,
    runtimes,
    mesh,
    peerEndpoint,
    tickMs,
    nowMs,
    log,
  });

  // Every node registers and beats; a primary-only one as running nothing.
  const link = new NodeLink({
    registration: (): Registration => {
      const resources = machineResources();
      const identity = credentials.current.identity;
      return {
        nodeId: identity.nodeId,
        millId: identity.millId,
        name: identity.name,
        address: advertiseHostOf(options.peer),
        cpuMillis: options.resources?.cpuMillis ?? resources.cpuMillis,
        memoryBytes: options.resources?.memoryBytes ?? resources.memoryBytes,
        labels: {
          ...options.resources?.labels,
          ...(options.machineId === undefined
            ? {}
            : { [MACHINE_LABEL]: options.machineId }),
        },
        endpoints: {
          peer: peerServer.endpoint,
          api: primary?.api.url ?? null,
        },
        ...(runtime === null ? { containers: false as const } : {}),
        ...(!meshed ? {} : {
          // The first node fixes the range; the others take a subnet of it.
          network: {
            ...(view.state.network === null &&
                credentials.current.cluster !== null
              ? { clusterRange: credentials.current.cluster.clusterRange }
              : {}),
            ...(mesh?.registration == null ? {} : {
              mesh: {
                ...mesh.registration,
                ...(meshPeer?.peer == null ? {} : { peer: meshPeer.peer }),
              },
            }),
          },
        }),
      };
    },
    channel: primary?.channel ??
      remoteChannel(
        () =>
          primaryEndpoints(
            credentials.current.joinedPrimaries,
            state(),
            peerEndpoint,
          ),
        peerClient,
      ),
    outbox,
    running: () => runtime?.running() ?? Promise.resolve([]),
    ...(options.heartbeat?.intervalMs === undefined
      ? {}
      : { intervalMs: options.heartbeat.intervalMs }),
    log: (message) => log("info", message),
  });

  const meshPeer = mesh === null ? null : new MeshPeer({
    mesh,
    credentials,
    peerServer,
    // Certificates are asked on the primaries' registered addresses.
    primaries: () =>
      primaryEndpoints(
        credentials.current.joinedPrimaries,
        state(),
        (n) => n.endpoints.peer,
      ),
    onServing: () => void link?.reregister(),
    log,
  });
  if (mesh !== null && raftMember !== null) {
    mesh.onRouteChange(() => raftMember.refreshPeers());
  }

  const ingressHost = options.ingress?.listen?.hostname ??
    advertiseHostOf(options.peer);
  const ingress = options.ingress === undefined ? null : new IngressService({
    http: options.ingress.listen ?? { hostname: ingressHost, port: 80 },
    https: options.ingress.httpsListen ?? { hostname: ingressHost, port: 443 },
    view: () => view,
    // A primary holds the cluster key; any other node asks a primary.
    certificates: (current) =>
      raftMember !== null
        ? decryptedCertificates(current, primaryClusterKey(credentials))
        : fetchCertificates(
          primaryEndpoints(
            credentials.current.joinedPrimaries,
            current,
            peerEndpoint,
          ),
          credentials.current.peerClient,
        ),
    log,
  });

  const parts: (Service | null)[] = [
    lock,
    credentials,
    peerServer,
    raftMember,
    replica,
    network,
    mesh,
    meshGuard,
    ingress,
    runtime,
    runtimes,
    ...(primary?.parts ?? []),
    link,
    meshPeer,
    primary?.promotion ?? null,
  ];
  const supervisor = new Supervisor(
    parts.filter((part): part is Service => part !== null),
    {
      onStopFailure: ({ service, error }) =>
        log("error", `stopping ${service}: ${error}`),
    },
  );
  await supervisor.start();
  const identity = credentials.current.identity;
  log(
    "info",
    `node ${identity.name} (${identity.nodeId}) serving: peer ${peerServer.endpoint}${
      primary === null ? "" : `, api ${primary.api.url}`
    }`,
  );
  return {
    identity,
    peerPort: peerServer.port,
    apiPort: primary?.api.port ?? null,
    apiUrl: primary?.api.url ?? null,
    leader: primary?.handle ?? null,
    runtime: runtime?.runtime ?? null,
    link,
    view,
    state,
    raftRole: () => raftMember?.raft.status.role ?? null,
    stop: async () => {
      try {
        await supervisor.stop();
      } catch (error) {
        log("error", String(error));
        throw error;
      }
    },
  };
}

/** The agent's ports containers must not reach (the API only on primaries). */
function agentPortsOf(peerPort: number, apiPort: number | undefined): number[] {
  return apiPort === undefined ? [peerPort] : [peerPort, apiPort];
}

/**
 * The primaries a network channel tries: those the state names (through
 * the mesh when it can), then those known at join.
 */
function primaryEndpoints(
  joined: readonly string[],
  state: ClusterState,
  peerEndpoint: (node: FsmNode) => string | null,
): string[] {
  const peers: string[] = [];
  for (const node of state.nodes.values()) {
    const peer = node.endpoints.api === null ? null : peerEndpoint(node);
    if (peer !== null && !peers.includes(peer)) peers.push(peer);
  }
  for (const peer of joined) if (!peers.includes(peer)) peers.push(peer);
  return peers;
}
