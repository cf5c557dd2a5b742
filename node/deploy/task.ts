/**
 * `mill spawn`: one alloc of a task of the current config, placed, pulled
 * and started like a deploy's, its output streamed and its exit code
 * reported. A task is never restarted; once it exits its container is
 * removed and its alloc ends `stopped` (exit 0) or `failed`.
 */
import type { TaskConfig } from "../../config/types.ts";
import type { AllocStatus } from "../../raft/fsm/mod.ts";
import { placementCommand, placementsOf, schedule } from "../scheduler/mod.ts";
import { checkSecretRefs, MissingSecretsError } from "../secrets/mod.ts";
import type { ExitCause } from "../restart/mod.ts";
import { LOG_LINES_MAX, type SecondaryRuntime } from "../rpc/mod.ts";
import {
  CommitLost,
  commitOrLose,
  errorText,
  PULL_TIMEOUT_MS,
  START_TIMEOUT_MS,
  STOP_TIMEOUT_MARGIN_MS,
} from "./_rollout.ts";
import {
  describeExit,
  exitCodeOf,
  secretValuesOf,
  startRequestOf,
} from "./_start_request.ts";
import type { DeployContext, TaskOutcome } from "./context.ts";
import type { TaskEvent } from "./events.ts";
import { sleepUnlessAborted } from "../sleep.ts";

/** How often a running task's output and status are fetched. */
export const TASK_POLL_MS = 100;
/** Longest a task is watched without a timeout of its own. */
export const TASK_WATCH_MS_MAX = 24 * 3_600_000;
/** Longest one status or logs call may take. */
const TASK_CALL_TIMEOUT_MS = 10_000;

/** Runs task `name` once; see the module comment. */
export async function runTask(
  context: DeployContext,
  name: string,
  onEvent: (event: TaskEvent) => void,
  signal: AbortSignal,
): Promise<TaskOutcome> {
  const startedAtMs = context.nowMs();
  const elapsed = () => Math.max(0, context.nowMs() - startedAtMs);
  const fail = (
    code: string,
    message: string,
    allocId: string | null = null,
  ): TaskOutcome => {
    onEvent({ type: "failed", code, message, elapsedMs: elapsed() });
    return { allocId, exitCode: null, code, message };
  };
  const state = context.state();
  const task = Object.hasOwn(state.config.tasks, name)
    ? state.config.tasks[name]
    : undefined;
  if (task === undefined) {
    return fail(
      "task.unknown",
      `No task "${name}" in the deployed config; deploy a config that defines it first`,
    );
  }
  try {
    checkSecretRefs(task.env, (secret) => state.secrets.has(secret));
  } catch (error) {
    if (!(error instanceof MissingSecretsError)) throw error;
    return fail("secret.missing", error.message);
  }
  const plan = schedule(state, {
    type: "task",
    task: name,
    idPrefix: context.newId(),
  });
  const placement = placementsOf(plan)[0];
  if (placement === undefined) {
    return fail(
      "task.unplaced",
      plan.unplaced.map((u) => u.message).join("; ") ||
        `${name}: nowhere to place it`,
    );
  }
  const allocId = placement.allocId;
  try {
    const scheduled = await commitOrLose(
      context,
      placementCommand(placement, { atMs: context.nowMs(), deployId: null }),
    );
    if (!scheduled.ok) {
      return fail("task.unplaced", scheduled.rejection.message, allocId);
    }
    const phase = (phase: Extract<TaskEvent, { type: "phase" }>["phase"]) =>
      onEvent({
        type: "phase",
        task: name,
        allocId,
        node: placement.nodeName,
        phase,
        elapsedMs: elapsed(),
      });
    phase("scheduled");
    const runtime = context.runtime(placement.nodeId);
    const end = async (
      status: AllocStatus,
      message: string,
      exitCode?: number,
    ) => {
      await commitOrLose(context, {
        type: "AllocStatus",
        allocId,
        status,
        message,
        ...(exitCode === undefined ? {} : { exitCode }),
        atMs: context.nowMs(),
      });
    };
    phase("pulling");
    try {
      await runtime.pull(
        { image: task.image },
        AbortSignal.any([signal, AbortSignal.timeout(PULL_TIMEOUT_MS)]),
      );
    } catch (error) {
      const message = `pull of "${task.image}" failed: ${errorText(error)}`;
      await end("failed", message);
      return fail("task.failed", message, allocId);
    }
    phase("pulled");
    const starting = await commitOrLose(context, {
      type: "AllocStatus",
      allocId,
      status: "starting",
      atMs: context.nowMs(),
    });
    if (!starting.ok) {
      return fail("task.failed", starting.rejection.message, allocId);
    }
    phase("starting");
    const alloc = context.state().allocs.get(allocId);
    if (alloc === undefined) {
      return fail("task.failed", "The task's alloc is gone", allocId);
    }
    try {
      await runtime.start(
        startRequestOf(alloc, task, await secretValuesOf(task, context)),
        AbortSignal.any([signal, AbortSignal.timeout(START_TIMEOUT_MS)]),
      );
    } catch (error) {
      const message = `start failed: ${errorText(error)}`;
      await removeTask(runtime, allocId, task);
      await end("failed", message);
      return fail("task.failed", message, allocId);
    }
    const node = context.state().nodes.get(placement.nodeId);
    await commitOrLose(context, {
      type: "AllocRunning",
      allocId,
      address: node?.address ?? context.probeHost(placement.nodeId),
      atMs: context.nowMs(),
    });
    phase("running");
    const exit = await followTask(runtime, allocId, {
      signal,
      onLine: (stream, line) => onEvent({ type: "output", stream, line }),
      watchMs: task.timeoutMs === undefined
        ? TASK_WATCH_MS_MAX
        : task.timeoutMs + task.stopGracePeriodMs + STOP_TIMEOUT_MARGIN_MS,
    });
    await removeTask(runtime, allocId, task);
    const exitCode = exit === null ? 143 : exitCodeOf(exit);
    const message = exit === null
      ? "stopped: the caller went away"
      : describeExit(exit);
    await end(exitCode === 0 ? "stopped" : "failed", message, exitCode);
    onEvent({ type: "exit", allocId, exitCode, elapsedMs: elapsed() });
    return { allocId, exitCode, code: null, message };
  } catch (error) {
    if (!(error instanceof CommitLost)) throw error;
    return fail(
      "task.failed",
      "This node stopped being the leader; the new leader fails the task",
      allocId,
    );
  }
}

