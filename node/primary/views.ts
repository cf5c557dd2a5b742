/**
 * What the read endpoints answer, built from the FSM state (pure): the
 * cluster summary (`GET /v1/status`), the nodes (`GET /v1/nodes`) and the
 * allocs (`GET /v1/allocs`). Times are ISO 8601; resources as in the FSM
 * (cpu in millicores, memory in bytes).
 */
import { formatIpv4, gatewayOf, parseCidr } from "../../config/cidr.ts";
import {
  type Alloc,
  type ClusterState,
  type FsmNode,
  isTerminal,
} from "../../raft/mod.ts";

export interface NodeView {
  readonly id: string;
  readonly name: string;
  readonly address: string;
  readonly status: "ready" | "down";
  readonly draining: boolean;
  readonly cpuMillis: number;
  readonly memoryBytes: number;
  readonly cpuMillisReserved: number;
  readonly memoryBytesReserved: number;
  readonly allocs: number;
  readonly lastHeartbeatAt: string;
  readonly leader: boolean;
  /** `primary` when it serves the API (it registered an API endpoint); `secondary` when it runs containers. */
  readonly roles: readonly ("primary" | "secondary")[];
  /** Its container subnet (bridge networking); null: containers on its network. */
  readonly subnet: string | null;
  /** Its WireGuard peer (public key and endpoint); null without a mesh. */
  readonly mesh:
    | {
      readonly publicKey: string;
      readonly endpoint: string;
      /** Its peer port on its mesh address, once it serves there. */
      readonly peer?: string;
    }
    | null;
  /** Its mesh address: the first of its subnet; null without one. */
  readonly meshAddress: string | null;
  /** The latest handshake the answering node had with it; null: none (or itself). */
  readonly meshHandshakeAt: string | null;
}

export interface AllocView {
  readonly id: string;
  readonly workload: string;
  readonly kind: "service" | "task";
  readonly nodeId: string;
  readonly nodeName: string | null;
  readonly image: string;
  readonly status: Alloc["status"];
  readonly statusMessage: string;
  readonly exitCode: number | null;
  readonly restarts: number;
  readonly address: string | null;
  readonly hostPort: number | null;
  /** Its own container address (bridge networking); null: the node's network. */
  readonly ip: string | null;
  readonly deployId: string | null;
  readonly stopRequested: boolean;
  readonly scheduledAt: string;
  readonly startedAt: string | null;
  readonly updatedAt: string;
}

export interface ServiceView {
  readonly name: string;
  readonly image: string;
  readonly replicas: number;
  readonly healthy: number;
  /** Non-terminal allocs (pulling, starting, running, healthy). */
  readonly live: number;
  readonly port: number | null;
}

