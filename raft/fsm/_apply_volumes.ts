/** `applyX` for the volume commands. */
import type {
  Applied,
  VolumeAttachedCommand,
  VolumeCreatedCommand,
  VolumeDestroyedCommand,
  VolumeDetachedCommand,
  VolumeReadyCommand,
} from "./command.ts";
import type { ClusterState, FsmVolume } from "./state.ts";
import { isTerminal } from "./state.ts";
import { serviceMountingVolume } from "./queries.ts";
import {
  accept,
  invalidTime,
  invalidUnless,
  isCount,
  isId,
  quote,
  reject,
  unknownNode,
} from "./_apply_common.ts";

export function applyVolumeCreated(
  state: ClusterState,
  command: VolumeCreatedCommand,
): Applied {
  const invalid =
    invalidUnless(isId(command.name), "Volume name must be non-empty") ??
      invalidUnless(
        isId(command.cloudId),
        "Volume cloud id must be non-empty",
      ) ??
      invalidUnless(
        command.sizeBytes === undefined ||
          (isCount(command.sizeBytes) && command.sizeBytes > 0),
        "Volume size must be a positive number of bytes",
      ) ??
      invalidTime(command.atMs);
  if (invalid) return invalid;
  const existing = state.volumes.get(command.name);
  if (existing !== undefined) {
    return reject(
      "volume.exists",
      `Volume ${quote(command.name)} exists (cloud id ${
        quote(existing.cloudId)
      })`,
    );
  }
  if (command.nodeId !== undefined && !state.nodes.has(command.nodeId)) {
    return unknownNode(command.nodeId);
  }
  const volume: FsmVolume = {
    name: command.name,
    cloudId: command.cloudId,
    sizeBytes: command.sizeBytes ?? null,
    state: "detached",
    nodeId: null,
    lastNodeId: command.nodeId ?? null,
    createdAtMs: command.atMs,
    updatedAtMs: command.atMs,
  };
  return accept({ ...state, volumes: state.volumes.set(volume.name, volume) });
}

export function applyVolumeAttached(
  state: ClusterState,
  command: VolumeAttachedCommand,
): Applied {
  const invalid = invalidTime(command.atMs);
  if (invalid) return invalid;
  const volume = state.volumes.get(command.name);
  if (volume === undefined) return unknownVolume(command.name);
  if (volume.state === "attached") {
    return reject(
      "volume.attached",
      `Volume ${quote(volume.name)} is already attached to node ${
        quote(volume.nodeId)
      }; a volume attaches to one node at a time, detach it first`,
    );
  }
  const node = state.nodes.get(command.nodeId);
  if (node === undefined) return unknownNode(command.nodeId);
  if (node.status === "down") {
    return reject(
      "node.down",
      `Cannot attach volume ${quote(volume.name)}: node ${
        quote(node.name)
      } is down`,
    );
  }
  if (node.draining) {
    return reject(
      "node.draining",
      `Cannot attach volume ${quote(volume.name)}: node ${
        quote(node.name)
      } is draining`,
    );
  }
  const attached: FsmVolume = {
    ...volume,
    state: "attached",
    nodeId: node.id,
    lastNodeId: node.id,
    updatedAtMs: command.atMs,
  };
  return accept({
    ...state,
    volumes: state.volumes.set(volume.name, attached),
  });
}

export function applyVolumeDetached(
  state: ClusterState,
  command: VolumeDetachedCommand,
): Applied {
  const invalid = invalidTime(command.atMs);
  if (invalid) return invalid;
  const volume = state.volumes.get(command.name);
  if (volume === undefined) return unknownVolume(command.name);
  if (volume.state !== "attached" || volume.nodeId === null) {
    return reject(
      "volume.not_attached",
      `Volume ${quote(volume.name)} is not attached (it is ${volume.state})`,
    );
  }
  const mountedBy = liveAllocMounting(state, volume);
  if (mountedBy !== null) {
    return reject(
      "volume.in_use",
      `Cannot detach volume ${quote(volume.name)}: alloc ${
        quote(mountedBy)
      } on its node still mounts it; stop the alloc first`,
    );
  }
  const detached: FsmVolume = {
    ...volume,
    state: "detached",
    nodeId: null,
    updatedAtMs: command.atMs,
  };
  return accept({
    ...state,
    volumes: state.volumes.set(volume.name, detached),
  });
}

export function applyVolumeReady(
  state: ClusterState,
  command: VolumeReadyCommand,
): Applied {
  const invalid = invalidTime(command.atMs);
  if (invalid) return invalid;
  const volume = state.volumes.get(command.name);
  if (volume === undefined) return unknownVolume(command.name);
  if (volume.state !== "detached") {
    return reject(
      "volume.not_detached",
      `Volume ${
        quote(volume.name)
      } is ${volume.state}; only a detached volume is marked ready`,
    );
  }
  const ready: FsmVolume = {
    ...volume,
    state: "ready",
    updatedAtMs: command.atMs,
  };
  return accept({ ...state, volumes: state.volumes.set(volume.name, ready) });
}

export function applyVolumeDestroyed(
  state: ClusterState,
  command: VolumeDestroyedCommand,
): Applied {
  const invalid = invalidTime(command.atMs);
  if (invalid) return invalid;
  const volume = state.volumes.get(command.name);
  if (volume === undefined) return unknownVolume(command.name);
  const user = serviceMountingVolume(state, volume.name);
  if (user !== null) {
    return reject(
      "volume.in_use",
      `Cannot delete volume ${quote(volume.name)}: service ${
        quote(user)
      } still mounts it; remove the volume block from the config and redeploy first`,
    );
  }
  if (volume.state !== "detached") {
    return reject(
      "volume.not_detached",
      `Cannot delete volume ${
        quote(volume.name)
      }: it is ${volume.state}; detach it first`,
    );
  }
  return accept({ ...state, volumes: state.volumes.delete(volume.name) });
}

/** The id of a live alloc on the volume's node whose workload mounts it. */
function liveAllocMounting(
  state: ClusterState,
  volume: FsmVolume,
): string | null {
  for (const alloc of state.allocs.values()) {
    if (alloc.nodeId !== volume.nodeId || isTerminal(alloc.status)) continue;
    const workloads = alloc.kind === "service"
      ? state.config.services
      : state.config.tasks;
    const workload = Object.hasOwn(workloads, alloc.workload)
      ? workloads[alloc.workload]
      : undefined;
    if (workload?.volumes.some((mount) => mount.name === volume.name)) {
      return alloc.id;
    }
  }
  return null;
}

function unknownVolume(name: string): Applied {
  return reject("volume.unknown", `Volume ${quote(name)} does not exist`);
}
