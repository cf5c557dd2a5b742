import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { apply } from "./apply.ts";
import type { Command } from "./command.ts";
import { baseState, scheduled, toHealthy } from "./fixtures_testing.ts";
import { ALLOC_STATUSES, type AllocStatus, isTerminal } from "./state.ts";
import { runApplyTable } from "./table_testing.ts";
import { GIB, registerNode, stateFrom } from "./testing.ts";

Deno.test("apply() handles AllocScheduled", async (t) => {
  await runApplyTable(t, baseState(), [
    {
      name: "a placement that fits reserves its cpu, memory and port",
      command: scheduled("web-1", "n1", "web", {
        hostPort: 20000,
        deployId: "d1",
      }),
      expect: "ok",
      check: (state) => {
        const node = state.nodes.get("n1");
        strictEqual(node?.cpuMillisReserved, 500);
        strictEqual(node?.memoryBytesReserved, 512 * 1024 * 1024);
        deepStrictEqual(node?.hostPorts, [20000]);
        strictEqual(state.allocs.get("web-1")?.status, "pulling");
        strictEqual(state.allocs.get("web-1")?.deployId, "d1");
      },
    },
    {
      name: "an alloc id in use is refused",
      setup: [scheduled("web-1", "n1")],
      command: scheduled("web-1", "n3"),
      expect: "alloc.exists",
    },
    {
      name: "a placement on a draining node is refused",
      setup: [{ type: "NodeDrain", nodeId: "n1", atMs: 5 }],
      command: scheduled("web-1", "n1"),
      expect: "node.draining",
    },
    {
      name: "a placement on a down node is refused",
      setup: [{ type: "NodeDown", nodeId: "n1", reason: "", atMs: 5 }],
      command: scheduled("web-1", "n1"),
      expect: "node.down",
    },
    {
      name: "a placement on a removed node is refused",
      setup: [{ type: "NodeRemove", nodeId: "n1", atMs: 5 }],
      command: scheduled("web-1", "n1"),
      expect: "node.unknown",
    },
    {
      name: "a placement beyond the free cpu is refused",
      setup: [
        scheduled("api-1", "n1", "api", { cpuMillis: 3000 }),
      ],
      command: scheduled("api-2", "n1", "api", { cpuMillis: 1500 }),
      expect: "alloc.insufficient_cpu",
      message: 'needs 1.5 cpu and node "node-1" has 1 free',
    },
    {
      name: "a placement beyond the free memory is refused",
      setup: [scheduled("api-1", "n1", "api", { memoryBytes: 7.5 * GIB })],
      command: scheduled("api-2", "n1", "api"),
      expect: "alloc.insufficient_memory",
    },
    {
      name: "a placement exactly filling the node is accepted",
      command: scheduled("api-1", "n1", "api", {
        cpuMillis: 4000,
        memoryBytes: 8 * GIB,
      }),
      expect: "ok",
    },
    {
      name: "a host port in use on the node is refused",
      setup: [scheduled("web-1", "n1", "web", { hostPort: 20000 })],
      command: scheduled("web-2", "n1", "web", { hostPort: 20000 }),
      expect: "alloc.port_in_use",
    },
    {
      name: "a host port freed by a stopped alloc may be reused",
      setup: [
        scheduled("web-1", "n1", "web", { hostPort: 20000 }),
        { type: "AllocStatus", allocId: "web-1", status: "stopped", atMs: 5 },
      ],
      command: scheduled("web-2", "n1", "web", { hostPort: 20000 }),
      expect: "ok",
    },
    {
      name: "a host port outside the pool is refused",
      command: scheduled("web-1", "n1", "web", { hostPort: 80 }),
      expect: "command.invalid",
    },
    {
      name: "a workload the config lacks is refused",
      command: { ...scheduled("web-1", "n1"), workload: "nope" },
      expect: "alloc.unknown_workload",
    },
    {
      name: "a task placed as a service is refused",
      command: { ...scheduled("m-1", "n1", "migrate"), kind: "service" },
      expect: "alloc.unknown_workload",
    },
    {
      name: "a volume-backed service away from its volume is refused",
      command: scheduled("postgres-1", "n1", "postgres"),
      expect: "alloc.volume_not_attached",
    },
    {
      name: "a volume-backed service on its volume's node is accepted",
      command: scheduled("postgres-1", "n2", "postgres"),
      expect: "ok",
    },
    {
      name: "negative cpu is refused",
      command: scheduled("web-1", "n1", "web", { cpuMillis: -1 }),
      expect: "command.invalid",
    },
  ]);
});

