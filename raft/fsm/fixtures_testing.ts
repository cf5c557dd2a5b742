/**
 * The cluster most FSM and scheduler table tests start from: three nodes,
 * a deployed config of seed 002 (`web` ×2, `api`) plus seed 000's
 * `postgres` with its `pgdata` volume attached to node-2, and a task.
 */
import type { AllocScheduledCommand, Command } from "./command.ts";
import type { ClusterState } from "./state.ts";
import { cpuMillisOf } from "./state.ts";
import {
  config,
  GIB,
  MIB,
  registerNode,
  service,
  stateFrom,
  task,
} from "./testing.ts";

export const baseConfig = config([
  service("web", {
    replicas: 2,
    port: 3000,
    cpu: 0.5,
    memoryBytes: 512 * MIB,
    routes: [{ host: "app.example.com", path: "/" }],
  }),
  service("api", { port: 8080, cpu: 1, memoryBytes: 1 * GIB }),
  service("postgres", {
    port: 5432,
    cpu: 1,
    memoryBytes: 2 * GIB,
    volumes: [{
      name: "pgdata",
      path: "/var/lib/postgresql/data",
      sizeBytes: 50 * GIB,
      ephemeral: false,
    }],
  }),
], [task("migrate")]);

export const baseCommands: readonly Command[] = [
  registerNode(1),
  registerNode(2),
  registerNode(3),
  { type: "Deploy", deployId: "d1", config: baseConfig, atMs: 2000 },
  {
    type: "VolumeCreated",
    name: "pgdata",
    cloudId: "vol-abc123",
    sizeBytes: 50 * GIB,
    nodeId: "n2",
    atMs: 2100,
  },
  { type: "VolumeAttached", name: "pgdata", nodeId: "n2", atMs: 2200 },
];

export function baseState(): ClusterState {
  return stateFrom(baseCommands);
}

/** An `AllocScheduled` of a workload of `baseConfig` with its declared resources. */
export function scheduled(
  allocId: string,
  nodeId: string,
  workload = "web",
  extra: Partial<AllocScheduledCommand> = {},
): AllocScheduledCommand {
  const found = baseConfig.services[workload] ?? baseConfig.tasks[workload];
  if (found === undefined) {
    throw new Error(`no workload ${workload} in fixture`);
  }
  return {
    type: "AllocScheduled",
    allocId,
    nodeId,
    workload,
    kind: found.kind,
    image: found.image,
    cpuMillis: cpuMillisOf(found.cpu),
    memoryBytes: found.memoryBytes,
    atMs: 3000,
    ...extra,
  };
}

/** Commands taking a scheduled alloc to `healthy` (with an address). */
export function toHealthy(allocId: string, address: string): Command[] {
  return [
    { type: "AllocStatus", allocId, status: "starting", atMs: 3100 },
    { type: "AllocRunning", allocId, address, atMs: 3200 },
    { type: "AllocStatus", allocId, status: "healthy", atMs: 3300 },
  ];
}
