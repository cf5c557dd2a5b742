import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import {
  baseCommands,
  scheduled,
  toHealthy,
} from "../../raft/fsm/fixtures_testing.ts";
import { Rng } from "../../raft/fsm/testing.ts";
import { randomCommand } from "../../raft/fsm/generate_testing.ts";
import { testSeeds, withSeed } from "../../raft/fsm/seed_testing.ts";
import {
  type Command,
  encodeCommand,
  encodeSnapshot,
  SnapshotError,
} from "../../raft/mod.ts";
import type { Entry } from "../../raft/mod.ts";
import {
  decodeSnapshotSync,
  encodeSnapshotSync,
  FsmMachine,
} from "./fsm_machine.ts";

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

Deno.test("the synchronous snapshot equals encodeSnapshot's bytes and restores the same state", async () => {
  for (const seed of testSeeds(3)) {
    const fsm = new FsmMachine();
    const rng = new Rng(seed);
    const commands: Command[] = [
      ...baseCommands,
      scheduled("a1", "n1"),
      ...toHealthy("a1", "10.0.0.1:20000"),
    ];
    for (const entry of entries(commands)) fsm.apply(entry);
    for (let i = 0; i < 200; i++) {
      const command = randomCommand(rng, fsm.state, 10_000 + i);
      fsm.apply({
        index: 1000 + i,
        term: 2,
        kind: "command",
        data: encodeCommand(command),
      });
    }
    const bytes = encodeSnapshotSync(fsm.state);
    const expected = await encodeSnapshot(fsm.state);
    withSeed(seed, () => {
      assertEquals([...bytes], [...expected]);
      const restored = new FsmMachine();
      restored.restore(bytes);
      assertEquals([...encodeSnapshotSync(restored.state)], [...bytes]);
    });
  }
});

Deno.test("decodeSnapshotSync refuses truncated, foreign, future and corrupt snapshots", async (t) => {
  const good = encodeSnapshotSync(new FsmMachine().state);
  const flipped = good.slice();
  flipped[flipped.length - 2] = flipped[flipped.length - 2]! ^ 1;
  const future = good.slice();
  new DataView(future.buffer).setUint32(8, 99);
  const foreign = good.slice();
  foreign[0] = 0x41;
  const cases: [string, Uint8Array, string][] = [
    ["truncated", good.subarray(0, 20), "snapshot.truncated"],
    ["foreign magic", foreign, "snapshot.bad_magic"],
    ["a future version", future, "snapshot.unsupported_version"],
    ["a flipped payload bit", flipped, "snapshot.checksum_mismatch"],
  ];
  for (const [name, bytes, code] of cases) {
    await t.step(name, () => {
      try {
        decodeSnapshotSync(bytes);
        throw new Error("accepted");
      } catch (error) {
        assertTrue(error instanceof SnapshotError, String(error));
        assertEquals((error as SnapshotError).code, code);
      }
    });
  }
});
