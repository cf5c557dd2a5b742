import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { baseState, scheduled, toHealthy } from "./fixtures_testing.ts";
import { decodeSnapshot, encodeSnapshot } from "./snapshot.ts";
import { runApplyTable } from "./table_testing.ts";
import { registerNode } from "./testing.ts";

Deno.test("apply() handles NodeRegister", async (t) => {
  await runApplyTable(t, baseState(), [
    {
      name: "a new node joins ready with nothing reserved",
      command: registerNode(4, { labels: { zone: "eu" } }),
      expect: "ok",
      check: (state) => {
        const node = state.nodes.get("n4");
        strictEqual(node?.status, "ready");
        strictEqual(node?.cpuMillisReserved, 0);
        strictEqual(node?.labels.zone, "eu");
      },
    },
    {
      name: "a down node that re-registers is ready again, still draining",
      setup: [
        { type: "NodeDrain", nodeId: "n1", atMs: 5 },
        { type: "NodeDown", nodeId: "n1", reason: "", atMs: 6 },
      ],
      command: registerNode(1, { atMs: 7000 }),
      expect: "ok",
      check: (state) => {
        strictEqual(state.nodes.get("n1")?.status, "ready");
        strictEqual(state.nodes.get("n1")?.draining, true);
      },
    },
    {
      name: "a re-register with another install id is refused",
      command: registerNode(1, { millId: "someone-else" }),
      expect: "node.identity_mismatch",
    },
    {
      name: "a name another node holds is refused",
      command: registerNode(4, { name: "node-1" }),
      expect: "node.name_taken",
    },
    {
      name: "a re-register below what its allocs reserve is refused",
      setup: [scheduled("api-1", "n1", "api")],
      command: registerNode(1, { cpuMillis: 500 }),
      expect: "node.capacity_below_reserved",
    },
    {
      name: "zero cpu is refused",
      command: registerNode(4, { cpuMillis: 0 }),
      expect: "command.invalid",
    },
    {
      name: "fractional memory is refused",
      command: registerNode(4, { memoryBytes: 1.5 }),
      expect: "command.invalid",
    },
    {
      name: "an empty address is refused",
      command: registerNode(4, { address: "" }),
      expect: "command.invalid",
    },
  ]);
});

Deno.test("apply() handles NodeHeartbeat", async (t) => {
  await runApplyTable(t, baseState(), [
    {
      name: "a heartbeat records its time and applies legal reports",
      setup: [
        scheduled("web-1", "n1"),
        ...toHealthy("web-1", "10.0.0.1:20000"),
      ],
      command: {
        type: "NodeHeartbeat",
        nodeId: "n1",
        statuses: [{ allocId: "web-1", status: "failed", exitCode: 137 }],
        atMs: 9000,
      },
      expect: "ok",
      check: (state) => {
        strictEqual(state.nodes.get("n1")?.lastHeartbeatMs, 9000);
        strictEqual(state.allocs.get("web-1")?.status, "failed");
        strictEqual(state.allocs.get("web-1")?.exitCode, 137);
        strictEqual(state.nodes.get("n1")?.activeAllocs, 0);
      },
    },
    {
      name: "stale, foreign and unknown reports are ignored",
      setup: [
        scheduled("web-1", "n1"),
        scheduled("web-2", "n2"),
        { type: "AllocStatus", allocId: "web-1", status: "stopped", atMs: 5 },
      ],
      command: {
        type: "NodeHeartbeat",
        nodeId: "n1",
        statuses: [
          { allocId: "web-1", status: "running" },
          { allocId: "web-2", status: "failed" },
          { allocId: "ghost", status: "running" },
        ],
        atMs: 9000,
      },
      expect: "ok",
      check: (state) => {
        strictEqual(state.allocs.get("web-1")?.status, "stopped");
        strictEqual(state.allocs.get("web-2")?.status, "pulling");
      },
    },
    {
      name: "a heartbeat from an unknown node is refused",
      command: { type: "NodeHeartbeat", nodeId: "n9", statuses: [], atMs: 1 },
      expect: "node.unknown",
    },
    {
      name: "a heartbeat from a node marked down is refused",
      setup: [{ type: "NodeDown", nodeId: "n1", reason: "", atMs: 5 }],
      command: { type: "NodeHeartbeat", nodeId: "n1", statuses: [], atMs: 6 },
      expect: "node.down",
    },
    {
      name: "a heartbeat time never moves backwards",
      command: { type: "NodeHeartbeat", nodeId: "n1", statuses: [], atMs: 1 },
      expect: "ok",
      check: (state) =>
        strictEqual(state.nodes.get("n1")?.lastHeartbeatMs, 1000),
    },
  ]);
});

