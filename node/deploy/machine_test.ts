import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  DeployMachine,
  type MachineAction,
  type MachineEvent,
  type MachineInput,
} from "./machine.ts";
import { alloc, pulled } from "./_machine_testing.ts";

function ofType<T extends MachineAction["type"]>(
  actions: readonly MachineAction[],
  type: T,
): Extract<MachineAction, { type: T }>[] {
  return actions.filter((a): a is Extract<MachineAction, { type: T }> =>
    a.type === type
  );
}

const ids = (actions: readonly { allocId: string }[]) =>
  actions.map((a) => a.allocId);

/** Feeds events in order; returns every action they produced. */
function feed(machine: DeployMachine, events: MachineEvent[]): MachineAction[] {
  return events.flatMap((event) => machine.step(event));
}

/** A start-first roll of web a-0, a-1 → b-0, b-1 in two waves. */
function rollOf(order: "start-first" | "stop-first"): MachineInput {
  return {
    allocs: [
      alloc("web-b-0", "web", {
        wave: 1,
        image: "web:v2",
        replaces: { allocId: "web-a-0", order },
      }),
      alloc("web-b-1", "web", {
        wave: 2,
        image: "web:v2",
        replaces: { allocId: "web-a-1", order },
      }),
    ],
    stops: [],
    atomic: true,
  };
}

Deno.test("a first deploy commits, pulls and starts everything at once and finishes when all are healthy", () => {
  const machine = new DeployMachine({
    allocs: [alloc("web-1", "web", { nodeId: "n2" }), alloc("api-1", "api")],
    stops: [],
    atomic: true,
  });
  const first = machine.start();
  assertEquals(ofType(first, "pull").map((a) => `${a.nodeId} ${a.image}`), [
    "n2 web:v1",
    "n1 api:v1",
  ]);
  assertEquals(ids(ofType(first, "schedule")), ["web-1", "api-1"]);
  assertEquals(ofType(first, "start"), []);
  const cached = feed(machine, [
    { type: "pulled", nodeId: "n2", image: "web:v1", cached: true },
    { type: "scheduled", allocId: "web-1" },
  ]);
  assertEquals(ids(ofType(cached, "start")), ["web-1"]);
  const phase = ofType(cached, "phase").find((a) => a.phase === "pulled");
  assertEquals(phase?.message, "cached");
  feed(machine, [
    { type: "scheduled", allocId: "api-1" },
    pulled("api:v1"),
    { type: "started", allocId: "web-1" },
    { type: "started", allocId: "api-1" },
    { type: "healthy", allocId: "web-1" },
  ]);
  const last = machine.step({ type: "healthy", allocId: "api-1" });
  assertEquals(last.at(-1), {
    type: "finish",
    outcome: "succeeded",
    failures: [],
    stoppedOld: [],
  });
  assert(machine.finished);
  assertEquals(machine.step({ type: "healthy", allocId: "api-1" }), []);
});

Deno.test("two allocs of one image on one node share one pull", () => {
  const machine = new DeployMachine({
    allocs: [alloc("web-1", "web"), alloc("web-2", "web")],
    stops: [],
    atomic: true,
  });
  assertEquals(ofType(machine.start(), "pull").length, 1);
  const actions = feed(machine, [
    { type: "scheduled", allocId: "web-1" },
    { type: "scheduled", allocId: "web-2" },
    pulled("web:v1"),
  ]);
  assertEquals(ids(ofType(actions, "start")), ["web-1", "web-2"]);
});

