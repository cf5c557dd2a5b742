/**
 * When to restart a service after its container exits: a pure policy over
 * the exit, the service's `RestartPolicy` and a small per-alloc state. The
 * container runner calls `recordHealthy` / `recordUnhealthy` as health
 * changes and `decideRestart` on each exit, then waits `delayMs` (on its own
 * clock) before starting the container again.
 *
 * Backoff: the first restart after 1 s, then 5 s, 30 s, and 60 s for every
 * restart after that. The streak resets once the alloc has stayed healthy
 * for `resetAfterHealthyMs` (5 minutes by default): a service that crashes
 * once a day restarts after 1 s each time, one that crash-loops settles at
 * one attempt a minute. A service without health checks counts as healthy
 * while its container runs, so the runner calls `recordHealthy` at start.
 *
 * Tasks are never restarted: their exit code is reported and the caller
 * decides.
 */
import assert from "node:assert";
import type { RestartPolicy } from "../../config/types.ts";

/** Delays of the first restarts of a streak; later ones use the cap. */
export const RESTART_BACKOFF_MS: readonly number[] = [1_000, 5_000, 30_000];
/** The longest wait between two restarts. */
export const RESTART_BACKOFF_MS_MAX = 60_000;
/** Healthy time after which the backoff streak starts over. */
export const RESTART_RESET_AFTER_HEALTHY_MS = 5 * 60_000;

/** Why a container stopped running. */
export type ExitCause =
  /** The main process exited by itself with this code. */
  | { readonly kind: "exited"; readonly code: number }
  /** Killed by a signal mill did not send (e.g. `kill -9` from outside). */
  | { readonly kind: "killed"; readonly signal: string }
  /** Killed by the kernel for exceeding its memory ceiling. */
  | { readonly kind: "oom" }
  /** Create or start failed (bad command, missing binary, runtime error). */
  | { readonly kind: "start-failed" }
  /** Killed by mill because it stayed unhealthy. */
  | { readonly kind: "unhealthy" }
  /** Stopped by mill on purpose (deploy, rollback, drain): never restarted. */
  | { readonly kind: "stopped" };

/** Per-alloc memory of the policy. */
export interface RestartState {
  /** Restarts in the current streak. */
  readonly restarts: number;
  /** When the alloc last became healthy, if it still is; else null. */
  readonly healthySinceMs: number | null;
}

export const RESTART_STATE_INITIAL: RestartState = {
  restarts: 0,
  healthySinceMs: null,
};

export type RestartDecision =
  | { readonly restart: true; readonly delayMs: number; readonly atMs: number }
  | {
    readonly restart: false;
    readonly reason: "task" | "policy-never" | "clean-exit" | "stopped";
  };

export interface RestartInput {
  readonly kind: "service" | "task";
  readonly policy: RestartPolicy;
  readonly exit: ExitCause;
  /** When the exit was observed. */
  readonly atMs: number;
}

export interface RestartOptions {
  /** Healthy time that resets the streak; default 5 minutes. */
  readonly resetAfterHealthyMs?: number;
}

/** The wait before restart number `restarts + 1` of a streak. */
export function restartDelayMs(restarts: number): number {
  assert(Number.isInteger(restarts) && restarts >= 0, "restarts is a count");
  return RESTART_BACKOFF_MS[restarts] ?? RESTART_BACKOFF_MS_MAX;
}

/** Notes that the alloc became (or still is) healthy at `atMs`. */
export function recordHealthy(state: RestartState, atMs: number): RestartState {
  if (state.healthySinceMs !== null) return state;
  return { ...state, healthySinceMs: atMs };
}

/** Notes that the alloc is no longer healthy. */
export function recordUnhealthy(state: RestartState): RestartState {
  if (state.healthySinceMs === null) return state;
  return { ...state, healthySinceMs: null };
}

/** Decides whether and when to restart after `input.exit`. */
export function decideRestart(
  state: RestartState,
  input: RestartInput,
  options: RestartOptions = {},
): { readonly decision: RestartDecision; readonly state: RestartState } {
  const resetAfterHealthyMs = options.resetAfterHealthyMs ??
    RESTART_RESET_AFTER_HEALTHY_MS;
  assert(resetAfterHealthyMs > 0, "the reset stretch is positive");
  assert(state.restarts >= 0, "restarts is a count");
  const healthyLongEnough = state.healthySinceMs !== null &&
    input.atMs - state.healthySinceMs >= resetAfterHealthyMs;
  const restarts = healthyLongEnough ? 0 : state.restarts;
  const stopped: RestartState = { restarts, healthySinceMs: null };

  const refusal = restartRefusal(input);
  if (refusal !== null) {
    return { decision: { restart: false, reason: refusal }, state: stopped };
  }
  const delayMs = restartDelayMs(restarts);
  return {
    decision: { restart: true, delayMs, atMs: input.atMs + delayMs },
    state: { restarts: restarts + 1, healthySinceMs: null },
  };
}

function restartRefusal(
  input: RestartInput,
): "task" | "policy-never" | "clean-exit" | "stopped" | null {
  if (input.kind === "task") return "task";
  if (input.exit.kind === "stopped") return "stopped";
  switch (input.policy) {
    case "never":
      return "policy-never";
    case "always":
      return null;
    case "on-failure":
      return input.exit.kind === "exited" && input.exit.code === 0
        ? "clean-exit"
        : null;
    default: {
      const _exhaustive: never = input.policy;
      throw new Error(`unknown restart policy ${String(_exhaustive)}`);
    }
  }
}
