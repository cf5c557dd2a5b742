import { strictEqual } from "node:assert/strict";
import { apply } from "./apply.ts";
import type { Command } from "./command.ts";
import { baseState, scheduled, toHealthy } from "./fixtures_testing.ts";
import { healthyEndpoints } from "./queries.ts";
import type { AllocStatus, ClusterState } from "./state.ts";
import { stateFrom } from "./testing.ts";

const healthy = (): ClusterState =>
  stateFrom([
    scheduled("web-1", "n1", "web", { hostPort: 20000 }),
    ...toHealthy("web-1", "10.0.0.1:20000"),
  ], baseState());

function heartbeat(status: AllocStatus, extra = {}): Command {
  return {
    type: "NodeHeartbeat",
    nodeId: "n1",
    statuses: [{ allocId: "web-1", status, ...extra }],
    atMs: 5000,
  };
}

function applied(state: ClusterState, command: Command): ClusterState {
  const result = apply(state, command);
  if (!result.ok) throw new Error(JSON.stringify(result.rejection));
  return result.state;
}

Deno.test("a healthy alloc whose container exited is restarting at once: out of the endpoints, its exit code kept", () => {
  const before = healthy();
  strictEqual(healthyEndpoints(before).get("web")?.length, 1);
  const state = applied(
    before,
    heartbeat("restarting", {
      exitCode: 137,
      message: "killed by SIGKILL; next attempt in 30 s, at …",
    }),
  );
  const alloc = state.allocs.get("web-1")!;
  strictEqual(alloc.status, "restarting");
  strictEqual(alloc.exitCode, 137);
  strictEqual(
    alloc.statusMessage,
    "killed by SIGKILL; next attempt in 30 s, at …",
  );
  strictEqual(alloc.restarts, 0);
  strictEqual(healthyEndpoints(state).get("web")?.length ?? 0, 0);
  // Still live: it keeps its reservation.
  strictEqual(state.nodes.get("n1")?.cpuMillisReserved, 500);
});

Deno.test("a restarting alloc goes to starting (counting the restart), never straight to healthy or running", () => {
  const restarting = applied(healthy(), heartbeat("restarting"));
  for (const next of ["healthy", "running", "pulling", "restarting"] as const) {
    const result = apply(restarting, {
      type: "AllocStatus",
      allocId: "web-1",
      status: next,
      atMs: 6000,
    });
    strictEqual(result.ok, false, next);
    if (!result.ok) {
      strictEqual(result.rejection.code, "alloc.illegal_transition");
    }
  }
  const starting = applied(restarting, heartbeat("starting"));
  strictEqual(starting.allocs.get("web-1")?.status, "starting");
  strictEqual(starting.allocs.get("web-1")?.restarts, 1);
  const running = applied(starting, heartbeat("running"));
  strictEqual(running.allocs.get("web-1")?.status, "running");
  // A start that fails again is restarting again; a stop ends it.
  const again = applied(
    applied(running, heartbeat("starting")),
    heartbeat("restarting"),
  );
  strictEqual(again.allocs.get("web-1")?.status, "restarting");
  const stopped = applied(again, {
    type: "AllocStatus",
    allocId: "web-1",
    status: "stopped",
    atMs: 7000,
  });
  strictEqual(stopped.allocs.get("web-1")?.status, "stopped");
  strictEqual(stopped.nodes.get("n1")?.cpuMillisReserved, 0);
});
