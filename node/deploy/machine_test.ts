import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { testSeeds, withSeed } from "../../raft/fsm/seed_testing.ts";
import {
  DeployMachine,
  type MachineAction,
  type MachineAlloc,
  type MachineEvent,
  type MachineInput,
} from "./machine.ts";

function alloc(
  allocId: string,
  service: string,
  options: Partial<MachineAlloc> = {},
): MachineAlloc {
  return {
    allocId,
    service,
    nodeId: options.nodeId ?? "n1",
    image: options.image ?? `${service}:v1`,
    wave: options.wave ?? 1,
    replaces: options.replaces ?? null,
  };
}

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

const pulled = (image: string, nodeId = "n1"): MachineEvent => ({
  type: "pulled",
  nodeId,
  image,
  cached: false,
});

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

// Seeded simulation: operations complete in random order with random
// failures and cancels; late events are delivered too. Checked against the
// rules of the machine's header.

/** mulberry32: a small seeded generator. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomInput(random: () => number): MachineInput {
  const atomic = random() < 0.8;
  const allocs: MachineAlloc[] = [];
  const stops: MachineInput["stops"][number][] = [];
  const services = 1 + Math.floor(random() * 4);
  for (let s = 0; s < services; s++) {
    const service = `svc${s}`;
    const replicas = 1 + Math.floor(random() * 4);
    const rolled = atomic && random() < 0.6;
    const maxParallel = 1 + Math.floor(random() * 2);
    for (let r = 0; r < replicas; r++) {
      const order = random() < 0.5 ? "start-first" : "stop-first";
      allocs.push(alloc(`${service}-new-${r}`, service, {
        nodeId: `n${Math.floor(random() * 3)}`,
        image: `${service}:${random() < 0.8 ? "v2" : "v3"}`,
        wave: rolled ? 1 + Math.floor(r / maxParallel) : 1,
        replaces: rolled ? { allocId: `${service}-old-${r}`, order } : null,
      }));
    }
    if (atomic && random() < 0.3) {
      stops.push({
        allocId: `${service}-gone`,
        service,
        reason: "service removed",
        when: random() < 0.5 ? "first" : "last",
      });
    }
  }
  return { allocs, stops, atomic };
}

type Op =
  | { kind: "schedule"; allocId: string }
  | { kind: "pull"; nodeId: string; image: string }
  | { kind: "start"; allocId: string }
  | { kind: "health"; allocId: string }
  | { kind: "stop"; allocId: string };

/** What the simulated cluster saw, for the checks. */
class Observed {
  readonly scheduled = new Set<string>();
  readonly started = new Set<string>();
  readonly healthy = new Set<string>();
  readonly stopIssued = new Set<string>();
  readonly stopped = new Set<string>();
  readonly pulled = new Set<string>();
}

function checkAction(
  input: MachineInput,
  seen: Observed,
  action: MachineAction,
  rollingBack: boolean,
): void {
  const byId = (id: string) => input.allocs.find((a) => a.allocId === id);
  if (action.type === "schedule") {
    const a = byId(action.allocId)!;
    assert(!rollingBack, "nothing is committed during a rollback");
    for (const stop of input.stops) {
      if (stop.when === "first") {
        assert(seen.stopped.has(stop.allocId), "first stops come first");
      }
    }
    for (const earlier of input.allocs) {
      if (earlier.wave >= a.wave) continue;
      assert(
        seen.healthy.has(earlier.allocId) || !input.atomic,
        "a wave opens once the one before is healthy",
      );
      if (earlier.replaces !== null) {
        assert(
          seen.stopped.has(earlier.replaces.allocId),
          "a wave opens once the old allocs of the one before are stopped",
        );
      }
    }
    if (a.replaces?.order === "stop-first") {
      assert(seen.stopped.has(a.replaces.allocId), "stop-first stops first");
    }
  }
  if (action.type === "start") {
    const a = byId(action.allocId)!;
    assert(seen.scheduled.has(a.allocId), "start after the commit");
    assert(seen.pulled.has(`${a.nodeId} ${a.image}`), "start after the pull");
  }
  if (action.type === "stop") {
    assert(!seen.stopIssued.has(action.allocId), "stopped once");
    const replacing = input.allocs.find((a) =>
      a.replaces?.allocId === action.allocId
    );
    if (replacing?.replaces?.order === "start-first") {
      assert(
        seen.healthy.has(replacing.allocId),
        "a start-first old alloc stops once its replacement is healthy",
      );
    }
    const last = input.stops.find((s) =>
      s.allocId === action.allocId && s.when === "last"
    );
    if (last !== undefined) {
      assert(
        input.allocs.every((a) => seen.healthy.has(a.allocId)),
        "last stops once every new alloc is healthy",
      );
    }
  }
}

