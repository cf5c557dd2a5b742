/**
 * What the containerd-backed runtime (runtime.ts) keeps of each alloc, and
 * the pure pieces of its answers: the log lines a `logs` call picks and the
 * metrics of the running allocs.
 */
import type {
  ContainerMetrics,
  ContainerRunner,
  LogEntry,
} from "../../containerd/mod.ts";
import {
  type ExitCause,
  RESTART_STATE_INITIAL,
  type RestartState,
} from "../restart/mod.ts";
import type {
  AllocMetrics,
  AllocRuntimeStatus,
  LogLine,
  LogsRequest,
  StartRequest,
} from "../rpc/mod.ts";
import { containerIdOf } from "./exits.ts";

export interface Tracked {
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

/** A newly tracked alloc: `starting` for a start, `running` when re-attached. */
export function newTracked(
  request: StartRequest,
  state: "starting" | "running",
  startedAtMs: number | null,
): Tracked {
  return {
    request,
    containerId: containerIdOf(request.allocId),
    state,
    startedAtMs,
    exit: null,
    restart: RESTART_STATE_INITIAL,
    stopping: false,
    restartTimer: undefined,
    restarting: undefined,
    earlyExit: null,
  };
}

/**
 * The lines a `logs` call asks for. Sequence numbers count from the oldest
 * line still held (a ring keeps its last lines; older ones are gone).
 */
export function pickLogLines(
  entries: readonly LogEntry[],
  request: Pick<LogsRequest, "afterSeq" | "tailLines">,
): { lines: LogLine[]; lastSeq: number } {
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
  return { lines: picked, lastSeq: entries.length };
}

/** containerd's metrics of containers as the allocs' (by container id). */
export function allocMetricsOf(
  metrics: readonly ContainerMetrics[],
  byContainer: ReadonlyMap<string, string>,
): AllocMetrics[] {
  return metrics.flatMap((m) => {
    const allocId = byContainer.get(m.containerId);
    if (allocId === undefined) return [];
    return [{
      allocId,
      cpuUsageNs: Math.round(m.cpuUsageNs),
      memoryUsageBytes: m.memoryUsageBytes,
      memoryLimitBytes: m.memoryLimitBytes,
      pids: m.pids,
    }];
  });
}

/** Kills a task that runs past its `timeoutMs` (the exit is then reported). */
export function armTaskTimeout(
  tracked: Tracked,
  timeoutMs: number,
  runner: Pick<ContainerRunner, "stop">,
  log: (message: string) => void,
): void {
  const timer = setTimeout(() => {
    if (tracked.state !== "running" || tracked.stopping) return;
    log(
      `task alloc ${tracked.request.allocId} timed out after ${timeoutMs} ms`,
    );
    void runner.stop(tracked.containerId, {
      signal: "SIGKILL",
      gracePeriodMs: 0,
    }).catch((error) => log(`cannot kill timed-out task: ${error}`));
  }, timeoutMs);
  Deno.unrefTimer(timer);
}
