/**
 * Container lifecycle on containerd: create (spec, snapshot, record, and
 * the secret env file), start (task with stdout/stderr FIFOs read into a
 * bounded log ring), wait, stop (signal, then SIGKILL after the grace
 * period) and remove (task, container, snapshot, FIFOs: nothing left
 * behind; the secret env file is its owner's to remove).
 */
import type { ContainerdClient } from "./client.ts";
import type { AnyMessage, MetricRecord, Mount } from "./types.ts";
import { assert, ContainerdError } from "./errors.ts";
import type { ImageService } from "./images.ts";
import {
  LineSplitter,
  LOG_LINES_MAX_DEFAULT,
  type LogEntry,
  LogRing,
  type LogStream,
} from "./log_ring.ts";
import { type ContainerMetrics, decodeMetric } from "./metrics.ts";
import { packAny } from "./_protobuf.ts";
import {
  type Accounts,
  buildSpec,
  type ContainerRequest,
  detectHostFacts,
  encodeSecretEnv,
  hasSecretEnv,
  type HostFacts,
  processArgs,
  processUser,
  type SecretEnv,
  userNeedsAccounts,
} from "./spec.ts";

export const SPEC_TYPE_URL =
  "types.containerd.io/opencontainers/runtime-spec/1/Spec";
/** Wait after SIGKILL before we call the task stuck. */
export const KILL_WAIT_MS = 10_000;
/** Wait for log readers to see end-of-file once the task is deleted. */
const LOG_DRAIN_MS = 5_000;
const CONTAINERS_MAX = 10_000;

const SIGNALS: Readonly<Record<string, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGUSR2: 12,
  SIGTERM: 15,
};

export function signalNumber(name: string): number {
  const n = SIGNALS[
    name.toUpperCase().startsWith("SIG")
      ? name.toUpperCase()
      : `SIG${name.toUpperCase()}`
  ];
  if (n === undefined) {
    throw new ContainerdError(
      "container.start_failed",
      `Signal "${name}" is not one of ${Object.keys(SIGNALS).join(", ")}`,
    );
  }
  return n;
}

export interface RunnerOptions {
  /** Directory for the per-container FIFOs. */
  readonly fifoDir: string;
  readonly logLinesMax?: number;
  readonly host?: HostFacts;
  /**
   * runc's state root for our containers (the shim's default is shared by
   * every containerd on the machine; give each node its own).
   */
  readonly runcRoot?: string;
}

export interface StopResult {
  readonly exitStatus: number;
  /** Whether the grace period ran out and SIGKILL was sent. */
  readonly killed: boolean;
}

interface Tracked {
  readonly id: string;
  readonly logs: LogRing;
  mounts: Mount[];
  readers: Promise<void>[];
  /** The `cat` children reading its FIFOs. */
  cats: Deno.ChildProcess[];
}

function isCode(error: unknown, code: string): boolean {
  return error instanceof ContainerdError && error.code === code;
}

export class ContainerRunner {
  readonly #client: ContainerdClient;
  readonly #images: ImageService;
  readonly #fifoDir: string;
  readonly #logLinesMax: number;
  readonly #host: HostFacts;
  readonly #runtimeOptions: AnyMessage | undefined;
  readonly #containers = new Map<string, Tracked>();

  constructor(
    client: ContainerdClient,
    images: ImageService,
    options: RunnerOptions,
  ) {
    this.#client = client;
    this.#images = images;
    this.#fifoDir = options.fifoDir;
    this.#logLinesMax = options.logLinesMax ?? LOG_LINES_MAX_DEFAULT;
    this.#host = options.host ?? detectHostFacts();
    this.#runtimeOptions = options.runcRoot === undefined
      ? undefined
      : packAny("containerd.runc.v1.Options", { root: options.runcRoot });
  }

