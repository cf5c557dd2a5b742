/**
 * Read-only views of the cluster state that the rest of mill needs: DNS and
 * proxy endpoints, free resources, volume placement, allocs per node, the
 * diff of a new config. Pure functions; results sorted for stable output.
 */
import type { ClusterConfig } from "../../config/types.ts";
import type {
  Alloc,
  ClusterState,
  DeployRecord,
  FsmNode,
  NodeId,
  VolumeState,
} from "./state.ts";
import { isTerminal } from "./state.ts";
import { type ConfigDiff, diffConfig } from "./config_diff.ts";

/** Where one healthy alloc of a service answers. */
export interface Endpoint {
  readonly allocId: string;
  readonly nodeId: NodeId;
  /** The node's mesh address. */
  readonly host: string;
  /** The mapped host port. */
  readonly port: number;
}

/** An alloc serves traffic: healthy, not being stopped, on a live node. */
export function isServing(alloc: Alloc, node: FsmNode | undefined): boolean {
  return alloc.status === "healthy" && !alloc.stopRequested &&
    node !== undefined && node.status === "ready";
}

/**
 * The healthy endpoints of every service with a port, keyed by service name
 * (services with none are absent), each list sorted by alloc id. What the DNS
 * server answers for `<service>.mill` and what the proxy balances over.
 */
export function healthyEndpoints(
  state: ClusterState,
): ReadonlyMap<string, readonly Endpoint[]> {
  const byService = new Map<string, Endpoint[]>();
  for (const alloc of state.allocs.values()) {
    if (alloc.kind !== "service" || alloc.hostPort === null) continue;
    const node = state.nodes.get(alloc.nodeId);
    if (node === undefined || !isServing(alloc, node)) continue;
    const list = byService.get(alloc.workload) ?? [];
    list.push({
      allocId: alloc.id,
      nodeId: node.id,
      host: node.address,
      port: alloc.hostPort,
    });
    byService.set(alloc.workload, list);
  }
  const sorted = new Map<string, Endpoint[]>();
  for (const name of [...byService.keys()].sort()) {
    const list = byService.get(name) as Endpoint[];
    sorted.set(name, list.sort((a, b) => compare(a.allocId, b.allocId)));
  }
  return sorted;
}

/** The healthy endpoints of one service (empty when none). */
export function serviceEndpoints(
  state: ClusterState,
  service: string,
): readonly Endpoint[] {
  return healthyEndpoints(state).get(service) ?? [];
}

export interface NodeResources {
  readonly nodeId: NodeId;
  readonly name: string;
  readonly status: FsmNode["status"];
  readonly draining: boolean;
  readonly cpuMillis: number;
  readonly cpuMillisFree: number;
  readonly memoryBytes: number;
  readonly memoryBytesFree: number;
  readonly activeAllocs: number;
}

function resourcesOf(node: FsmNode): NodeResources {
  return {
    nodeId: node.id,
    name: node.name,
    status: node.status,
    draining: node.draining,
    cpuMillis: node.cpuMillis,
    cpuMillisFree: node.cpuMillis - node.cpuMillisReserved,
    memoryBytes: node.memoryBytes,
    memoryBytesFree: node.memoryBytes - node.memoryBytesReserved,
    activeAllocs: node.activeAllocs,
  };
}

/** Capacity and free cpu/memory of every node, sorted by name. */
export function freeResources(state: ClusterState): readonly NodeResources[] {
  return [...state.nodes.values()]
    .sort((a, b) => compare(a.name, b.name))
    .map(resourcesOf);
}

/** Capacity and free cpu/memory of one node, or null when unknown. */
export function nodeResources(
  state: ClusterState,
  nodeId: NodeId,
): NodeResources | null {
  const node = state.nodes.get(nodeId);
  return node === undefined ? null : resourcesOf(node);
}

export interface VolumeLocation {
  readonly name: string;
  readonly cloudId: string;
  readonly state: VolumeState;
  /** The node it is attached to, null when not attached. */
  readonly nodeId: NodeId | null;
  readonly nodeName: string | null;
}

/** Every volume and the node it is on, sorted by name (`mill volume list`). */
export function volumeLocations(
  state: ClusterState,
): readonly VolumeLocation[] {
  return [...state.volumes.values()]
    .sort((a, b) => compare(a.name, b.name))
    .map((volume) => ({
      name: volume.name,
      cloudId: volume.cloudId,
      state: volume.state,
      nodeId: volume.nodeId,
      nodeName: volume.nodeId === null
        ? null
        : state.nodes.get(volume.nodeId)?.name ?? null,
    }));
}

