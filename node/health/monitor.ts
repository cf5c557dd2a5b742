/**
 * The shell that drives one alloc's health checks: sleeps until the tracker's
 * next wake-up, runs the probe, feeds the result back and reports status
 * changes. One monitor per alloc; it ends when the alloc fails its deadline
 * or when `stop()` is called, and leaves no timer or connection behind.
 */
import type { HealthConfig } from "../../config/types.ts";
import { type ProbeTarget, runProbe } from "./probe.ts";
import {
  checkDeadline,
  type HealthState,
  type HealthStep,
  type HealthTransition,
  nextWakeAtMs,
  type ProbeResult,
  recordProbe,
  startHealth,
} from "./tracker.ts";

export interface HealthMonitorOptions {
  readonly config: HealthConfig;
  readonly target: ProbeTarget;
  /** Called on every status change, in order. Must not throw. */
  readonly onTransition: (
    transition: HealthTransition,
    state: HealthState,
  ) => void;
  /**
   * Called after every probe with its result (`ok`, `answered`, `detail`:
   * `GET http://10.0.0.2:8080/h → HTTP 404`, …), before the status change it
   * causes, if any; for progress while an alloc is not healthy yet. Must not
   * throw.
   */
  readonly onProbe?: (result: ProbeResult, state: HealthState) => void;
  /** The clock; `Date.now` unless a test passes its own. */
  readonly nowMs?: () => number;
}

/** Runs health checks for one alloc until it fails or is stopped. */
export class HealthMonitor {
  readonly #options: HealthMonitorOptions;
  readonly #nowMs: () => number;
  readonly #stop = new AbortController();
  #state: HealthState;
  readonly #done: Promise<HealthState>;

  /** Starts checking at once: the first probe runs now. */
  constructor(options: HealthMonitorOptions) {
    this.#options = options;
    this.#nowMs = options.nowMs ?? Date.now;
    this.#state = startHealth(options.config, this.#nowMs());
    this.#done = this.#run();
  }

  /** The latest state. */
  get state(): HealthState {
    return this.#state;
  }

  /** Settles with the final state when the alloc failed or the monitor stopped. */
  get done(): Promise<HealthState> {
    return this.#done;
  }

  /** Stops checking (aborting a probe in flight) and waits for the loop to end. */
  async stop(): Promise<HealthState> {
    this.#stop.abort();
    return await this.#done;
  }

  async #run(): Promise<HealthState> {
    const signal = this.#stop.signal;
    const { config, target } = this.#options;
    // Ends when the alloc fails (no more wake-ups) or on stop().
    while (!signal.aborted) {
      const wakeAtMs = nextWakeAtMs(this.#state, config);
      if (wakeAtMs === null) break;
      if (!await sleepUntil(wakeAtMs, this.#nowMs, signal)) break;
      this.#apply(checkDeadline(this.#state, config, this.#nowMs()));
      const dueAtMs = this.#state.nextProbeAtMs;
      if (dueAtMs === null || this.#nowMs() < dueAtMs) continue;
      let result;
      try {
        result = await runProbe(target, {
          timeoutMs: config.timeoutMs,
          signal,
          nowMs: this.#nowMs,
        });
      } catch (err) {
        if (signal.aborted) break;
        throw err;
      }
      const step = recordProbe(this.#state, config, result);
      this.#options.onProbe?.(result, step.state);
      this.#apply(step);
    }
    return this.#state;
  }

  #apply(step: HealthStep): void {
    this.#state = step.state;
    if (step.transition !== null) {
      this.#options.onTransition(step.transition, step.state);
    }
  }
}

/** Resolves true at `atMs`, or false as soon as `signal` aborts. */
function sleepUntil(
  atMs: number,
  nowMs: () => number,
  signal: AbortSignal,
): Promise<boolean> {
  const waitMs = Math.max(0, atMs - nowMs());
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, waitMs);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
