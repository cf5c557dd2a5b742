import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import fc from "fast-check";
import type { HealthConfig } from "../../config/types.ts";
import {
  checkDeadline,
  type HealthState,
  nextWakeAtMs,
  recordProbe,
  startHealth,
} from "./tracker.ts";

const CONFIG: HealthConfig = {
  path: "/health",
  intervalMs: 1_000,
  timeoutMs: 500,
  healthyThreshold: 2,
  unhealthyThreshold: 3,
  deadlineMs: 10_000,
};

const URL = "http://127.0.0.1:20001/health";

/** A probe result: a pass (HTTP 200), `503`/`404` (answered) or `refused`. */
type Outcome = true | false | "503" | "404" | "refused";

function result(outcome: Outcome, startedAtMs: number, tookMs = 10) {
  const ok = outcome === true;
  const answered = outcome !== "refused" && outcome !== false;
  const status = ok ? "200" : outcome === false ? "503" : outcome;
  return {
    ok,
    answered: ok || answered,
    detail: answered || ok
      ? `GET ${URL} → HTTP ${status}`
      : `GET ${URL}: connection refused`,
    startedAtMs,
    finishedAtMs: startedAtMs + tookMs,
  };
}

/**
 * One probe; `false` is a failure before the app answers (connection
 * refused), so it counts toward the deadline only.
 */
function probe(
  state: HealthState,
  ok: Outcome,
  startedAtMs: number,
  tookMs = 10,
  config: HealthConfig = CONFIG,
) {
  const outcome = ok === false ? "refused" : ok;
  return recordProbe(state, config, result(outcome, startedAtMs, tookMs));
}

/** Feeds passes (true) and failures (false), one per interval from `fromMs`. */
function run(state: HealthState, results: boolean[], fromMs: number) {
  const statuses: string[] = [];
  let at = fromMs;
  for (const ok of results) {
    state = probe(state, ok, at).state;
    statuses.push(state.status);
    at += CONFIG.intervalMs;
  }
  return { state, statuses };
}

Deno.test("startHealth() makes the first probe due at start, not an interval later", () => {
  const state = startHealth(CONFIG, 5_000);
  assertEquals(state.status, "starting");
  assertEquals(state.nextProbeAtMs, 5_000);
  assertEquals(nextWakeAtMs(state, CONFIG), 5_000);
});

Deno.test("recordProbe() walks the statuses by the thresholds", async (t) => {
  const rows: [string, boolean[], string[]][] = [
    ["two passes make a starting alloc healthy", [true, true], [
      "starting",
      "healthy",
    ]],
    ["a failure restarts the pass streak", [true, false, true, true], [
      "starting",
      "starting",
      "starting",
      "healthy",
    ]],
    ["failures alone keep it starting", [false, false, false, false], [
      "starting",
      "starting",
      "starting",
      "starting",
    ]],
    ["three failures make a healthy alloc unhealthy", [
      true,
      true,
      false,
      false,
      false,
    ], [
      "starting",
      "healthy",
      "healthy",
      "healthy",
      "unhealthy",
    ]],
    ["a pass breaks the failure streak", [
      true,
      true,
      false,
      false,
      true,
      false,
      false,
    ], [
      "starting",
      "healthy",
      "healthy",
      "healthy",
      "healthy",
      "healthy",
      "healthy",
    ]],
    ["two passes make an unhealthy alloc healthy again", [
      true,
      true,
      false,
      false,
      false,
      true,
      true,
    ], [
      "starting",
      "healthy",
      "healthy",
      "healthy",
      "unhealthy",
      "unhealthy",
      "healthy",
    ]],
  ];
  for (const [name, results, expected] of rows) {
    await t.step(name, () => {
      assertEquals(run(startHealth(CONFIG, 0), results, 0).statuses, expected);
    });
  }
});

Deno.test("recordProbe() reports each transition once with its reason", () => {
  let state = startHealth(CONFIG, 0);
  const first = probe(state, true, 0);
  assertEquals(first.transition, null);
  const second = probe(first.state, true, 1_000);
  assertEquals(second.transition, {
    from: "starting",
    to: "healthy",
    atMs: 1_010,
    reason: "2 consecutive passing checks",
  });
  state = second.state;
  for (const at of [2_000, 3_000]) state = probe(state, false, at).state;
  const third = probe(state, false, 4_000);
  assertEquals(third.transition?.to, "unhealthy");
  assertEquals(
    third.transition?.reason,
    `3 consecutive failing checks, last: GET ${URL}: connection refused`,
  );
});

