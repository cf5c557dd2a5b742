/**
 * The I/O shell around `DeployMachine`: runs its actions against the nodes
 * (pull, start, health checks, stop), commits what they change, and feeds
 * the results back until the machine finishes. Used by deploys (atomic) and
 * by repairs after a node failure (not atomic).
 */
import type { ServiceConfig, TaskConfig } from "../../config/types.ts";
import type { Alloc, Command } from "../../raft/fsm/mod.ts";
import type { Placement } from "../scheduler/mod.ts";
import { HealthMonitor, probeTarget } from "../health/mod.ts";
import { assert } from "./_assert.ts";
import { commitPlacements } from "./_commit_placements.ts";
import { secretValuesOf, startRequestOf } from "./_start_request.ts";
import type { CommitResult, DeployContext } from "./context.ts";
import { type DeployPhase, FAILED_LOG_LINES_MAX } from "./events.ts";
import {
  type DeployMachine,
  type MachineAction,
  type MachineEvent,
  type MachineFailure,
} from "./machine.ts";

/** Longest a pull may take before it counts as failed. */
export const PULL_TIMEOUT_MS = 10 * 60_000;
/** Longest a start call may take (create + start of the container). */
export const START_TIMEOUT_MS = 2 * 60_000;
/** Added to a workload's stop grace period for the stop call itself. */
export const STOP_TIMEOUT_MARGIN_MS = 30_000;
/**
 * Most container starts one rollout runs at once on one node. Starting is
 * CPU-bound on the node (runc, mounts) and containerd's shims: past a few at
 * once nothing gets faster, and each start holds resources until its shim
 * answers (the runner's log FIFOs block a thread each while they open).
 */
export const STARTS_PER_NODE_MAX = 8;
/** Longest a log fetch for a failure message may take. */
export const LOGS_TIMEOUT_MS = 5_000;

/** Thrown inside the shell when a commit could not happen at all. */
export class CommitLost extends Error {
  override name = "CommitLost";
}

export interface PhaseReport {
  readonly service: string;
  readonly allocId: string;
  readonly nodeId: string | null;
  readonly phase: DeployPhase;
  readonly message: string;
}

export interface RolloutOptions {
  readonly context: DeployContext;
  /** The placement of every new alloc, committed when the machine says. */
  readonly placements: ReadonlyMap<string, Placement>;
  /** The deploy the placements belong to; null for a repair. */
  readonly deployId: string | null;
  /** The workload an alloc runs (new config first, then the one before). */
  readonly workloadOf: (alloc: Alloc) => ServiceConfig | TaskConfig | undefined;
  readonly onPhase: (report: PhaseReport) => void;
  /**
   * Wave 1's allocs, already committed with the deploy's `Deploy`
   * (`commitDeploy`): when the machine asks for them they are `scheduled`
   * at once, not committed again.
   */
  readonly committedWithDeploy?: readonly string[];
}

export type RolloutResult =
  | {
    readonly kind: "finished";
    readonly outcome: "succeeded" | "rolled_back" | "cancelled";
    readonly failures: readonly MachineFailure[];
    readonly stoppedOld: readonly string[];
  }
  | { readonly kind: "lost"; readonly error: unknown };

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((id, index) => id === b[index]);
}

/** Commits `command`; a refusal is data, a failure to commit throws `CommitLost`. */
export async function commitOrLose(
  context: DeployContext,
  command: Command,
): Promise<CommitResult> {
  try {
    return await context.commit(command);
  } catch (error) {
    throw new CommitLost(`Could not commit ${command.type}`, { cause: error });
  }
}

/** Runs `machine` to its end (or until a commit is lost). */
export async function runRollout(
  machine: DeployMachine,
  options: RolloutOptions,
): Promise<RolloutResult> {
  return await new Rollout(machine, options).run();
}

/** One run of a machine; `cancel` rolls an atomic one back. */
export class Rollout {
  readonly #machine: DeployMachine;
  readonly #options: RolloutOptions;
  readonly #queue: MachineEvent[] = [];
  readonly #abort = new AbortController();
  readonly #monitors = new Map<string, HealthMonitor>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #startSlots = new Map<string, Slots>();
  #wake = Promise.withResolvers<void>();
  /** Waves' placements are committed one entry after another, in order. */
  #scheduling: Promise<void> = Promise.resolve();
  #lost: unknown = null;
  #committedWithDeploy: readonly string[];
  #finish: Extract<MachineAction, { type: "finish" }> | null = null;

