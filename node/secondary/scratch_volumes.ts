/**
 * Ephemeral volumes: scratch directories on the node, one set per alloc,
 * bind-mounted into its container at the volume's path. Kept across the
 * alloc's restarts (same container id, same directory) and removed when the
 * alloc goes: stopped, failed, or left behind by an agent that died (the
 * sweep at start).
 *
 * Layout under `<data dir>/volumes` (0700, root's):
 * `<container id>/` (0700) holds `<volume>/`, the mount point the container
 * sees (given to the container's user by the runner, 0700), and for a
 * volume with a `size`, `<volume>.img`, a sparse file (0600) holding an
 * ext4 filesystem of that size, loop-mounted on `<volume>/`.
 *
 * Why a loop-mounted file and not a tmpfs: a tmpfs's pages are charged to
 * the memory cgroup of the container that writes them, so scratch data
 * would count against (and OOM-kill at) the service's `memory`, and it
 * would vanish with a reboot while the alloc's kept request says to come
 * back. A filesystem of its own really stops a write past `size` (ENOSPC),
 * takes only the disk blocks written (sparse), and survives restarts of the
 * container and of the agent. A volume without `size` is a plain directory
 * on the data dir's disk: nothing bounds it but that disk.
 */
import { ensureDir } from "../cluster_init/mod.ts";
import type { BindMount } from "../../containerd/mod.ts";
import { RpcError } from "../rpc/mod.ts";

/** ext4's smallest useful filesystem; a smaller `size` gets this. */
export const SCRATCH_SIZE_MIN_BYTES = 1024 * 1024;
/** What mkfs, mount and umount may take. */
const COMMAND_TIMEOUT_MS = 60_000;

/** An ephemeral volume of a start request. */
export interface ScratchVolume {
  readonly name: string;
  /** Where the container sees it. */
  readonly path: string;
  /** The bound; absent: a plain directory. */
  readonly sizeBytes?: number;
}

export class ScratchVolumes {
  readonly #dir: string;
  #root = "";
  /** Work on one container's volumes runs one at a time. */
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(dir: string) {
    this.#dir = dir;
  }

