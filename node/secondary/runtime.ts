/**
 * The secondary's container runtime: `SecondaryRuntime` over the containerd
 * client. It pulls, starts (resolving `${secret(...)}` here with the values
 * the leader sent for this alloc; the node holds no cluster key), stops,
 * reports status, logs and metrics, and supervises its services: an exit
 * seen on containerd's event stream restarts the service after the restart
 * policy's backoff (1 s, 5 s, 30 s, then 60 s), reported `restarting`
 * meanwhile. Tasks are never restarted; their exit code is kept for the
 * leader. Ephemeral volumes: scratch_volumes.ts; an ended alloc's last
 * lines: ended_logs.ts.
 *
 * Variables that use a secret never enter the OCI spec: they reach the
 * container through a file and env-exec (secret_env.ts). Each start request,
 * secret values included, is kept in the state dir (0700, files 0600), so an
 * agent that restarts re-attaches to the containers it still runs and can
 * restart them later without the leader. Errors and kept log lines pass
 * through `redact` with the alloc's values first.
 */
import {
  type ContainerdClient,
  type ContainerRunner,
  type ImageService,
  type LogEntry,
  type TaskEvent,
  type TaskEventWatch,
  watchTaskEvents,
} from "../../containerd/mod.ts";
import type { AllocReport } from "../../raft/mod.ts";
import {
  decideRestart,
  type ExitCause,
  recordHealthy,
} from "../restart/mod.ts";
import {
  type AllocRuntimeStatus,
  LOG_LINES_MAX,
  type LogsRequest,
  type LogsResult,
  type MetricsRequest,
  type MetricsResult,
  type PullRequest,
  type PullResult,
  RpcError,
  type SecondaryRuntime,
  type StartRequest,
  type StartResult,
  type StatusRequest,
  type StatusResult,
  type StopRequest,
  type StopResult,
} from "../rpc/mod.ts";
import { AllocStore } from "./alloc_store.ts";
import type { AllocNetworking } from "./alloc_network.ts";
import {
  allocMetricsOf,
  armTaskTimeout,
  newTracked,
  pickLogLines,
  type Tracked,
} from "./_tracked.ts";
import { ENDED_LOGS_GRACE_MS, EndedLogs } from "./ended_logs.ts";
import { ScratchVolumes } from "./scratch_volumes.ts";
import { PersistentVolumes } from "./persistent_volumes.ts";
import { SecretEnvFiles } from "./secret_env.ts";
import {
  isNotFound,
  isRunning,
  networkOf,
  portIsFree,
  pullImage,
  redactFor,
  redactLines,
  releaseEnded,
  resolveEnvOf,
  restartPolicyOf,
  tasksByContainer,
  wrap,
} from "./_runtime_support.ts";
import {
  containerIdOf,
  describeExitCause,
  exitCauseOf,
  reportOfExit,
  reportOfRestart,
} from "./exits.ts";

/** The label a start request carries its restart policy in. */
export const RESTART_LABEL = "mill.restart";
/** The label every mill container carries: its alloc id. */
export const ALLOC_LABEL = "mill.alloc";
/** Most allocs one node tracks. */
export const NODE_ALLOCS_MAX = 1_000;

export interface ContainerdRuntimeOptions {
  readonly client: ContainerdClient;
  readonly images: ImageService;
  readonly runner: ContainerRunner;
  /** The runner's FIFO directory (a restart makes new FIFOs there). */
  readonly fifoDir: string;
  /** Kept start requests, secret values included: dir 0700, files 0600. */
  readonly stateDir: string;
  /** env-exec and the secret env files: dir 0700, on a filesystem that allows exec. */
  readonly secretsDir: string;
  /** Ephemeral volumes (default: `volumes` beside `stateDir`). */
  readonly volumesDir?: string;
  /** Where persistent volumes are mounted (`<dir>/volumes/mnt/NAME`; default: beside `stateDir`). */
  readonly persistentVolumesRoot?: string;
  /** The last lines of ended allocs (default: `ended-logs` beside `stateDir`). */
  readonly endedLogsDir?: string;
  /** Namespaces for allocs with an address; absent: host networking only. */
  readonly network?: AllocNetworking;
  /** What the node saw happen to an alloc, for the next heartbeat. */
  readonly onReport: (report: AllocReport) => void;
  /** The node's log; never given a secret value. */
  readonly log: (message: string) => void;
  readonly nowMs?: () => number;
  /** Overrides the backoff (tests of the supervisor keep the real one). */
  readonly restartDelayScale?: number;
}