  constructor(machine: DeployMachine, options: RolloutOptions) {
    this.#machine = machine;
    this.#options = options;
    this.#committedWithDeploy = options.committedWithDeploy ?? [];
  }

  async run(): Promise<RolloutResult> {
    this.#dispatch(this.#machine.start());
    // Ends: every action the machine issues settles (each has a timeout),
    // and the machine finishes once nothing is in flight.
    while (this.#finish === null && this.#lost === null) {
      const event = this.#queue.shift();
      if (event === undefined) {
        await this.#wake.promise;
        this.#wake = Promise.withResolvers<void>();
        continue;
      }
      this.#dispatch(this.#machine.step(event));
    }
    this.#abort.abort();
    await Promise.all([...this.#monitors.values()].map((m) => m.stop()));
    await Promise.allSettled([...this.#tasks]);
    if (this.#lost !== null) return { kind: "lost", error: this.#lost };
    assert(this.#finish !== null, "the loop ends on finish or loss");
    return {
      kind: "finished",
      outcome: this.#finish.outcome,
      failures: this.#finish.failures,
      stoppedOld: this.#finish.stoppedOld,
    };
  }

  /** Stops the run and rolls it back like a failure (atomic runs). */
  cancel(reason: string): void {
    this.#feed({ type: "cancel", reason });
  }

  #feed(event: MachineEvent): void {
    this.#queue.push(event);
    this.#wake.resolve();
  }

  #dispatch(actions: readonly MachineAction[]): void {
    // The machine asks for a wave's placements in one step: they are
    // committed together, as one entry (see `_commit_placements.ts`).
    const placing: string[] = [];
    for (const action of actions) {
      switch (action.type) {
        case "phase":
          this.#options.onPhase({
            service: action.service,
            allocId: action.allocId,
            nodeId: this.#alloc(action.allocId)?.nodeId ?? null,
            phase: action.phase,
            message: action.message,
          });
          break;
        case "schedule":
          placing.push(action.allocId);
          break;
        case "pull":
          this.#spawn(() => this.#pull(action.nodeId, action.image));
          break;
        case "start":
          this.#spawn(() => this.#start(action.allocId));
          break;
        case "stop":
          this.#spawn(() => this.#stop(action));
          break;
        case "finish":
          this.#finish = action;
          break;
        default: {
          const _exhaustive: never = action;
          throw new Error(`unknown action ${JSON.stringify(_exhaustive)}`);
        }
      }
    }
    if (placing.length > 0) {
      const next = this.#scheduling.then(() => this.#schedule(placing));
      this.#scheduling = next.catch(() => {});
      this.#spawn(() => next);
    }
  }

  #spawn(body: () => Promise<void>): void {
    const task = body().catch((error) => {
      if (error instanceof CommitLost) {
        this.#lost = error;
        this.#wake.resolve();
        return;
      }
      // A bug in the shell: end the rollout rather than hang it.
      this.#lost = error;
      this.#options.context.log?.("error", `deploy shell: ${String(error)}`);
      this.#wake.resolve();
    }).finally(() => this.#tasks.delete(task));
    this.#tasks.add(task);
  }

  #alloc(allocId: string): Alloc | undefined {
    return this.#options.context.state().allocs.get(allocId);
  }

  #signal(timeoutMs: number): AbortSignal {
    return AbortSignal.any([
      this.#abort.signal,
      AbortSignal.timeout(timeoutMs),
    ]);
  }