  async open(): Promise<void> {
    await ensureDir(this.#dir, 0o700);
    // Mount points are compared with /proc's, which names real paths.
    this.#root = await Deno.realPath(this.#dir);
  }

  /** The host directory of one volume of a container. */
  hostPath(containerId: string, name: string): string {
    return `${this.#root}/${containerId}/${name}`;
  }

  /**
   * Makes (or finds, for a restart) the container's volumes and mounts the
   * sized ones; returns the bind mounts for its spec.
   */
  prepare(
    containerId: string,
    volumes: readonly ScratchVolume[],
  ): Promise<BindMount[]> {
    return this.#serial(containerId, async () => {
      if (volumes.length === 0) return [];
      const base = `${this.#root}/${containerId}`;
      await ensureDir(base, 0o700);
      const mounts: BindMount[] = [];
      for (const volume of volumes) {
        const dir = `${base}/${volume.name}`;
        await Deno.mkdir(dir, { mode: 0o700 }).catch((error) => {
          if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
        });
        if (volume.sizeBytes !== undefined) {
          await this.#mountSized(containerId, volume, dir);
        }
        await Deno.chmod(dir, 0o700);
        mounts.push({
          hostPath: dir,
          containerPath: volume.path,
          ownedByUser: true,
        });
      }
      return mounts;
    });
  }

  /** Unmounts and deletes a container's volumes; nothing there is fine. */
  remove(containerId: string): Promise<void> {
    return this.#serial(containerId, () => this.#removeNow(containerId));
  }

  /** Removes the volumes of every container not in `keep`. */
  async sweep(
    keep: ReadonlySet<string>,
    onRemoved: (containerId: string) => void,
  ): Promise<void> {
    const gone: string[] = [];
    for await (const entry of Deno.readDir(this.#root)) {
      if (entry.isDirectory && !keep.has(entry.name)) gone.push(entry.name);
    }
    for (const containerId of gone) {
      await this.remove(containerId);
      onRemoved(containerId);
    }
  }

  async #mountSized(
    containerId: string,
    volume: ScratchVolume,
    dir: string,
  ): Promise<void> {
    if ((await mountPoints()).has(dir)) return;
    const image = `${dir}.img`;
    const present = await Deno.stat(image).then(() => true, (error) => {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    });
    const what =
      `scratch volume "${volume.name}" of container "${containerId}"`;
    if (!present) {
      // Made under another name first: a half-made image is never mounted.
      const fresh = `${image}.new`;
      await Deno.remove(fresh).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
      const file = await Deno.open(fresh, {
        write: true,
        createNew: true,
        mode: 0o600,
      });
      try {
        await file.truncate(
          Math.max(SCRATCH_SIZE_MIN_BYTES, volume.sizeBytes ?? 0),
        );
      } finally {
        file.close();
      }
      await run(
        "mkfs.ext4",
        [
          "-q",
          "-F",
          "-m",
          "0",
          "-O",
          "^has_journal",
          "-L",
          "mill-scratch",
          fresh,
        ],
        `Cannot make the filesystem of ${what}`,
      );
      await Deno.rename(fresh, image);
    }
    await run(
      "mount",
      ["-t", "ext4", "-o", "loop,nosuid,nodev,noatime", image, dir],
      `Cannot mount ${what}`,
    );
    // The filesystem's own lost+found is root's; the root dir goes to the
    // container's user (the runner chowns it).
  }

  async #removeNow(containerId: string): Promise<void> {
    const base = `${this.#root}/${containerId}`;
    const mounted = [...await mountPoints()].filter((point) =>
      point.startsWith(`${base}/`)
    ).sort().reverse();
    for (const point of mounted) {
      try {
        await run("umount", [point], `Cannot unmount ${point}`);
      } catch {
        // Still busy (a process outside mill holds it): detach it now,
        // the kernel frees it once the last user lets go.
        await run("umount", ["-l", point], `Cannot unmount ${point}`);
      }
    }
    await Deno.remove(base, { recursive: true }).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }

  #serial<T>(containerId: string, work: () => Promise<T>): Promise<T> {
    const before = this.#queues.get(containerId) ?? Promise.resolve();
    const mine = before.then(work, work);
    const settled = mine.then(() => {}, () => {});
    this.#queues.set(containerId, settled);
    void settled.then(() => {
      if (this.#queues.get(containerId) === settled) {
        this.#queues.delete(containerId);
      }
    });
    return mine;
  }
}

/**
 * The mount points of this process's mount namespace. Read through `cat`
 * (same namespace): Deno lets a scoped binary read `/proc/self/*` only with
 * every permission, and the agent never runs with those.
 */
export async function mountPoints(): Promise<Set<string>> {
  const output = await new Deno.Command("cat", {
    args: ["/proc/self/mountinfo"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
  }).output();
  if (!output.success) {
    throw new Error(
      `Cannot read the mount table: ${
        new TextDecoder().decode(output.stderr).trim()
      }`,
    );
  }
  const text = new TextDecoder().decode(output.stdout);
  const points = new Set<string>();
  for (const line of text.split("\n")) {
    const field = line.split(" ")[4];
    if (field === undefined) continue;
    // Spaces, tabs, newlines and backslashes come as octal escapes.
    points.add(
      field.replace(
        /\\([0-7]{3})/g,
        (_, octal: string) => String.fromCharCode(parseInt(octal, 8)),
      ),
    );
  }
  return points;
}

async function run(
  command: string,
  args: readonly string[],
  failure: string,
): Promise<void> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(command, {
      args: [...args],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      signal: AbortSignal.timeout(COMMAND_TIMEOUT_MS),
    }).output();
  } catch (error) {
    throw new RpcError("runtime.volume_failed", `${failure}: ${error}`, {
      cause: error,
    });
  }
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim();
    throw new RpcError(
      "runtime.volume_failed",
      `${failure}: ${command} exited with ${output.code}${
        stderr === "" ? "" : `: ${stderr}`
      }`,
    );
  }
}
