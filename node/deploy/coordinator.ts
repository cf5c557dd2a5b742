/**
 * The deploy coordinator: the leader's side of seed 002. `deploy` checks,
 * diffs, schedules and commits, then hands the rollout to the machine
 * shell (`_rollout.ts`) and finishes the deploy record; the rest of the
 * `Coordinator` (tasks, repairs, recovery, HTTP) builds on the same parts.
 */
import type {
  ClusterConfig,
  ServiceConfig,
  TaskConfig,
} from "../../config/types.ts";
import {
  type Alloc,
  type ClusterState,
  EMPTY_CONFIG,
  healthyEndpoints,
  type Rejection,
  routeTargets,
  runningDeploy,
} from "../../raft/fsm/mod.ts";
import { schedule, type ScheduleRequest } from "../scheduler/mod.ts";
import { runPlanVolumeSteps } from "./plan_volume_steps.ts";
import { assert } from "./_assert.ts";
import {
  CommitLost,
  commitOrLose,
  errorText,
  type PhaseReport,
  Rollout,
  runRollout,
  stopAlloc,
} from "./_rollout.ts";
import { deployInput, repairInput } from "./_plan_input.ts";
import type {
  Coordinator,
  DeployContext,
  DeployOutcome,
  TaskOutcome,
} from "./context.ts";
import { DeployError } from "./errors.ts";
import { prepareDeploy } from "./prepare.ts";
import { commitDeploy } from "./_commit_deploy.ts";
import type { DeployEvent, DnsEntry, TaskEvent } from "./events.ts";
import { DeployMachine } from "./machine.ts";
import { planRecovery } from "./recover.ts";
import {
  handleCancelRequest,
  handleDeployRequest,
  handleTaskRequest,
} from "./http.ts";
import { runTask } from "./task.ts";
import { type DrainEvent, type DrainOutcome, runDrain } from "./drain.ts";

/** The coordinator the agent runs on the leader. */
export function createCoordinator(context: DeployContext): Coordinator {
  return new DeployCoordinator(context);
}

type Emit = (event: DeployEvent) => void;

/** The first follow-up of a repair that left services short, then doubling. */
export const REPAIR_RETRY_FIRST_MS = 2_000;
const REPAIR_RETRY_MAX_MS = 60_000;
/** Follow-ups in a row before the leader gives up (a start that always fails). */
const REPAIR_RETRIES_MAX = 10;

class DeployCoordinator implements Coordinator {
  readonly #context: DeployContext;
  readonly #running = new Set<Promise<unknown>>();
  readonly #closing = new AbortController();
  #retry: ReturnType<typeof setTimeout> | undefined;
  #retryMs = REPAIR_RETRY_FIRST_MS;
  #retries = 0;
  /** The deploy whose rollout runs now, for `cancel`. */
  #current: { readonly deployId: string; readonly rollout: Rollout } | null =
    null;

  constructor(context: DeployContext) {
    this.#context = context;
  }

