/** `applyX` for the node commands. */
import type {
  Applied,
  NodeDownCommand,
  NodeDrainCommand,
  NodeHeartbeatCommand,
  NodeRegisterCommand,
  NodeRemoveCommand,
  NodeUndrainCommand,
  NodeUpCommand,
} from "./command.ts";
import type { ClusterState, FsmNode, NodeEndpoints } from "./state.ts";
import { isTerminal, legacyEndpoints } from "./state.ts";
import { HEARTBEAT_REPORTS_MAX, NODE_LABELS_MAX } from "./limits.ts";
import {
  accept,
  assert,
  formatBytes,
  formatCpu,
  invalidTime,
  invalidUnless,
  isCount,
  isId,
  quote,
  reject,
  unknownNode,
} from "./_apply_common.ts";
import { applyAllocReport, failAlloc } from "./_apply_allocs.ts";
import { registerNetwork } from "./_apply_node_network.ts";

export function applyNodeRegister(
  state: ClusterState,
  command: NodeRegisterCommand,
): Applied {
  const invalid = checkNodeRegister(command);
  if (invalid) return invalid;
  if (state.removedNodes.includes(command.nodeId)) {
    return reject(
      "node.removed",
      `Node ${
        quote(command.nodeId)
      } was removed from the cluster and cannot register again; wipe its data dir and join it anew`,
    );
  }
  for (const other of state.nodes.values()) {
    if (other.name === command.name && other.id !== command.nodeId) {
      return reject(
        "node.name_taken",
        `Node name ${quote(command.name)} is taken by node ${
          quote(other.id)
        }; pick another name or remove that node first`,
      );
    }
  }
  const existing = state.nodes.get(command.nodeId);
  const networked = registerNetwork(state, command, existing);
  if ("ok" in networked) return networked;
  const { network, subnet, mesh } = networked;
  if (existing === undefined) {
    const node: FsmNode = {
      id: command.nodeId,
      millId: command.millId,
      name: command.name,
      address: command.address,
      cpuMillis: command.cpuMillis,
      memoryBytes: command.memoryBytes,
      labels: { ...command.labels },
      endpoints: endpointsOf(command),
      status: "ready",
      draining: false,
      containers: command.containers !== false,
      registeredAtMs: command.atMs,
      lastHeartbeatMs: command.atMs,
      statusChangedAtMs: command.atMs,
      cpuMillisReserved: 0,
      memoryBytesReserved: 0,
      activeAllocs: 0,
      hostPorts: [],
      allocHosts: [],
      subnet,
      mesh,
    };
    return accept({
      ...state,
      network,
      nodes: state.nodes.set(node.id, node),
    });
  }
  const refused = checkReRegister(existing, command);
  if (refused) return refused;
  const node: FsmNode = {
    ...existing,
    name: command.name,
    address: command.address,
    cpuMillis: command.cpuMillis,
    memoryBytes: command.memoryBytes,
    labels: { ...command.labels },
    endpoints: endpointsOf(command),
    status: "ready",
    // A restart may change its roles: a primary-only node takes no new work.
    containers: command.containers !== false,
    lastHeartbeatMs: Math.max(existing.lastHeartbeatMs, command.atMs),
    statusChangedAtMs: existing.status === "ready"
      ? existing.statusChangedAtMs
      : command.atMs,
    subnet,
    mesh,
  };
  return accept({ ...state, network, nodes: state.nodes.set(node.id, node) });
}

function endpointsOf(command: NodeRegisterCommand): NodeEndpoints {
  return command.endpoints ?? legacyEndpoints(command.labels);
}

function checkNodeRegister(command: NodeRegisterCommand): Applied | null {
  const labels = Object.entries(command.labels);
  return invalidUnless(isId(command.nodeId), "Node id must be non-empty") ??
    invalidUnless(isId(command.millId), "Mill id must be non-empty") ??
    invalidUnless(isId(command.name), "Node name must be non-empty") ??
    invalidUnless(isId(command.address), "Node address must be non-empty") ??
    invalidUnless(
      isCount(command.cpuMillis) && command.cpuMillis > 0,
      `Node cpu must be a positive number of millicores, got ${
        quote(command.cpuMillis)
      }`,
    ) ??
    invalidUnless(
      isCount(command.memoryBytes) && command.memoryBytes > 0,
      `Node memory must be a positive number of bytes, got ${
        quote(command.memoryBytes)
      }`,
    ) ??
    invalidUnless(
      labels.length <= NODE_LABELS_MAX,
      `A node may have at most ${NODE_LABELS_MAX} labels, got ${labels.length}`,
    ) ??
    invalidUnless(
      labels.every(([key, value]) => isId(key) && typeof value === "string"),
      "Node labels must map non-empty keys to strings",
    ) ??
    invalidTime(command.atMs);
}

function checkReRegister(
  existing: FsmNode,
  command: NodeRegisterCommand,
): Applied | null {
  if (existing.millId !== command.millId) {
    return reject(
      "node.identity_mismatch",
      `Node ${quote(existing.id)} belongs to install ${
        quote(existing.millId)
      }, not ${quote(command.millId)}; two machines share one node id`,
    );
  }
  if (
    command.cpuMillis < existing.cpuMillisReserved ||
    command.memoryBytes < existing.memoryBytesReserved
  ) {
    return reject(
      "node.capacity_below_reserved",
      `Node ${quote(existing.name)} re-registered with ${
        formatCpu(command.cpuMillis)
      } cpu and ${formatBytes(command.memoryBytes)} but its allocs reserve ${
        formatCpu(existing.cpuMillisReserved)
      } cpu and ${
        formatBytes(existing.memoryBytesReserved)
      }; stop some allocs first`,
    );
  }
  return null;
}