  /**
   * Creates the container: its spec, snapshot and record, and first the
   * file of its `secretEnv` (0400, owned by the container's user), which
   * the caller removes once the container is gone. The image must be
   * present.
   */
  async create(request: ContainerRequest): Promise<void> {
    assert(
      /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(request.id),
      `container id "${request.id}" is valid`,
    );
    if (this.#containers.size >= CONTAINERS_MAX) {
      throw new ContainerdError(
        "container.start_failed",
        `Cannot create "${request.id}": ${CONTAINERS_MAX} containers tracked`,
      );
    }
    const image = await this.#images.resolve(request.image);
    if (image === undefined) {
      throw new ContainerdError(
        "image.not_found",
        `Cannot create container "${request.id}": image "${request.image}" is not present; pull it first`,
      );
    }
    // Refuse a container without a command before anything exists.
    processArgs(request, image.config);
    // A gc root: nothing may collect the snapshot before the container record
    // refers to it; remove() deletes it explicitly.
    const mounts = await this.#client.prepareSnapshot(
      request.id,
      image.chainId,
      {
        labels: { "containerd.io/gc.root": new Date().toISOString() },
      },
    );
    const secretEnv = hasSecretEnv(request) ? request.secretEnv : undefined;
    try {
      const user = request.user ?? image.config.user;
      const accounts = userNeedsAccounts(user)
        ? await readAccounts(mounts)
        : undefined;
      const owner = processUser(request, image.config, accounts);
      if (secretEnv !== undefined) {
        await writeSecretEnv(
          secretEnv,
          encodeSecretEnv(request.id, secretEnv.values),
          owner,
        );
      }
      for (const mount of request.mounts ?? []) {
        if (mount.ownedByUser === true) {
          await Deno.chown(mount.hostPath, owner.uid, owner.gid);
        }
      }
      const spec = buildSpec(request, image.config, this.#host, accounts);
      await this.#client.createContainer({
        id: request.id,
        labels: request.labels ?? {},
        image: image.name,
        snapshotter: "overlayfs",
        snapshotKey: request.id,
        spec: {
          typeUrl: SPEC_TYPE_URL,
          value: new TextEncoder().encode(JSON.stringify(spec)),
        },
        ...(this.#runtimeOptions === undefined
          ? {}
          : { runtimeOptions: this.#runtimeOptions }),
      });
    } catch (error) {
      await this.#client.removeSnapshot(request.id).catch(
        () => {/* the create error is what matters */},
      );
      if (secretEnv !== undefined) {
        await Deno.remove(secretEnv.filePath).catch(
          () => {/* the create error is what matters */},
        );
      }
      throw error;
    }
    this.#containers.set(request.id, {
      id: request.id,
      logs: new LogRing(this.#logLinesMax),
      mounts,
      readers: [],
      cats: [],
    });
  }

  /** Starts the task; returns its pid. */
  async start(id: string): Promise<number> {
    const tracked = this.#tracked(id);
    const dir = `${this.#fifoDir}/${id}`;
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const stdout = `${dir}/stdout`;
    const stderr = `${dir}/stderr`;
    await makeFifos([stdout, stderr]);
    // Each FIFO is read by a `cat` child: its stdout is an async pipe. A
    // FIFO read through Deno.open would hold one of Deno's few blocking
    // threads for the container's whole life, and about 15 running
    // containers would then stall every file operation of the process.
    const cats = [catFifo(stdout), catFifo(stderr)];
    tracked.cats = cats;
    try {
      await this.#client.createTask(id, tracked.mounts, { stdout, stderr });
    } catch (error) {
      await unblockFifos(cats);
      await Deno.remove(dir, { recursive: true });
      throw new ContainerdError(
        "container.start_failed",
        `Cannot start container "${id}": ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    tracked.readers = [
      this.#read(tracked, "stdout", cats[0]!),
      this.#read(tracked, "stderr", cats[1]!),
    ];
    try {
      return await this.#client.startTask(id);
    } catch (error) {
      await this.#client.deleteTask(id).catch(
        () => {/* the start error is what matters */},
      );
      throw new ContainerdError(
        "container.start_failed",
        `Cannot start container "${id}": ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  }

  async #read(
    tracked: Tracked,
    stream: LogStream,
    cat: Deno.ChildProcess,
  ): Promise<void> {
    const splitter = new LineSplitter();
    for await (const chunk of cat.stdout) {
      const timeMs = Date.now();
      for (const line of splitter.push(chunk)) {
        tracked.logs.push({ timeMs, stream, line });
      }
    }
    for (const line of splitter.flush()) {
      tracked.logs.push({ timeMs: Date.now(), stream, line });
    }
    await cat.status;
  }

  /** Waits for the task to exit under `timeoutMs`. */
  async wait(id: string, timeoutMs: number): Promise<number> {
    return (await this.#client.waitTask(id, timeoutMs)).exitStatus;
  }

  /** Sends `signal`, then SIGKILL when the task outlives `gracePeriodMs`. */
  async stop(
    id: string,
    options: { signal?: string; gracePeriodMs: number },
  ): Promise<StopResult> {
    const exited = this.#client.waitTask(id, options.gracePeriodMs).then(
      (r) => r.exitStatus,
      (error) => {
        if (isCode(error, "containerd.timeout")) return undefined;
        throw error;
      },
    );
    // Awaited below; until then a failed wait must not be an unhandled
    // rejection (it would end the process while the kill is in flight).
    exited.catch(() => {});
    try {
      await this.#client.killTask(
        id,
        signalNumber(options.signal ?? "SIGTERM"),
      );
    } catch (error) {
      // Already gone: the wait reports how it ended.
      if (!isCode(error, "containerd.not_found")) throw error;
    }
    const status = await exited;
    if (status !== undefined) return { exitStatus: status, killed: false };
    const killedWait = this.#client.waitTask(id, KILL_WAIT_MS);
    killedWait.catch(() => {}); // awaited below, as `exited`
    await this.#client.killTask(id, SIGNALS.SIGKILL!, true).catch((error) => {
      if (!isCode(error, "containerd.not_found")) throw error;
    });
    try {
      return { exitStatus: (await killedWait).exitStatus, killed: true };
    } catch (error) {
      throw new ContainerdError(
        "container.stop_timeout",
        `Container "${id}" did not exit after SIGKILL`,
        { cause: error },
      );
    }
  }

  /**
   * Deletes task, container, snapshot and FIFOs. Safe to call twice.
   * Returns the container's last log lines, read to the end of its output
   * (none when this runner did not track it).
   */
  async remove(id: string): Promise<LogEntry[]> {
    await this.#client.deleteTask(id).catch(async (error) => {
      if (isCode(error, "containerd.not_found")) return;
      // Still running (containerd refuses to delete it): kill it first.
      if (!isCode(error, "containerd.call_failed")) throw error;
      await this.stop(id, { signal: "SIGKILL", gracePeriodMs: KILL_WAIT_MS });
      await this.#client.deleteTask(id);
    });
    const tracked = this.#containers.get(id);
    if (tracked !== undefined) {
      await drain(tracked.readers);
      // A reader still open after the drain wait: end its `cat`.
      for (const cat of tracked.cats) killQuietly(cat);
      await Promise.allSettled(tracked.readers);
    }
    const lines = tracked?.logs.entries() ?? [];
    await this.#client.deleteContainer(id).catch((error) => {
      if (!isCode(error, "containerd.not_found")) throw error;
    });
    await this.#client.removeSnapshot(id).catch((error) => {
      if (!isCode(error, "containerd.not_found")) throw error;
    });
    await Deno.remove(`${this.#fifoDir}/${id}`, { recursive: true }).catch(
      (error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      },
    );
    this.#containers.delete(id);
    return lines;
  }

  /** The container's last log lines, oldest first. */
  logs(id: string, limit?: number): LogEntry[] {
    return this.#tracked(id).logs.entries(limit);
  }

  /** Cpu and memory per container, from containerd's task metrics. */
  async metrics(ids: readonly string[]): Promise<ContainerMetrics[]> {
    const records: MetricRecord[] = await this.#client.taskMetrics(ids);
    return records.map(decodeMetric).filter((m): m is ContainerMetrics =>
      m !== undefined
    );
  }

  #tracked(id: string): Tracked {
    const tracked = this.#containers.get(id);
    if (tracked === undefined) {
      throw new ContainerdError(
        "container.not_found",
        `Container "${id}" is not known to this runner`,
      );
    }
    return tracked;
  }
}

