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
  type Command,
  decodeSnapshot,
  encodeSnapshot,
  type FsmNode,
} from "../../raft/mod.ts";
import {
  type Coordinator,
  createCoordinator,
  type DeployContext,
} from "../deploy/mod.ts";
import type { SecondaryRuntime } from "../rpc/mod.ts";
import type { ClusterKey } from "../secrets/mod.ts";
import type { ContainerdRuntime } from "../secondary/runtime.ts";
import { ApiService } from "./api_service.ts";
import { commitCommand } from "./cluster_commit.ts";
import type { Registration } from "./channel.ts";
import { Credentials } from "./credentials.ts";
import { DataDirLock } from "./data_dir_lock.ts";
import type { ClusterView } from "./fsm_machine.ts";
import { machineResources, type NodeIdentity } from "./identity.ts";
import { ContainerCheck } from "./leader/container_check.ts";
import { DeployDuty } from "./leader/deploys.ts";
import { HealthDuty } from "./leader/health_duty.ts";
import { Leadership } from "./leader/leadership.ts";
import { NodeMessages } from "./leader/node_messages.ts";
import {
  HEARTBEAT_TIMEOUT_MS_DEFAULT,
  StaleNodes,
} from "./leader/stale_nodes.ts";
import { Strays } from "./leader/strays.ts";
import { NodeLink } from "./node_link.ts";
import { MESH_MTU_DEFAULT } from "../../net/mesh/mod.ts";
import { meshInterfaceOf, NodeMesh } from "../network/node_mesh.ts";
import { NO_MESH, peerEndpointOf } from "../network/peer_route.ts";
import {
  MESH_CERTIFICATE_PATH,
  meshCertificateHandler,
} from "./mesh_certificate_route.ts";
import { MeshPeer } from "./mesh_peer.ts";
import { NodeNetwork } from "../network/node_network.ts";
import { type AgentLog, type AgentOptions, MACHINE_LABEL } from "./options.ts";
import { advertiseHostOf, PeerServer } from "./peer_server.ts";
import { primaryChannel, Promotion } from "./primaries.ts";
import { PrimaryPeerRoutes } from "./primary_peer_routes.ts";
import { RaftMember } from "./raft_member.ts";
import { remoteChannel } from "./remote_channel.ts";
import { ReportOutbox } from "./report_outbox.ts";
import { RuntimeService } from "./runtime_service.ts";
import { NodeRuntimes } from "./runtimes.ts";
import { StateReplica } from "./state_replica.ts";
import { IngressService } from "../ingress/ingress_service.ts";
import { MeshGuard } from "../network/mesh_guard.ts";
import { CertificateDuty } from "../ingress/certificate_duty.ts";
import {
  decryptedCertificates,
  fetchCertificates,
  INGRESS_CERTIFICATES_PATH,
  ingressCertificatesHandler,
} from "../ingress/certificate_keys.ts";
import { MountedRoute } from "./mounted_route.ts";
import { StorageService } from "./storage_service.ts";
import { StateWatchHub } from "./state_watch.ts";
import { type Service, Supervisor } from "./supervisor.ts";

/** How often the agent checks its Raft role and its leader duties tick. */
export const AGENT_TICK_MS = 250;
/** How long a deploy request waits for a leader still catching up. */
const COORDINATOR_WAIT_MS = 5_000;

/** What a primary's leader duties offer the rest of the process (and tests). */
export interface LeaderHandle {
  /** True while this node leads and its duties run. */
  readonly isLeader: boolean;
  /** This term's deploy coordinator; null while not leading. */
  readonly coordinator: Coordinator | null;
  /** Settles once this term's coordinator recovered the deploys in flight. */
  readonly recovered: Promise<void>;
  commit: DeployContext["commit"];
  runtime(nodeId: string): SecondaryRuntime;
  deployContext(): DeployContext;
}

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