export function applyNodeHeartbeat(
  state: ClusterState,
  command: NodeHeartbeatCommand,
): Applied {
  const invalid = invalidUnless(
    command.statuses.length <= HEARTBEAT_REPORTS_MAX,
    `A heartbeat may report at most ${HEARTBEAT_REPORTS_MAX} allocs`,
  ) ?? invalidTime(command.atMs);
  if (invalid) return invalid;
  const node = state.nodes.get(command.nodeId);
  if (node === undefined) return unknownNode(command.nodeId);
  if (node.status === "down") {
    return reject(
      "node.down",
      `Node ${
        quote(node.name)
      } is marked down; commit NodeUp before applying its heartbeats`,
    );
  }
  let next: ClusterState = {
    ...state,
    nodes: state.nodes.set(node.id, {
      ...node,
      lastHeartbeatMs: Math.max(node.lastHeartbeatMs, command.atMs),
    }),
  };
  for (const report of command.statuses) {
    next = applyAllocReport(next, node.id, report, command.atMs);
  }
  return accept(next);
}

export function applyNodeDown(
  state: ClusterState,
  command: NodeDownCommand,
): Applied {
  const invalid = invalidTime(command.atMs);
  if (invalid) return invalid;
  const node = state.nodes.get(command.nodeId);
  if (node === undefined) return unknownNode(command.nodeId);
  if (node.status === "down") {
    return reject("node.down", `Node ${quote(node.name)} is already down`);
  }
  let next: ClusterState = {
    ...state,
    nodes: state.nodes.set(node.id, {
      ...node,
      status: "down",
      statusChangedAtMs: command.atMs,
    }),
  };
  const message = command.reason === ""
    ? "node down"
    : `node down: ${command.reason}`;
  for (const alloc of state.allocs.values()) {
    if (alloc.nodeId === node.id && !isTerminal(alloc.status)) {
      next = failAlloc(next, alloc, message, command.atMs);
    }
  }
  const after = next.nodes.get(node.id);
  assert(after !== undefined && after.activeAllocs === 0, "down node idle");
  return accept(next);
}

export function applyNodeUp(
  state: ClusterState,
  command: NodeUpCommand,
): Applied {
  const invalid = invalidTime(command.atMs);
  if (invalid) return invalid;
  const node = state.nodes.get(command.nodeId);
  if (node === undefined) return unknownNode(command.nodeId);
  if (node.status !== "down") {
    return reject("node.not_down", `Node ${quote(node.name)} is not down`);
  }
  const up: FsmNode = {
    ...node,
    status: "ready",
    statusChangedAtMs: command.atMs,
    lastHeartbeatMs: Math.max(node.lastHeartbeatMs, command.atMs),
  };
  return accept({ ...state, nodes: state.nodes.set(node.id, up) });
}

export function applyNodeDrain(
  state: ClusterState,
  command: NodeDrainCommand,
): Applied {
  const invalid = invalidTime(command.atMs);
  if (invalid) return invalid;
  const node = state.nodes.get(command.nodeId);
  if (node === undefined) return unknownNode(command.nodeId);
  if (node.draining) {
    return reject(
      "node.draining",
      `Node ${quote(node.name)} is already draining`,
    );
  }
  const draining: FsmNode = { ...node, draining: true };
  return accept({ ...state, nodes: state.nodes.set(node.id, draining) });
}

export function applyNodeUndrain(
  state: ClusterState,
  command: NodeUndrainCommand,
): Applied {
  const invalid = invalidTime(command.atMs);
  if (invalid) return invalid;
  const node = state.nodes.get(command.nodeId);
  if (node === undefined) return unknownNode(command.nodeId);
  if (!node.draining) {
    return reject(
      "node.not_draining",
      `Node ${quote(node.name)} is not draining`,
    );
  }
  return accept({
    ...state,
    nodes: state.nodes.set(node.id, { ...node, draining: false }),
  });
}

export function applyNodeRemove(
  state: ClusterState,
  command: NodeRemoveCommand,
): Applied {
  const invalid = invalidTime(command.atMs);
  if (invalid) return invalid;
  const node = state.nodes.get(command.nodeId);
  if (node === undefined) return unknownNode(command.nodeId);
  if (node.activeAllocs > 0) {
    return reject(
      "node.active_allocs",
      `Cannot remove node ${
        quote(node.name)
      }: node still has active allocations (${node.activeAllocs}); drain it first`,
    );
  }
  for (const volume of state.volumes.values()) {
    if (volume.nodeId === node.id) {
      return reject(
        "node.volumes_attached",
        `Cannot remove node ${quote(node.name)}: volume ${
          quote(volume.name)
        } is still attached to it; detach it first`,
      );
    }
  }
  let allocs = state.allocs;
  for (const alloc of state.allocs.values()) {
    if (alloc.nodeId === node.id) {
      assert(isTerminal(alloc.status), "idle node holds only terminal allocs");
      allocs = allocs.delete(alloc.id);
    }
  }
  return accept({
    ...state,
    nodes: state.nodes.delete(node.id),
    allocs,
    removedNodes: [...state.removedNodes, node.id],
  });
}