  deploy(
    config: ClusterConfig,
    onEvent: Emit,
    signal?: AbortSignal,
    note = "deployed",
  ): Promise<DeployOutcome> {
    return this.#track(
      this.#deploy(config, detachable(onEvent, signal), note),
    );
  }

  spawnTask(
    name: string,
    onEvent: (event: TaskEvent) => void,
    signal?: AbortSignal,
  ): Promise<TaskOutcome> {
    const stop = signal === undefined
      ? this.#closing.signal
      : AbortSignal.any([signal, this.#closing.signal]);
    return this.#track(runTask(this.#context, name, onEvent, stop));
  }

  get managesVolumes(): boolean {
    return (this.#context.volumeSteps?.() ?? null) !== null;
  }

  drainNode(
    nodeId: string,
    onEvent: (event: DrainEvent) => void,
  ): Promise<DrainOutcome> {
    if (this.#current !== null || runningDeploy(this.#context.state())) {
      return Promise.reject(
        new DeployError(
          "deploy.in_progress",
          "A deploy is running; drain the node once it has finished",
        ),
      );
    }
    return this.#track(
      runDrain(
        this.#context,
        nodeId,
        workloadLookup(this.#context, EMPTY_CONFIG),
        onEvent,
      ),
    );
  }

  replaceFailedNode(nodeId: string): Promise<void> {
    return this.#track(
      this.#repair({ type: "node-failure", nodeId, idPrefix: "" }),
    );
  }

  cancelDeploy(deployId: string | null, reason: string): string | null {
    const current = this.#current;
    if (current === null) return null;
    if (deployId !== null && deployId !== current.deployId) return null;
    current.rollout.cancel(reason);
    return current.deployId;
  }

  recoverInFlight(): Promise<void> {
    return this.#track(this.#recover());
  }

  handleDeploy(request: Request): Promise<Response> {
    return handleDeployRequest(this, this.#context, request);
  }

  handleCancel(request: Request): Promise<Response> {
    return handleCancelRequest(this, this.#context, request);
  }

  handleTask(request: Request): Promise<Response> {
    return handleTaskRequest(this, request);
  }

  /** The follow-ups start over from the first delay. */
  #repairsWhole(): void {
    this.#retryMs = REPAIR_RETRY_FIRST_MS;
    this.#retries = 0;
  }

  async close(): Promise<void> {
    this.#closing.abort();
    clearTimeout(this.#retry);
    await Promise.allSettled([...this.#running]);
  }

  /**
   * A repair that gave up on some allocs (a node that died under it, a
   * start that failed) leaves services short: another repair follows, later
   * each time (REPAIR_RETRY_FIRST_MS doubling to REPAIR_RETRY_MAX_MS), until
   * one places nothing or finishes clean, at most REPAIR_RETRIES_MAX in a
   * row (the next node failure or deploy starts over).
   */
  #repairAgain(): void {
    if (this.#closing.signal.aborted || this.#retry !== undefined) return;
    if (++this.#retries > REPAIR_RETRIES_MAX) {
      this.#context.log?.(
        "error",
        `repair: services are still short after ${REPAIR_RETRIES_MAX} repairs in a row; giving up until the next node failure or deploy`,
      );
      this.#repairsWhole();
      return;
    }
    const delayMs = this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, REPAIR_RETRY_MAX_MS);
    this.#context.log?.(
      "info",
      `repair: services are still short; another repair in ${delayMs / 1000} s`,
    );
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (this.#closing.signal.aborted) return;
      void this.#track(this.#repair({ type: "repair", idPrefix: "" }));
    }, delayMs);
  }

  #track<T>(promise: Promise<T>): Promise<T> {
    this.#running.add(promise);
    const remove = () => this.#running.delete(promise);
    promise.then(remove, remove);
    return promise;
  }

  async #deploy(
    config: ClusterConfig,
    emit: Emit,
    note: string,
  ): Promise<DeployOutcome> {
    const context = this.#context;
    const startedAtMs = context.nowMs();
    const before = context.state();
    const hadServices = Object.keys(before.config.services).length > 0;
    const elapsed = () => Math.max(0, context.nowMs() - startedAtMs);
    const refuse = (
      error: DeployError,
      deployId: string | null,
    ): DeployOutcome => {
      emit({
        type: "failed",
        deployId,
        code: error.code,
        service: null,
        reason: error.message,
        logLines: [],
        previousServing: hadServices,
        elapsedMs: elapsed(),
      });
      return {
        ok: false,
        deployId,
        code: error.code,
        message: error.message,
        elapsedMs: elapsed(),
      };
    };
    const prepared = prepareDeploy(
      before,
      config,
      context.newId(),
      (context.volumeSteps?.() ?? null) !== null,
    );
    if (prepared instanceof DeployError) return refuse(prepared, null);
    const { deployId, diff, plan } = prepared;
    try {
      // The Deploy and wave 1 in one Raft entry (see _commit_deploy.ts).
      const { result: committed, withDeploy } = await commitDeploy(
        plan,
        { type: "Deploy", deployId, config, atMs: context.nowMs() },
        (command) => commitOrLose(context, command),
      );
      if (!committed.ok) {
        return refuse(deployRefused(committed.rejection), null);
      }
      emit({
        type: "start",
        deployId,
        added: diff.services.added,
        changed: diff.services.changed.map((c) => c.name),
        removed: diff.services.removed,
        unchanged: diff.services.unchanged,
        tasks: {
          added: diff.tasks.added,
          changed: diff.tasks.changed.map((c) => c.name),
          removed: diff.tasks.removed,
        },
        elapsedMs: elapsed(),
      });
      for (const name of diff.services.unchanged) {
        emit({
          type: "phase",
          service: name,
          allocId: null,
          node: null,
          phase: "unchanged",
          message: "",
          elapsedMs: elapsed(),
        });
      }
      // Volumes first: the placements that need one are refused without it.
      let created: string[] = [];
      try {
        created = await runPlanVolumeSteps(context, plan, config, {
          signal: this.#closing.signal,
          emit: (event) => emit({ ...event, elapsedMs: elapsed() }),
        });
      } catch (error) {
        if (error instanceof CommitLost) throw error;
        const reason = `volume: ${errorText(error)}`;
        await finishDeploy(context, deployId, "rolled_back", reason);
        await context.volumeSteps?.()?.discardCreated(
          (error as { created?: string[] }).created ?? [],
        );
        emit({
          type: "failed",
          deployId,
          code: "deploy.volume_failed",
          service: null,
          reason,
          logLines: [],
          previousServing: hadServices,
          elapsedMs: elapsed(),
        });
        return {
          ok: false,
          deployId,
          code: "deploy.volume_failed",
          message: reason,
          elapsedMs: elapsed(),
        };
      }
      const workloadOf = workloadLookup(context, before.config);
      const { input, placements } = deployInput(before, plan);
      const rollout = new Rollout(new DeployMachine(input), {
        context,
        placements,
        deployId,
        workloadOf,
        onPhase: (report) => emit(this.#phaseEvent(report, elapsed())),
        committedWithDeploy: withDeploy,
      });
      this.#current = { deployId, rollout };
      const result = await rollout.run().finally(() => {
        this.#current = null;
      });
      if (result.kind === "lost") throw result.error;
      if (result.outcome === "succeeded") {
        await finishDeploy(context, deployId, "succeeded", note);
        emit(routesEvent(context.state(), elapsed()));
        const elapsedMs = elapsed();
        emit({ type: "done", deployId, elapsedMs });
        return { ok: true, deployId, elapsedMs };
      }
      const failure = result.failures[0];
      assert(failure !== undefined, "a rollback has a failure");
      const cancelled = result.outcome === "cancelled";
      const message = cancelled
        ? failure.reason
        : `${failure.service}: ${failure.reason}`;
      await finishDeploy(context, deployId, result.outcome, message);
      // Volumes this deploy made hold nothing the cluster kept: they go.
      await context.volumeSteps?.()?.discardCreated(created);
      if (result.stoppedOld.length > 0) {
        // The old config is back: its services get the replicas the roll
        // had already stopped.
        await this.#repair(
          { type: "repair", idPrefix: "" },
          (report) => emit(this.#phaseEvent(report, elapsed())),
        );
      }
      const code = cancelled ? "deploy.cancelled" : "deploy.failed";
      emit({
        type: "failed",
        deployId,
        code,
        service: cancelled ? null : failure.service,
        reason: failure.reason,
        logLines: failure.logLines,
        previousServing: hadServices,
        elapsedMs: elapsed(),
      });
      return { ok: false, deployId, code, message, elapsedMs: elapsed() };
    } catch (error) {
      if (!(error instanceof CommitLost)) throw error;
      return refuse(
        new DeployError(
          "deploy.leadership_lost",
          "This node stopped being the leader mid-deploy; the new leader finishes or rolls it back",
          { cause: error },
        ),
        deployId,
      );
    }
  }

  #phaseEvent(report: PhaseReport, elapsedMs: number): DeployEvent {
    const node = report.nodeId === null
      ? undefined
      : this.#context.state().nodes.get(report.nodeId);
    return {
      type: "phase",
      service: report.service,
      allocId: report.allocId,
      node: node?.name ?? report.nodeId,
      phase: report.phase,
      message: report.message,
      elapsedMs,
    };
  }

  /** A plan outside any deploy (node failure, repair): placed, rolled, not atomic. */
  async #repair(
    request: ScheduleRequest,
    onPhase: (report: PhaseReport) => void = (report) =>
      this.#context.log?.(
        "info",
        `repair: ${report.allocId} ${report.phase} ${report.message}`,
      ),
  ): Promise<void> {
    const context = this.#context;
    const state = context.state();
    const plan = schedule(state, { ...request, idPrefix: context.newId() });
    for (const unplaced of plan.unplaced) {
      context.log?.("warn", `repair: ${unplaced.message}`);
    }
    try {
      await runPlanVolumeSteps(context, plan, state.config, {
        signal: this.#closing.signal,
      });
    } catch (error) {
      if (error instanceof CommitLost) throw error;
      context.log?.("warn", `repair: ${errorText(error)}`);
      this.#repairAgain();
      return;
    }
    const { input, placements } = repairInput(plan);
    if (placements.size === 0) {
      this.#repairsWhole();
      return;
    }
    try {
      const result = await runRollout(new DeployMachine(input), {
        context,
        placements,
        deployId: null,
        workloadOf: workloadLookup(context, EMPTY_CONFIG),
        onPhase,
      });
      if (result.kind === "lost") throw result.error;
      if (result.failures.length > 0) this.#repairAgain();
      else this.#repairsWhole();
    } catch (error) {
      if (!(error instanceof CommitLost)) throw error;
      context.log?.("warn", `repair cut short: ${errorText(error)}`);
    }
  }

  async #recover(): Promise<void> {
    const context = this.#context;
    const state = context.state();
    const recovery = planRecovery(state);
    const previous = runningDeploy(state)?.previousConfig ?? EMPTY_CONFIG;
    const workloadOf = workloadLookup(context, previous);
    try {
      await Promise.all(
        recovery.stops.map((stop) =>
          stopAlloc(context, stop.allocId, {
            started: true,
            finalStatus: stop.finalStatus,
            reason: stop.reason,
            workloadOf,
          })
        ),
      );
      if (recovery.deploy !== null) {
        await finishDeploy(
          context,
          recovery.deploy.deployId,
          recovery.deploy.outcome,
          recovery.deploy.message,
        );
      }
    } catch (error) {
      if (!(error instanceof CommitLost)) throw error;
      context.log?.("warn", `recovery cut short: ${errorText(error)}`);
      return;
    }
    if (recovery.repair) await this.#repair({ type: "repair", idPrefix: "" });
  }
}

