/** `applyX` for the alloc commands, and the alloc lifecycle. */
import {
  ALLOC_HOST_MIN,
  allocHostMax,
  type Cidr,
  contains,
  parseCidr,
  parseIpv4,
} from "../../config/cidr.ts";
import type {
  AllocReport,
  AllocRunningCommand,
  AllocScheduledCommand,
  AllocsPurgedCommand,
  AllocStatusCommand,
  AllocStopRequestedCommand,
  Applied,
} from "./command.ts";
import type { Alloc, AllocStatus, ClusterState, FsmNode } from "./state.ts";
import {
  ALLOC_TRANSITIONS,
  HOST_PORT_MAX,
  HOST_PORT_MIN,
  isTerminal,
} from "./state.ts";
import { PURGE_ALLOCS_MAX } from "./limits.ts";
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
  releaseOn,
  reserveOn,
  unknownNode,
} from "./_apply_common.ts";

export function applyAllocScheduled(
  state: ClusterState,
  command: AllocScheduledCommand,
): Applied {
  const invalid = checkAllocScheduled(command);
  if (invalid) return invalid;
  if (state.allocs.has(command.allocId)) {
    return reject("alloc.exists", `Alloc ${quote(command.allocId)} exists`);
  }
  const node = state.nodes.get(command.nodeId);
  if (node === undefined) return unknownNode(command.nodeId);
  const refused = checkNodeTakes(state, node, command);
  if (refused) return refused;
  const alloc: Alloc = {
    id: command.allocId,
    nodeId: node.id,
    workload: command.workload,
    kind: command.kind,
    image: command.image,
    cpuMillis: command.cpuMillis,
    memoryBytes: command.memoryBytes,
    hostPort: command.hostPort ?? null,
    deployId: command.deployId ?? null,
    replacesAllocId: command.replacesAllocId ?? null,
    status: "pulling",
    statusMessage: "scheduled",
    exitCode: null,
    restarts: 0,
    address: null,
    ip: command.ip ?? null,
    stopRequested: false,
    scheduledAtMs: command.atMs,
    startedAtMs: null,
    updatedAtMs: command.atMs,
  };
  return accept({
    ...state,
    allocs: state.allocs.set(alloc.id, alloc),
    nodes: state.nodes.set(node.id, reserveOn(node, alloc)),
  });
}

function checkAllocScheduled(command: AllocScheduledCommand): Applied | null {
  return invalidUnless(isId(command.allocId), "Alloc id must be non-empty") ??
    invalidUnless(isId(command.workload), "Workload name must be non-empty") ??
    invalidUnless(
      command.kind === "service" || command.kind === "task",
      `Alloc kind must be "service" or "task", got ${quote(command.kind)}`,
    ) ??
    invalidUnless(isId(command.image), "Alloc image must be non-empty") ??
    invalidUnless(
      isCount(command.cpuMillis) && isCount(command.memoryBytes),
      "Alloc cpu and memory must be non-negative integers",
    ) ??
    invalidUnless(
      command.hostPort === undefined ||
        (isCount(command.hostPort) && command.hostPort >= HOST_PORT_MIN &&
          command.hostPort <= HOST_PORT_MAX),
      `Host port must be in ${HOST_PORT_MIN}-${HOST_PORT_MAX}, got ${
        quote(command.hostPort)
      }`,
    ) ??
    invalidTime(command.atMs);
}