Deno.test("a start-first roll: one replica at a time, each old one stopped once its replacement is healthy", () => {
  const machine = new DeployMachine(rollOf("start-first"));
  const first = machine.start();
  assertEquals(ids(ofType(first, "schedule")), ["web-b-0"]);
  assertEquals(
    ofType(first, "phase").filter((p) => p.phase === "waiting").map((p) =>
      `${p.allocId} ${p.message}`
    ),
    ["web-b-1 wave 2"],
  );
  feed(machine, [pulled("web:v2"), { type: "scheduled", allocId: "web-b-0" }]);
  machine.step({ type: "started", allocId: "web-b-0" });
  const healthy = machine.step({ type: "healthy", allocId: "web-b-0" });
  assertEquals(ids(ofType(healthy, "stop")), ["web-a-0"]);
  assertEquals(ofType(healthy, "schedule"), [], "wave 2 waits for the stop");
  const stopped = machine.step({ type: "stopped", allocId: "web-a-0" });
  assertEquals(ids(ofType(stopped, "schedule")), ["web-b-1"]);
  feed(machine, [
    { type: "scheduled", allocId: "web-b-1" },
    { type: "started", allocId: "web-b-1" },
  ]);
  const second = machine.step({ type: "healthy", allocId: "web-b-1" });
  assertEquals(ids(ofType(second, "stop")), ["web-a-1"]);
  const done = machine.step({ type: "stopped", allocId: "web-a-1" });
  assertEquals(ofType(done, "finish")[0]?.outcome, "succeeded");
  assertEquals(ofType(done, "finish")[0]?.stoppedOld, ["web-a-0", "web-a-1"]);
});

Deno.test("a stop-first roll stops the old replica before its replacement is committed", () => {
  const machine = new DeployMachine(rollOf("stop-first"));
  const first = machine.start();
  assertEquals(ids(ofType(first, "stop")), ["web-a-0"]);
  assertEquals(ofType(first, "schedule"), []);
  const stopped = machine.step({ type: "stopped", allocId: "web-a-0" });
  assertEquals(ids(ofType(stopped, "schedule")), ["web-b-0"]);
  feed(machine, [
    pulled("web:v2"),
    { type: "scheduled", allocId: "web-b-0" },
    { type: "started", allocId: "web-b-0" },
  ]);
  const healthy = machine.step({ type: "healthy", allocId: "web-b-0" });
  assertEquals(ids(ofType(healthy, "stop")), ["web-a-1"], "wave 2 opens");
});

Deno.test("a failure during a stop-first roll rolls back and reports the old replicas it had stopped", () => {
  const machine = new DeployMachine(rollOf("stop-first"));
  machine.start();
  feed(machine, [
    { type: "stopped", allocId: "web-a-0" },
    pulled("web:v2"),
    { type: "scheduled", allocId: "web-b-0" },
    { type: "started", allocId: "web-b-0" },
  ]);
  const failed = machine.step({
    type: "allocFailed",
    allocId: "web-b-0",
    reason: "unhealthy",
    started: true,
    logLines: ["bind: address in use"],
  });
  assertEquals(ids(ofType(failed, "stop")), ["web-b-0"]);
  assert(machine.rollingBack);
  const done = machine.step({ type: "stopped", allocId: "web-b-0" });
  const finish = ofType(done, "finish")[0];
  assertEquals(finish?.outcome, "rolled_back");
  assertEquals(finish?.stoppedOld, ["web-a-0"], "web-a-1 was never touched");
  assertEquals(finish?.failures[0]?.logLines, ["bind: address in use"]);
});

Deno.test("first stops run before any placement, last stops once everything new is healthy", () => {
  const machine = new DeployMachine({
    allocs: [alloc("new-1", "new")],
    stops: [
      {
        allocId: "old-1",
        service: "old",
        reason: "service removed",
        when: "first",
      },
      {
        allocId: "gone-1",
        service: "gone",
        reason: "service removed",
        when: "last",
      },
    ],
    atomic: true,
  });
  const first = machine.start();
  assertEquals(ids(ofType(first, "stop")), ["old-1"]);
  assertEquals(ofType(first, "schedule"), []);
  const opened = machine.step({ type: "stopped", allocId: "old-1" });
  assertEquals(ids(ofType(opened, "schedule")), ["new-1"]);
  feed(machine, [
    pulled("new:v1"),
    { type: "scheduled", allocId: "new-1" },
    { type: "started", allocId: "new-1" },
  ]);
  const healthy = machine.step({ type: "healthy", allocId: "new-1" });
  assertEquals(ids(ofType(healthy, "stop")), ["gone-1"]);
  const done = machine.step({ type: "stopped", allocId: "gone-1" });
  assertEquals(ofType(done, "finish")[0]?.outcome, "succeeded");
});