/** The workload an alloc runs: the current config first, then `fallback`. */
function workloadLookup(
  context: DeployContext,
  fallback: ClusterConfig,
): (alloc: Alloc) => ServiceConfig | TaskConfig | undefined {
  return (alloc) => {
    const pick = (config: ClusterConfig) =>
      alloc.kind === "service"
        ? Object.hasOwn(config.services, alloc.workload)
          ? config.services[alloc.workload]
          : undefined
        : Object.hasOwn(config.tasks, alloc.workload)
        ? config.tasks[alloc.workload]
        : undefined;
    return pick(context.state().config) ?? pick(fallback);
  };
}

/** Why the FSM refused a deploy's first entry, as the deploy's error. */
function deployRefused(rejection: Rejection): DeployError {
  if (rejection.code === "deploy.in_progress") {
    return new DeployError("deploy.in_progress", rejection.message);
  }
  if (rejection.allocId !== undefined) {
    // Its first wave no longer fits (the room went elsewhere since the plan).
    return new DeployError(
      "deploy.unplaced",
      `Cannot place every replica; nothing was started: ${rejection.message}`,
    );
  }
  return new DeployError("deploy.rejected", rejection.message);
}

async function finishDeploy(
  context: DeployContext,
  deployId: string,
  outcome: "succeeded" | "rolled_back" | "cancelled",
  message: string,
): Promise<void> {
  const result = await commitOrLose(context, {
    type: "DeployFinished",
    deployId,
    outcome,
    message: message.slice(0, 1000),
    atMs: context.nowMs(),
  });
  if (!result.ok) {
    context.log?.(
      "warn",
      `DeployFinished(${deployId}) refused: ${result.rejection.message}`,
    );
  }
}

/** The routes and DNS entries after a deploy, for the proxy and DNS. */
export function routesEvent(
  state: ClusterState,
  elapsedMs: number,
): DeployEvent {
  const dns: DnsEntry[] = [];
  for (const [service, endpoints] of healthyEndpoints(state)) {
    dns.push({ name: `${service}.mill`, endpoints });
  }
  return { type: "routes", routes: routeTargets(state), dns, elapsedMs };
}

/** Events stop reaching the caller once `signal` aborts; the deploy runs on. */
function detachable(onEvent: Emit, signal: AbortSignal | undefined): Emit {
  return (event) => {
    if (signal?.aborted) return;
    onEvent(event);
  };
}