function randomId(): string {
  return [...crypto.getRandomValues(new Uint8Array(5))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
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

interface PrimaryParts {
  readonly parts: readonly Service[];
  readonly api: ApiService;
  readonly channel: ReturnType<typeof primaryChannel>;
  readonly handle: LeaderHandle;
  readonly promotion: Promotion;
}

/** The parts only a primary has: the leader duties, the watch stream, the API. */
function buildPrimary(context: {
  readonly options: AgentOptions;
  readonly raftMember: RaftMember;
  readonly credentials: Credentials;
  readonly peerServer: PeerServer;
  readonly runtimes: NodeRuntimes;
  readonly mesh: NodeMesh | null;
  readonly peerEndpoint: (node: FsmNode) => string | null;
  readonly tickMs: number;
  readonly nowMs: () => number;
  readonly log: AgentLog;
}): PrimaryParts {
  const { options, raftMember, credentials, runtimes, nowMs, log } = context;
  const fsm = raftMember.fsm;
  const state = () => fsm.state;
  const commit = (command: Command) => commitCommand(raftMember.raft, command);
  const runtime = (nodeId: string) => runtimes.runtime(nodeId);
  const storage = new StorageService({
    provider: options.storage ?? { provider: "local" },
    dir: `${options.dataDir}/local-volumes`,
    clusterKey: () => primaryClusterKey(credentials),
    clusterId: () => credentials.current.clusterId,
    selfId: () => credentials.current.identity.nodeId,
    state,
    commit,
    nowMs,
    log,
  });
  const deployContext = (): DeployContext => ({
    state,
    commit,
    runtime,
    volumeSteps: () => storage.steps,
    encryptedSecret: (name) => {
      const secret = fsm.state.secrets.get(name);
      return secret === undefined
        ? undefined
        : { ciphertext: secret.ciphertext, nonce: secret.nonce };
    },
    clusterKey: () => primaryClusterKey(credentials),
    nowMs,
    newId: randomId,
    probeHost: (nodeId) => runtimes.probeHost(nodeId),
    log,
  });

  const deploys = new DeployDuty({
    context: deployContext,
    create: createCoordinator,
    log,
  });
  const strays = new Strays({ runtime, nowMs, log });
  const containerCheck = new ContainerCheck({ commit, nowMs, log });
  const messages = new NodeMessages({
    state,
    commit,
    observers: [strays.observe, containerCheck.observe],
    nowMs,
    log,
  });
  const leadership = new Leadership({
    role: () => raftMember.raft.status,
    caughtUp: async () => {
      await raftMember.raft.readBarrier();
    },
    duties: [
      messages,
      deploys,
      strays,
      containerCheck,
      new StaleNodes({
        state,
        commit,
        coordinator: () => deploys.current,
        heartbeatTimeoutMs: options.heartbeat?.timeoutMs ??
          HEARTBEAT_TIMEOUT_MS_DEFAULT,
        checkEveryMs: context.tickMs,
        selfId: () => credentials.current.identity.nodeId,
        nowMs,
        log,
      }),
      new HealthDuty({
        state,
        commit,
        probeHost: (nodeId) => runtimes.probeHost(nodeId),
        tickMs: context.tickMs,
        nowMs,
        log: (message) => log("warn", message),
      }),
      new CertificateDuty({
        state,
        commit,
        clusterKey: () => primaryClusterKey(credentials),
        selfId: () => credentials.current.identity.nodeId,
        nowMs,
        log,
      }),
    ],
    pollMs: context.tickMs,
    log,
  });
  raftMember.onRoleChange(() => leadership.check());
  const watch = new StateWatchHub({ fsm, encodeSnapshot });
  const peerRoutes = new PrimaryPeerRoutes({
    router: context.peerServer.router,
    messages,
    isLeader: () => leadership.isLeader,
    raft: () => raftMember.raft,
    watch,
    log,
  });
  const api = new ApiService({
    ...(options.api?.listen === undefined
      ? {}
      : { listen: options.api.listen }),
    advertiseHost: advertiseHostOf(options.peer),
    cluster: () => credentials.current.cluster!,
    caFingerprintSha256: () => credentials.current.caFingerprintSha256,
    volumeSteps: () => storage.steps,
    clusterKey: () => primaryClusterKey(credentials),
    nodeId: () => credentials.current.identity.nodeId,
    nodeName: () => credentials.current.identity.name,
    raft: () => raftMember.raft,
    state,
    // The API follows Raft's role; duties may lag it by one transition.
    isLeader: () => raftMember.raft.status.role === "leader",
    commit,
    runtime,
    coordinator: () => {
      leadership.check(); // a leader of a few ms starts its duties now
      return deploys.whenCurrent(COORDINATOR_WAIT_MS);
    },
    ...(context.mesh === null ? {} : {
      meshHandshakes: async () =>
        new Map(
          (await context.mesh!.status()).map((
            peer,
          ) => [peer.publicKey, peer.latestHandshakeMs]),
        ),
    }),
    peerEndpoint: () => context.peerServer.endpoint,
    peerRouter: context.peerServer.router,
    log,
  });
  const promotion = new Promotion({
    raft: () => raftMember.raft,
    nodeId: () => credentials.current.identity.nodeId,
    grant: () => raftMember.joinGrant,
    peerClient: () => credentials.current.peerClient,
    log,
  });
  return {
    parts: [
      storage,
      watch,
      peerRoutes,
      new MountedRoute("mesh-certificate-route", {
        router: context.peerServer.router,
        method: "POST",
        path: MESH_CERTIFICATE_PATH,
        handler: meshCertificateHandler({
          state,
          cluster: () => credentials.current.cluster!,
          log,
        }),
        scope: "node",
      }),
      new MountedRoute("ingress-certificates-route", {
        router: context.peerServer.router,
        method: "GET",
        path: INGRESS_CERTIFICATES_PATH,
        handler: ingressCertificatesHandler({
          state,
          clusterKey: () => primaryClusterKey(credentials),
        }),
        scope: "node",
      }),
      leadership,
      api,
    ],
    api,
    channel: primaryChannel({
      isLeader: () => leadership.isLeader,
      messages,
      raft: () => raftMember.raft,
      state,
      peerClient: () => credentials.current.peerClient,
      peerEndpoint: context.peerEndpoint,
    }),
    handle: {
      get isLeader() {
        return leadership.isLeader;
      },
      get coordinator() {
        leadership.check();
        return deploys.current;
      },
      get recovered() {
        leadership.check();
        return leadership.settled.then(() => deploys.recovered);
      },
      commit,
      runtime,
      deployContext,
    },
    promotion,
  };
}

/** A primary's cluster key (a secondary has none). */
function primaryClusterKey(credentials: Credentials): ClusterKey {
  const key = credentials.current.clusterKey;
  if (key === null) throw new Error("a primary without its cluster key");
  return key;
}
