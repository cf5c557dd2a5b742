import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { apply } from "./apply.ts";
import { decodeCommand, encodeCommand, encodeStatePayload } from "./codec.ts";
import type {
  AllocScheduledCommand,
  AllocsScheduledCommand,
  Command,
  DeployWithWaveCommand,
  ScheduledPlacement,
} from "./command.ts";
import { baseState, scheduled } from "./fixtures_testing.ts";
import { randomCommand } from "./generate_testing.ts";
import { checkInvariants } from "./invariants.ts";
import { runningDeploy } from "./queries.ts";
import { SCHEDULE_PLACEMENTS_MAX } from "./limits.ts";
import { testSeeds, withSeed } from "./seed_testing.ts";
import { decodeSnapshot, encodeSnapshot } from "./snapshot.ts";
import type { ClusterState } from "./state.ts";
import { runApplyTable } from "./table_testing.ts";
import { GIB, Rng, stateFrom } from "./testing.ts";

/** The alloc fields of an `AllocScheduled` of the fixture's config. */
function placement(
  allocId: string,
  nodeId: string,
  workload = "web",
  extra: Partial<ScheduledPlacement> = {},
): ScheduledPlacement {
  const { type: _type, atMs: _atMs, deployId: _deployId, ...fields } =
    scheduled(allocId, nodeId, workload);
  return { ...fields, ...extra };
}

function batch(
  placements: readonly ScheduledPlacement[],
  extra: Partial<AllocsScheduledCommand> = {},
): AllocsScheduledCommand {
  return { type: "AllocsScheduled", placements, atMs: 3000, ...extra };
}

Deno.test("apply() handles AllocsScheduled", async (t) => {
  await runApplyTable(t, baseState(), [
    {
      name: "every placement is applied, each with the batch's deploy and time",
      command: batch([
        placement("web-1", "n1", "web", { hostPort: 20000 }),
        placement("web-2", "n2", "web", { hostPort: 20000 }),
        placement("api-1", "n1", "api", { hostPort: 20001 }),
      ], { deployId: "d1" }),
      expect: "ok",
      check: (state) => {
        for (const id of ["web-1", "web-2", "api-1"]) {
          const alloc = state.allocs.get(id);
          strictEqual(alloc?.status, "pulling");
          strictEqual(alloc?.deployId, "d1");
          strictEqual(alloc?.scheduledAtMs, 3000);
        }
        strictEqual(state.nodes.get("n1")?.cpuMillisReserved, 1500);
        deepStrictEqual(state.nodes.get("n1")?.hostPorts, [20000, 20001]);
      },
    },
    {
      name: "a refused placement refuses the whole batch, naming it",
      command: batch([
        placement("web-1", "n1"),
        placement("api-1", "n1", "api", { cpuMillis: 3000 }),
        placement("api-2", "n1", "api", { cpuMillis: 1000 }),
      ]),
      expect: "alloc.insufficient_cpu",
      message:
        'Placement 3 of 3 (alloc "api-2") refused, so none of the 3 was applied: Cannot place alloc "api-2": it needs 1 cpu and node "node-1" has 0.5 free',
    },
    {
      name:
        "placements see the ones before them: a port taken twice is refused",
      command: batch([
        placement("web-1", "n1", "web", { hostPort: 20000 }),
        placement("web-2", "n1", "web", { hostPort: 20000 }),
      ]),
      expect: "alloc.port_in_use",
      message: 'Placement 2 of 2 (alloc "web-2")',
    },
    {
      name: "an alloc id twice in one batch is refused",
      command: batch([placement("web-1", "n1"), placement("web-1", "n2")]),
      expect: "alloc.exists",
    },
    {
      name: "a placement on a draining node refuses the batch",
      setup: [{ type: "NodeDrain", nodeId: "n2", atMs: 5 }],
      command: batch([placement("web-1", "n1"), placement("web-2", "n2")]),
      expect: "node.draining",
      message: 'node "node-2" is draining',
    },
    {
      name: "an empty batch is invalid",
      command: batch([]),
      expect: "command.invalid",
      message: "at least one placement",
    },
    {
      name: "a batch over the bound is invalid",
      command: batch(
        Array.from(
          { length: SCHEDULE_PLACEMENTS_MAX + 1 },
          (_, i) => placement(`web-${i}`, "n1"),
        ),
      ),
      expect: "command.invalid",
      message: `at most ${SCHEDULE_PLACEMENTS_MAX} placements`,
    },
    {
      name: "an empty deploy id is invalid",
      command: batch([placement("web-1", "n1")], { deployId: "" }),
      expect: "command.invalid",
    },
    {
      name: "placements of a deploy never applied are refused",
      command: batch([placement("web-1", "n1")], { deployId: "d9" }),
      expect: "deploy.unknown",
      message:
        'Deploy "d9" is unknown (its Deploy was not applied), so none of the 1 placements was applied',
    },
    {
      name: "placements of a finished deploy are refused",
      setup: [{
        type: "DeployFinished",
        deployId: "d1",
        outcome: "succeeded",
        message: "",
        atMs: 2500,
      }],
      command: batch([placement("web-1", "n1")], { deployId: "d1" }),
      expect: "deploy.not_running",
      message: 'Deploy "d1" is not running (succeeded)',
    },
    {
      name: "placements of a rolled back deploy are refused",
      setup: [{
        type: "DeployFinished",
        deployId: "d1",
        outcome: "rolled_back",
        message: "web failed",
        atMs: 2500,
      }],
      command: batch([placement("web-1", "n1")], { deployId: "d1" }),
      expect: "deploy.not_running",
      message: "(rolled_back)",
    },
    {
      name: "a repair's batch (no deploy id) needs no running deploy",
      setup: [{
        type: "DeployFinished",
        deployId: "d1",
        outcome: "succeeded",
        message: "",
        atMs: 2500,
      }],
      command: batch([placement("web-1", "n1")]),
      expect: "ok",
      check: (state) => strictEqual(state.allocs.get("web-1")?.deployId, null),
    },
  ]);
});

