/**
 * What must hold of every cluster state, checked from scratch (slowly,
 * obviously): by the property tests after every command, and by snapshot
 * restore. Also rebuilds the per-node usage that snapshots leave out.
 */
import { contains, parseCidr, parseIpv4 } from "../../config/cidr.ts";
import type { ClusterState, FsmNode } from "./state.ts";
import { isTerminal } from "./state.ts";

interface Usage {
  cpuMillis: number;
  memoryBytes: number;
  active: number;
  hostPorts: number[];
  allocHosts: number[];
}

function usageOf(state: ClusterState): Map<string, Usage> {
  const usage = new Map<string, Usage>();
  for (const node of state.nodes.values()) {
    usage.set(node.id, {
      cpuMillis: 0,
      memoryBytes: 0,
      active: 0,
      hostPorts: [],
      allocHosts: [],
    });
  }
  for (const alloc of state.allocs.values()) {
    const entry = usage.get(alloc.nodeId);
    if (entry === undefined || isTerminal(alloc.status)) continue;
    entry.cpuMillis += alloc.cpuMillis;
    entry.memoryBytes += alloc.memoryBytes;
    entry.active += 1;
    if (alloc.hostPort !== null) entry.hostPorts.push(alloc.hostPort);
    const node = state.nodes.get(alloc.nodeId);
    if (alloc.ip !== null && node !== undefined) {
      entry.allocHosts.push(hostOn(node, alloc.ip));
    }
  }
  for (const entry of usage.values()) {
    entry.hostPorts.sort((a, b) => a - b);
    entry.allocHosts.sort((a, b) => a - b);
  }
  return usage;
}

/** The host number of `ip` on the node's subnet; NaN when it is not on it. */
function hostOn(node: FsmNode, ip: string): number {
  const subnet = node.subnet === null ? null : parseCidr(node.subnet);
  const address = parseIpv4(ip);
  if (subnet === null || typeof subnet === "string" || address === null) {
    return NaN;
  }
  return contains(subnet, address) ? address - subnet.network : NaN;
}

/** Every broken invariant, as sentences; empty when the state is sound. */
export function checkInvariants(state: ClusterState): string[] {
  const problems: string[] = [];
  for (const alloc of state.allocs.values()) {
    if (!state.nodes.has(alloc.nodeId)) {
      problems.push(`alloc "${alloc.id}" is on unknown node "${alloc.nodeId}"`);
    }
  }
  for (const [nodeId, used] of usageOf(state)) {
    const node = state.nodes.get(nodeId) as FsmNode;
    checkNodeUsage(node, used, problems);
  }
  for (const volume of state.volumes.values()) {
    const attached = volume.state === "attached";
    if (attached !== (volume.nodeId !== null)) {
      problems.push(
        `volume "${volume.name}" is ${volume.state} with node ${volume.nodeId}`,
      );
    }
    if (volume.nodeId !== null && !state.nodes.has(volume.nodeId)) {
      problems.push(
        `volume "${volume.name}" is attached to unknown node "${volume.nodeId}"`,
      );
    }
  }
  state.deploys.forEach((deploy, index) => {
    const running = deploy.status === "running";
    if (running && index !== state.deploys.length - 1) {
      problems.push(`deploy "${deploy.id}" is running but not the latest`);
    }
    if (running !== (deploy.previousConfig !== null)) {
      problems.push(
        `deploy "${deploy.id}" is ${deploy.status} with previousConfig mismatch`,
      );
    }
  });
  return problems;
}

function checkNodeUsage(node: FsmNode, used: Usage, problems: string[]) {
  const name = `node "${node.id}"`;
  if (node.cpuMillisReserved !== used.cpuMillis) {
    problems.push(
      `${name} counts ${node.cpuMillisReserved} millicores reserved, allocs hold ${used.cpuMillis}`,
    );
  }
  if (node.memoryBytesReserved !== used.memoryBytes) {
    problems.push(
      `${name} counts ${node.memoryBytesReserved} bytes reserved, allocs hold ${used.memoryBytes}`,
    );
  }
  if (node.activeAllocs !== used.active) {
    problems.push(
      `${name} counts ${node.activeAllocs} active allocs, there are ${used.active}`,
    );
  }
  if (node.hostPorts.join(",") !== used.hostPorts.join(",")) {
    problems.push(
      `${name} host ports ${node.hostPorts} differ from its allocs' ${used.hostPorts}`,
    );
  }
  if (new Set(used.hostPorts).size !== used.hostPorts.length) {
    problems.push(`${name} has a host port held twice: ${used.hostPorts}`);
  }
  if (node.allocHosts.join(",") !== used.allocHosts.join(",")) {
    problems.push(
      `${name} addresses ${node.allocHosts} differ from its allocs' ${used.allocHosts}`,
    );
  }
  if (new Set(used.allocHosts).size !== used.allocHosts.length) {
    problems.push(`${name} has an address held twice: ${used.allocHosts}`);
  }
  if (used.allocHosts.some((host) => Number.isNaN(host))) {
    problems.push(`${name} has an alloc address off its subnet`);
  }
  if (used.cpuMillis > node.cpuMillis) {
    problems.push(
      `${name} is over-committed on cpu: ${used.cpuMillis} > ${node.cpuMillis}`,
    );
  }
  if (used.memoryBytes > node.memoryBytes) {
    problems.push(
      `${name} is over-committed on memory: ${used.memoryBytes} > ${node.memoryBytes}`,
    );
  }
  if (node.status === "down" && used.active > 0) {
    problems.push(`${name} is down with ${used.active} active allocs`);
  }
}

/** The state with every node's usage counters recomputed from its allocs. */
export function rebuildUsage(state: ClusterState): ClusterState {
  let nodes = state.nodes;
  for (const [nodeId, used] of usageOf(state)) {
    const node = nodes.get(nodeId) as FsmNode;
    nodes = nodes.set(nodeId, {
      ...node,
      cpuMillisReserved: used.cpuMillis,
      memoryBytesReserved: used.memoryBytes,
      activeAllocs: used.active,
      hostPorts: used.hostPorts,
      allocHosts: used.allocHosts,
    });
  }
  return { ...state, nodes };
}
