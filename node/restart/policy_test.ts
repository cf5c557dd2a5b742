import {
  deepStrictEqual as assertEquals,
  throws as assertThrows,
} from "node:assert/strict";
import type { RestartPolicy } from "../../config/types.ts";
import {
  decideRestart,
  type ExitCause,
  recordHealthy,
  recordUnhealthy,
  RESTART_STATE_INITIAL,
  restartDelayMs,
  type RestartState,
} from "./policy.ts";

Deno.test("restartDelayMs() backs off 1 s, 5 s, 30 s, then 60 s", () => {
  assertEquals(
    [0, 1, 2, 3, 4, 10, 1000].map(restartDelayMs),
    [1_000, 5_000, 30_000, 60_000, 60_000, 60_000, 60_000],
  );
  assertThrows(() => restartDelayMs(-1));
  assertThrows(() => restartDelayMs(1.5));
});

Deno.test("decideRestart() honours the policy for each exit", async (t) => {
  type Row = [string, "service" | "task", RestartPolicy, ExitCause, string];
  const rows: Row[] = [
    ["a service with always after exit 0", "service", "always", {
      kind: "exited",
      code: 0,
    }, "restart"],
    ["a service with always after exit 1", "service", "always", {
      kind: "exited",
      code: 1,
    }, "restart"],
    ["a service with always after a kill", "service", "always", {
      kind: "killed",
      signal: "SIGKILL",
    }, "restart"],
    [
      "a service with always after OOM",
      "service",
      "always",
      { kind: "oom" },
      "restart",
    ],
    ["a service with on-failure after exit 0", "service", "on-failure", {
      kind: "exited",
      code: 0,
    }, "clean-exit"],
    ["a service with on-failure after exit 137", "service", "on-failure", {
      kind: "exited",
      code: 137,
    }, "restart"],
    ["a service with on-failure after a kill", "service", "on-failure", {
      kind: "killed",
      signal: "SIGKILL",
    }, "restart"],
    ["a service with on-failure after OOM", "service", "on-failure", {
      kind: "oom",
    }, "restart"],
    [
      "a service with on-failure after a failed start",
      "service",
      "on-failure",
      { kind: "start-failed" },
      "restart",
    ],
    ["a service with on-failure killed as unhealthy", "service", "on-failure", {
      kind: "unhealthy",
    }, "restart"],
    ["a service with never after exit 1", "service", "never", {
      kind: "exited",
      code: 1,
    }, "policy-never"],
    [
      "a service with never after OOM",
      "service",
      "never",
      { kind: "oom" },
      "policy-never",
    ],
    [
      "a service stopped by mill",
      "service",
      "always",
      { kind: "stopped" },
      "stopped",
    ],
    [
      "a task after exit 1",
      "task",
      "always",
      { kind: "exited", code: 1 },
      "task",
    ],
    ["a task after a kill", "task", "on-failure", {
      kind: "killed",
      signal: "SIGKILL",
    }, "task"],
    [
      "a task after exit 0",
      "task",
      "always",
      { kind: "exited", code: 0 },
      "task",
    ],
  ];
  for (const [name, kind, policy, exit, expected] of rows) {
    await t.step(`${name}: ${expected}`, () => {
      const { decision } = decideRestart(RESTART_STATE_INITIAL, {
        kind,
        policy,
        exit,
        atMs: 10_000,
      });
      assertEquals(decision.restart ? "restart" : decision.reason, expected);
      if (decision.restart) {
        assertEquals(decision, { restart: true, delayMs: 1_000, atMs: 11_000 });
      }
    });
  }
});

function crash(state: RestartState, atMs: number) {
  return decideRestart(state, {
    kind: "service",
    policy: "always",
    exit: { kind: "exited", code: 1 },
    atMs,
  });
}

Deno.test("decideRestart() lengthens the delay on each crash of a streak", () => {
  let state = RESTART_STATE_INITIAL;
  const delays: number[] = [];
  let nowMs = 0;
  for (let crashCount = 0; crashCount < 6; crashCount++) {
    const next = crash(state, nowMs);
    if (!next.decision.restart) throw new Error("expected a restart");
    delays.push(next.decision.delayMs);
    nowMs = next.decision.atMs + 2_000; // runs 2 s, healthy, then crashes
    state = recordHealthy(next.state, next.decision.atMs + 500);
  }
  assertEquals(delays, [1_000, 5_000, 30_000, 60_000, 60_000, 60_000]);
});

Deno.test("decideRestart() resets the streak after a healthy stretch", async (t) => {
  const rows: [string, number, number | undefined, number][] = [
    ["healthy for 5 min resets", 300_000, undefined, 1_000],
    [
      "healthy for just under 5 min keeps the streak",
      299_999,
      undefined,
      60_000,
    ],
    ["a configured 10 s stretch resets", 10_000, 10_000, 1_000],
    ["a configured 10 s stretch not reached keeps it", 9_999, 10_000, 60_000],
  ];
  for (const [name, healthyMs, resetAfterHealthyMs, expected] of rows) {
    await t.step(name, () => {
      const state = recordHealthy(
        { restarts: 5, healthySinceMs: null },
        1_000_000,
      );
      const options = resetAfterHealthyMs === undefined
        ? {}
        : { resetAfterHealthyMs };
      const { decision, state: after } = decideRestart(state, {
        kind: "service",
        policy: "on-failure",
        exit: { kind: "killed", signal: "SIGKILL" },
        atMs: 1_000_000 + healthyMs,
      }, options);
      assertEquals(decision.restart && decision.delayMs, expected);
      assertEquals(after.restarts, expected === 1_000 ? 1 : 6);
      assertEquals(after.healthySinceMs, null);
    });
  }
});

Deno.test("recordUnhealthy() breaks a healthy stretch so it does not reset", () => {
  let state: RestartState = { restarts: 3, healthySinceMs: null };
  state = recordHealthy(state, 0);
  state = recordHealthy(state, 200_000); // still healthy: the start is kept
  assertEquals(state.healthySinceMs, 0);
  state = recordUnhealthy(state);
  state = recordHealthy(state, 250_000);
  const { decision } = crash(state, 400_000);
  assertEquals(decision.restart && decision.delayMs, 60_000);
});

Deno.test("decideRestart() with a refusal still resets a long healthy streak", () => {
  const state = recordHealthy({ restarts: 4, healthySinceMs: null }, 0);
  const { decision, state: after } = decideRestart(state, {
    kind: "service",
    policy: "on-failure",
    exit: { kind: "exited", code: 0 },
    atMs: 600_000,
  });
  assertEquals(decision, { restart: false, reason: "clean-exit" });
  assertEquals(after, { restarts: 0, healthySinceMs: null });
});