/** The fixture with its deploy d1 finished: ready for the next deploy. */
function finishedState(): ClusterState {
  return stateFrom([{
    type: "DeployFinished",
    deployId: "d1",
    outcome: "succeeded",
    message: "",
    atMs: 2500,
  }], baseState());
}

function deployWithWave(
  placements: readonly ScheduledPlacement[],
  deployId = "d2",
): DeployWithWaveCommand {
  return {
    type: "DeployWithWave",
    deployId,
    config: baseState().config,
    placements,
    atMs: 2600,
  };
}

Deno.test("apply() handles DeployWithWave", async (t) => {
  await runApplyTable(t, finishedState(), [
    {
      name: "the deploy starts and its wave is placed, in one entry",
      command: deployWithWave([
        placement("web-1", "n1", "web", { hostPort: 20000 }),
        placement("api-1", "n2", "api", { hostPort: 20000 }),
      ]),
      expect: "ok",
      check: (state, before) => {
        const record = state.deploys.at(-1);
        strictEqual(record?.id, "d2");
        strictEqual(record?.status, "running");
        strictEqual(record?.previousConfig, before.config);
        for (const id of ["web-1", "api-1"]) {
          strictEqual(state.allocs.get(id)?.deployId, "d2");
          strictEqual(state.allocs.get(id)?.scheduledAtMs, 2600);
        }
      },
    },
    {
      name: "another deploy running: neither the deploy nor its wave",
      setup: [{
        type: "Deploy",
        deployId: "d3",
        config: baseState().config,
        atMs: 2550,
      }],
      command: deployWithWave([placement("web-1", "n1")]),
      expect: "deploy.in_progress",
      message: 'Deploy "d3" is still running',
    },
    {
      name: "a refused placement refuses the deploy too, naming the alloc",
      command: deployWithWave([
        placement("web-1", "n1"),
        placement("web-2", "n1", "web", { memoryBytes: 64 * GIB }),
      ]),
      expect: "alloc.insufficient_memory",
      message: 'Placement 2 of 2 (alloc "web-2") refused, so none of the 2',
    },
    {
      name: "a placement of a workload the new config lacks is refused",
      command: deployWithWave([
        placement("ghost-1", "n1", "web", { workload: "ghost" }),
      ]),
      expect: "alloc.unknown_workload",
    },
    {
      name: "an existing deploy id is refused",
      command: deployWithWave([placement("web-1", "n1")], "d1"),
      expect: "deploy.exists",
    },
    {
      name: "an empty wave is invalid",
      command: deployWithWave([]),
      expect: "command.invalid",
      message: "at least one placement",
    },
  ]);
});

Deno.test("a refused DeployWithWave leaves the state as it was", () => {
  const state = finishedState();
  const refused = apply(
    state,
    deployWithWave([
      placement("web-1", "n1"),
      placement("web-2", "n1", "web", { memoryBytes: 64 * GIB }),
    ]),
  );
  ok(!refused.ok);
  strictEqual(refused.rejection.allocId, "web-2");
  strictEqual(state.deploys.at(-1)?.id, "d1");
  strictEqual(state.allocs.has("web-1"), false);
});

Deno.test("DeployWithWave is a Deploy then its AllocsScheduled, through the log encoding", () => {
  const command = deployWithWave([
    placement("web-1", "n1", "web", { hostPort: 20000 }),
    placement("api-1", "n2", "api", { hostPort: 20000 }),
  ]);
  const decoded = decodeCommand(encodeCommand(command));
  ok(decoded.ok);
  deepStrictEqual(decoded.command, command);
  const whole = apply(finishedState(), decoded.command);
  const inTwo = applyAll(finishedState(), [
    {
      type: "Deploy",
      deployId: "d2",
      config: command.config,
      atMs: command.atMs,
    },
    batch(command.placements, { deployId: "d2", atMs: command.atMs }),
  ]);
  ok(whole.ok && inTwo !== null);
  strictEqual(encodeStatePayload(whole.state), encodeStatePayload(inTwo));
  deepStrictEqual(checkInvariants(whole.state), []);
});

