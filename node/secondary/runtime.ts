/**
 * The secondary's container runtime: `SecondaryRuntime` over the containerd
 * client. It pulls, starts (resolving `${secret(...)}` here with the values
 * the leader sent for this alloc; the node holds no cluster key), stops,
 * reports status, logs and metrics, and supervises its services: an exit
 * seen on containerd's event stream restarts the service after the restart
 * policy's backoff (1 s, 5 s, 30 s, then 60 s). Tasks are never restarted;
 * their exit code is kept for the leader.
 *
 * Variables that use a secret never enter the OCI spec: they reach the
 * container through a file and env-exec (secret_env.ts). Each start request,
 * secret values included, is kept in the state dir (0700, files 0600), so an
 * agent that restarts re-attaches to the containers it still runs and can
 * restart them later without the leader. Errors and log lines pass through
 * `redact` with the alloc's values first.
 */
import {
  type ContainerdClient,
  type ContainerRunner,
  type ImageService,
  type TaskEvent,
  type TaskEventWatch,
  watchTaskEvents,
} from "../../containerd/mod.ts";
import type { AllocReport } from "../../raft/mod.ts";
import {
  decideRestart,
  type ExitCause,
  recordHealthy,
  RESTART_STATE_INITIAL,
  type RestartState,
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
import { SecretEnvFiles } from "./secret_env.ts";
import {
  isNotFound,
  isRunning,
  portIsFree,
  redactFor,
  resolveEnvOf,
  restartPolicyOf,
  taskContainerId,
  wrap,
} from "./_runtime_support.ts";
import {
  containerIdOf,
  describeExitCause,
  exitCauseOf,
  reportOfExit,
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
  /** What the node saw happen to an alloc, for the next heartbeat. */
  readonly onReport: (report: AllocReport) => void;
  /** The node's log; never given a secret value. */
  readonly log: (message: string) => void;
  readonly nowMs?: () => number;
  /** Overrides the backoff (tests of the supervisor keep the real one). */
  readonly restartDelayScale?: number;
}

interface Tracked {
  readonly request: StartRequest;
  readonly containerId: string;
  state: AllocRuntimeStatus["state"];
  startedAtMs: number | null;
  exit: ExitCause | null;
  restart: RestartState;
  /** mill is stopping it: its exit is not a crash. */
  stopping: boolean;
  restartTimer: ReturnType<typeof setTimeout> | undefined;
  restarting: Promise<void> | undefined;
  /** An exit seen while the start was still in progress (a quick exit). */
  earlyExit: ExitCause | null;
}

/** `SecondaryRuntime` on this node's containerd. */
export class ContainerdRuntime implements SecondaryRuntime {
  readonly #options: ContainerdRuntimeOptions;
  readonly #allocs = new Map<string, Tracked>();
  readonly #store: AllocStore;
  readonly #secretEnv: SecretEnvFiles;
  readonly #nowMs: () => number;
  #watch: TaskEventWatch | undefined;
  #closed = false;
  readonly #inFlight = new Set<Promise<void>>();

  private constructor(options: ContainerdRuntimeOptions) {
    this.#options = options;
    this.#store = new AllocStore(options.stateDir);
    this.#secretEnv = new SecretEnvFiles(options.secretsDir);
    this.#nowMs = options.nowMs ?? Date.now;
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
    return this.#track(() => this.#pull(request, signal));
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

  async #pull(request: PullRequest, signal: AbortSignal): Promise<PullResult> {
    const present = await this.#options.images.resolve(request.image);
    if (present !== undefined) {
      return {
        image: request.image,
        digest: present.target.digest,
        cached: true,
      };
    }
    const image = await wrap(
      "image.pull_failed",
      () => this.#options.images.pull(request.image, { signal }),
    );
    return { image: request.image, digest: image.target.digest, cached: false };
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
    const tracked: Tracked = existing ?? {
      request,
      containerId: containerIdOf(request.allocId),
      state: "starting",
      startedAtMs: null,
      exit: null,
      restart: RESTART_STATE_INITIAL,
      stopping: false,
      restartTimer: undefined,
      restarting: undefined,
      earlyExit: null,
    };
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
    await this.#options.runner.remove(tracked.containerId);
    await this.#secretEnv.remove(tracked.containerId);
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

  logs(request: LogsRequest, _signal: AbortSignal): Promise<LogsResult> {
    const tracked = this.#allocs.get(request.allocId);
    if (tracked === undefined) {
      throw new RpcError(
        "rpc.not_found",
        `No alloc "${request.allocId}" on this node`,
      );
    }
    let entries: ReturnType<ContainerRunner["logs"]>;
    try {
      entries = this.#options.runner.logs(tracked.containerId, LOG_LINES_MAX);
    } catch (error) {
      // Re-attached after an agent restart: the ring died with the old agent.
      if (!isNotFound(error)) throw error;
      entries = [];
    }
    // Sequence numbers count from the oldest line the ring still holds
    // (the ring keeps LOG_LINES_MAX lines; older ones are gone).
    const lastSeq = entries.length;
    const lines = entries.map((entry, i) => ({
      seq: i + 1,
      timeMs: entry.timeMs,
      stream: entry.stream,
      line: entry.line,
    }));
    const after = request.afterSeq;
    const picked = after === undefined
      ? lines.slice(Math.max(0, lines.length - request.tailLines))
      : lines.filter((l) => l.seq > after);
    return Promise.resolve({
      allocId: request.allocId,
      lines: picked,
      lastSeq,
    });
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
      allocs: metrics.flatMap((m) => {
        const allocId = byContainer.get(m.containerId);
        if (allocId === undefined) return [];
        return [{
          allocId,
          cpuUsageNs: Math.round(m.cpuUsageNs),
          memoryUsageBytes: m.memoryUsageBytes,
          memoryLimitBytes: m.memoryLimitBytes,
          pids: m.pids,
        }];
      }),
    };
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
    await Promise.allSettled(
      [...this.#allocs.values()].map((t) => t.restarting),
    );
    // Calls in flight end before the containerd client may be closed.
    await Promise.allSettled([...this.#inFlight]);
    await this.#watch?.close();
  }

  async #createAndStart(tracked: Tracked): Promise<void> {
    const request = tracked.request;
    const env = resolveEnvOf(request);
    const secretEnv = this.#secretEnv.delivery(tracked.containerId, env.secret);
    const runner = this.#options.runner;
    await wrap("runtime.start_failed", async () => {
      await runner.remove(tracked.containerId);
      await runner.create({
        id: tracked.containerId,
        image: request.image,
        ...(request.command === undefined ? {} : { command: request.command }),
        ...(request.args === undefined ? {} : { args: request.args }),
        env: env.plain,
        ...(secretEnv === undefined ? {} : { secretEnv }),
        cpu: request.cpu,
        memoryBytes: request.memoryBytes,
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
      this.#armTaskTimeout(tracked, request.timeoutMs);
    }
  }

  #armTaskTimeout(tracked: Tracked, timeoutMs: number): void {
    const timer = setTimeout(() => {
      if (tracked.state !== "running" || tracked.stopping) return;
      this.#options.log(
        `task alloc ${tracked.request.allocId} timed out after ${timeoutMs} ms`,
      );
      void this.#options.runner.stop(tracked.containerId, {
        signal: "SIGKILL",
        gracePeriodMs: 0,
      }).catch((error) =>
        this.#options.log(`cannot kill timed-out task: ${error}`)
      );
    }, timeoutMs);
    Deno.unrefTimer(timer);
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
    await this.#secretEnv.sweep(
      new Set(kept.map((request) => containerIdOf(request.allocId))),
      (id) => this.#options.log(`removed the secret env file of gone ${id}`),
    );
    const tasks = new Map(
      (await this.#options.client.listTasks()).map((
        t,
      ) => [taskContainerId(t), t]),
    );
    for (const request of kept) {
      const containerId = containerIdOf(request.allocId);
      const task = tasks.get(containerId);
      const tracked: Tracked = {
        request,
        containerId,
        state: "running",
        startedAtMs: this.#nowMs(),
        exit: null,
        restart: RESTART_STATE_INITIAL,
        stopping: false,
        restartTimer: undefined,
        restarting: undefined,
        earlyExit: null,
      };
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
      const tasks = new Map(
        (await this.#options.client.listTasks()).map((
          t,
        ) => [taskContainerId(t), t]),
      );
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