const lifecycle: Command[] = [scheduled("web-1", "n1")];

Deno.test("apply() handles AllocStatus along the lifecycle", async (t) => {
  const base = stateFrom(lifecycle, baseState());
  const to = (status: AllocStatus, allocId = "web-1"): Command => ({
    type: "AllocStatus",
    allocId,
    status,
    atMs: 4000,
  });
  const starting = to("starting");
  const running: Command = {
    type: "AllocRunning",
    allocId: "web-1",
    address: "10.0.0.1:20000",
    atMs: 4000,
  };
  await runApplyTable(t, base, [
    { name: "pulling → starting", command: starting, expect: "ok" },
    {
      name: "pulling → running is refused",
      command: to("running"),
      expect: "alloc.illegal_transition",
    },
    {
      name: "pulling → healthy is refused",
      command: to("healthy"),
      expect: "alloc.illegal_transition",
    },
    {
      name: "pulling → failed (pull failure)",
      command: to("failed"),
      expect: "ok",
    },
    { name: "pulling → stopped", command: to("stopped"), expect: "ok" },
    {
      name: "pulling → pulling is refused",
      command: to("pulling"),
      expect: "alloc.illegal_transition",
    },
    {
      name: "starting → running",
      setup: [starting],
      command: running,
      expect: "ok",
    },
    {
      name: "starting → healthy is refused",
      setup: [starting],
      command: to("healthy"),
      expect: "alloc.illegal_transition",
    },
    {
      name: "starting → failed",
      setup: [starting],
      command: to("failed"),
      expect: "ok",
    },
    {
      name: "running → healthy",
      setup: [starting, running],
      command: to("healthy"),
      expect: "ok",
    },
    {
      name: "running → starting counts a restart",
      setup: [starting, running],
      command: to("starting"),
      expect: "ok",
      check: (state) => strictEqual(state.allocs.get("web-1")?.restarts, 1),
    },
    {
      name: "running → pulling is refused",
      setup: [starting, running],
      command: to("pulling"),
      expect: "alloc.illegal_transition",
    },
    {
      name: "healthy → running (health lost)",
      setup: [starting, running, to("healthy")],
      command: to("running"),
      expect: "ok",
    },
    {
      name: "healthy → stopped frees the reservation",
      setup: [starting, running, to("healthy")],
      command: to("stopped"),
      expect: "ok",
      check: (state) => {
        strictEqual(state.nodes.get("n1")?.cpuMillisReserved, 0);
        strictEqual(state.nodes.get("n1")?.activeAllocs, 0);
      },
    },
    {
      name: "running → failed",
      setup: [starting, running],
      command: to("failed"),
      expect: "ok",
    },
    {
      name: "stopped → starting is refused",
      setup: [to("stopped")],
      command: starting,
      expect: "alloc.terminal",
    },
    {
      name: "failed → running is refused",
      setup: [to("failed")],
      command: running,
      expect: "alloc.terminal",
    },
    {
      name: "failed → stopped is refused",
      setup: [to("failed")],
      command: to("stopped"),
      expect: "alloc.terminal",
    },
    {
      name: "stopped → stopped is refused",
      setup: [to("stopped")],
      command: to("stopped"),
      expect: "alloc.terminal",
    },
    {
      name: "an unknown alloc is refused",
      command: to("starting", "nope"),
      expect: "alloc.unknown",
    },
    {
      name: "a task never becomes healthy",
      setup: [
        scheduled("migrate-1", "n1", "migrate"),
        to("starting", "migrate-1"),
        { type: "AllocRunning", allocId: "migrate-1", address: "x:1", atMs: 1 },
      ],
      command: to("healthy", "migrate-1"),
      expect: "alloc.illegal_transition",
    },
    {
      name: "a task's exit code is kept",
      setup: [
        scheduled("migrate-1", "n1", "migrate"),
        to("starting", "migrate-1"),
      ],
      command: {
        type: "AllocStatus",
        allocId: "migrate-1",
        status: "failed",
        exitCode: 3,
        atMs: 1,
      },
      expect: "ok",
      check: (state) => strictEqual(state.allocs.get("migrate-1")?.exitCode, 3),
    },
    {
      name: "AllocRunning records the address and start time",
      setup: [starting],
      command: running,
      expect: "ok",
      check: (state) => {
        strictEqual(state.allocs.get("web-1")?.address, "10.0.0.1:20000");
        strictEqual(state.allocs.get("web-1")?.startedAtMs, 4000);
      },
    },
    {
      name: "AllocRunning from pulling is refused",
      command: running,
      expect: "alloc.illegal_transition",
    },
    {
      name: "AllocRunning with an empty address is refused",
      setup: [starting],
      command: { ...running, address: "" },
      expect: "command.invalid",
    },
    {
      name: "an unknown status is refused",
      command: to("zombie" as AllocStatus),
      expect: "command.invalid",
    },
  ]);
});

