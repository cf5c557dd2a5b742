/**
 * The containerd `mill up` runs when the machine has none for us: its own
 * config, root, state and socket under the data dir (as the test bed does),
 * so it never touches a system containerd. A containerd already answering
 * on that socket (left by an earlier `mill up`) is reused, not restarted.
 * `clearPrivateContainerd` stops all of it for `mill up --clean`.
 */
import { ContainerdClient, ContainerdError } from "../../containerd/mod.ts";
import { ensureDir } from "../cluster_init/mod.ts";

/** containerd's pid, written when mill starts it, removed when mill stops it. */
export const PID_FILE = "containerd.pid";

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
  // So that a later `mill up --clean` can stop it even if this process dies.
  await Deno.writeTextFile(`${dir}/${PID_FILE}`, `${child.pid}\n`, {
    mode: 0o600,
  });
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
      await Deno.remove(`${dir}/${PID_FILE}`).catch(() => {/* gone */});
    },
  };
}

/** What `clearPrivateContainerd` stopped. */
export interface ClearedContainerd {
  /** Tasks (running containers) killed and deleted. */
  readonly tasks: number;
  /** Container records deleted. */
  readonly containers: number;
  /** Shims that had not exited after their task was deleted and were killed. */
  readonly shimsKilled: number;
}

/** How long one container may take to die after SIGKILL. */
const TASK_EXIT_TIMEOUT_MS = 10_000;
/** How long a process may take to exit after a signal. */
const PROCESS_EXIT_TIMEOUT_MS = 10_000;
/** Where containerd keeps the bundles of its tasks, by namespace. */
const TASK_STATE_DIR = "state/io.containerd.runtime.v2.task";

/**
 * `mill up --clean`: stops everything the private containerd under `dir`
 * runs: each container (SIGKILL) and its task, the container records, its
 * shims (they outlive containerd by design) and containerd itself, whether
 * this process or an earlier `mill up` started it, and unmounts what the
 * tasks left mounted, so that `dir` can be removed. The caller holds the
 * data dir's lock (no agent uses this containerd). Processes are found by
 * the pid files containerd, its shims and mill write (the binary may not
 * read `/proc`), and only those of tasks containerd lists are signalled.
 */
export async function clearPrivateContainerd(
  dir: string,
): Promise<ClearedContainerd> {
  const earlierPid = await readPid(`${dir}/${PID_FILE}`);
  const containerd = await startPrivateContainerd(dir);
  let tasks = 0;
  let containers = 0;
  const shims: number[] = [];
  const client = new ContainerdClient(containerd.socketPath);
  try {
    for (const task of await client.listTasks()) {
      const id = task.containerId === "" ? task.id : task.containerId;
      const shim = await readPid(
        `${dir}/${TASK_STATE_DIR}/${client.namespace}/${id}/shim.pid`,
      );
      if (shim !== null) shims.push(shim);
      await client.killTask(id, 9, true).catch(() => {/* already exited */});
      await client.waitTask(id, TASK_EXIT_TIMEOUT_MS).catch(() => {
        // Exited before the wait.
      });
      await client.deleteTask(id).catch(ignoreNotFound);
      tasks += 1;
    }
    for (const container of await client.listContainers()) {
      await client.deleteContainer(container.id).catch(ignoreNotFound);
      containers += 1;
    }
  } finally {
    client.close();
  }
  if (containerd.started) await containerd.stop();
  else if (earlierPid !== null) {
    await signal([earlierPid], "TERM");
    await waitExited([earlierPid]);
    await Deno.remove(`${dir}/${PID_FILE}`).catch(() => {/* gone */});
  } else {
    throw new Error(
      `a containerd that mill did not record answers on "${containerd.socketPath}"; stop the containerd whose command line names ${dir}/config.toml and try again`,
    );
  }
  // containerd asks a shim to exit once its task is deleted; one that has
  // not done so by now is killed.
  const stillAlive = await waitExited(shims).then(
    () => [],
    () => alivePids(shims),
  );
  if (stillAlive.length > 0) {
    await signal(stillAlive, "KILL");
    await waitExited(stillAlive);
  }
  await unmountTaskRootfs(dir);
  return { tasks, containers, shimsKilled: stillAlive.length };
}

/** A task or container already gone (half a teardown done before) is fine. */
function ignoreNotFound(error: unknown): void {
  if (
    error instanceof ContainerdError &&
    (error.code === "containerd.not_found" ||
      error.code === "container.not_found")
  ) return;
  throw error;
}

async function readPid(path: string): Promise<number | null> {
  try {
    const text = (await Deno.readTextFile(path)).trim();
    return /^[1-9]\d{0,9}$/.test(text) ? Number(text) : null;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** kill(1): the binary's run list has it; Deno.kill needs every run permission. */
async function signal(
  pids: readonly number[],
  name: "TERM" | "KILL" | "0",
): Promise<boolean> {
  const result = await new Deno.Command("kill", {
    args: [name === "0" ? "-0" : `-${name}`, ...pids.map(String)],
    stdout: "null",
    stderr: "null",
  }).output();
  return result.success;
}

function isAlive(pid: number): Promise<boolean> {
  return signal([pid], "0");
}

async function alivePids(pids: readonly number[]): Promise<number[]> {
  const alive: number[] = [];
  for (const pid of pids) if (await isAlive(pid)) alive.push(pid);
  return alive;
}

/** Resolves once none of `pids` is alive; throws past the deadline. */
async function waitExited(pids: readonly number[]): Promise<void> {
  const deadline = Date.now() + PROCESS_EXIT_TIMEOUT_MS;
  let alive = [...pids];
  // Bounded by the deadline.
  while (alive.length > 0) {
    alive = await alivePids(alive);
    if (alive.length === 0) break;
    if (Date.now() > deadline) {
      throw new Error(
        `processes ${
          alive.join(", ")
        } did not exit within ${PROCESS_EXIT_TIMEOUT_MS} ms`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Unmounts (lazily) any task root filesystem still mounted under `dir`
 * (the shim unmounts its own when it deletes a task; one that died may not
 * have). A path that is not a mount point is left as it is.
 */
async function unmountTaskRootfs(dir: string): Promise<void> {
  const state = `${dir}/${TASK_STATE_DIR}`;
  for (const namespace of await directories(state)) {
    for (const id of await directories(`${state}/${namespace}`)) {
      const rootfs = `${state}/${namespace}/${id}/rootfs`;
      await new Deno.Command("umount", {
        args: ["-l", rootfs],
        stdout: "null",
        stderr: "null",
      }).output();
    }
  }
}

async function directories(path: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(path)) {
      if (entry.isDirectory) names.push(entry.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  return names;
}