Deno.test("apply() handles NodeDown and NodeUp", async (t) => {
  await runApplyTable(t, baseState(), [
    {
      name: "a down node's live allocs fail and free their reservation",
      setup: [
        scheduled("web-1", "n1"),
        scheduled("migrate-1", "n1", "migrate"),
        scheduled("web-2", "n2"),
      ],
      command: {
        type: "NodeDown",
        nodeId: "n1",
        reason: "missed heartbeats",
        atMs: 9000,
      },
      expect: "ok",
      check: (state) => {
        strictEqual(state.nodes.get("n1")?.status, "down");
        strictEqual(state.allocs.get("web-1")?.status, "failed");
        strictEqual(state.allocs.get("migrate-1")?.status, "failed");
        strictEqual(
          state.allocs.get("web-1")?.statusMessage,
          "node down: missed heartbeats",
        );
        strictEqual(state.allocs.get("web-2")?.status, "pulling");
        strictEqual(state.nodes.get("n1")?.cpuMillisReserved, 0);
      },
    },
    {
      name: "a node already down is refused",
      setup: [{ type: "NodeDown", nodeId: "n1", reason: "", atMs: 5 }],
      command: { type: "NodeDown", nodeId: "n1", reason: "", atMs: 6 },
      expect: "node.down",
    },
    {
      name: "an unknown node cannot go down",
      command: { type: "NodeDown", nodeId: "n9", reason: "", atMs: 6 },
      expect: "node.unknown",
    },
    {
      name: "a down node comes back up ready, its old allocs still failed",
      setup: [
        scheduled("web-1", "n1"),
        { type: "NodeDown", nodeId: "n1", reason: "", atMs: 5 },
      ],
      command: { type: "NodeUp", nodeId: "n1", atMs: 6 },
      expect: "ok",
      check: (state) => {
        strictEqual(state.nodes.get("n1")?.status, "ready");
        strictEqual(state.allocs.get("web-1")?.status, "failed");
      },
    },
    {
      name: "a node that is not down cannot come up",
      command: { type: "NodeUp", nodeId: "n1", atMs: 6 },
      expect: "node.not_down",
    },
  ]);
});

Deno.test("a primary-only node (containers: false) registers, is kept in snapshots and takes no allocs", async (t) => {
  await runApplyTable(t, baseState(), [
    {
      name: "it registers as running nothing",
      command: registerNode(7, { containers: false, atMs: 5 }),
      expect: "ok",
      check: (state) => {
        strictEqual(state.nodes.get("n7")?.containers, false);
        const restored = decodeSnapshot(encodeSnapshot(state));
        strictEqual(restored.nodes.get("n7")?.containers, false);
        strictEqual(restored.nodes.get("n1")?.containers, true);
      },
    },
    {
      name: "an alloc placed on it is refused",
      setup: [registerNode(7, { containers: false, atMs: 5 })],
      command: scheduled("web-9", "n7"),
      expect: "node.no_containers",
    },
  ]);
});

Deno.test("apply() handles NodeDrain and NodeRemove", async (t) => {
  await runApplyTable(t, baseState(), [
    {
      name: "a drained node is marked draining and keeps its allocs",
      setup: [scheduled("web-1", "n3")],
      command: { type: "NodeDrain", nodeId: "n3", atMs: 5 },
      expect: "ok",
      check: (state) => {
        strictEqual(state.nodes.get("n3")?.draining, true);
        strictEqual(state.allocs.get("web-1")?.status, "pulling");
      },
    },
    {
      name: "a drain of a draining node is refused",
      setup: [{ type: "NodeDrain", nodeId: "n3", atMs: 5 }],
      command: { type: "NodeDrain", nodeId: "n3", atMs: 6 },
      expect: "node.draining",
    },
    {
      name: "a draining node is made schedulable again",
      setup: [{ type: "NodeDrain", nodeId: "n3", atMs: 5 }],
      command: { type: "NodeUndrain", nodeId: "n3", atMs: 6 },
      expect: "ok",
      check: (state) => strictEqual(state.nodes.get("n3")?.draining, false),
    },
    {
      name: "undraining a node that is not draining is refused",
      command: { type: "NodeUndrain", nodeId: "n3", atMs: 6 },
      expect: "node.not_draining",
    },
    {
      name: "a down node may be drained",
      setup: [{ type: "NodeDown", nodeId: "n3", reason: "", atMs: 5 }],
      command: { type: "NodeDrain", nodeId: "n3", atMs: 6 },
      expect: "ok",
    },
    {
      name: "removing a node with active allocs is refused",
      setup: [scheduled("web-1", "n3"), {
        type: "NodeDrain",
        nodeId: "n3",
        atMs: 5,
      }],
      command: { type: "NodeRemove", nodeId: "n3", atMs: 6 },
      expect: "node.active_allocs",
      message: "node still has active allocations",
    },
    {
      name: "removing a node with an attached volume is refused",
      command: { type: "NodeRemove", nodeId: "n2", atMs: 6 },
      expect: "node.volumes_attached",
    },
    {
      name: "removing an idle node deletes it and its terminal allocs",
      setup: [
        scheduled("web-1", "n3"),
        scheduled("web-2", "n1"),
        { type: "AllocStatus", allocId: "web-1", status: "stopped", atMs: 5 },
      ],
      command: { type: "NodeRemove", nodeId: "n3", atMs: 6 },
      expect: "ok",
      check: (state) => {
        strictEqual(state.nodes.has("n3"), false);
        strictEqual(state.allocs.has("web-1"), false);
        strictEqual(state.allocs.has("web-2"), true);
      },
    },
    {
      name: "removing an unknown node is refused",
      command: { type: "NodeRemove", nodeId: "n9", atMs: 6 },
      expect: "node.unknown",
    },
    {
      name: "a removed node is remembered",
      command: { type: "NodeRemove", nodeId: "n3", atMs: 6 },
      expect: "ok",
      check: (state) => deepStrictEqual(state.removedNodes, ["n3"]),
    },
    {
      name: "a removed node may not register again",
      setup: [{ type: "NodeRemove", nodeId: "n3", atMs: 6 }],
      command: registerNode(3, { atMs: 7 }),
      expect: "node.removed",
      message: "cannot register again",
    },
    {
      name: "its name is free for a node joined anew",
      setup: [{ type: "NodeRemove", nodeId: "n3", atMs: 6 }],
      command: registerNode(7, { name: "node-3", atMs: 7 }),
      expect: "ok",
      check: (state) => strictEqual(state.nodes.get("n7")?.name, "node-3"),
    },
  ]);
});
