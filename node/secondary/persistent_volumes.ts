/**
 * The node's side of persistent volumes: the block device the leader
 * attached is given an ext4 only when blank (storage/device.ts), mounted
 * under the data dir once per volume, and bound into each container that
 * uses it; when the last alloc using a volume ends, the node flushes and
 * unmounts it, so the leader's detach that follows finds it released.
 */
import {
  mountedVolumes,
  prepareVolume,
  releaseVolume,
  volumeMountPoint,
} from "../../storage/device.ts";
import type { BindMount } from "../../containerd/mod.ts";
import type { PersistentVolumeMount } from "../rpc/mod.ts";

export class PersistentVolumes {
  readonly #dataDir: string;
  readonly #log: (message: string) => void;

  constructor(dataDir: string, log: (message: string) => void) {
    this.#dataDir = dataDir;
    this.#log = log;
  }

  /** Mounts each volume (formatting a blank one) and returns the container's binds. */
  async mount(
    volumes: readonly PersistentVolumeMount[],
    signal?: AbortSignal,
  ): Promise<BindMount[]> {
    const binds: BindMount[] = [];
    if (volumes.length > 0) await this.#ensureRoot();
    for (const volume of volumes) {
      const prepared = await prepareVolume({
        device: volume.device,
        mountPoint: volumeMountPoint(this.#dataDir, volume.name),
        label: volume.name.slice(0, 16),
        ...(signal === undefined ? {} : { signal }),
      });
      if (prepared.formatted) {
        this.#log(
          `volume ${volume.name}: made an ext4 on blank ${volume.device}`,
        );
      }
      binds.push({ hostPath: prepared.mountPoint, containerPath: volume.path });
    }
    return binds;
  }

  /** The directories above the mount points: root's alone, like the data dir. */
  async #ensureRoot(): Promise<void> {
    const mnt = volumeMountPoint(this.#dataDir, "x").replace(/\/x$/, "");
    await Deno.mkdir(mnt, { recursive: true });
    for (
      const dir of [this.#dataDir, `${this.#dataDir}/volumes`, mnt]
    ) await Deno.chmod(dir, 0o700);
  }

  /**
   * At the agent's start: unmounts every volume a previous run left
   * mounted. The leader may have moved it to another node meanwhile (a
   * crash looks like a death), and the next start mounts what it needs
   * again; a re-attached container keeps its own bind of the filesystem.
   */
  async sweep(): Promise<void> {
    const root = volumeMountPoint(this.#dataDir, "x").replace(/\/x$/, "");
    for (const mount of await mountedVolumes(root)) {
      await releaseVolume({ mountPoint: mount.mountPoint }).catch((error) =>
        this.#log(`volume at ${mount.mountPoint} left mounted: ${error}`)
      );
      this.#log(
        `volume at ${mount.mountPoint}: unmounted what a previous run left`,
      );
    }
  }

  /** Flushes and unmounts the volumes no remaining alloc uses. */
  async release(
    volumes: readonly string[],
    stillUsed: ReadonlySet<string>,
  ): Promise<void> {
    for (const name of volumes) {
      if (stillUsed.has(name)) continue;
      const released = await releaseVolume({
        mountPoint: volumeMountPoint(this.#dataDir, name),
      });
      if (released.unmounted) {
        this.#log(`volume ${name}: flushed and unmounted`);
      }
    }
  }
}
