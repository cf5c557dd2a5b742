/**
 * The pure core of health checking: given an alloc's `HealthConfig` and the
 * results of its probes (timestamps passed in), decides its health status and
 * when the next probe is due. No clock, no I/O; the monitor (monitor.ts) runs
 * the probes and feeds results in.
 *
 * Rules (see node/README.md):
 * - the first probe is due at start, not one interval later;
 * - `starting` becomes `healthy` after `healthyThreshold` consecutive passes;
 *   without a healthy verdict from probes that finished before
 *   `startedAtMs + deadlineMs`, the alloc is `failed` (terminal);
 * - fail fast: once the app has answered a probe (an HTTP response of any
 *   status, a TCP connect), `failureThreshold` consecutive failures of a
 *   starting alloc fail it before its deadline; failures before its first
 *   answer (a slow boot: connection refused) leave only the deadline;
 * - `healthy` becomes `unhealthy` after `unhealthyThreshold` consecutive
 *   failures, and `unhealthy` becomes `healthy` again after
 *   `healthyThreshold` consecutive passes (what to do with an unhealthy alloc
 *   is the restart policy's business);
 * - probes never overlap: the next is due `intervalMs` after the previous one
 *   started, or when it finished if it took longer.
 */
import assert from "node:assert";
import {
  FAILURE_THRESHOLD_DEFAULT,
  type HealthConfig,
} from "../../config/types.ts";

export type HealthStatus = "starting" | "healthy" | "unhealthy" | "failed";

export interface HealthState {
  readonly status: HealthStatus;
  readonly startedAtMs: number;
  /** Consecutive passing probes. */
  readonly passes: number;
  /** Consecutive failing probes. */
  readonly failures: number;
  /** Whether any probe got an answer from the app (an HTTP status, a connect). */
  readonly answered: boolean;
  /** Consecutive failing probes since the app first answered (fail fast). */
  readonly failuresAnswered: number;
  /** Start time of the last probe counted; null before the first. */
  readonly lastProbeAtMs: number | null;
  /** When the next probe is due; null once failed. */
  readonly nextProbeAtMs: number | null;
  /** The last failing probe's detail (`GET … → HTTP 404`), for the CLI's "failed because". */
  readonly lastFailure: string | null;
}

/** One probe's outcome, as the monitor observed it. */
export interface ProbeResult {
  readonly ok: boolean;
  /** The app answered: an HTTP response of any status, or a TCP connect. */
  readonly answered: boolean;
  /**
   * The check and its result: `GET http://10.0.0.2:8080/h → HTTP 404`,
   * `connect 10.0.0.2:5432: connection refused`, `… timed out after 2000 ms`.
   */
  readonly detail: string;
  readonly startedAtMs: number;
  readonly finishedAtMs: number;
  /** Why it failed, without the check (`HTTP 503`, `connection refused`). */
  readonly reason?: string;
}

export interface HealthTransition {
  readonly from: HealthStatus;
  readonly to: HealthStatus;
  readonly atMs: number;
  readonly reason: string;
}

export interface HealthStep {
  readonly state: HealthState;
  /** Set when the status changed. */
  readonly transition: HealthTransition | null;
}

/** Asserts the config's invariants (the config validator guarantees them). */
export function assertHealthConfig(config: HealthConfig): void {
  assert(config.intervalMs > 0, "health interval is positive");
  assert(config.timeoutMs > 0, "health timeout is positive");
  assert(config.deadlineMs > 0, "health deadline is positive");
  assert(
    Number.isInteger(config.healthyThreshold) && config.healthyThreshold >= 1,
    "healthy threshold is a positive integer",
  );
  assert(
    Number.isInteger(config.unhealthyThreshold) &&
      config.unhealthyThreshold >= 1,
    "unhealthy threshold is a positive integer",
  );
  assert(
    Number.isInteger(failureThreshold(config)) && failureThreshold(config) >= 1,
    "failure threshold is a positive integer",
  );
}

/** `config.failureThreshold`, or its default when absent. */
export function failureThreshold(config: HealthConfig): number {
  return config.failureThreshold ?? FAILURE_THRESHOLD_DEFAULT;
}

/** The state of an alloc whose container started at `nowMs`. */
export function startHealth(config: HealthConfig, nowMs: number): HealthState {
  assertHealthConfig(config);
  return {
    status: "starting",
    startedAtMs: nowMs,
    passes: 0,
    failures: 0,
    answered: false,
    failuresAnswered: 0,
    lastProbeAtMs: null,
    nextProbeAtMs: nowMs,
    lastFailure: null,
  };
}