Deno.test("decodeCommand refuses a malformed DeployWithWave, naming the field", () => {
  const { placements: _placements, ...rest } = deployWithWave([]);
  for (
    const [value, field] of [
      [rest, "placements"],
      [
        { ...rest, placements: [{ ...placement("web-1", "n1"), extra: 1 }] },
        "extra",
      ],
      [{ ...rest, placements: [], config: "web" }, "config"],
    ] as const
  ) {
    const decoded = decodeCommand(
      new TextEncoder().encode(JSON.stringify(value)),
    );
    ok(!decoded.ok);
    strictEqual(decoded.rejection.code, "command.invalid");
    ok(decoded.rejection.message.includes(field), decoded.rejection.message);
  }
});

Deno.test("a refused AllocsScheduled names the refused alloc and leaves nothing behind", () => {
  const state = baseState();
  const applied = apply(
    state,
    batch([
      placement("web-1", "n1"),
      placement("web-2", "n1", "web", { memoryBytes: 64 * GIB }),
    ]),
  );
  ok(!applied.ok);
  strictEqual(applied.rejection.code, "alloc.insufficient_memory");
  strictEqual(applied.rejection.allocId, "web-2");
  // Pure: the state it was given is untouched, the first placement nowhere.
  strictEqual(state.allocs.has("web-1"), false);
  strictEqual(state.nodes.get("n1")?.cpuMillisReserved, 0);
});

Deno.test("AllocsScheduled survives the log encoding and a snapshot round trip", () => {
  const command = batch([
    placement("web-1", "n1", "web", { hostPort: 20000 }),
    placement("api-1", "n2", "api", {
      hostPort: 20000,
      replacesAllocId: "api-0",
    }),
  ], { deployId: "d1" });
  const decoded = decodeCommand(encodeCommand(command));
  ok(decoded.ok);
  deepStrictEqual(decoded.command, command);
  const applied = apply(baseState(), decoded.command);
  ok(applied.ok);
  const restored = decodeSnapshot(encodeSnapshot(applied.state));
  strictEqual(
    encodeStatePayload(restored),
    encodeStatePayload(applied.state),
  );
  deepStrictEqual(checkInvariants(restored), []);
  // The usage snapshots leave out is rebuilt to what the batch reserved.
  deepStrictEqual(restored.nodes.get("n1"), applied.state.nodes.get("n1"));
  deepStrictEqual(restored.nodes.get("n2"), applied.state.nodes.get("n2"));
});

Deno.test("decodeCommand refuses a malformed AllocsScheduled, naming the field", () => {
  const bytes = new TextEncoder().encode(JSON.stringify({
    type: "AllocsScheduled",
    atMs: 1,
    placements: [{ ...placement("web-1", "n1"), cpuMillis: -1 }],
  }));
  const decoded = decodeCommand(bytes);
  ok(!decoded.ok);
  strictEqual(decoded.rejection.code, "command.invalid");
  ok(
    decoded.rejection.message.includes("placements[0].cpuMillis"),
    decoded.rejection.message,
  );
});

/** The same placements as one `AllocScheduled` each. */
function oneByOne(command: AllocsScheduledCommand): AllocScheduledCommand[] {
  return command.placements.map((p) => ({
    type: "AllocScheduled",
    ...p,
    ...(command.deployId === undefined ? {} : { deployId: command.deployId }),
    atMs: command.atMs,
  }));
}

function applyAll(
  state: ClusterState,
  commands: readonly Command[],
): ClusterState | null {
  let current = state;
  for (const command of commands) {
    const applied = apply(current, command);
    if (!applied.ok) return null;
    current = applied.state;
  }
  return current;
}

Deno.test("AllocsScheduled accepts exactly what its placements one by one would, with the same state", () => {
  let batches = 0;
  let accepted = 0;
  for (const seed of testSeeds(20)) {
    withSeed(seed, () => {
      const rng = new Rng(seed);
      let state = stateFrom([], baseState());
      for (let step = 0; step < 400; step++) {
        const command = randomCommand(rng, state, 4000 + step);
        if (command.type === "AllocsScheduled") {
          batches++;
          let batch = command;
          if (
            command.deployId !== undefined &&
            runningDeploy(state)?.id !== command.deployId
          ) {
            // A batch of a deploy that is not running is refused whole,
            // before any placement is checked; its placements are then
            // compared as a repair's (no deploy).
            const refused = apply(state, command);
            ok(!refused.ok, `step ${step}`);
            ok(refused.rejection.code.startsWith("deploy."), `step ${step}`);
            const { deployId: _deployId, ...repair } = command;
            batch = repair;
          }
          const whole = apply(state, batch);
          const single = applyAll(state, oneByOne(batch));
          strictEqual(whole.ok, single !== null, `step ${step}`);
          if (whole.ok && single !== null) {
            accepted++;
            strictEqual(
              encodeStatePayload(whole.state),
              encodeStatePayload(single),
            );
          }
        }
        const applied = apply(state, command);
        if (applied.ok) state = applied.state;
      }
    });
  }
  ok(batches > 100, `only ${batches} batches generated`);
  ok(accepted > 10, `only ${accepted} batches accepted`);
});
