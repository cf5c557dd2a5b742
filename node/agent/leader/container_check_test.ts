import { assertEquals } from "../../../containerd/_assert_test.ts";
import {
  baseCommands,
  scheduled,
  toHealthy,
} from "../../../raft/fsm/fixtures_testing.ts";
import { stateFrom } from "../../../raft/fsm/testing.ts";
import { vanishedAllocs } from "./container_check.ts";

const state = stateFrom([
  ...baseCommands,
  scheduled("old-healthy", "n1"),
  ...toHealthy("old-healthy", "10.0.0.1:20000"),
  scheduled("old-running", "n1", "web", { hostPort: 20001 }),
  {
    type: "AllocStatus",
    allocId: "old-running",
    status: "starting",
    atMs: 3100,
  },
  {
    type: "AllocRunning",
    allocId: "old-running",
    address: "10.0.0.1:20001",
    atMs: 3200,
  },
  scheduled("elsewhere", "n2"),
  ...toHealthy("elsewhere", "10.0.0.2:20000"),
  scheduled("pulling", "n1"),
]);

Deno.test("vanishedAllocs() names the live allocs of a returning node that it no longer runs", async (t) => {
  const cases: [string, readonly string[], number, string[]][] = [
    ["none run any more", [], 5_000, ["old-healthy", "old-running"]],
    ["one still runs", ["old-healthy"], 5_000, ["old-running"]],
    ["all still run", ["old-healthy", "old-running"], 5_000, []],
    ["decided after the node returned", [], 3_000, []],
  ];
  for (const [name, running, sinceMs, expected] of cases) {
    await t.step(name, () => {
      assertEquals(
        vanishedAllocs(state, "n1", running, sinceMs).map((a) => a.id).sort(),
        expected,
      );
    });
  }
});