function simulate(seed: number): void {
  const random = rng(seed);
  const input = randomInput(random);
  const failRate = random() < 0.5 ? 0 : random() * 0.2;
  const cancelAt = input.atomic && random() < 0.2
    ? Math.floor(random() * 30)
    : -1;
  const machine = new DeployMachine(input);
  const pending: Op[] = [];
  const seen = new Observed();
  const finishes: Extract<MachineAction, { type: "finish" }>[] = [];

  const run = (actions: MachineAction[]) => {
    for (const action of actions) {
      assertEquals(finishes.length, 0, "no action after finish");
      checkAction(input, seen, action, machine.rollingBack);
      switch (action.type) {
        case "schedule":
          pending.push({ kind: "schedule", allocId: action.allocId });
          break;
        case "pull":
          pending.push({
            kind: "pull",
            nodeId: action.nodeId,
            image: action.image,
          });
          break;
        case "start":
          pending.push({ kind: "start", allocId: action.allocId });
          break;
        case "stop":
          seen.stopIssued.add(action.allocId);
          pending.push({ kind: "stop", allocId: action.allocId });
          break;
        case "finish":
          finishes.push(action);
          break;
        case "phase":
          break;
      }
    }
  };

  run(machine.start());
  for (let round = 0; pending.length > 0; round++) {
    assert(round < 10_000, "the simulation ends");
    if (round === cancelAt) run(machine.step({ type: "cancel", reason: "c" }));
    const [op] = pending.splice(Math.floor(random() * pending.length), 1);
    assert(op !== undefined);
    const fail = random() < failRate;
    switch (op.kind) {
      case "schedule":
        if (!fail) seen.scheduled.add(op.allocId);
        run(machine.step(
          fail
            ? {
              type: "allocFailed",
              allocId: op.allocId,
              reason: "refused",
              started: false,
              logLines: [],
            }
            : { type: "scheduled", allocId: op.allocId },
        ));
        break;
      case "pull":
        if (!fail) seen.pulled.add(`${op.nodeId} ${op.image}`);
        run(machine.step(
          fail
            ? {
              type: "pullFailed",
              nodeId: op.nodeId,
              image: op.image,
              reason: "x",
            }
            : pulled(op.image, op.nodeId),
        ));
        break;
      case "start":
        if (fail) {
          run(machine.step({
            type: "allocFailed",
            allocId: op.allocId,
            reason: "start failed",
            started: false,
            logLines: [],
          }));
        } else {
          seen.started.add(op.allocId);
          run(machine.step({ type: "started", allocId: op.allocId }));
          pending.push({ kind: "health", allocId: op.allocId });
        }
        break;
      case "health":
        if (!fail) seen.healthy.add(op.allocId);
        run(machine.step(
          fail
            ? {
              type: "allocFailed",
              allocId: op.allocId,
              reason: "unhealthy",
              started: true,
              logLines: ["last"],
            }
            : { type: "healthy", allocId: op.allocId },
        ));
        break;
      case "stop":
        seen.stopped.add(op.allocId);
        run(machine.step({ type: "stopped", allocId: op.allocId }));
        break;
    }
  }
  assertEquals(finishes.length, 1, "finish exactly once");
  const finish = finishes[0]!;
  const olds = new Set([
    ...input.allocs.flatMap((a) =>
      a.replaces === null ? [] : [a.replaces.allocId]
    ),
    ...input.stops.map((s) => s.allocId),
  ]);
  assertEquals(
    new Set(finish.stoppedOld),
    new Set([...seen.stopped].filter((id) => olds.has(id))),
    "stoppedOld names exactly the old allocs stopped",
  );
  if (finish.outcome === "succeeded") {
    assert(finish.failures.length === 0 || !input.atomic);
    if (input.atomic) { for (const id of olds) assert(seen.stopped.has(id)); }
  } else {
    assert(input.atomic, "only an atomic run rolls back");
    for (const id of seen.scheduled) {
      assert(seen.stopped.has(id), `committed alloc ${id} stopped`);
    }
    for (const stop of input.stops) {
      if (stop.when === "last") {
        assert(
          !seen.stopped.has(stop.allocId),
          "a rollback keeps last stops serving",
        );
      }
    }
  }
}

Deno.test("random completion orders, failures and cancels keep the rollout rules", () => {
  for (const seed of testSeeds(400)) withSeed(seed, simulate);
});
