/**
 * Plans that restore the cluster after a node fails or empty a node for
 * removal. Failed node (seed 000, architecture "Failure handling"): every
 * service short of replicas gets replacements; a persistent volume left on
 * the dead node moves (detach, attach on the new node) before its service
 * is placed. Drain (seed 001): one alloc at a time, each service
 * replacement healthy before its original stops; tasks stopped; volumes
 * detached and marked ready.
 */
import {
  type Alloc,
  type ClusterState,
  isTerminal,
} from "../../raft/fsm/mod.ts";
import type { Plan } from "./plan.ts";
import { PlanBuilder } from "./_builder.ts";

/** Replacements for every (or each `only`) service of the current config short of replicas. */
export function planRepair(
  state: ClusterState,
  options: {
    readonly idPrefix: string;
    readonly only: ReadonlySet<string> | null;
  },
): Plan {
  const builder = new PlanBuilder(state, options.idPrefix);
  const replaced = new Set<string>();
  for (const alloc of state.allocs.values()) {
    if (alloc.replacesAllocId !== null) replaced.add(alloc.replacesAllocId);
  }
  const failedByWorkload = new Map<string, Alloc[]>();
  for (const alloc of state.allocs.values()) {
    if (alloc.status !== "failed" || replaced.has(alloc.id)) continue;
    const list = failedByWorkload.get(alloc.workload) ?? [];
    list.push(alloc);
    failedByWorkload.set(alloc.workload, list);
  }
  for (const name of Object.keys(state.config.services).sort()) {
    if (options.only !== null && !options.only.has(name)) continue;
    const service = state.config.services[name];
    if (service === undefined) continue;
    const live = builder.live(name);
    const spread = builder.spreadOf(live);
    // Link each replacement to a failed alloc it stands in for, latest first.
    const failed = (failedByWorkload.get(name) ?? []).sort((a, b) =>
      b.updatedAtMs - a.updatedAtMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
    );
    for (let replica = live.length; replica < service.replicas; replica++) {
      const replaces = failed[replica - live.length] ?? null;
      builder.place(service, { spread, replaces, mode: "place" });
    }
  }
  return builder.build();
}

/** Replacements for the services that had allocs on `nodeId`. */
export function planNodeFailure(
  state: ClusterState,
  nodeId: string,
  idPrefix: string,
): Plan {
  const affected = new Set<string>();
  for (const alloc of state.allocs.values()) {
    if (alloc.nodeId === nodeId && alloc.kind === "service") {
      affected.add(alloc.workload);
    }
  }
  for (const volume of state.volumes.values()) {
    if (volume.nodeId !== nodeId) continue;
    for (const service of Object.values(state.config.services)) {
      if (service.volumes.some((mount) => mount.name === volume.name)) {
        affected.add(service.name);
      }
    }
  }
  return planRepair(state, { idPrefix, only: affected });
}

/** Everything off `nodeId`, in the order the drain runs it. */
export function planDrain(
  state: ClusterState,
  nodeId: string,
  idPrefix: string,
): Plan {
  const builder = new PlanBuilder(state, idPrefix);
  builder.view.exclude(nodeId);
  const here = [...state.allocs.values()]
    .filter((alloc) =>
      alloc.nodeId === nodeId && !isTerminal(alloc.status) &&
      !alloc.stopRequested
    )
    .sort((a, b) =>
      a.kind === b.kind
        ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
        : a.kind === "service"
        ? -1
        : 1
    );
  const spreads = new Map<string, Map<number, number>>();
  for (const alloc of here) {
    const service = alloc.kind === "service" &&
        Object.hasOwn(state.config.services, alloc.workload)
      ? state.config.services[alloc.workload]
      : undefined;
    if (service === undefined) {
      builder.stop(
        alloc,
        alloc.kind === "task" ? "node draining" : "service removed",
      );
      continue;
    }
    let spread = spreads.get(service.name);
    if (spread === undefined) {
      spread = builder.spreadOf(
        builder.live(service.name).filter((a) => a.nodeId !== nodeId),
      );
      spreads.set(service.name, spread);
    }
    builder.place(service, { spread, replaces: alloc, mode: "replace" });
  }
  for (
    const volume of [...state.volumes.values()].sort((
      a,
      b,
    ) => (a.name < b.name ? -1 : 1))
  ) {
    if (volume.nodeId !== nodeId) continue;
    const moved = builder.build().steps.some((step) =>
      step.type === "moveVolume" && step.volume === volume.name
    );
    // A volume still mounted (its service's replacement did not fit) stays.
    if (!moved && !builder.mountedOn(nodeId, volume.name)) {
      builder.step({
        type: "detachVolume",
        volume: volume.name,
        fromNodeId: nodeId,
        markReady: true,
      });
    }
  }
  return builder.build();
}