  /**
   * Commits placements asked for together as whole entries; each alloc
   * learns the outcome (`scheduled`, or `allocFailed` with the refusal).
   */
  async #schedule(allocIds: readonly string[]): Promise<void> {
    const committed = this.#committedWithDeploy;
    if (committed.length > 0) {
      this.#committedWithDeploy = [];
      assert(
        sameIds(committed, allocIds),
        "the machine schedules first the wave committed with the Deploy",
      );
      for (const allocId of allocIds) {
        this.#feed({ type: "scheduled", allocId });
      }
      return;
    }
    const { context } = this.#options;
    const placements = allocIds.map((allocId) => {
      const placement = this.#options.placements.get(allocId);
      assert(placement !== undefined, "every scheduled alloc has a placement");
      return placement;
    });
    const events = await commitPlacements(placements, {
      commit: (command) => commitOrLose(context, command),
      atMs: context.nowMs(),
      deployId: this.#options.deployId,
      atomic: this.#machine.atomic,
    });
    for (const event of events) this.#feed(event);
  }

  async #pull(nodeId: string, image: string): Promise<void> {
    const runtime = this.#options.context.runtime(nodeId);
    try {
      const result = await runtime.pull(
        { image },
        this.#signal(PULL_TIMEOUT_MS),
      );
      this.#feed({ type: "pulled", nodeId, image, cached: result.cached });
    } catch (error) {
      this.#feed({
        type: "pullFailed",
        nodeId,
        image,
        reason: errorText(error),
      });
    }
  }

  async #start(allocId: string): Promise<void> {
    const { context } = this.#options;
    const alloc = this.#alloc(allocId);
    const workload = alloc === undefined
      ? undefined
      : this.#options.workloadOf(alloc);
    if (alloc === undefined || workload === undefined) {
      this.#failStart(allocId, "the alloc or its workload is gone", false);
      return;
    }
    const starting = await commitOrLose(context, {
      type: "AllocStatus",
      allocId,
      status: "starting",
      atMs: context.nowMs(),
    });
    if (!starting.ok) {
      this.#failStart(allocId, starting.rejection.message, false);
      return;
    }
    let request;
    try {
      request = startRequestOf(
        alloc,
        workload,
        await secretValuesOf(workload, context),
        (name) => {
          const volume = context.state().volumes.get(name);
          return volume === undefined || volume.nodeId !== alloc.nodeId
            ? null
            : context.volumeSteps?.()?.devicePath(volume) ?? null;
        },
      );
    } catch (error) {
      // Nothing was asked of the node: there is nothing to clean up there.
      this.#failStart(allocId, `start failed: ${errorText(error)}`, false);
      return;
    }
    let slots = this.#startSlots.get(alloc.nodeId);
    if (slots === undefined) {
      slots = new Slots(STARTS_PER_NODE_MAX);
      this.#startSlots.set(alloc.nodeId, slots);
    }
    try {
      await slots.run(() =>
        context.runtime(alloc.nodeId).start(
          request,
          this.#signal(START_TIMEOUT_MS),
        )
      );
    } catch (error) {
      // It may be half-created on the node: stop it to clean up.
      this.#failStart(allocId, `start failed: ${errorText(error)}`, true);
      return;
    }
    const node = context.state().nodes.get(alloc.nodeId);
    const host = node?.address ?? context.probeHost(alloc.nodeId);
    const running = await commitOrLose(context, {
      type: "AllocRunning",
      allocId,
      address: alloc.hostPort === null ? host : `${host}:${alloc.hostPort}`,
      atMs: context.nowMs(),
    });
    if (!running.ok) {
      this.#failStart(allocId, running.rejection.message, true);
      return;
    }
    this.#feed({ type: "started", allocId });
    this.#watchHealth(alloc, workload);
  }

  #failStart(allocId: string, reason: string, started: boolean): void {
    this.#spawn(async () => {
      const logLines = started ? await this.#lastLogLines(allocId) : [];
      this.#feed({ type: "allocFailed", allocId, reason, started, logLines });
    });
  }

  #watchHealth(alloc: Alloc, workload: ServiceConfig | TaskConfig): void {
    const health = workload.kind === "service" ? workload.health : undefined;
    if (health === undefined || alloc.hostPort === null) {
      // No health check: running is healthy (the node reports exits).
      this.#spawn(() => this.#commitHealthy(alloc.id));
      return;
    }
    const target = probeTarget(
      health,
      this.#options.context.probeHost(alloc.nodeId),
      alloc.hostPort,
    );
    let lastDetail = "";
    const monitor = new HealthMonitor({
      config: health,
      target,
      // Progress while it is not healthy yet: each new probe result, once.
      onProbe: (result) => {
        if (result.ok || result.detail === lastDetail) return;
        lastDetail = result.detail;
        this.#options.onPhase({
          service: alloc.workload,
          allocId: alloc.id,
          nodeId: alloc.nodeId,
          phase: "checking",
          message: result.detail,
        });
      },
      onTransition: (transition) => {
        if (transition.to === "healthy") {
          this.#monitors.delete(alloc.id);
          void monitor.stop();
          this.#spawn(() => this.#commitHealthy(alloc.id));
        } else if (transition.to === "failed") {
          this.#monitors.delete(alloc.id);
          this.#failStart(alloc.id, transition.reason, true);
        }
      },
    });
    this.#monitors.set(alloc.id, monitor);
  }

  async #commitHealthy(allocId: string): Promise<void> {
    const { context } = this.#options;
    const healthy = await commitOrLose(context, {
      type: "AllocStatus",
      allocId,
      status: "healthy",
      atMs: context.nowMs(),
    });
    // The leader's health duty may have recorded it first: healthy all the same.
    if (healthy.ok || this.#alloc(allocId)?.status === "healthy") {
      this.#feed({ type: "healthy", allocId });
    } else this.#failStart(allocId, healthy.rejection.message, true);
  }

  async #lastLogLines(allocId: string): Promise<string[]> {
    const alloc = this.#alloc(allocId);
    if (alloc === undefined) return [];
    try {
      const result = await this.#options.context.runtime(alloc.nodeId).logs(
        { allocId, tailLines: FAILED_LOG_LINES_MAX },
        AbortSignal.timeout(LOGS_TIMEOUT_MS),
      );
      return result.lines.map((line) => line.line);
    } catch (error) {
      // The failure is reported without its logs; say why in the node's log.
      this.#options.context.log?.(
        "warn",
        `logs of ${allocId}: ${errorText(error)}`,
      );
      return [];
    }
  }

  async #stop(action: Extract<MachineAction, { type: "stop" }>): Promise<void> {
    const monitor = this.#monitors.get(action.allocId);
    if (monitor !== undefined) {
      this.#monitors.delete(action.allocId);
      await monitor.stop();
    }
    await stopAlloc(this.#options.context, action.allocId, {
      started: action.started,
      finalStatus: action.finalStatus,
      reason: action.reason,
      workloadOf: this.#options.workloadOf,
    });
    this.#feed({ type: "stopped", allocId: action.allocId });
  }
}

