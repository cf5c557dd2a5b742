import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { acceptAppend, acceptSnapshot } from "./_follower.ts";
import { RaftLog } from "./_log.ts";
import type { Entry, Snapshot } from "./types.ts";

const EMPTY: Snapshot = {
  meta: { index: 0, term: 0, membership: { voters: ["a", "b"], learners: [] } },
  data: new Uint8Array(),
};

function entries(terms: readonly number[], from = 1): Entry[] {
  return terms.map((term, i) => ({
    index: from + i,
    term,
    kind: "command",
    data: new Uint8Array(),
  }));
}

function append(
  prevLogIndex: number,
  prevLogTerm: number,
  add: Entry[],
  commit: number,
) {
  return {
    type: "append" as const,
    from: "a",
    to: "b",
    term: 3,
    prevLogIndex,
    prevLogTerm,
    entries: add,
    commit,
  };
}

Deno.test("acceptAppend() answers a stale append with its commit, never its uncommitted tail", () => {
  // Indices 6..8 are of an old term and may not match the leader's.
  const log = new RaftLog(EMPTY, entries([1, 1, 1, 1, 1, 2, 2, 2]), 5, 0);
  const outcome = acceptAppend(log, append(3, 1, entries([1], 4), 5), 3);
  assertEquals(outcome.response, {
    type: "append-response",
    to: "a",
    term: 3,
    success: true,
    matchIndex: 5,
    rejectHint: 0,
    rejectTerm: 0,
  });
  assertEquals(outcome.matched, null);
});

Deno.test("acceptAppend() rejects with a hint that skips a whole conflicting term", () => {
  const log = new RaftLog(EMPTY, entries([1, 1, 2, 2, 2, 2]), 2, 0);
  const outcome = acceptAppend(log, append(9, 3, [], 4), 3);
  assertEquals(
    outcome.response.type === "append-response" && outcome.response,
    {
      type: "append-response",
      to: "a",
      term: 3,
      success: false,
      matchIndex: 9,
      rejectHint: 6,
      rejectTerm: 2,
    },
  );
});

Deno.test("acceptAppend() commits no further than what matched the leader", () => {
  const log = new RaftLog(EMPTY, entries([1, 1, 1, 1]), 0, 0);
  const outcome = acceptAppend(log, append(2, 1, [], 10), 3);
  assertEquals([outcome.matched, log.commit], [2, 2]);
});

Deno.test("acceptSnapshot() fast-forwards a matching log and replaces a divergent one", () => {
  const snapshot = (index: number, term: number): Snapshot => ({
    meta: {
      index,
      term,
      membership: { voters: ["a", "b", "c"], learners: [] },
    },
    data: new Uint8Array([1]),
  });
  const request = (s: Snapshot) => ({
    type: "snapshot" as const,
    from: "a",
    to: "b",
    term: 3,
    snapshot: s,
  });
  const matching = new RaftLog(EMPTY, entries([1, 1, 2, 2]), 1, 0);
  assertEquals(
    acceptSnapshot(matching, request(snapshot(3, 2)), 3).restored,
    false,
  );
  assertEquals([matching.commit, matching.lastIndex()], [3, 4]);
  const divergent = new RaftLog(EMPTY, entries([1, 1, 1, 1]), 1, 0);
  assertEquals(
    acceptSnapshot(divergent, request(snapshot(3, 2)), 3).restored,
    true,
  );
  assertEquals([
    divergent.commit,
    divergent.lastIndex(),
    divergent.membership.voters.length,
  ], [3, 3, 3]);
  const stale = acceptSnapshot(divergent, request(snapshot(2, 1)), 3);
  assertEquals([stale.restored, stale.matched], [false, null]);
});