/**
 * Streams the task's output until it exits; null when `signal` aborted or
 * the watch ran out (the caller then stops it).
 */
async function followTask(
  runtime: SecondaryRuntime,
  allocId: string,
  options: {
    readonly signal: AbortSignal;
    readonly onLine: (stream: "stdout" | "stderr", line: string) => void;
    readonly watchMs: number;
  },
): Promise<ExitCause | null> {
  let afterSeq = 0;
  const drain = async () => {
    const logs = await runtime.logs(
      { allocId, afterSeq, tailLines: LOG_LINES_MAX },
      AbortSignal.timeout(TASK_CALL_TIMEOUT_MS),
    );
    for (const line of logs.lines) {
      if (line.seq <= afterSeq) continue;
      options.onLine(line.stream, line.line);
      afterSeq = line.seq;
    }
  };
  const polls = Math.ceil(options.watchMs / TASK_POLL_MS);
  for (let poll = 0; poll < polls && !options.signal.aborted; poll++) {
    const status = await runtime.status(
      { allocIds: [allocId] },
      AbortSignal.timeout(TASK_CALL_TIMEOUT_MS),
    );
    const mine = status.allocs.find((a) => a.allocId === allocId);
    await drain();
    if (mine?.state === "exited" || mine?.state === "unknown") {
      // The output readers may trail the exit by a moment.
      await sleepUnlessAborted(TASK_POLL_MS, options.signal);
      await drain();
      return mine.exit ?? { kind: "exited", code: -1 };
    }
    await sleepUnlessAborted(TASK_POLL_MS, options.signal);
  }
  return null;
}

async function removeTask(
  runtime: SecondaryRuntime,
  allocId: string,
  task: TaskConfig,
): Promise<void> {
  await runtime.stop(
    {
      allocId,
      signal: task.stopSignal,
      gracePeriodMs: task.stopGracePeriodMs,
    },
    AbortSignal.timeout(task.stopGracePeriodMs + STOP_TIMEOUT_MARGIN_MS),
  ).catch(() => {
    // The node may be gone; its containers are stopped when it returns.
  });
}