Deno.test("recordProbe() schedules the next probe an interval after the last started", async (t) => {
  const rows: [string, number, number, number][] = [
    ["a quick probe", 0, 10, 1_000],
    ["a probe slower than the interval", 0, 1_500, 1_500],
    ["a probe that took exactly the interval", 0, 1_000, 1_000],
  ];
  for (const [name, startedAtMs, tookMs, expected] of rows) {
    await t.step(name, () => {
      const next =
        probe(startHealth(CONFIG, 0), false, startedAtMs, tookMs).state;
      assertEquals(next.nextProbeAtMs, expected);
    });
  }
});

Deno.test("checkDeadline() fails a starting alloc at its deadline and names the last failure", () => {
  let state = startHealth(CONFIG, 1_000);
  state = probe(state, false, 1_000).state;
  assertEquals(checkDeadline(state, CONFIG, 10_999).transition, null);
  const step = checkDeadline(state, CONFIG, 11_000);
  assertEquals(step.state.status, "failed");
  assertEquals(step.state.nextProbeAtMs, null);
  assertEquals(step.transition, {
    from: "starting",
    to: "failed",
    atMs: 11_000,
    reason: `not healthy within 10000 ms, last: GET ${URL}: connection refused`,
  });
  assertEquals(nextWakeAtMs(step.state, CONFIG), null);
});

Deno.test("checkDeadline() leaves healthy and unhealthy allocs alone", () => {
  const healthy = run(startHealth(CONFIG, 0), [true, true], 0).state;
  assertEquals(checkDeadline(healthy, CONFIG, 1_000_000).transition, null);
  const unhealthy = run(healthy, [false, false, false], 2_000).state;
  assertEquals(unhealthy.status, "unhealthy");
  assertEquals(
    checkDeadline(unhealthy, CONFIG, 1_000_000).state.status,
    "unhealthy",
  );
});

Deno.test("recordProbe() does not count a pass that finished after the deadline", () => {
  let state = startHealth(CONFIG, 0);
  state = probe(state, true, 8_000).state;
  const late = probe(state, true, 9_900, 200);
  assertEquals(late.state.status, "failed");
  assertEquals(late.transition?.reason, "not healthy within 10000 ms");
});

Deno.test("recordProbe() ignores stale results and anything after failure", () => {
  let state = probe(startHealth(CONFIG, 0), true, 5_000).state;
  assertEquals(probe(state, true, 4_000).state, state);
  state = checkDeadline(state, CONFIG, 10_000).state;
  assertEquals(state.status, "failed");
  assertEquals(probe(state, true, 11_000).state, state);
});

Deno.test("nextWakeAtMs() wakes for the deadline when it comes before the next probe", () => {
  const config = { ...CONFIG, intervalMs: 8_000, deadlineMs: 5_000 };
  const state = recordProbe(
    startHealth(config, 0),
    config,
    result("refused", 0),
  ).state;
  assertEquals(nextWakeAtMs(state, config), 5_000);
});

Deno.test("recordProbe() fails a starting alloc fast once its app has answered", async (t) => {
  const rows: [string, number | undefined, Outcome[], string[]][] = [
    ["three 404s in a row fail it at the third", undefined, [
      "404",
      "404",
      "404",
    ], ["starting", "starting", "failed"]],
    ["connection refused alone is a slow boot, never failed fast", undefined, [
      "refused",
      "refused",
      "refused",
      "refused",
      "refused",
    ], ["starting", "starting", "starting", "starting", "starting"]],
    ["failures before the first answer do not count", undefined, [
      "refused",
      "refused",
      "503",
      "503",
      "503",
    ], ["starting", "starting", "starting", "starting", "failed"]],
    ["a pass breaks the streak", undefined, [
      "404",
      "404",
      true,
      "404",
      "404",
    ], ["starting", "starting", "starting", "starting", "starting"]],
    ["after an answer, refused connections count too", undefined, [
      true,
      "refused",
      "refused",
      "refused",
    ], ["starting", "starting", "starting", "failed"]],
    ["a threshold of 1 fails on the first answered failure", 1, [
      "refused",
      "404",
    ], ["starting", "failed"]],
    ["a threshold of 5 waits for five", 5, [
      "404",
      "404",
      "404",
      "404",
      "404",
    ], ["starting", "starting", "starting", "starting", "failed"]],
    ["a healthy alloc is not failed, it turns unhealthy", undefined, [
      true,
      true,
      "404",
      "404",
      "404",
      "404",
    ], ["starting", "healthy", "healthy", "healthy", "unhealthy", "unhealthy"]],
  ];
  for (const [name, threshold, outcomes, expected] of rows) {
    await t.step(name, () => {
      const config: HealthConfig = threshold === undefined
        ? CONFIG
        : { ...CONFIG, failureThreshold: threshold };
      let state = startHealth(config, 0);
      const statuses: string[] = [];
      outcomes.forEach((outcome, index) => {
        const at = index * CONFIG.intervalMs;
        state = recordProbe(state, config, result(outcome, at)).state;
        statuses.push(state.status);
      });
      assertEquals(statuses, expected);
    });
  }
});

