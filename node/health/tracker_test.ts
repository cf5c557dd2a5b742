import { deepStrictEqual as assertEquals } from "node:assert/strict";
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

function probe(
  state: HealthState,
  ok: boolean,
  startedAtMs: number,
  tookMs = 10,
) {
  return recordProbe(state, CONFIG, {
    ok,
    startedAtMs,
    finishedAtMs: startedAtMs + tookMs,
    ...(ok ? {} : { reason: "HTTP 503" }),
  });
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
    "3 consecutive failing checks, last: HTTP 503",
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
    reason: "not healthy within 10000 ms, last: HTTP 503",
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
  const state = recordProbe(startHealth(config, 0), config, {
    ok: false,
    startedAtMs: 0,
    finishedAtMs: 10,
  }).state;
  assertEquals(nextWakeAtMs(state, config), 5_000);
});

Deno.test("recordProbe() keeps its invariants over random probe sequences (property)", () => {
  const seed = Number(Deno.env.get("MILL_SEED") ?? Date.now() % 1_000_000);
  const step = fc.record({
    ok: fc.boolean(),
    gapMs: fc.integer({ min: 0, max: 3_000 }),
    tookMs: fc.integer({ min: 0, max: 2_000 }),
  });
  try {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        let state = startHealth(CONFIG, 0);
        let atMs = 0;
        let passes = 0;
        let everFailed = false;
        for (const { ok, gapMs, tookMs } of steps) {
          atMs += gapMs;
          const before = state.status;
          const next = recordProbe(state, CONFIG, {
            ok,
            startedAtMs: atMs,
            finishedAtMs: atMs + tookMs,
          });
          state = checkDeadline(next.state, CONFIG, atMs + tookMs).state;
          passes = ok ? passes + 1 : 0;
          if (everFailed && state.status !== "failed") return false;
          everFailed ||= state.status === "failed";
          if (
            state.status === "failed" && before !== "starting" &&
            before !== "failed"
          ) return false;
          if (
            before !== "healthy" && state.status === "healthy" &&
            passes < CONFIG.healthyThreshold
          ) return false;
          if (state.passes > 0 && state.failures > 0) return false;
          atMs += tookMs;
        }
        return true;
      }),
      { seed, numRuns: 300 },
    );
  } catch (err) {
    console.error(`reproduce with MILL_SEED=${seed}`);
    throw err;
  }
});
