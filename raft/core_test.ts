import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { bytes, TestCluster } from "./_testing.ts";

Deno.test("a three-node cluster elects one leader and commits proposals everywhere", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  assertEquals(cluster.leaders().map((core) => core.id), ["a"]);
  for (let i = 0; i < 20; i++) assert(cluster.node("a").propose(bytes(`x${i}`)).ok);
  cluster.settle();
  cluster.tickAll(2);
  for (const id of ["a", "b", "c"]) {
    assertEquals(cluster.commands(id), Array.from({ length: 20 }, (_, i) => `x${i}`));
  }
});