/** The node a volume is attached to, or null (detached, ready or unknown). */
export function volumeNode(state: ClusterState, name: string): NodeId | null {
  return state.volumes.get(name)?.nodeId ?? null;
}

/**
 * Allocs per node id, every known node present, each list sorted by alloc
 * id. `activeOnly` leaves out stopped and failed allocs.
 */
export function allocsByNode(
  state: ClusterState,
  options: { readonly activeOnly: boolean },
): ReadonlyMap<NodeId, readonly Alloc[]> {
  const byNode = new Map<NodeId, Alloc[]>();
  for (const nodeId of [...state.nodes.keys()].sort()) byNode.set(nodeId, []);
  for (const alloc of state.allocs.values()) {
    if (options.activeOnly && isTerminal(alloc.status)) continue;
    byNode.get(alloc.nodeId)?.push(alloc);
  }
  for (const list of byNode.values()) list.sort((a, b) => compare(a.id, b.id));
  return byNode;
}

/** The allocs of one service or task, sorted by id. */
export function allocsOfWorkload(
  state: ClusterState,
  workload: string,
  options: { readonly activeOnly: boolean },
): readonly Alloc[] {
  const found: Alloc[] = [];
  for (const alloc of state.allocs.values()) {
    if (alloc.workload !== workload) continue;
    if (options.activeOnly && isTerminal(alloc.status)) continue;
    found.push(alloc);
  }
  return found.sort((a, b) => compare(a.id, b.id));
}

/** One external route of the config and where its traffic goes now. */
export interface RouteTarget {
  readonly host: string;
  /** Path prefix, starting with `/`. */
  readonly path: string;
  readonly service: string;
  /** Healthy endpoints; empty while none is healthy (the proxy answers 503). */
  readonly endpoints: readonly Endpoint[];
}

/**
 * Every route of the current config with its service's healthy endpoints,
 * sorted by host, then longest path first (the order a proxy matches in).
 */
export function routeTargets(state: ClusterState): readonly RouteTarget[] {
  const endpoints = healthyEndpoints(state);
  const targets: RouteTarget[] = [];
  for (const service of Object.values(state.config.services)) {
    for (const route of service.routes) {
      targets.push({
        host: route.host,
        path: route.path,
        service: service.name,
        endpoints: endpoints.get(service.name) ?? [],
      });
    }
  }
  return targets.sort((a, b) =>
    compare(a.host, b.host) || b.path.length - a.path.length ||
    compare(a.path, b.path) || compare(a.service, b.service)
  );
}

/**
 * Ready nodes whose last heartbeat is older than `heartbeatTimeoutMs` at
 * `nowMs`: the leader commits `NodeDown` for each. Sorted by id.
 */
export function staleNodes(
  state: ClusterState,
  options: { readonly nowMs: number; readonly heartbeatTimeoutMs: number },
): readonly FsmNode[] {
  const stale: FsmNode[] = [];
  for (const node of state.nodes.values()) {
    if (node.status !== "ready") continue;
    if (options.nowMs - node.lastHeartbeatMs > options.heartbeatTimeoutMs) {
      stale.push(node);
    }
  }
  return stale.sort((a, b) => compare(a.id, b.id));
}

/**
 * Of the allocs a node says it runs, those it should stop: unknown to the
 * cluster, placed on another node, terminal (e.g. failed when the node was
 * down and since replaced) or asked to stop. Sorted.
 */
export function allocsToStop(
  state: ClusterState,
  nodeId: NodeId,
  runningAllocIds: readonly string[],
): readonly string[] {
  return runningAllocIds.filter((allocId) => {
    const alloc = state.allocs.get(allocId);
    return alloc === undefined || alloc.nodeId !== nodeId ||
      isTerminal(alloc.status) || alloc.stopRequested;
  }).sort(compare);
}

/** The diff of `next` against the cluster's current config. */
export function diffWithCurrent(
  state: ClusterState,
  next: ClusterConfig,
): ConfigDiff {
  return diffConfig(state.config, next);
}

/** The deploy in progress, or null. */
export function runningDeploy(state: ClusterState): DeployRecord | null {
  const last = state.deploys.at(-1);
  return last?.status === "running" ? last : null;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A service that mounts the persistent volume, in the current config or in
 * the one a running deploy may roll back to; null when none does.
 */
export function serviceMountingVolume(
  state: ClusterState,
  volumeName: string,
): string | null {
  const configs = [state.config];
  const running = state.deploys.at(-1);
  if (running?.previousConfig) configs.push(running.previousConfig);
  for (const config of configs) {
    for (const service of Object.values(config.services)) {
      for (const volume of service.volumes) {
        if (!volume.ephemeral && volume.name === volumeName) {
          return service.name;
        }
      }
    }
  }
  return null;
}
