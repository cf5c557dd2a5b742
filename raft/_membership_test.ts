import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { AssertionError } from "./_assert.ts";
import {
  decodeMembership,
  encodeMembership,
  membershipAfter,
} from "./_membership.ts";

Deno.test("a membership survives encoding", () => {
  const membership = { voters: ["a", "b"], learners: ["c"] };
  assertEquals(decodeMembership(encodeMembership(membership)), membership);
});

Deno.test("decodeMembership() refuses malformed entries", async (t) => {
  for (
    const text of [
      '{"voters":"a","learners":[]}',
      '{"voters":[1],"learners":[]}',
      "null",
      '{"voters":[]}',
    ]
  ) {
    await t.step(text, () => {
      throws(
        () => decodeMembership(new TextEncoder().encode(text)),
        AssertionError,
      );
    });
  }
});

Deno.test("membershipAfter() applies one change or refuses it", async (t) => {
  const current = { voters: ["a", "b"], learners: ["c"] };
  const cases = [
    {
      change: { type: "add-learner", id: "d" },
      want: { voters: ["a", "b"], learners: ["c", "d"] },
    },
    { change: { type: "add-learner", id: "a" }, want: null },
    {
      change: { type: "promote", id: "c" },
      want: { voters: ["a", "b", "c"], learners: [] },
    },
    { change: { type: "promote", id: "a" }, want: null },
    {
      change: { type: "remove", id: "b" },
      want: { voters: ["a"], learners: ["c"] },
    },
    {
      change: { type: "remove", id: "c" },
      want: { voters: ["a", "b"], learners: [] },
    },
    { change: { type: "remove", id: "z" }, want: null },
  ] as const;
  for (const { change, want } of cases) {
    await t.step(`${change.type} ${change.id}`, () => {
      assertEquals(membershipAfter(current, change), want);
    });
  }
  await t.step("remove the last voter", () => {
    assertEquals(
      membershipAfter({ voters: ["a"], learners: [] }, {
        type: "remove",
        id: "a",
      }),
      null,
    );
  });
});
