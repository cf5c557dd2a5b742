import { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  committedIndex,
  isQuorum,
  quorumSize,
  voteOutcome,
} from "./_quorum.ts";

Deno.test("quorumSize() is a strict majority", () => {
  assertEquals([1, 2, 3, 4, 5].map(quorumSize), [1, 2, 2, 3, 3]);
  assertEquals(isQuorum(0, 0), false);
});

Deno.test("committedIndex() is the index a majority of voters hold", async (t) => {
  const cases: { matches: Record<string, number>; want: number }[] = [
    { matches: { a: 5 }, want: 5 },
    { matches: { a: 5, b: 3, c: 1 }, want: 3 },
    { matches: { a: 5, b: 5, c: 1, d: 1 }, want: 1 },
    { matches: { a: 9, b: 7, c: 7, d: 2, e: 1 }, want: 7 },
  ];
  for (const { matches, want } of cases) {
    await t.step(JSON.stringify(matches), () => {
      assertEquals(
        committedIndex(Object.keys(matches), (id) => matches[id] ?? 0),
        want,
      );
    });
  }
});

Deno.test("voteOutcome() counts voters only", async (t) => {
  const voters = ["a", "b", "c"];
  const cases: { votes: [string, boolean][]; want: string }[] = [
    { votes: [["a", true]], want: "pending" },
    { votes: [["a", true], ["b", true]], want: "won" },
    { votes: [["a", true], ["b", false], ["c", false]], want: "lost" },
    { votes: [["a", true], ["x", true], ["y", true]], want: "pending" },
  ];
  for (const { votes, want } of cases) {
    await t.step(JSON.stringify(votes), () => {
      assertEquals(voteOutcome(voters, new Map(votes)), want);
    });
  }
});
