import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { testSeeds, withSeed } from "../../raft/fsm/seed_testing.ts";
import {
  DeployMachine,
  type MachineAction,
  type MachineAlloc,
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
    replacesAllocId: options.replacesAllocId ?? null,
    serial: options.serial ?? false,
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

const twoNew: MachineInput = {
  allocs: [alloc("web-1", "web", { nodeId: "n2" }), alloc("api-1", "api")],
  stopsAfter: [],
  atomic: true,
};

Deno.test("a first deploy pulls every image at once and finishes when all are healthy", () => {
  const machine = new DeployMachine(twoNew);
  const first = machine.start();
  assertEquals(ofType(first, "pull").map((a) => `${a.nodeId} ${a.image}`), [
    "n2 web:v1",
    "n1 api:v1",
  ]);
  assertEquals(ofType(first, "start"), []);
  const afterWeb = machine.step({
    type: "pulled",
    nodeId: "n2",
    image: "web:v1",
    cached: true,
  });
  assertEquals(ofType(afterWeb, "start").map((a) => a.allocId), ["web-1"]);
  const pulled = ofType(afterWeb, "phase").find((a) => a.phase === "pulled");
  assertEquals(pulled?.message, "cached");
  machine.step({
    type: "pulled",
    nodeId: "n1",
    image: "api:v1",
    cached: false,
  });
  machine.step({ type: "started", allocId: "web-1" });
  machine.step({ type: "started", allocId: "api-1" });
  assertEquals(machine.step({ type: "healthy", allocId: "web-1" }).at(-1), {
    type: "phase",
    service: "web",
    allocId: "web-1",
    phase: "healthy",
    message: "",
  });
  const last = machine.step({ type: "healthy", allocId: "api-1" });
  assertEquals(last.at(-1), {
    type: "finish",
    outcome: "succeeded",
    failures: [],
  });
  assert(machine.finished);
  assertEquals(machine.step({ type: "healthy", allocId: "api-1" }), []);
});

Deno.test("two allocs of one image on one node share one pull", () => {
  const machine = new DeployMachine({
    allocs: [alloc("web-1", "web"), alloc("web-2", "web")],
    stopsAfter: [],
    atomic: true,
  });
  assertEquals(ofType(machine.start(), "pull").length, 1);
  const actions = machine.step({
    type: "pulled",
    nodeId: "n1",
    image: "web:v1",
    cached: false,
  });
  assertEquals(ofType(actions, "start").map((a) => a.allocId), [
    "web-1",
    "web-2",
  ]);
});

Deno.test("a changed service rolls one replica at a time and stops old allocs only at the end", () => {
  const machine = new DeployMachine({
    allocs: [
      alloc("web-b-0", "web", { serial: true, replacesAllocId: "web-a-0" }),
      alloc("web-b-1", "web", { serial: true, replacesAllocId: "web-a-1" }),
    ],
    stopsAfter: [
      { allocId: "web-a-0", service: "web", reason: "replaced by web-b-0" },
      { allocId: "web-a-1", service: "web", reason: "replaced by web-b-1" },
    ],
    atomic: true,
  });
  machine.start();
  const pulled = machine.step({
    type: "pulled",
    nodeId: "n1",
    image: "web:v1",
    cached: true,
  });
  assertEquals(ofType(pulled, "start").map((a) => a.allocId), ["web-b-0"]);
  assertEquals(
    ofType(machine.step({ type: "started", allocId: "web-b-0" }), "start"),
    [],
  );
  const healthy = machine.step({ type: "healthy", allocId: "web-b-0" });
  assertEquals(ofType(healthy, "start").map((a) => a.allocId), ["web-b-1"]);
  assertEquals(ofType(healthy, "stop"), []);
  machine.step({ type: "started", allocId: "web-b-1" });
  const all = machine.step({ type: "healthy", allocId: "web-b-1" });
  assertEquals(ofType(all, "stop").map((a) => a.allocId), [
    "web-a-0",
    "web-a-1",
  ]);
  assertEquals(ofType(all, "finish"), []);
  machine.step({ type: "stopped", allocId: "web-a-0" });
  const done = machine.step({ type: "stopped", allocId: "web-a-1" });
  assertEquals(ofType(done, "finish")[0]?.outcome, "succeeded");
});

Deno.test("a health failure rolls back every new alloc and leaves the old ones alone", () => {
  const machine = new DeployMachine({
    allocs: [
      alloc("web-b-0", "web", { serial: true, replacesAllocId: "web-a-0" }),
      alloc("api-b-0", "api"),
      alloc("db-b-0", "db"),
    ],
    stopsAfter: [{ allocId: "web-a-0", service: "web", reason: "replaced" }],
    atomic: true,
  });
  machine.start();
  machine.step({ type: "pulled", nodeId: "n1", image: "web:v1", cached: true });
  machine.step({ type: "pulled", nodeId: "n1", image: "api:v1", cached: true });
  machine.step({ type: "started", allocId: "web-b-0" });
  machine.step({ type: "started", allocId: "api-b-0" });
  machine.step({ type: "healthy", allocId: "web-b-0" });
  const failed = machine.step({
    type: "allocFailed",
    allocId: "api-b-0",
    reason: "not healthy within 2000 ms, last: HTTP 503",
    started: true,
    logLines: ["boom"],
  });
  const stops = ofType(failed, "stop");
  assertEquals(stops.map((s) => [s.allocId, s.started, s.finalStatus]), [
    ["api-b-0", true, "failed"],
    ["web-b-0", true, "stopped"],
    ["db-b-0", false, "stopped"],
  ]);
  assert(machine.rollingBack);
  machine.step({ type: "stopped", allocId: "api-b-0" });
  machine.step({ type: "stopped", allocId: "web-b-0" });
  machine.step({ type: "stopped", allocId: "db-b-0" });
  // The db pull still runs: the rollback waits for it.
  const end = machine.step({
    type: "pulled",
    nodeId: "n1",
    image: "db:v1",
    cached: false,
  });
  const finish = ofType(end, "finish")[0];
  assertEquals(finish?.outcome, "rolled_back");
  assertEquals(finish?.failures, [{
    service: "api",
    allocId: "api-b-0",
    reason: "not healthy within 2000 ms, last: HTTP 503",
    logLines: ["boom"],
  }]);
  assertEquals(ofType(end, "start"), []);
});

Deno.test("a pull failure fails its allocs before they start", () => {
  const machine = new DeployMachine(twoNew);
  machine.start();
  const actions = machine.step({
    type: "pullFailed",
    nodeId: "n2",
    image: "web:v1",
    reason: "manifest unknown",
  });
  assertEquals(ofType(actions, "stop").map((s) => [s.allocId, s.started]), [
    ["web-1", false],
    ["api-1", false],
  ]);
  assertEquals(
    ofType(actions, "phase").find((p) => p.phase === "failed")?.message,
    'pull of "web:v1" failed: manifest unknown',
  );
});

Deno.test("an alloc starting during a rollback is stopped once its start returns", () => {
  const machine = new DeployMachine(twoNew);
  machine.start();
  machine.step({ type: "pulled", nodeId: "n2", image: "web:v1", cached: true });
  machine.step({ type: "pulled", nodeId: "n1", image: "api:v1", cached: true });
  machine.step({ type: "started", allocId: "api-1" });
  const failed = machine.step({
    type: "allocFailed",
    allocId: "api-1",
    reason: "exit code 3",
    started: true,
    logLines: [],
  });
  assertEquals(ofType(failed, "stop").map((s) => s.allocId), ["api-1"]);
  const started = machine.step({ type: "started", allocId: "web-1" });
  assertEquals(ofType(started, "stop").map((s) => [s.allocId, s.started]), [[
    "web-1",
    true,
  ]]);
});

Deno.test("a repair stops only the alloc that failed and finishes with the rest", () => {
  const machine = new DeployMachine({ ...twoNew, atomic: false });
  machine.start();
  machine.step({ type: "pulled", nodeId: "n2", image: "web:v1", cached: true });
  machine.step({ type: "pulled", nodeId: "n1", image: "api:v1", cached: true });
  machine.step({ type: "started", allocId: "web-1" });
  const failed = machine.step({
    type: "allocFailed",
    allocId: "api-1",
    reason: "start failed",
    started: false,
    logLines: [],
  });
  assertEquals(ofType(failed, "stop").map((s) => s.allocId), ["api-1"]);
  machine.step({ type: "stopped", allocId: "api-1" });
  const end = machine.step({ type: "healthy", allocId: "web-1" });
  assertEquals(ofType(end, "finish")[0]?.outcome, "succeeded");
  assertEquals(ofType(end, "finish")[0]?.failures.length, 1);
});

Deno.test("the machine refuses duplicate alloc ids", () => {
  let threw = false;
  try {
    new DeployMachine({
      allocs: [alloc("a", "web"), alloc("a", "web")],
      stopsAfter: [],
      atomic: true,
    });
  } catch {
    threw = true;
  }
  assert(threw);
});

// Seeded simulation: operations complete in random order with random
// failures; late events are delivered too. Checked against the rules.

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

type Op =
  | { kind: "pull"; nodeId: string; image: string }
  | { kind: "start"; allocId: string }
  | { kind: "health"; allocId: string }
  | { kind: "stop"; allocId: string };

function randomInput(random: () => number): MachineInput {
  const services = 1 + Math.floor(random() * 4);
  const allocs: MachineAlloc[] = [];
  const stopsAfter: { allocId: string; service: string; reason: string }[] = [];
  for (let s = 0; s < services; s++) {
    const service = `svc${s}`;
    const replicas = 1 + Math.floor(random() * 3);
    const changed = random() < 0.5;
    for (let r = 0; r < replicas; r++) {
      const nodeId = `n${Math.floor(random() * 3)}`;
      const image = `${service}:${random() < 0.8 ? "v2" : "v3"}`;
      allocs.push(
        alloc(`${service}-new-${r}`, service, {
          nodeId,
          image,
          serial: changed,
          replacesAllocId: changed ? `${service}-old-${r}` : null,
        }),
      );
      if (changed) {
        stopsAfter.push({
          allocId: `${service}-old-${r}`,
          service,
          reason: "replaced",
        });
      }
    }
  }
  return { allocs, stopsAfter, atomic: random() < 0.8 };
}

function simulate(seed: number): void {
  const random = rng(seed);
  const input = randomInput(random);
  const failRate = random() < 0.5 ? 0 : random() * 0.3;
  const machine = new DeployMachine(input);
  const pending: Op[] = [];
  const started = new Set<string>();
  const healthy = new Set<string>();
  const stopped = new Set<string>();
  const pulled = new Set<string>();
  let injected = 0;
  let finishes: Extract<MachineAction, { type: "finish" }>[] = [];
  const serialOrder = new Map<string, string[]>();
  for (const a of input.allocs) {
    if (!a.serial) continue;
    serialOrder.set(a.service, [
      ...serialOrder.get(a.service) ?? [],
      a.allocId,
    ]);
  }

  const run = (actions: MachineAction[]) => {
    for (const action of actions) {
      assertEquals(finishes.length, 0, "no action after finish");
      switch (action.type) {
        case "pull":
          pending.push({
            kind: "pull",
            nodeId: action.nodeId,
            image: action.image,
          });
          break;
        case "start": {
          assert(!started.has(action.allocId), "started once");
          const a = input.allocs.find((x) => x.allocId === action.allocId);
          assert(a !== undefined);
          assert(pulled.has(`${a.nodeId} ${a.image}`), "start after pull");
          for (const earlier of serialOrder.get(a.service) ?? []) {
            if (earlier === a.allocId) break;
            assert(
              healthy.has(earlier) || !input.atomic,
              "a replacement starts after the previous one is healthy",
            );
          }
          started.add(action.allocId);
          pending.push({ kind: "start", allocId: action.allocId });
          break;
        }
        case "stop": {
          assert(!stopped.has(action.allocId), "stopped once");
          stopped.add(action.allocId);
          const isOld = input.stopsAfter.some((s) =>
            s.allocId === action.allocId
          );
          if (isOld) {
            assert(
              input.allocs.every((a) => healthy.has(a.allocId)) ||
                !input.atomic,
              "old allocs stop after every new one is healthy",
            );
          }
          pending.push({ kind: "stop", allocId: action.allocId });
          break;
        }
        case "finish":
          finishes = [...finishes, action];
          break;
        case "phase":
          break;
      }
    }
  };

  run(machine.start());
  for (let round = 0; pending.length > 0; round++) {
    assert(round < 10_000, "the simulation ends");
    const index = Math.floor(random() * pending.length);
    const [op] = pending.splice(index, 1);
    assert(op !== undefined);
    const fail = random() < failRate;
    if (fail) injected++;
    switch (op.kind) {
      case "pull":
        if (!fail) pulled.add(`${op.nodeId} ${op.image}`);
        run(machine.step(
          fail
            ? {
              type: "pullFailed",
              nodeId: op.nodeId,
              image: op.image,
              reason: "x",
            }
            : {
              type: "pulled",
              nodeId: op.nodeId,
              image: op.image,
              cached: false,
            },
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
          run(machine.step({ type: "started", allocId: op.allocId }));
          pending.push({ kind: "health", allocId: op.allocId });
        }
        break;
      case "health":
        if (!fail) healthy.add(op.allocId);
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
        run(machine.step({ type: "stopped", allocId: op.allocId }));
        break;
    }
  }
  assertEquals(finishes.length, 1, "finish exactly once");
  const finish = finishes[0];
  assert(finish !== undefined);
  const anyFailure = finish.failures.length > 0;
  if (input.atomic) {
    assertEquals(finish.outcome, anyFailure ? "rolled_back" : "succeeded");
    if (anyFailure) {
      for (const a of input.allocs) {
        assert(stopped.has(a.allocId), `new alloc ${a.allocId} stopped`);
      }
      for (const s of input.stopsAfter) {
        assert(!stopped.has(s.allocId), "old allocs keep serving");
      }
    } else {
      for (const s of input.stopsAfter) assert(stopped.has(s.allocId));
    }
  } else {
    assertEquals(finish.outcome, "succeeded");
  }
  if (injected === 0) assertEquals(finish.failures, []);
}

Deno.test("random completion orders and failures keep the rollout rules", () => {
  for (const seed of testSeeds(300)) withSeed(seed, simulate);
});
