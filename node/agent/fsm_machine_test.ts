import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import {
  baseCommands,
  scheduled,
  toHealthy,
} from "../../raft/fsm/fixtures_testing.ts";
import { Rng } from "../../raft/fsm/testing.ts";
import { randomCommand } from "../../raft/fsm/generate_testing.ts";
import { testSeeds, withSeed } from "../../raft/fsm/seed_testing.ts";
import { type Command, encodeCommand, encodeSnapshot } from "../../raft/mod.ts";
import type { Entry } from "../../raft/mod.ts";
import { FsmMachine } from "./fsm_machine.ts";

function entries(commands: readonly Command[]): Entry[] {
  return commands.map((command, i) => ({
    index: i + 1,
    term: 1,
    kind: "command",
    data: encodeCommand(command),
  }));
}

Deno.test("FsmMachine applies entries, tells listeners, and skips Raft's own entries", () => {
  const fsm = new FsmMachine();
  const seen: string[] = [];
  fsm.onApplied((applied) => seen.push(applied.outcome));
  for (const entry of entries(baseCommands)) fsm.apply(entry);
  fsm.apply({ index: 99, term: 1, kind: "noop", data: new Uint8Array() });
  fsm.apply({
    index: 100,
    term: 1,
    kind: "command",
    data: new Uint8Array([1, 2]),
  });
  assertEquals(fsm.state.nodes.size, 3);
  assertEquals(seen.slice(-2), ["skipped", "rejected"]);
  assertTrue(seen.slice(0, -2).every((o) => o === "applied"));
});

Deno.test("FsmMachine snapshots restore the same state at the snapshot's index and tell subscribers", () => {
  for (const seed of testSeeds(3)) {
    withSeed(seed, () => {
      const rng = new Rng(seed);
      const fsm = new FsmMachine();
      const commands: Command[] = [
        ...baseCommands,
        scheduled("a1", "n1"),
        ...toHealthy("a1", "10.0.0.1:20000"),
      ];
      for (const entry of entries(commands)) fsm.apply(entry);
      for (let i = 0; i < 100; i++) {
        const command = randomCommand(rng, fsm.state, 10_000 + i);
        fsm.apply({
          index: 1000 + i,
          term: 2,
          kind: "command",
          data: encodeCommand(command),
        });
      }
      assertEquals(fsm.index, 1099);
      const bytes = fsm.snapshot();
      assertEquals([...bytes], [...encodeSnapshot(fsm.state)]);
      const restored = new FsmMachine();
      const seen: number[] = [];
      restored.onRestored((_state, index) => seen.push(index));
      let changes = 0;
      restored.subscribe(() => changes++);
      restored.restore(bytes, 77);
      assertEquals([...restored.snapshot()], [...bytes]);
      assertEquals([restored.index, seen, changes], [77, [77], 1]);
    });
  }
});

Deno.test("FsmMachine tells subscribers of applied commands only", () => {
  const fsm = new FsmMachine();
  let changes = 0;
  fsm.subscribe(() => changes++);
  for (const entry of entries(baseCommands)) fsm.apply(entry);
  fsm.apply({ index: 99, term: 1, kind: "noop", data: new Uint8Array() });
  assertEquals([changes, fsm.index], [baseCommands.length, 99]);
});
