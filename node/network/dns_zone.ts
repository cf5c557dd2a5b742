/**
 * The DNS records a cluster state implies (pure): `SERVICE.mill` and its
 * SRV records list the allocs that serve traffic now (healthy, not asked
 * to stop, with an address), `ALLOC.alloc.mill` every live alloc with an
 * address, `NODE.node.mill` every ready node at its mesh address (the
 * first of its subnet) or, without one, its registered address.
 */
import {
  formatIpv4,
  gatewayOf,
  parseCidr,
  parseIpv4,
} from "../../config/cidr.ts";
import type { ZoneEndpoint, ZoneInput } from "../../net/dns/zone.ts";
import { type ClusterState, isTerminal } from "../../raft/mod.ts";

export function zoneInputOf(state: ClusterState): ZoneInput {
  const endpoints = new Map<string, ZoneEndpoint[]>();
  const allocs: { id: string; address: string }[] = [];
  for (const alloc of state.allocs.values()) {
    if (alloc.ip === null || isTerminal(alloc.status)) continue;
    allocs.push({ id: alloc.id, address: alloc.ip });
    if (alloc.kind !== "service" || alloc.status !== "healthy") continue;
    if (alloc.stopRequested) continue;
    const service = Object.hasOwn(state.config.services, alloc.workload)
      ? state.config.services[alloc.workload]
      : undefined;
    if (service === undefined) continue;
    const list = endpoints.get(alloc.workload) ?? [];
    list.push({
      allocId: alloc.id,
      address: alloc.ip,
      port: service.port ?? null,
    });
    endpoints.set(alloc.workload, list);
  }
  const services = Object.keys(state.config.services).map((name) => ({
    name,
    endpoints: endpoints.get(name) ?? [],
  }));
  const nodes: { name: string; address: string }[] = [];
  for (const node of state.nodes.values()) {
    if (node.status !== "ready") continue;
    const address = nodeAddressOf(node.subnet, node.address);
    if (address !== null) nodes.push({ name: node.name, address });
  }
  return { services, allocs, nodes };
}

function nodeAddressOf(subnet: string | null, address: string): string | null {
  const cidr = subnet === null ? null : parseCidr(subnet);
  if (cidr !== null && typeof cidr !== "string") {
    return formatIpv4(gatewayOf(cidr));
  }
  return parseIpv4(address) === null ? null : address;
}
