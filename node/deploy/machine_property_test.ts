/**
 * The deploy machine under a seeded simulation: operations complete in
 * random order with random failures and cancels, late events delivered
 * too, and every action checked against the rules of machine.ts's header.
 */
import assert, { deepStrictEqual as assertEquals } from "node:assert/strict";
import { testSeeds, withSeed } from "../../raft/fsm/seed_testing.ts";
import {
  DeployMachine,
  type MachineAction,
  type MachineAlloc,
  type MachineInput,
} from "./machine.ts";
import { alloc, pulled } from "./_machine_testing.ts";

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