Deno.test("recordProbe() names the check in a fast failure", () => {
  let state = startHealth(CONFIG, 0);
  state = probe(state, "refused", 0).state;
  state = probe(state, "404", 1_000).state;
  state = probe(state, "404", 2_000).state;
  const step = probe(state, "404", 3_000);
  assertEquals(step.transition, {
    from: "starting",
    to: "failed",
    atMs: 3_010,
    reason: `3 checks in a row failed, last: GET ${URL} → HTTP 404`,
  });
  assertEquals(step.state.nextProbeAtMs, null);
  assertEquals(nextWakeAtMs(step.state, CONFIG), null);
});

Deno.test("checkDeadline() names the check of the last failure", () => {
  let state = startHealth(CONFIG, 0);
  state = probe(state, "404", 0).state;
  assertEquals(
    checkDeadline(state, CONFIG, 10_000).transition?.reason,
    `not healthy within 10000 ms, last: GET ${URL} → HTTP 404`,
  );
});

Deno.test("startHealth() refuses a failure threshold that is not a positive integer", async (t) => {
  for (const bad of [0, -1, 1.5]) {
    await t.step(String(bad), () => {
      throws(() => startHealth({ ...CONFIG, failureThreshold: bad }, 0));
    });
  }
});

const OUTCOMES: readonly Outcome[] = [true, "503", "404", "refused"];

Deno.test("recordProbe() keeps its invariants over random probe sequences (property)", () => {
  const seed = Number(Deno.env.get("MILL_SEED") ?? Date.now() % 1_000_000);
  const step = fc.record({
    outcome: fc.constantFrom(...OUTCOMES),
    gapMs: fc.integer({ min: 0, max: 3_000 }),
    tookMs: fc.integer({ min: 0, max: 2_000 }),
  });
  try {
    fc.assert(
      fc.property(
        fc.array(step, { maxLength: 60 }),
        fc.integer({ min: 1, max: 5 }),
        (steps, threshold) => {
          const config = { ...CONFIG, failureThreshold: threshold };
          const deadline = config.deadlineMs;
          let state = startHealth(config, 0);
          let atMs = 0;
          let passes = 0;
          let answered = false;
          /** Failures in a row since the app first answered. */
          let answeredFailures = 0;
          let everFailed = false;
          for (const { outcome, gapMs, tookMs } of steps) {
            atMs += gapMs;
            const before = state.status;
            const probed = result(outcome, atMs, tookMs);
            const next = recordProbe(state, config, probed);
            state = checkDeadline(next.state, config, atMs + tookMs).state;
            passes = probed.ok ? passes + 1 : 0;
            answered ||= probed.answered;
            answeredFailures = probed.ok || !answered
              ? 0
              : answeredFailures + 1;
            if (everFailed && state.status !== "failed") return false;
            const failedNow = before !== "failed" && state.status === "failed";
            everFailed ||= state.status === "failed";
            if (failedNow && before !== "starting") return false;
            // Before the deadline, only an app that answered fails, and only
            // after the threshold's failures in a row since it answered.
            const inTime = atMs + tookMs < deadline;
            if (failedNow && inTime && answeredFailures < threshold) {
              return false;
            }
            if (
              before === "starting" && inTime &&
              answeredFailures >= threshold && state.status !== "failed"
            ) return false;
            if (
              before !== "healthy" && state.status === "healthy" &&
              passes < config.healthyThreshold
            ) return false;
            if (state.passes > 0 && state.failures > 0) return false;
            atMs += tookMs;
          }
          return true;
        },
      ),
      { seed, numRuns: 300 },
    );
  } catch (err) {
    console.error(`reproduce with MILL_SEED=${seed}`);
    throw err;
  }
});