Deno.test("apply() handles AllocStopRequested and AllocsPurged", async (t) => {
  const base = stateFrom([
    scheduled("web-1", "n1"),
    ...toHealthy("web-1", "a:1"),
  ], baseState());
  const stop: Command = {
    type: "AllocStopRequested",
    allocId: "web-1",
    reason: "drain",
    atMs: 5000,
  };
  await runApplyTable(t, base, [
    {
      name: "a stop request marks the alloc and keeps its status",
      command: stop,
      expect: "ok",
      check: (state) => {
        strictEqual(state.allocs.get("web-1")?.stopRequested, true);
        strictEqual(state.allocs.get("web-1")?.status, "healthy");
      },
    },
    {
      name: "a repeated stop request is accepted and changes nothing",
      setup: [stop],
      command: { ...stop, reason: "other" },
      expect: "ok",
      check: (state, before) => strictEqual(state, before),
    },
    {
      name: "a stop request for a terminal alloc is refused",
      setup: [{
        type: "AllocStatus",
        allocId: "web-1",
        status: "stopped",
        atMs: 5,
      }],
      command: stop,
      expect: "alloc.terminal",
    },
    {
      name: "purging terminal allocs forgets them",
      setup: [{
        type: "AllocStatus",
        allocId: "web-1",
        status: "stopped",
        atMs: 5,
      }],
      command: {
        type: "AllocsPurged",
        allocIds: ["web-1", "already-gone"],
        atMs: 6,
      },
      expect: "ok",
      check: (state) => strictEqual(state.allocs.has("web-1"), false),
    },
    {
      name: "purging a live alloc is refused",
      command: { type: "AllocsPurged", allocIds: ["web-1"], atMs: 6 },
      expect: "alloc.active",
    },
  ]);
});

Deno.test("apply() leaves the state untouched when it rejects", () => {
  const before = baseState();
  const applied = apply(
    before,
    scheduled("x-1", "n1", "web", { cpuMillis: 99_000 }),
  );
  strictEqual(applied.ok, false);
  strictEqual(before.allocs.size, 0);
  strictEqual(before.nodes.get("n1")?.cpuMillisReserved, 0);
});

Deno.test("apply() never lets an alloc leave a terminal status, whatever comes next", () => {
  const statuses: readonly AllocStatus[] = ALLOC_STATUSES;
  for (const end of ["stopped", "failed"] as const) {
    const state = stateFrom(
      [scheduled("web-1", "n1"), {
        type: "AllocStatus",
        allocId: "web-1",
        status: end,
        atMs: 1,
      }],
      stateFrom([registerNode(4)], baseState()),
    );
    for (const status of statuses) {
      const applied = apply(state, {
        type: "AllocStatus",
        allocId: "web-1",
        status,
        atMs: 2,
      });
      strictEqual(applied.ok, false);
    }
    const heartbeat = apply(state, {
      type: "NodeHeartbeat",
      nodeId: "n1",
      statuses: statuses.map((status) => ({ allocId: "web-1", status })),
      atMs: 3,
    });
    strictEqual(
      heartbeat.ok && isTerminal(heartbeat.state.allocs.get("web-1")!.status),
      true,
    );
    strictEqual(
      heartbeat.ok && heartbeat.state.allocs.get("web-1")!.status,
      end,
    );
  }
});