/**
 * Writes the secret env file: created 0400 (never readable by others, not
 * even for a moment), then given to the container's user, who alone reads
 * it through the bind mount. Refuses a directory that group or others may
 * enter: the file is owned by a uid that may be a host user's too.
 */
async function writeSecretEnv(
  secretEnv: SecretEnv,
  bytes: Uint8Array,
  user: { uid: number; gid: number },
): Promise<void> {
  assert(secretEnv.filePath.startsWith("/"), "the secret env path is absolute");
  const dir = secretEnv.filePath.slice(0, secretEnv.filePath.lastIndexOf("/"));
  const info = await Deno.stat(dir === "" ? "/" : dir);
  if (!info.isDirectory || ((info.mode ?? 0) & 0o077) !== 0) {
    throw new ContainerdError(
      "container.start_failed",
      `Directory "${dir}" of secret env files is open to group or others (mode ${
        ((info.mode ?? 0) & 0o777).toString(8)
      }); run "chmod 700 ${dir}"`,
    );
  }
  await Deno.remove(secretEnv.filePath).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  const file = await Deno.open(secretEnv.filePath, {
    write: true,
    createNew: true,
    mode: 0o400,
  });
  try {
    let written = 0;
    for (let attempt = 0; written < bytes.length; attempt++) {
      assert(attempt <= bytes.length, "every write makes progress");
      written += await file.write(bytes.subarray(written));
    }
  } finally {
    file.close();
  }
  await Deno.chown(secretEnv.filePath, user.uid, user.gid);
  const mode = (await Deno.stat(secretEnv.filePath)).mode ?? 0o777;
  assert((mode & 0o077) === 0, "the secret env file is closed to others");
}

