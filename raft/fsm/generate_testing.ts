/**
 * Random commands for property tests: mostly plausible (aimed at nodes,
 * allocs and volumes that exist, so the interesting paths run), some
 * invalid, ids drawn from small pools so that they collide.
 */
import type { ClusterConfig } from "../../config/types.ts";
import type { AllocScheduledCommand, Command } from "./command.ts";
import {
  ALLOC_STATUSES,
  type AllocStatus,
  type ClusterState,
  cpuMillisOf,
  HOST_PORT_MIN,
} from "./state.ts";
import {
  config,
  GIB,
  MIB,
  registerNode,
  type Rng,
  service,
  task,
} from "./testing.ts";

const STATUSES: readonly AllocStatus[] = ALLOC_STATUSES;

/** A few configs to deploy between; `vol-a`/`vol-b` are persistent volumes. */
export const GENERATED_CONFIGS: readonly ClusterConfig[] = [
  config([
    service("web", { replicas: 3, cpu: 0.5, memoryBytes: 256 * MIB }),
    service("db", {
      cpu: 1,
      memoryBytes: 1 * GIB,
      volumes: [{ name: "vol-a", path: "/data", ephemeral: false }],
    }),
  ], [task("job")]),
  config([
    service("web", {
      replicas: 2,
      cpu: 1,
      memoryBytes: 512 * MIB,
      image: "web:v2",
    }),
    service("cache", {
      cpu: 0.25,
      memoryBytes: 128 * MIB,
      volumes: [{ name: "vol-b", path: "/c", ephemeral: false }],
    }),
  ], [task("job")]),
  config([]),
];

function pickKey(rng: Rng, keys: Iterable<string>, fallback: string): string {
  const list = [...keys];
  return list.length === 0 || rng.bool(0.1) ? fallback : rng.pick(list);
}

/** One random command for `state`. */
export function randomCommand(
  rng: Rng,
  state: ClusterState,
  atMs: number,
): Command {
  const nodeId = pickKey(rng, state.nodes.keys(), `n${rng.int(1, 6)}`);
  const allocId = pickKey(rng, state.allocs.keys(), `a${rng.int(1, 40)}`);
  const volume = rng.pick(["vol-a", "vol-b", "vol-c"]);
  const roll = rng.int(0, 99);
  if (roll < 8) {
    const n = rng.int(1, 6);
    // A removed id never registers again: such a node joins anew, another id.
    const removed = state.removedNodes.filter((id) =>
      id === `n${n}` || id.startsWith(`n${n}-`)
    ).length;
    return registerNode(n, {
      ...(removed === 0 ? {} : { nodeId: `n${n}-${removed}` }),
      // Some are primaries that run nothing.
      ...(rng.bool(0.1) ? { containers: false as const } : {}),
      cpuMillis: rng.pick([1000, 2000, 4000]),
      memoryBytes: rng.pick([1, 2, 4]) * GIB,
      labels: rng.bool() ? { zone: rng.pick(["a", "b"]) } : {},
      millId: rng.bool(0.95) ? `mill-${n}` : "intruder",
      // Half the nodes run containers on a subnet; some ask for another range.
      ...(n % 2 === 0
        ? {
          network: {
            clusterRange: rng.bool(0.9) ? "10.210.0.0/22" : "10.99.0.0/16",
            mesh: {
              publicKey: btoa("k".repeat(31) + n),
              endpoint: `h${n}:51820`,
            },
          },
        }
        : {}),
      atMs,
    });
  }
  if (roll < 25) return randomSchedule(rng, state, nodeId, atMs);
  if (roll < 30) return randomBatch(rng, state, atMs);
  if (roll < 55) {
    return { type: "AllocStatus", allocId, status: rng.pick(STATUSES), atMs };
  }
  if (roll < 60) {
    return { type: "AllocRunning", allocId, address: `${nodeId}:1`, atMs };
  }
  if (roll < 65) {
    return {
      type: "NodeHeartbeat",
      nodeId,
      statuses: [...state.allocs.keys()].filter(() => rng.bool(0.2)).map((
        id,
      ) => ({
        allocId: id,
        status: rng.pick(STATUSES),
      })),
      atMs,
    };
  }
  if (roll < 68) return { type: "NodeDown", nodeId, reason: "", atMs };
  if (roll < 71) return { type: "NodeUp", nodeId, atMs };
  if (roll < 73) return { type: "NodeDrain", nodeId, atMs };
  if (roll < 75) return { type: "NodeRemove", nodeId, atMs };
  if (roll < 78) {
    return { type: "AllocStopRequested", allocId, reason: "test", atMs };
  }
  if (roll < 80) return { type: "AllocsPurged", allocIds: [allocId], atMs };
  if (roll < 83) {
    return {
      type: "VolumeCreated",
      name: volume,
      cloudId: `c-${volume}`,
      atMs,
    };
  }
  if (roll < 87) return { type: "VolumeAttached", name: volume, nodeId, atMs };
  if (roll < 90) return { type: "VolumeDetached", name: volume, atMs };
  if (roll < 91) return { type: "VolumeReady", name: volume, atMs };
  if (roll < 92) return { type: "VolumeDestroyed", name: volume, atMs };
  if (roll < 94) {
    return {
      type: "SecretSet",
      name: rng.pick(["s1", "s2"]),
      ciphertext: "AAAA",
      nonce: "BBBB",
      atMs,
    };
  }
  if (roll < 95) {
    return { type: "SecretDelete", name: rng.pick(["s1", "s2"]), atMs };
  }
  if (roll < 97) {
    return {
      type: "Deploy",
      deployId: `d${rng.int(1, 1000)}`,
      config: rng.pick(GENERATED_CONFIGS),
      atMs,
    };
  }
  const last = state.deploys.at(-1);
  return {
    type: "DeployFinished",
    deployId: last?.id ?? "d0",
    outcome: rng.bool() ? "succeeded" : "rolled_back",
    message: "",
    atMs,
  };
}