export interface StatusView {
  readonly clusterId: string;
  readonly leader: { readonly id: string; readonly name: string | null } | null;
  readonly term: number;
  readonly nodes: {
    readonly total: number;
    readonly ready: number;
    readonly down: number;
  };
  readonly services: readonly ServiceView[];
  readonly tasks: readonly string[];
  readonly lastDeploy: {
    readonly id: string;
    readonly status: string;
    readonly startedAt: string;
    readonly finishedAt: string | null;
    readonly message: string;
  } | null;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function byName<T extends { name: string }>(a: T, b: T): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export function nodeView(
  node: FsmNode,
  leaderId: string | null,
  handshakes: ReadonlyMap<string, number | null> = new Map(),
): NodeView {
  const handshake = node.mesh === null
    ? null
    : handshakes.get(node.mesh.publicKey) ?? null;
  return {
    id: node.id,
    name: node.name,
    address: node.address,
    status: node.status,
    draining: node.draining,
    cpuMillis: node.cpuMillis,
    memoryBytes: node.memoryBytes,
    cpuMillisReserved: node.cpuMillisReserved,
    memoryBytesReserved: node.memoryBytesReserved,
    allocs: node.activeAllocs,
    lastHeartbeatAt: iso(node.lastHeartbeatMs),
    leader: node.id === leaderId,
    roles: [
      ...(node.endpoints.api === null ? [] : ["primary" as const]),
      ...(node.containers ? ["secondary" as const] : []),
    ],
    subnet: node.subnet,
    mesh: node.mesh,
    meshAddress: gatewayAddressOf(node.subnet),
    meshHandshakeAt: handshake === null ? null : iso(handshake),
  };
}

/** Every node, by name. */
export function nodesView(
  state: ClusterState,
  leaderId: string | null,
  handshakes: ReadonlyMap<string, number | null> = new Map(),
): NodeView[] {
  return [...state.nodes.values()].map((n) => nodeView(n, leaderId, handshakes))
    .sort(byName);
}

function gatewayAddressOf(subnet: string | null): string | null {
  const cidr = subnet === null ? null : parseCidr(subnet);
  return cidr === null || typeof cidr === "string"
    ? null
    : formatIpv4(gatewayOf(cidr));
}

export function allocView(state: ClusterState, alloc: Alloc): AllocView {
  return {
    id: alloc.id,
    workload: alloc.workload,
    kind: alloc.kind,
    nodeId: alloc.nodeId,
    nodeName: state.nodes.get(alloc.nodeId)?.name ?? null,
    image: alloc.image,
    status: alloc.status,
    statusMessage: alloc.statusMessage,
    exitCode: alloc.exitCode,
    restarts: alloc.restarts,
    address: alloc.address,
    hostPort: alloc.hostPort,
    ip: alloc.ip,
    deployId: alloc.deployId,
    stopRequested: alloc.stopRequested,
    scheduledAt: iso(alloc.scheduledAtMs),
    startedAt: alloc.startedAtMs === null ? null : iso(alloc.startedAtMs),
    updatedAt: iso(alloc.updatedAtMs),
  };
}

/**
 * Allocs by workload then scheduling time; ended ones only with `all`
 * (the FSM keeps them until purged).
 */
export function allocsView(
  state: ClusterState,
  filter: { readonly workload?: string; readonly all?: boolean } = {},
): AllocView[] {
  return [...state.allocs.values()]
    .filter((a) =>
      filter.workload === undefined || a.workload === filter.workload
    )
    .filter((a) => filter.all === true || !isTerminal(a.status))
    .sort((a, b) =>
      a.workload < b.workload
        ? -1
        : a.workload > b.workload
        ? 1
        : a.scheduledAtMs - b.scheduledAtMs || (a.id < b.id ? -1 : 1)
    )
    .map((a) => allocView(state, a));
}

export function statusView(
  state: ClusterState,
  cluster: {
    readonly clusterId: string;
    readonly leaderId: string | null;
    readonly term: number;
  },
): StatusView {
  const nodes = [...state.nodes.values()];
  const allocs = [...state.allocs.values()];
  const services: ServiceView[] = Object.values(state.config.services).map(
    (service) => {
      const mine = allocs.filter((a) =>
        a.workload === service.name && a.kind === "service"
      );
      return {
        name: service.name,
        image: service.image,
        replicas: service.replicas,
        healthy: mine.filter((a) => a.status === "healthy" && !a.stopRequested)
          .length,
        live: mine.filter((a) => !isTerminal(a.status)).length,
        port: service.port ?? null,
      };
    },
  ).sort(byName);
  const last = state.deploys.at(-1);
  const leader = cluster.leaderId === null ? null : {
    id: cluster.leaderId,
    name: state.nodes.get(cluster.leaderId)?.name ?? null,
  };
  return {
    clusterId: cluster.clusterId,
    leader,
    term: cluster.term,
    nodes: {
      total: nodes.length,
      ready: nodes.filter((n) => n.status === "ready").length,
      down: nodes.filter((n) => n.status === "down").length,
    },
    services,
    tasks: Object.keys(state.config.tasks).sort(),
    lastDeploy: last === undefined ? null : {
      id: last.id,
      status: last.status,
      startedAt: iso(last.startedAtMs),
      finishedAt: last.finishedAtMs === null ? null : iso(last.finishedAtMs),
      message: last.message,
    },
  };
}