/** `SecondaryRuntime` on this node's containerd. */
export class ContainerdRuntime implements SecondaryRuntime {
  readonly #options: ContainerdRuntimeOptions;
  readonly #allocs = new Map<string, Tracked>();
  readonly #store: AllocStore;
  readonly #secretEnv: SecretEnvFiles;
  readonly #volumes: ScratchVolumes;
  readonly #persistent: PersistentVolumes;
  readonly #endedLogs: EndedLogs;
  readonly #nowMs: () => number;
  #watch: TaskEventWatch | undefined;
  #closed = false;
  readonly #inFlight = new Set<Promise<void>>();

  private constructor(options: ContainerdRuntimeOptions) {
    this.#options = options;
    this.#store = new AllocStore(options.stateDir);
    this.#secretEnv = new SecretEnvFiles(options.secretsDir);
    const beside = options.stateDir.replace(/\/[^/]*\/?$/, "");
    this.#volumes = new ScratchVolumes(
      options.volumesDir ?? `${beside}/volumes`,
    );
    this.#persistent = new PersistentVolumes(
      options.persistentVolumesRoot ?? beside,
      options.log,
    );
    this.#nowMs = options.nowMs ?? Date.now;
    this.#endedLogs = new EndedLogs(
      options.endedLogsDir ?? `${beside}/ended-logs`,
      this.#nowMs,
    );
  }

  /**
   * Starts watching containerd's events and re-attaches to the containers
   * of the kept start requests: running ones are tracked again, gone ones
   * are reported (and services restarted).
   */
  static async open(
    options: ContainerdRuntimeOptions,
  ): Promise<ContainerdRuntime> {
    const runtime = new ContainerdRuntime(options);
    await runtime.#store.open();
    await runtime.#secretEnv.open();
    await runtime.#volumes.open();
    await runtime.#endedLogs.open((name, error) =>
      options.log(`dropped unreadable ended-log file ${name}: ${error}`)
    );
    runtime.#watch = watchTaskEvents(
      options.client,
      (event) => runtime.#onTaskEvent(event),
      {
        onResubscribe: () => void runtime.#reconcile(),
        onError: (error) => options.log(`containerd events: ${error}`),
      },
    );
    await runtime.#reattach();
    return runtime;
  }

  /** Allocs this runtime tracks, by id. */
  get allocIds(): string[] {
    return [...this.#allocs.keys()];
  }

  pull(request: PullRequest, signal: AbortSignal): Promise<PullResult> {
    return this.#track(() => pullImage(this.#options.images, request, signal));
  }

  start(request: StartRequest, signal: AbortSignal): Promise<StartResult> {
    return this.#track(() => this.#start(request, signal));
  }

  stop(request: StopRequest, signal: AbortSignal): Promise<StopResult> {
    return this.#track(() => this.#stop(request, signal));
  }

  /** Runs `work` as an operation `close()` waits for. */
  #track<T>(work: () => Promise<T>): Promise<T> {
    if (this.#closed) {
      return Promise.reject(
        new RpcError("runtime.closed", "This node's runtime is shutting down"),
      );
    }
    const running = work();
    const settled = running.then(() => {}, () => {});
    this.#inFlight.add(settled);
    void settled.finally(() => this.#inFlight.delete(settled));
    return running;
  }

  async #start(
    request: StartRequest,
    _signal: AbortSignal,
  ): Promise<StartResult> {
    const existing = this.#allocs.get(request.allocId);
    if (existing !== undefined && existing.state === "running") {
      // A retried start (the leader lost our answer): same container.
      return {
        allocId: request.allocId,
        containerId: existing.containerId,
        startedAtMs: existing.startedAtMs ?? this.#nowMs(),
      };
    }
    if (existing === undefined && this.#allocs.size >= NODE_ALLOCS_MAX) {
      throw new RpcError(
        "runtime.too_many_allocs",
        `This node already tracks ${NODE_ALLOCS_MAX} allocs`,
      );
    }
    const tracked = existing ?? newTracked(request, "starting", null);
    if (request.hostPort !== undefined && !portIsFree(request.hostPort)) {
      throw new RpcError(
        "runtime.port_in_use",
        `Host port ${request.hostPort} is already in use on this node by a process mill does not manage`,
      );
    }
    this.#allocs.set(request.allocId, tracked);
    await this.#store.save(request);
    try {
      await this.#createAndStart(tracked);
    } catch (error) {
      tracked.state = "exited";
      tracked.exit = { kind: "start-failed" };
      // The message goes back to the leader and into its logs.
      throw redactFor(tracked.request, error);
    }
    return {
      allocId: request.allocId,
      containerId: tracked.containerId,
      startedAtMs: tracked.startedAtMs ?? this.#nowMs(),
    };
  }

  async #stop(request: StopRequest, _signal: AbortSignal): Promise<StopResult> {
    const tracked = this.#allocs.get(request.allocId);
    if (tracked === undefined) {
      await this.#secretEnv.remove(containerIdOf(request.allocId));
      await this.#volumes.remove(containerIdOf(request.allocId));
      await this.#options.network?.detach(request.allocId);
      return { allocId: request.allocId, exit: null };
    }
    tracked.stopping = true;
    clearTimeout(tracked.restartTimer);
    await tracked.restarting;
    const wasRunning = tracked.state === "running";
    let exit: ExitCause | null = tracked.exit;
    if (wasRunning) {
      const result = await wrap(
        "runtime.stop_failed",
        () =>
          this.#options.runner.stop(tracked.containerId, {
            signal: request.signal,
            gracePeriodMs: request.gracePeriodMs,
          }),
      ).catch((error) => {
        if (isNotFound(error)) return null;
        throw error;
      });
      exit = result === null ? null : { kind: "stopped" };
    }
    const lines = await this.#options.runner.remove(tracked.containerId);
    await this.#secretEnv.remove(tracked.containerId);
    await this.#volumes.remove(tracked.containerId);
    await this.#releasePersistent(request.allocId, tracked);
    await this.#options.network?.detach(request.allocId);
    // A re-attached container has no ring: keep what an earlier save kept.
    if (lines.length > 0 || !this.#endedLogs.has(request.allocId)) {
      await this.#endedLogs.save(
        request.allocId,
        redactLines(tracked.request, lines),
      );
    }
    this.#allocs.delete(request.allocId);
    await this.#store.remove(request.allocId);
    return { allocId: request.allocId, exit };
  }

  status(request: StatusRequest, _signal: AbortSignal): Promise<StatusResult> {
    const ids = request.allocIds ?? [...this.#allocs.keys()];
    const allocs: AllocRuntimeStatus[] = ids.map((allocId) => {
      const tracked = this.#allocs.get(allocId);
      if (tracked === undefined) {
        return { allocId, state: "unknown", startedAtMs: null, exit: null };
      }
      return {
        allocId,
        state: tracked.state,
        startedAtMs: tracked.startedAtMs,
        exit: tracked.exit,
      };
    });
    return Promise.resolve({ allocs });
  }

  async logs(request: LogsRequest, _signal: AbortSignal): Promise<LogsResult> {
    const tracked = this.#allocs.get(request.allocId);
    let entries = tracked && this.#ringOf(tracked.containerId);
    // Ended (or re-attached, its ring gone with the old agent): what was kept.
    entries ??= await this.#endedLogs.read(request.allocId);
    if (entries === undefined && tracked === undefined) {
      throw new RpcError(
        "rpc.not_found",
        `No alloc "${request.allocId}" on this node`,
      );
    }
    return {
      allocId: request.allocId,
      ...pickLogLines(entries ?? [], request),
    };
  }

  /** The container's ring, or undefined when this runner has none. */
  #ringOf(containerId: string): LogEntry[] | undefined {
    try {
      return this.#options.runner.logs(containerId, LOG_LINES_MAX);
    } catch (error) {
      if (!isNotFound(error)) throw error;
      return undefined;
    }
  }

  /** Keeps the lines of an alloc that ended and will not restart. */
  async #keepLines(tracked: Tracked): Promise<void> {
    const entries = this.#ringOf(tracked.containerId);
    if (entries !== undefined && entries.length > 0) {
      await this.#endedLogs.save(
        tracked.request.allocId,
        redactLines(tracked.request, entries),
      );
    }
  }

  async metrics(
    request: MetricsRequest,
    _signal: AbortSignal,
  ): Promise<MetricsResult> {
    const ids = (request.allocIds ?? [...this.#allocs.keys()]).filter((id) =>
      this.#allocs.get(id)?.state === "running"
    );
    const byContainer = new Map(
      ids.map((id) => [containerIdOf(id), id] as const),
    );
    const metrics = await this.#options.runner.metrics([...byContainer.keys()]);
    return {
      atMs: this.#nowMs(),
      allocs: allocMetricsOf(metrics, byContainer),
    };
  }

  /** Forgets the kept lines of ended allocs `isKnown` no longer names (purged). */
  sweepEndedLogs(isKnown: (allocId: string) => boolean): Promise<string[]> {
    return this.#endedLogs.sweep(isKnown, ENDED_LOGS_GRACE_MS);
  }

  /** Notes that an alloc passed its health checks (resets the backoff streak later). */
  markHealthy(allocId: string): void {
    const tracked = this.#allocs.get(allocId);
    if (tracked === undefined) return;
    tracked.restart = recordHealthy(tracked.restart, this.#nowMs());
  }

  /** Stops supervising; the containers keep running (the next agent re-attaches). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const tracked of this.#allocs.values()) {
      clearTimeout(tracked.restartTimer);
    }
    // Ended allocs mill has not removed yet: their rings die with us.
    for (const tracked of this.#allocs.values()) {
      if (tracked.state !== "exited" || tracked.restartTimer !== undefined) {
        continue;
      }
      await this.#keepLines(tracked).catch((error) =>
        this.#options.log(`cannot keep the lines of ended alloc: ${error}`)
      );
    }
    await Promise.allSettled(
      [...this.#allocs.values()].map((t) => t.restarting),
    );
    // Calls in flight end before the containerd client may be closed.
    await Promise.allSettled([...this.#inFlight]);
    await this.#watch?.close();
  }

  /** Unmounts the ended alloc's persistent volumes no other alloc here uses. */
  async #releasePersistent(allocId: string, tracked: Tracked): Promise<void> {
    const names = (tracked.request.persistentVolumes ?? []).map((v) => v.name);
    if (names.length === 0) return;
    const stillUsed = new Set<string>();
    for (const [id, other] of this.#allocs) {
      if (id === allocId) continue;
      for (const v of other.request.persistentVolumes ?? []) {
        stillUsed.add(v.name);
      }
    }
    await this.#persistent.release(names, stillUsed).catch((error) =>
      this.#options.log(`releasing the volumes of ${allocId}: ${error}`)
    );
  }

  async #createAndStart(tracked: Tracked): Promise<void> {
    const request = tracked.request;
    const env = resolveEnvOf(request);
    const secretEnv = this.#secretEnv.delivery(tracked.containerId, env.secret);
    const runner = this.#options.runner;
    await wrap("runtime.start_failed", async () => {
      await runner.remove(tracked.containerId);
      const mounts = [
        ...await this.#volumes.prepare(
          tracked.containerId,
          request.volumes ?? [],
        ),
        ...await this.#persistent.mount(request.persistentVolumes ?? []),
      ];
      const network = await networkOf(this.#options.network, request);
      await runner.create({
        id: tracked.containerId,
        image: request.image,
        ...(request.command === undefined ? {} : { command: request.command }),
        ...(request.args === undefined ? {} : { args: request.args }),
        env: env.plain,
        ...(secretEnv === undefined ? {} : { secretEnv }),
        cpu: request.cpu,
        memoryBytes: request.memoryBytes,
        ...(mounts.length === 0 ? {} : { mounts }),
        ...(network === undefined ? {} : { network }),
        labels: {
          ...request.labels,
          [ALLOC_LABEL]: request.allocId,
          "mill.kind": request.kind,
        },
      });
      tracked.state = "starting";
      tracked.earlyExit = null;
      await runner.start(tracked.containerId);
    });
    this.#running(tracked);
  }

  /** A restart keeps the container (and its log ring): a new task only. */
  async #startAgain(tracked: Tracked): Promise<void> {
    const id = tracked.containerId;
    try {
      this.#options.runner.logs(id, 1);
    } catch (error) {
      // Not tracked by this runner (re-attached): a fresh container.
      if (!isNotFound(error)) throw error;
      return await this.#createAndStart(tracked);
    }
    await wrap("runtime.start_failed", async () => {
      await this.#options.client.deleteTask(id).catch((error) => {
        if (!isNotFound(error)) throw error;
      });
      await Deno.remove(`${this.#options.fifoDir}/${id}`, { recursive: true })
        .catch((error) => {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
        });
      tracked.state = "starting";
      tracked.earlyExit = null;
      await this.#options.runner.start(id);
    });
    this.#running(tracked);
  }

  #running(tracked: Tracked): void {
    const request = tracked.request;
    tracked.state = "running";
    tracked.exit = null;
    tracked.startedAtMs = this.#nowMs();
    const early = tracked.earlyExit;
    if (early !== null) {
      tracked.earlyExit = null;
      this.#exited(tracked, early);
      return;
    }
    if (request.kind === "task" && request.timeoutMs !== undefined) {
      armTaskTimeout(
        tracked,
        request.timeoutMs,
        this.#options.runner,
        this.#options.log,
      );
    }
  }

  #onTaskEvent(event: TaskEvent): void {
    if (event.type !== "exit") return;
    const tracked = [...this.#allocs.values()].find((t) =>
      t.containerId === event.containerId
    );
    if (tracked === undefined || tracked.stopping) return;
    const exit = exitCauseOf(event.exitStatus, event.oom);
    // A container that exits at once may beat the end of its own start.
    if (tracked.state === "starting") tracked.earlyExit = exit;
    if (tracked.state !== "running") return;
    this.#exited(tracked, exit);
  }

  #exited(tracked: Tracked, exit: ExitCause): void {
    const request = tracked.request;
    tracked.state = "exited";
    tracked.exit = exit;
    const decided = decideRestart(tracked.restart, {
      kind: request.kind,
      policy: restartPolicyOf(request, RESTART_LABEL),
      exit,
      atMs: this.#nowMs(),
    });
    tracked.restart = decided.state;
    const decision = decided.decision;
    if (!decision.restart) {
      this.#options.onReport(reportOfExit(request.allocId, exit));
      // Its scratch space and its address go now (the cluster gives the
      // address to the next alloc); the container stays until mill stops it.
      void releaseEnded(this.#volumes, this.#options, tracked);
      return;
    }
    const delayMs = Math.round(
      decision.delayMs * (this.#options.restartDelayScale ?? 1),
    );
    this.#options.log(
      `alloc ${request.allocId} (${request.name}) ${
        describeExitCause(exit)
      }; restarting in ${delayMs} ms`,
    );
    this.#options.onReport(
      reportOfRestart(request.allocId, exit, delayMs, this.#nowMs()),
    );
    tracked.restartTimer = setTimeout(() => {
      tracked.restartTimer = undefined;
      if (this.#closed || tracked.stopping) return;
      tracked.restarting = this.#restart(tracked).finally(() => {
        tracked.restarting = undefined;
      });
    }, delayMs);
  }

  async #restart(tracked: Tracked): Promise<void> {
    const allocId = tracked.request.allocId;
    this.#options.onReport({ allocId, status: "starting" });
    try {
      await this.#startAgain(tracked);
      this.#options.onReport({ allocId, status: "running" });
    } catch (error) {
      const reason = redactFor(tracked.request, error);
      this.#options.log(`cannot restart alloc ${allocId}: ${reason}`);
      if (!this.#closed && !tracked.stopping) {
        this.#exited(tracked, { kind: "start-failed" });
      }
    }
  }

  async #reattach(): Promise<void> {
    const kept = await this.#store.list((name, error) =>
      this.#options.log(`cannot read kept start request ${name}: ${error}`)
    );
    const keep = new Set(kept.map((request) => containerIdOf(request.allocId)));
    await this.#secretEnv.sweep(
      keep,
      (id) => this.#options.log(`removed the secret env file of gone ${id}`),
    );
    await this.#volumes.sweep(
      keep,
      (id) => this.#options.log(`removed the ephemeral volumes of gone ${id}`),
    );
    await this.#options.network?.sweep(new Set(kept.map((r) => r.allocId)));
    await this.#persistent.sweep();
    const tasks = await tasksByContainer(this.#options.client);
    for (const request of kept) {
      const containerId = containerIdOf(request.allocId);
      const task = tasks.get(containerId);
      const tracked = newTracked(request, "running", this.#nowMs());
      this.#allocs.set(request.allocId, tracked);
      if (task === undefined || !isRunning(task)) {
        const exit = task === undefined
          ? { kind: "killed", signal: "SIGKILL" } as const
          : exitCauseOf(task.exitStatus, false);
        this.#exited(tracked, exit);
      } else {
        this.#options.log(`re-attached to alloc ${request.allocId}`);
      }
    }
  }

  /** After an event-stream cut: exits we may have missed. */
  async #reconcile(): Promise<void> {
    try {
      const tasks = await tasksByContainer(this.#options.client);
      for (const tracked of this.#allocs.values()) {
        if (tracked.state !== "running" || tracked.stopping) continue;
        const task = tasks.get(tracked.containerId);
        if (task !== undefined && isRunning(task)) continue;
        this.#exited(tracked, exitCauseOf(task?.exitStatus ?? 137, false));
      }
    } catch (error) {
      // The shell boundary: the next resubscribe reconciles again.
      this.#options.log(`cannot reconcile with containerd: ${error}`);
    }
  }
}