/** An `AllocsScheduled` of 1–4 random placements on random nodes. */
function randomBatch(
  rng: Rng,
  state: ClusterState,
  atMs: number,
): Command {
  const placements = Array.from({ length: rng.int(1, 4) }, () => {
    const nodeId = pickKey(rng, state.nodes.keys(), `n${rng.int(1, 6)}`);
    const { type: _type, atMs: _atMs, ...placement } = randomSchedule(
      rng,
      state,
      nodeId,
      atMs,
    );
    return placement;
  });
  return {
    type: "AllocsScheduled",
    placements,
    ...(rng.bool(0.5) ? { deployId: `d${rng.int(1, 3)}` } : {}),
    atMs,
  };
}

function randomSchedule(
  rng: Rng,
  state: ClusterState,
  nodeId: string,
  atMs: number,
): AllocScheduledCommand {
  const workloads = [
    ...Object.values(state.config.services),
    ...Object.values(state.config.tasks),
  ];
  const workload = workloads.length > 0 ? rng.pick(workloads) : null;
  return {
    type: "AllocScheduled",
    allocId: `a${rng.int(1, 40)}`,
    nodeId,
    workload: workload?.name ?? "ghost",
    kind: workload?.kind ?? "service",
    image: workload?.image ?? "ghost:v1",
    cpuMillis: workload ? cpuMillisOf(workload.cpu) : 100,
    memoryBytes: workload?.memoryBytes ?? MIB,
    ...(rng.bool(0.6) ? { hostPort: HOST_PORT_MIN + rng.int(0, 5) } : {}),
    ...randomAddress(rng, state, nodeId),
    atMs,
  };
}

/** Mostly a plausible address of the node's subnet, sometimes a wrong one. */
function randomAddress(
  rng: Rng,
  state: ClusterState,
  nodeId: string,
): { ip?: string } {
  const subnet = state.nodes.get(nodeId)?.subnet ?? null;
  if (subnet === null) return rng.bool(0.05) ? { ip: "10.210.0.9" } : {};
  if (rng.bool(0.05)) return {};
  const prefix = subnet.slice(0, subnet.lastIndexOf("."));
  return { ip: `${prefix}.${rng.pick([1, 2, 3, 4, 5, 255])}` };
}