Deno.test("a refused placement drops the alloc and rolls back the rest", () => {
  const machine = new DeployMachine({
    allocs: [alloc("web-1", "web"), alloc("web-2", "web")],
    stops: [],
    atomic: true,
  });
  machine.start();
  machine.step({ type: "scheduled", allocId: "web-1" });
  const refused = machine.step({
    type: "allocFailed",
    allocId: "web-2",
    reason: "cannot place on n1: no room",
    started: false,
    logLines: [],
  });
  // The refused one has nothing to stop; the committed one is marked stopped.
  assertEquals(
    ofType(refused, "stop").map((s) => `${s.allocId} ${s.started}`),
    ["web-1 false"],
  );
  const done = feed(machine, [
    pulled("web:v1"),
    { type: "stopped", allocId: "web-1" },
  ]);
  assertEquals(ofType(done, "finish")[0]?.outcome, "rolled_back");
});

Deno.test("a cancel rolls back like a failure, drops what waits its turn and finishes cancelled", () => {
  const machine = new DeployMachine(rollOf("start-first"));
  machine.start();
  feed(machine, [
    pulled("web:v2"),
    { type: "scheduled", allocId: "web-b-0" },
    { type: "started", allocId: "web-b-0" },
  ]);
  const cancelled = machine.step({
    type: "cancel",
    reason: "cancelled by the operator",
  });
  assertEquals(ids(ofType(cancelled, "stop")), ["web-b-0"]);
  assertEquals(ofType(cancelled, "schedule"), []);
  assertEquals(machine.step({ type: "cancel", reason: "again" }), []);
  const done = machine.step({ type: "stopped", allocId: "web-b-0" });
  const finish = ofType(done, "finish")[0];
  assertEquals(finish?.outcome, "cancelled");
  assertEquals(finish?.failures[0]?.reason, "cancelled by the operator");
  assertEquals(finish?.stoppedOld, []);
});

Deno.test("an alloc whose commit or start is in flight during a rollback is stopped once it lands", () => {
  const machine = new DeployMachine({
    allocs: [alloc("web-1", "web"), alloc("api-1", "api")],
    stops: [],
    atomic: true,
  });
  machine.start();
  feed(machine, [
    { type: "scheduled", allocId: "web-1" },
    pulled("web:v1"),
  ]);
  machine.step({
    type: "pullFailed",
    nodeId: "n1",
    image: "api:v1",
    reason: "not found",
  });
  // api-1 was still being committed: once it is, it is marked stopped.
  const landed = machine.step({ type: "scheduled", allocId: "api-1" });
  assertEquals(ofType(landed, "stop").map((s) => s.allocId), ["api-1"]);
  const started = machine.step({ type: "started", allocId: "web-1" });
  assertEquals(ofType(started, "stop").map((s) => s.allocId), ["web-1"]);
});

Deno.test("a repair stops only the alloc that failed and finishes with the rest", () => {
  const machine = new DeployMachine({
    allocs: [alloc("web-1", "web"), alloc("web-2", "web", { nodeId: "n2" })],
    stops: [],
    atomic: false,
  });
  machine.start();
  feed(machine, [
    { type: "scheduled", allocId: "web-1" },
    { type: "scheduled", allocId: "web-2" },
    pulled("web:v1"),
    { type: "pullFailed", nodeId: "n2", image: "web:v1", reason: "x" },
    { type: "started", allocId: "web-1" },
  ]);
  assert(!machine.rollingBack);
  const done = feed(machine, [
    { type: "stopped", allocId: "web-2" },
    { type: "healthy", allocId: "web-1" },
  ]);
  assertEquals(ofType(done, "finish")[0]?.outcome, "succeeded");
});

Deno.test("the machine refuses duplicate alloc ids", () => {
  assert.throws(() =>
    new DeployMachine({
      allocs: [alloc("a", "web"), alloc("a", "web")],
      stops: [],
      atomic: true,
    })
  );
});
