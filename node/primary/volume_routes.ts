/**
 * The cluster's persistent volumes on the API (admin, answered by the
 * leader):
 *
 * - `GET /v1/volumes` (`?orphans=1` also asks the provider for volumes
 *   tagged with the cluster that the state does not know): each volume's
 *   state, node, cloud id, size and the service that mounts it;
 * - `DELETE /v1/volumes/:name` (`?snapshot=1` takes a snapshot first):
 *   refused with 409 `volume.in_use` while a service's config mounts it,
 *   then detached, destroyed in the cloud and forgotten.
 */
import { type ClusterState, serviceMountingVolume } from "../../raft/mod.ts";
import { ApiError, type Handler, jsonResponse } from "../api/mod.ts";
import type { VolumeSteps } from "../deploy/volume_steps.ts";

export interface VolumeRoutesOptions {
  state(): ClusterState;
  /** The storage driver's steps; null without a provider. */
  steps(): VolumeSteps | null;
  log(message: string): void;
}

export interface VolumeView {
  readonly name: string;
  readonly state: string;
  readonly node: string | null;
  readonly cloudId: string;
  readonly sizeBytes: number | null;
  readonly service: string | null;
}

/** Every volume the state knows, by name (pure). */
export function volumesView(state: ClusterState): VolumeView[] {
  return [...state.volumes.values()]
    .sort((a, b) => (a.name < b.name ? -1 : 1))
    .map((volume) => ({
      name: volume.name,
      state: volume.state,
      node: volume.nodeId === null
        ? null
        : state.nodes.get(volume.nodeId)?.name ?? volume.nodeId,
      cloudId: volume.cloudId,
      sizeBytes: volume.sizeBytes,
      service: serviceMountingVolume(state, volume.name),
    }));
}

/** `GET /v1/volumes`. */
export function listVolumesHandler(options: VolumeRoutesOptions): Handler {
  return async (request) => {
    await request.body?.cancel();
    const state = options.state();
    const volumes = volumesView(state);
    if (new URL(request.url).searchParams.get("orphans") !== "1") {
      return jsonResponse({ volumes });
    }
    const steps = providerOf(options);
    const known = new Set([...state.volumes.values()].map((v) => v.cloudId));
    const orphans = (await steps.orphans(known)).map((v) => ({
      cloudId: v.id,
      name: v.name,
      sizeBytes: v.sizeBytes,
      attachedTo: v.attachedTo,
    }));
    return jsonResponse({ volumes, orphans });
  };
}

/** `DELETE /v1/volumes/:name`. */
export function deleteVolumeHandler(options: VolumeRoutesOptions): Handler {
  return async (request, context) => {
    await request.body?.cancel();
    const name = context.params.name ?? "";
    const state = options.state();
    if (!state.volumes.has(name)) {
      throw new ApiError(404, "volume.unknown", `No volume named "${name}"`);
    }
    const user = serviceMountingVolume(state, name);
    if (user !== null) {
      throw new ApiError(
        409,
        "volume.in_use",
        `Service "${user}" still mounts volume "${name}"; remove the volume block from its config, deploy, then delete`,
      );
    }
    const snapshot = new URL(request.url).searchParams.get("snapshot") === "1";
    try {
      const { snapshotId } = await providerOf(options).destroy(name, {
        snapshot,
      });
      options.log(
        `volume ${name} destroyed${
          snapshotId === null ? "" : ` (snapshot ${snapshotId} kept)`
        }`,
      );
      return jsonResponse({ name, snapshotId });
    } catch (error) {
      if (error instanceof ApiError) throw error;
      const code = (error as { code?: unknown }).code;
      throw new ApiError(
        503,
        typeof code === "string" ? code : "volume.delete_failed",
        `Volume "${name}" was not deleted: ${
          (error as Error).message
        }; nothing is lost, ask again`,
        { cause: error },
      );
    }
  };
}

function providerOf(options: VolumeRoutesOptions): VolumeSteps {
  const steps = options.steps();
  if (steps === null) {
    throw new ApiError(
      503,
      "volume.no_provider",
      "The cluster's storage provider is not ready on the leader",
    );
  }
  return steps;
}
