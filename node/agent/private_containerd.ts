/**
 * The containerd `mill up` runs when the machine has none for us: its own
 * config, root, state and socket under the data dir (as the test bed does),
 * so it never touches a system containerd. A containerd already answering
 * on that socket (left by an earlier `mill up`) is reused, not restarted.
 */
import { ContainerdClient } from "../../containerd/mod.ts";
import { ensureDir } from "../cluster_init/mod.ts";

/** How long containerd may take to answer on its socket. */
export const CONTAINERD_START_TIMEOUT_MS = 20_000;

export interface PrivateContainerd {
  readonly socketPath: string;
  readonly runcRoot: string;
  /** True when this call started it (and `stop` will stop it). */
  readonly started: boolean;
  stop(): Promise<void>;
}

/** containerd's config for a private instance rooted at `dir`. */
export function privateContainerdConfig(dir: string): string {
  return `version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "${dir}/containerd.sock"
[ttrpc]
  address = "${dir}/containerd.sock.ttrpc"
[debug]
  address = ""
  level = "warn"
[metrics]
  address = ""
`;
}

async function answers(socketPath: string): Promise<boolean> {
  try {
    const conn = await Deno.connect({ transport: "unix", path: socketPath });
    conn.close();
  } catch {
    return false;
  }
  const client = new ContainerdClient(socketPath, { timeoutMs: 2_000 });
  try {
    await client.version();
    return true;
  } catch {
    return false;
  } finally {
    client.close();
  }
}

/** Starts (or finds) the private containerd under `dir`. */
export async function startPrivateContainerd(
  dir: string,
): Promise<PrivateContainerd> {
  await ensureDir(dir, 0o700);
  const socketPath = `${dir}/containerd.sock`;
  const runcRoot = `${dir}/runc`;
  if (await answers(socketPath)) {
    return {
      socketPath,
      runcRoot,
      started: false,
      stop: () => Promise.resolve(),
    };
  }
  await Deno.writeTextFile(`${dir}/config.toml`, privateContainerdConfig(dir));
  await Deno.remove(socketPath).catch(() => {/* absent: nothing to clear */});
  const child = new Deno.Command("containerd", {
    args: ["--config", `${dir}/config.toml`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const exited = child.status.then(() => true);
  const deadline = Date.now() + CONTAINERD_START_TIMEOUT_MS;
  // Bounded by the deadline; containerd usually answers within a second.
  while (!(await answers(socketPath))) {
    const dead = await Promise.race([
      exited,
      new Promise<false>((resolve) => setTimeout(() => resolve(false), 100)),
    ]);
    if (dead || Date.now() > deadline) {
      if (!dead) child.kill("SIGKILL");
      await child.status;
      throw new Error(
        `containerd did not start on "${socketPath}"; run "containerd --config ${dir}/config.toml" by hand to see why`,
      );
    }
  }
  return {
    socketPath,
    runcRoot,
    started: true,
    async stop() {
      // Its shims (and our containers) outlive it: the next start re-attaches.
      child.kill("SIGTERM");
      await child.status;
    },
  };
}
