/**
 * The host side of giving containers their secret env without an OCI spec
 * (which containerd keeps in files others can read): one directory, mode
 * 0700 and root's, holding the env-exec wrapper and, per container that
 * uses secrets, `<container id>.env`, which the runner writes 0400 and
 * owned by the container's user. The runner bind-mounts both read-only into
 * the container; env-exec reads the file and execs the real command.
 *
 * Why a directory of mill's and not the bundle: containerd owns the bundle
 * and rewrites it at each task create. Why not a tmpfs: the same values are
 * kept on disk anyway, in the alloc store (0600), so that a restarted agent
 * restarts its services without the leader.
 */
import type { ContainerRequest } from "../../containerd/mod.ts";
import { ensureDir, writeFileAtomic } from "../cluster_init/mod.ts";
import { RpcError } from "../rpc/mod.ts";
import { envExecBinary } from "./env_exec.ts";

/** What the runner needs to deliver a container's secret env. */
export type SecretEnvDelivery = NonNullable<ContainerRequest["secretEnv"]>;

/** The wrapper's file name in the directory. */
export const ENV_EXEC_FILE = "env-exec";
const ENV_FILE_SUFFIX = ".env";
/** Most entries a sweep looks at. */
const SWEEP_ENTRIES_MAX = 20_000;

export class SecretEnvFiles {
  readonly #dir: string;
  readonly #arch: string;
  #execPath: string | null = null;

  /** `arch` names the machine (`Deno.build.arch`), to pick env-exec. */
  constructor(dir: string, arch: string = Deno.build.arch) {
    this.#dir = dir;
    this.#arch = arch;
  }

  /** Makes the directory 0700 and writes env-exec (anew: an upgrade may change it). */
  async open(): Promise<void> {
    await ensureDir(this.#dir, 0o700);
    const binary = envExecBinary(this.#arch);
    if (binary === null) return;
    // A rename: containers running the old one keep their mounted inode.
    await writeFileAtomic(`${this.#dir}/${ENV_EXEC_FILE}`, binary, {
      mode: 0o511, // run by the container's user, read by nobody
    });
    this.#execPath = `${this.#dir}/${ENV_EXEC_FILE}`;
  }

  /**
   * The delivery of `values` to container `containerId`, or undefined when
   * there is nothing secret. Throws `runtime.secret_env_unsupported` on a
   * machine mill has no env-exec for.
   */
  delivery(
    containerId: string,
    values: Readonly<Record<string, string>>,
  ): SecretEnvDelivery | undefined {
    if (Object.keys(values).length === 0) return undefined;
    if (this.#execPath === null) {
      throw new RpcError(
        "runtime.secret_env_unsupported",
        `This node's architecture "${this.#arch}" has no env-exec wrapper, so its containers cannot get secrets; place workloads that use secrets on x86_64 or aarch64 nodes`,
      );
    }
    return {
      values,
      execPath: this.#execPath,
      filePath: this.#filePath(containerId),
    };
  }

  /** Removes the env file of `containerId`, if any. */
  async remove(containerId: string): Promise<void> {
    await Deno.remove(this.#filePath(containerId)).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }

  /** Removes the env files of containers not in `keep` (a crash mid-stop leaves one). */
  async sweep(
    keep: ReadonlySet<string>,
    onRemoved: (containerId: string) => void,
  ): Promise<void> {
    let seen = 0;
    for await (const entry of Deno.readDir(this.#dir)) {
      if (++seen > SWEEP_ENTRIES_MAX) break;
      if (!entry.isFile || !entry.name.endsWith(ENV_FILE_SUFFIX)) continue;
      const containerId = entry.name.slice(0, -ENV_FILE_SUFFIX.length);
      if (keep.has(containerId)) continue;
      await this.remove(containerId);
      onRemoved(containerId);
    }
  }

  #filePath(containerId: string): string {
    return `${this.#dir}/${containerId}${ENV_FILE_SUFFIX}`;
  }
}