async function makeFifos(paths: readonly string[]): Promise<void> {
  // Deno has no mkfifo(2); one mkfifo(1) process makes both.
  const result = await new Deno.Command("mkfifo", {
    args: ["-m", "600", ...paths],
    stderr: "piped",
  }).output();
  if (!result.success) {
    throw new ContainerdError(
      "container.start_failed",
      `Cannot make FIFOs ${paths.join(", ")}: ${
        new TextDecoder().decode(result.stderr).trim()
      }`,
    );
  }
}

/** `cat PATH` with its stdout piped: reads a FIFO without a blocking thread. */
function catFifo(path: string): Deno.ChildProcess {
  return new Deno.Command("cat", {
    args: [path],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
}

function killQuietly(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGKILL");
  } catch (error) {
    // Already exited: nothing to end.
    if (!(error instanceof TypeError)) throw error;
  }
}

/** Ends the `cat`s of FIFOs no shim will write to, and waits for them. */
async function unblockFifos(cats: readonly Deno.ChildProcess[]): Promise<void> {
  for (const cat of cats) killQuietly(cat);
  await Promise.all(cats.map(async (cat) => {
    await cat.stdout.cancel();
    await cat.status;
  }));
}

async function drain(readers: readonly Promise<void>[]): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((resolve) =>
    timer = setTimeout(resolve, LOG_DRAIN_MS)
  );
  await Promise.race([Promise.allSettled(readers), timeout]);
  clearTimeout(timer);
}

/**
 * The image's /etc/passwd and /etc/group, read on the host from the
 * snapshot's layer directories (upper first, then lower top-down).
 */
async function readAccounts(mounts: readonly Mount[]): Promise<Accounts> {
  const dirs: string[] = [];
  for (const mount of mounts) {
    if (mount.type === "bind") dirs.push(mount.source);
    for (const option of mount.options) {
      if (option.startsWith("upperdir=")) {
        dirs.unshift(option.slice("upperdir=".length));
      }
      if (option.startsWith("lowerdir=")) {
        dirs.push(...option.slice("lowerdir=".length).split(":"));
      }
    }
  }
  const read = async (path: string): Promise<string> => {
    for (const dir of dirs) {
      try {
        const info = await Deno.stat(`${dir}${path}`);
        if (info.isFile) return await Deno.readTextFile(`${dir}${path}`);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    return "";
  };
  return { passwd: await read("/etc/passwd"), group: await read("/etc/group") };
}