/** Why `node` cannot take the alloc now, or null when it can. */
function checkNodeTakes(
  state: ClusterState,
  node: FsmNode,
  command: AllocScheduledCommand,
): Applied | null {
  const what = `alloc ${quote(command.allocId)}`;
  if (node.status === "down") {
    return reject(
      "node.down",
      `Cannot place ${what}: node ${quote(node.name)} is down`,
    );
  }
  if (node.draining) {
    return reject(
      "node.draining",
      `Cannot place ${what}: node ${quote(node.name)} is draining`,
    );
  }
  if (!node.containers) {
    return reject(
      "node.no_containers",
      `Cannot place ${what}: node ${
        quote(node.name)
      } is a primary that runs no containers`,
    );
  }
  const workloads = command.kind === "service"
    ? state.config.services
    : state.config.tasks;
  const workload = Object.hasOwn(workloads, command.workload)
    ? workloads[command.workload]
    : undefined;
  if (workload === undefined) {
    return reject(
      "alloc.unknown_workload",
      `Cannot place ${what}: the config has no ${command.kind} ${
        quote(command.workload)
      }; deploy it first`,
    );
  }
  const cpuFree = node.cpuMillis - node.cpuMillisReserved;
  if (command.cpuMillis > cpuFree) {
    return reject(
      "alloc.insufficient_cpu",
      `Cannot place ${what}: it needs ${
        formatCpu(command.cpuMillis)
      } cpu and node ${quote(node.name)} has ${formatCpu(cpuFree)} free`,
    );
  }
  const memoryFree = node.memoryBytes - node.memoryBytesReserved;
  if (command.memoryBytes > memoryFree) {
    return reject(
      "alloc.insufficient_memory",
      `Cannot place ${what}: it needs ${
        formatBytes(command.memoryBytes)
      } and node ${quote(node.name)} has ${formatBytes(memoryFree)} free`,
    );
  }
  if (
    command.hostPort !== undefined && node.hostPorts.includes(command.hostPort)
  ) {
    return reject(
      "alloc.port_in_use",
      `Cannot place ${what}: host port ${command.hostPort} is in use on node ${
        quote(node.name)
      }`,
    );
  }
  const address = checkAddress(node, command, what);
  if (address) return address;
  for (const volume of workload.volumes) {
    if (volume.ephemeral) continue;
    const held = state.volumes.get(volume.name);
    if (held === undefined || held.nodeId !== node.id) {
      return reject(
        "alloc.volume_not_attached",
        `Cannot place ${what}: volume ${
          quote(volume.name)
        } is not attached to node ${quote(node.name)}; attach it first`,
      );
    }
  }
  return null;
}

/** A networked node's allocs each take a free address of its subnet; others none. */
function checkAddress(
  node: FsmNode,
  command: AllocScheduledCommand,
  what: string,
): Applied | null {
  if (node.subnet === null) {
    return command.ip === undefined ? null : reject(
      "alloc.address_invalid",
      `Cannot place ${what} at ${quote(command.ip)}: node ${
        quote(node.name)
      } runs containers on its host's network`,
    );
  }
  if (command.ip === undefined) {
    return reject(
      "alloc.address_required",
      `Cannot place ${what}: node ${
        quote(node.name)
      } gives every alloc an address of ${node.subnet}, and none was chosen`,
    );
  }
  const subnet = parseCidr(node.subnet) as Cidr;
  const address = parseIpv4(command.ip);
  const host = address === null ? -1 : address - subnet.network;
  if (
    address === null || !contains(subnet, address) ||
    host < ALLOC_HOST_MIN || host > allocHostMax(subnet)
  ) {
    return reject(
      "alloc.address_invalid",
      `Cannot place ${what} at ${quote(command.ip)}: not an alloc address of ${
        quote(node.name)
      }'s subnet ${node.subnet}`,
    );
  }
  if (node.allocHosts.includes(host)) {
    return reject(
      "alloc.address_in_use",
      `Cannot place ${what}: address ${command.ip} is in use on node ${
        quote(node.name)
      }`,
    );
  }
  return null;
}

export function applyAllocStatus(
  state: ClusterState,
  command: AllocStatusCommand,
): Applied {
  const invalid = invalidTime(command.atMs) ??
    invalidUnless(
      Object.hasOwn(ALLOC_TRANSITIONS, command.status),
      `Unknown alloc status ${quote(command.status)}`,
    );
  if (invalid) return invalid;
  const alloc = state.allocs.get(command.allocId);
  if (alloc === undefined) return unknownAlloc(command.allocId);
  const refused = checkTransition(alloc, command.status);
  if (refused) return refused;
  return accept(
    transition(state, alloc, command.status, {
      message: command.message ?? command.status,
      exitCode: command.exitCode ?? null,
      atMs: command.atMs,
    }),
  );
}

export function applyAllocRunning(
  state: ClusterState,
  command: AllocRunningCommand,
): Applied {
  const invalid = invalidTime(command.atMs) ??
    invalidUnless(isId(command.address), "Alloc address must be non-empty");
  if (invalid) return invalid;
  const alloc = state.allocs.get(command.allocId);
  if (alloc === undefined) return unknownAlloc(command.allocId);
  if (alloc.status !== "starting") {
    return checkTransition(alloc, "running") ??
      illegal(alloc, "running", "only a starting alloc starts running");
  }
  const running: Alloc = {
    ...alloc,
    status: "running",
    statusMessage: "running",
    address: command.address,
    startedAtMs: command.atMs,
    updatedAtMs: command.atMs,
  };
  return accept({ ...state, allocs: state.allocs.set(alloc.id, running) });
}