/** A counting semaphore: at most `max` bodies run at once, the rest wait in order. */
class Slots {
  readonly #max: number;
  #used = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(max: number) {
    assert(max >= 1, "at least one slot");
    this.#max = max;
  }

  async run<T>(body: () => Promise<T>): Promise<T> {
    if (this.#used >= this.#max) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#used++;
    }
    try {
      return await body();
    } finally {
      const next = this.#waiting.shift();
      // The slot passes straight to the next waiter, or is freed.
      if (next !== undefined) next();
      else this.#used--;
    }
  }
}

/**
 * How long a serving alloc keeps running once it is out of service, before
 * its stop signal: the time the entry takes to reach every node's proxy.
 */
export const SERVING_DRAIN_MS = 500;

/**
 * Takes an alloc out of service and stops it: `AllocStopRequested` (out of
 * DNS and the proxy at once), a short drain while a serving alloc leaves
 * every node's route table, the node's stop (signal, grace, SIGKILL),
 * then its final status. Refusals (already terminal: the node's heartbeat
 * got there first) are fine; a node that cannot be reached is logged, the
 * alloc marked anyway (the node stops it when it comes back: `allocsToStop`).
 */
export async function stopAlloc(
  context: DeployContext,
  allocId: string,
  options: {
    readonly started: boolean;
    readonly finalStatus: "stopped" | "failed";
    readonly reason: string;
    readonly workloadOf: (
      alloc: Alloc,
    ) => ServiceConfig | TaskConfig | undefined;
  },
): Promise<void> {
  const alloc = context.state().allocs.get(allocId);
  if (alloc === undefined) return;
  const serving = alloc.kind === "service" && alloc.status === "healthy" &&
    !alloc.stopRequested;
  await commitOrLose(context, {
    type: "AllocStopRequested",
    allocId,
    reason: options.reason,
    atMs: context.nowMs(),
  });
  // Every node's proxy drops it from its table once the entry reaches it;
  // a request sent its way in between still finds it answering.
  if (serving && options.started) {
    await new Promise((resolve) => setTimeout(resolve, SERVING_DRAIN_MS));
  }
  if (options.started) {
    const workload = options.workloadOf(alloc);
    const gracePeriodMs = workload?.stopGracePeriodMs ?? 10_000;
    try {
      await context.runtime(alloc.nodeId).stop(
        {
          allocId,
          signal: workload?.stopSignal ?? "SIGTERM",
          gracePeriodMs,
        },
        AbortSignal.timeout(gracePeriodMs + STOP_TIMEOUT_MARGIN_MS),
      );
    } catch (error) {
      context.log?.(
        "warn",
        `stop of ${allocId} on ${alloc.nodeId}: ${errorText(error)}`,
      );
    }
  }
  await commitOrLose(context, {
    type: "AllocStatus",
    allocId,
    status: options.finalStatus,
    message: options.reason,
    atMs: context.nowMs(),
  });
}

/** An error's message for people (codes kept when the error has one). */
export function errorText(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === "string"
      ? `${error.message} (${code})`
      : error.message;
  }
  return String(error);
}
