import { assertEquals } from "../../containerd/_assert_test.ts";
import {
  baseCommands,
  scheduled,
  toHealthy,
} from "../../raft/fsm/fixtures_testing.ts";
import { stateFrom } from "../../raft/fsm/testing.ts";
import { allocsForLogs, parseTail } from "./logs.ts";
import { allocsView, nodesView, statusView } from "./views.ts";

const state = stateFrom([
  ...baseCommands,
  scheduled("web-1", "n1", "web", { hostPort: 20000 }),
  ...toHealthy("web-1", "10.0.0.1:20000"),
  scheduled("web-2", "n2", "web", { hostPort: 20000 }),
  scheduled("api-1", "n3", "api", { hostPort: 20001 }),
  {
    type: "AllocStatus",
    allocId: "api-1",
    status: "failed",
    exitCode: 1,
    atMs: 4000,
  },
]);

Deno.test("statusView() counts nodes and healthy replicas per service", () => {
  const view = statusView(state, { clusterId: "c1", leaderId: "n1", term: 3 });
  assertEquals(view.nodes, { total: 3, ready: 3, down: 0 });
  assertEquals(view.leader?.id, "n1");
  assertEquals(
    view.services.map((s) => [s.name, s.healthy, s.live, s.replicas]),
    [["api", 0, 0, 1], ["postgres", 0, 0, 1], ["web", 1, 2, 2]],
  );
  assertEquals(view.tasks, ["migrate"]);
  assertEquals(view.lastDeploy?.id, "d1");
});

Deno.test("nodesView() lists nodes by name with their reservations and the leader", () => {
  const nodes = nodesView(state, "n2");
  assertEquals(nodes.map((n) => [n.id, n.leader, n.allocs]), [
    ["n1", false, 1],
    ["n2", true, 1],
    ["n3", false, 0],
  ]);
  assertEquals(nodes[0]?.cpuMillisReserved, 500);
  assertEquals(nodes[0]?.roles, ["secondary"]);
});

Deno.test("allocsView() hides ended allocs unless asked, and filters by workload", () => {
  assertEquals(allocsView(state).map((a) => a.id), ["web-1", "web-2"]);
  assertEquals(allocsView(state, { all: true }).map((a) => a.id), [
    "api-1",
    "web-1",
    "web-2",
  ]);
  const api = allocsView(state, { workload: "api", all: true });
  assertEquals(api[0]?.exitCode, 1);
  assertEquals(api[0]?.nodeName, "node-3");
});

Deno.test("allocsForLogs() takes an alloc by id, else the live allocs, else the last ended one", () => {
  assertEquals(allocsForLogs(state, "web-2").map((a) => a.id), ["web-2"]);
  assertEquals(allocsForLogs(state, "web").map((a) => a.id), [
    "web-1",
    "web-2",
  ]);
  assertEquals(allocsForLogs(state, "api").map((a) => a.id), ["api-1"]);
  assertEquals(allocsForLogs(state, "nothing"), []);
});

Deno.test("parseTail() takes 0 to 10000 lines and refuses the rest", async (t) => {
  assertEquals(parseTail(null), 100);
  assertEquals(parseTail("0"), 0);
  assertEquals(parseTail("10000"), 10000);
  for (const bad of ["-1", "10001", "1.5", "ten", ""]) {
    await t.step(bad, () => {
      try {
        parseTail(bad);
        throw new Error("accepted");
      } catch (error) {
        assertEquals((error as { code?: string }).code, "api.bad_parameter");
      }
    });
  }
});