export function applyAllocStopRequested(
  state: ClusterState,
  command: AllocStopRequestedCommand,
): Applied {
  const invalid = invalidTime(command.atMs);
  if (invalid) return invalid;
  const alloc = state.allocs.get(command.allocId);
  if (alloc === undefined) return unknownAlloc(command.allocId);
  if (isTerminal(alloc.status)) return terminal(alloc);
  // Idempotent: a leader retrying its stop keeps the first reason.
  if (alloc.stopRequested) return accept(state);
  const stopping: Alloc = {
    ...alloc,
    stopRequested: true,
    statusMessage: command.reason === "" ? "stop requested" : command.reason,
    updatedAtMs: command.atMs,
  };
  return accept({ ...state, allocs: state.allocs.set(alloc.id, stopping) });
}

export function applyAllocsPurged(
  state: ClusterState,
  command: AllocsPurgedCommand,
): Applied {
  const invalid = invalidTime(command.atMs) ??
    invalidUnless(
      command.allocIds.length <= PURGE_ALLOCS_MAX,
      `A purge may name at most ${PURGE_ALLOCS_MAX} allocs`,
    );
  if (invalid) return invalid;
  let allocs = state.allocs;
  for (const allocId of command.allocIds) {
    const alloc = allocs.get(allocId);
    if (alloc === undefined) continue; // already purged: nothing to do
    if (!isTerminal(alloc.status)) {
      return reject(
        "alloc.active",
        `Cannot purge alloc ${
          quote(alloc.id)
        }: it is ${alloc.status}; stop it first`,
      );
    }
    allocs = allocs.delete(allocId);
  }
  return accept({ ...state, allocs });
}

/** A node's observation, applied when it is a legal move, else ignored. */
export function applyAllocReport(
  state: ClusterState,
  nodeId: string,
  report: AllocReport,
  atMs: number,
): ClusterState {
  const alloc = state.allocs.get(report.allocId);
  if (alloc === undefined || alloc.nodeId !== nodeId) return state;
  if (!Object.hasOwn(ALLOC_TRANSITIONS, report.status)) return state;
  if (checkTransition(alloc, report.status) !== null) return state;
  return transition(state, alloc, report.status, {
    message: report.message ?? report.status,
    exitCode: report.exitCode ?? null,
    atMs,
  });
}

/** `alloc` failed (its node went down); its reservation is given back. */
export function failAlloc(
  state: ClusterState,
  alloc: Alloc,
  message: string,
  atMs: number,
): ClusterState {
  return transition(state, alloc, "failed", { message, exitCode: null, atMs });
}

function checkTransition(alloc: Alloc, next: AllocStatus): Applied | null {
  if (isTerminal(alloc.status)) return terminal(alloc);
  if (!ALLOC_TRANSITIONS[alloc.status].includes(next)) {
    return illegal(alloc, next, "see the alloc lifecycle");
  }
  if (next === "healthy" && alloc.kind === "task") {
    return illegal(alloc, next, "tasks have no health checks");
  }
  return null;
}

interface TransitionDetails {
  readonly message: string;
  readonly exitCode: number | null;
  readonly atMs: number;
}

/** Moves `alloc` to `next` (a legal move), releasing it when terminal. */
function transition(
  state: ClusterState,
  alloc: Alloc,
  next: AllocStatus,
  details: TransitionDetails,
): ClusterState {
  assert(!isTerminal(alloc.status), "terminal allocs never move");
  const restarted = next === "starting" && alloc.status !== "pulling";
  const moved: Alloc = {
    ...alloc,
    status: next,
    statusMessage: details.message,
    exitCode: details.exitCode ?? alloc.exitCode,
    restarts: alloc.restarts + (restarted ? 1 : 0),
    updatedAtMs: details.atMs,
  };
  const allocs = state.allocs.set(alloc.id, moved);
  if (!isTerminal(next)) return { ...state, allocs };
  const node = state.nodes.get(alloc.nodeId);
  assert(node !== undefined, "every alloc is on a known node");
  return {
    ...state,
    allocs,
    nodes: state.nodes.set(node.id, releaseOn(node, alloc)),
  };
}

function unknownAlloc(allocId: string): Applied {
  return reject("alloc.unknown", `Alloc ${quote(allocId)} does not exist`);
}

function terminal(alloc: Alloc): Applied {
  return reject(
    "alloc.terminal",
    `Alloc ${
      quote(alloc.id)
    } is already ${alloc.status}; a stopped or failed alloc never changes`,
  );
}

function illegal(alloc: Alloc, next: AllocStatus, why: string): Applied {
  return reject(
    "alloc.illegal_transition",
    `Alloc ${
      quote(alloc.id)
    } cannot go from ${alloc.status} to ${next}: ${why}`,
  );
}
