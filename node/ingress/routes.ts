/**
 * The proxy's routes a cluster state implies (pure): every `route` block
 * of every service, to the allocs that serve traffic now (healthy, not
 * asked to stop). An alloc with a container address is reached there on
 * its service's declared port, through the mesh from other nodes; one on
 * host networking on the node address and host port it runs on.
 *
 * While a deploy runs, an alloc it did not place still runs the previous
 * config, so its port is read from that config: a port changed by the
 * deploy does not send traffic to old replicas on the new port.
 */
import type { ClusterConfig } from "../../config/types.ts";
import type { Endpoint, Route } from "../../proxy/mod.ts";
import {
  type Alloc,
  type ClusterState,
  runningDeploy,
} from "../../raft/mod.ts";

export function ingressRoutesOf(state: ClusterState): Route[] {
  const running = runningDeploy(state);
  const endpoints = new Map<string, Endpoint[]>();
  for (const alloc of state.allocs.values()) {
    if (alloc.kind !== "service" || alloc.status !== "healthy") continue;
    if (alloc.stopRequested) continue;
    const config = running !== null && alloc.deployId !== running.id &&
        running.previousConfig !== null
      ? running.previousConfig
      : state.config;
    const endpoint = endpointOf(alloc, config);
    if (endpoint === null) continue;
    const list = endpoints.get(alloc.workload) ?? [];
    list.push(endpoint);
    endpoints.set(alloc.workload, list);
  }
  const routes: Route[] = [];
  for (const service of Object.values(state.config.services)) {
    for (const route of service.routes) {
      routes.push({
        host: route.host,
        pathPrefix: route.path,
        ...(route.balance === undefined ? {} : { balance: route.balance }),
        service: service.name,
        endpoints: [...(endpoints.get(service.name) ?? [])].sort(byAlloc),
      });
    }
  }
  return routes;
}

function endpointOf(alloc: Alloc, config: ClusterConfig): Endpoint | null {
  const service = Object.hasOwn(config.services, alloc.workload)
    ? config.services[alloc.workload]
    : undefined;
  if (alloc.ip !== null) {
    const port = service?.port ?? null;
    return port === null
      ? null
      : { address: alloc.ip, port, allocId: alloc.id };
  }
  // Host networking: where the node said it answers (`host:port`).
  const address = alloc.address;
  const colon = address?.lastIndexOf(":") ?? -1;
  if (address === null || colon < 0) return null;
  const port = Number(address.slice(colon + 1));
  if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
  return {
    address: address.slice(0, colon).replace(/^\[|\]$/g, ""),
    port,
    allocId: alloc.id,
  };
}

function byAlloc(a: Endpoint, b: Endpoint): number {
  return a.allocId < b.allocId ? -1 : a.allocId > b.allocId ? 1 : 0;
}