/** The deadline of a starting alloc. */
export function healthDeadlineMs(
  state: HealthState,
  config: HealthConfig,
): number {
  return state.startedAtMs + config.deadlineMs;
}

/**
 * When the monitor must next wake: the next probe, or the deadline if that
 * comes first while starting; null once failed.
 */
export function nextWakeAtMs(
  state: HealthState,
  config: HealthConfig,
): number | null {
  if (state.nextProbeAtMs === null) return null;
  if (state.status !== "starting") return state.nextProbeAtMs;
  return Math.min(state.nextProbeAtMs, healthDeadlineMs(state, config));
}

/** Fails a starting alloc whose deadline has passed at `nowMs`. */
export function checkDeadline(
  state: HealthState,
  config: HealthConfig,
  nowMs: number,
): HealthStep {
  if (state.status !== "starting") return { state, transition: null };
  if (nowMs < healthDeadlineMs(state, config)) {
    return { state, transition: null };
  }
  return fail(state, config, nowMs);
}

/** Counts one probe result. Stale results and results after failure are ignored. */
export function recordProbe(
  state: HealthState,
  config: HealthConfig,
  result: ProbeResult,
): HealthStep {
  assert(
    result.finishedAtMs >= result.startedAtMs,
    "a probe finishes after it starts",
  );
  if (state.status === "failed") return { state, transition: null };
  if (
    state.lastProbeAtMs !== null && result.startedAtMs < state.lastProbeAtMs
  ) {
    return { state, transition: null };
  }
  if (
    state.status === "starting" &&
    result.finishedAtMs >= healthDeadlineMs(state, config)
  ) {
    return fail(
      {
        ...state,
        lastFailure: result.ok ? state.lastFailure : result.detail,
      },
      config,
      result.finishedAtMs,
    );
  }
  const counted = countProbe(state, config, result);
  if (
    counted.status === "starting" &&
    counted.failuresAnswered >= failureThreshold(config)
  ) {
    return failFast(counted, result.finishedAtMs);
  }
  const to = nextStatus(counted, config);
  const next: HealthState = { ...counted, status: to };
  assert(next.passes === 0 || next.failures === 0, "streaks are exclusive");
  if (to === state.status) return { state: next, transition: null };
  return {
    state: next,
    transition: {
      from: state.status,
      to,
      atMs: result.finishedAtMs,
      reason: to === "healthy"
        ? `${next.passes} consecutive passing checks`
        : `${next.failures} consecutive failing checks, last: ${result.detail}`,
    },
  };
}

function countProbe(
  state: HealthState,
  config: HealthConfig,
  result: ProbeResult,
): HealthState {
  const nextProbeAtMs = Math.max(
    result.startedAtMs + config.intervalMs,
    result.finishedAtMs,
  );
  const answered = state.answered || result.answered;
  if (result.ok) {
    return {
      ...state,
      passes: state.passes + 1,
      failures: 0,
      answered,
      failuresAnswered: 0,
      lastProbeAtMs: result.startedAtMs,
      nextProbeAtMs,
    };
  }
  return {
    ...state,
    passes: 0,
    failures: state.failures + 1,
    answered,
    failuresAnswered: answered ? state.failuresAnswered + 1 : 0,
    lastProbeAtMs: result.startedAtMs,
    nextProbeAtMs,
    lastFailure: result.detail,
  };
}

function nextStatus(state: HealthState, config: HealthConfig): HealthStatus {
  switch (state.status) {
    case "starting":
    case "unhealthy":
      return state.passes >= config.healthyThreshold ? "healthy" : state.status;
    case "healthy":
      return state.failures >= config.unhealthyThreshold
        ? "unhealthy"
        : "healthy";
    case "failed":
      return "failed";
    default: {
      const _exhaustive: never = state.status;
      throw new Error(`unknown health status ${String(_exhaustive)}`);
    }
  }
}

function fail(
  state: HealthState,
  config: HealthConfig,
  atMs: number,
): HealthStep {
  const last = state.lastFailure === null ? "" : `, last: ${state.lastFailure}`;
  return {
    state: { ...state, status: "failed", nextProbeAtMs: null },
    transition: {
      from: state.status,
      to: "failed",
      atMs,
      reason: `not healthy within ${config.deadlineMs} ms${last}`,
    },
  };
}

/** Fails a starting alloc whose app answered, then failed the threshold's checks in a row. */
function failFast(state: HealthState, atMs: number): HealthStep {
  return {
    state: { ...state, status: "failed", nextProbeAtMs: null },
    transition: {
      from: state.status,
      to: "failed",
      atMs,
      reason: `${state.failuresAnswered} checks in a row failed, last: ${
        state.lastFailure ?? "check failed"
      }`,
    },
  };
}
