import {
  deepStrictEqual as assertEquals,
  ok as assert,
  throws,
} from "node:assert/strict";
import { AssertionError } from "./_assert.ts";
import { RaftLog } from "./_log.ts";
import { encodeMembership } from "./_membership.ts";
import type { Entry, Snapshot } from "./types.ts";

const EMPTY: Snapshot = {
  meta: { index: 0, term: 0, membership: { voters: ["a"], learners: [] } },
  data: new Uint8Array(),
};

function entries(terms: readonly number[], from = 1): Entry[] {
  return terms.map((term, i) => ({
    index: from + i,
    term,
    kind: "command",
    data: new Uint8Array([i]),
  }));
}

function logWith(terms: readonly number[], commit = 0): RaftLog {
  return new RaftLog(EMPTY, entries(terms), commit, 0);
}

Deno.test("RaftLog.maybeAppend() appends, skips duplicates and truncates conflicts", async (t) => {
  const cases = [
    {
      name: "appends after a matching previous entry",
      log: [1, 1],
      prev: [2, 1],
      add: [2, 2],
      want: [1, 1, 2, 2],
      truncated: false,
    },
    {
      name: "ignores entries it already holds",
      log: [1, 1, 2],
      prev: [0, 0],
      add: [1, 1],
      want: [1, 1, 2],
      truncated: false,
    },
    {
      name: "truncates a conflicting tail",
      log: [1, 1, 1, 1],
      prev: [1, 1],
      add: [2, 2],
      want: [1, 2, 2],
      truncated: true,
    },
    {
      name: "rejects a missing previous entry",
      log: [1],
      prev: [3, 1],
      add: [1],
      want: null,
      truncated: false,
    },
    {
      name: "rejects a previous entry of another term",
      log: [1, 1],
      prev: [2, 2],
      add: [2],
      want: null,
      truncated: false,
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      const log = logWith(c.log);
      const [prevIndex, prevTerm] = c.prev as [number, number];
      const result = log.maybeAppend(
        prevIndex,
        prevTerm,
        entries(c.add, prevIndex + 1),
      );
      if (c.want === null) {
        assertEquals(result, null);
        return;
      }
      assertEquals(result, {
        last: prevIndex + c.add.length,
        truncated: c.truncated,
      });
      const terms = [];
      for (let i = 1; i <= log.lastIndex(); i++) terms.push(log.term(i));
      assertEquals(terms, c.want);
    });
  }
});

Deno.test("RaftLog.maybeAppend() refuses to overwrite a committed entry", () => {
  const log = logWith([1, 1, 1], 2);
  throws(() => log.maybeAppend(1, 1, entries([2], 2)), AssertionError);
});

Deno.test("RaftLog.findConflictByTerm() finds the last index at or below a term", async (t) => {
  const log = logWith([1, 1, 3, 3, 5]);
  const cases = [
    { index: 5, term: 5, want: 5 },
    { index: 5, term: 4, want: 4 },
    { index: 5, term: 2, want: 2 },
    { index: 5, term: 0, want: 0 },
    { index: 9, term: 9, want: 5 },
  ];
  for (const { index, term, want } of cases) {
    await t.step(`(${index}, ${term}) -> ${want}`, () => {
      assertEquals(log.findConflictByTerm(index, term), want);
    });
  }
});

Deno.test("RaftLog tracks membership on append, truncation and restore", () => {
  const log = logWith([1]);
  const change: Entry = {
    index: 2,
    term: 1,
    kind: "membership",
    data: encodeMembership({ voters: ["a", "b"], learners: [] }),
  };
  log.append([change]);
  assertEquals([log.membership.voters, log.membershipIndex], [["a", "b"], 2]);
  log.maybeAppend(1, 1, entries([2], 2));
  assertEquals([log.membership.voters, log.membershipIndex], [["a"], 0]);
  const snapshot: Snapshot = {
    meta: { index: 10, term: 2, membership: { voters: ["x"], learners: [] } },
    data: new Uint8Array(),
  };
  log.restore(snapshot);
  assertEquals([log.membership.voters, log.lastIndex(), log.commit], [
    ["x"],
    10,
    10,
  ]);
  assertEquals(log.unstableSnapshot(), snapshot);
});

Deno.test("RaftLog.compact() drops covered entries and checks the snapshot against the log", () => {
  const log = new RaftLog(EMPTY, entries([1, 1, 2, 2]), 4, 3);
  throws(() => log.snapshotMeta(4), AssertionError, "past applied");
  const meta = log.snapshotMeta(3);
  assertEquals(meta, { index: 3, term: 2, membership: EMPTY.meta.membership });
  throws(
    () => log.compact({ meta: { ...meta, term: 1 }, data: new Uint8Array() }),
    AssertionError,
  );
  log.compact({ meta, data: new Uint8Array() });
  assertEquals([log.firstIndex(), log.lastIndex(), log.term(3), log.entry(3)], [
    4,
    4,
    2,
    null,
  ]);
  assert(log.entry(4) !== null);
  log.compact({ meta: { ...meta, index: 1, term: 1 }, data: new Uint8Array() });
  assertEquals(log.snapshotIndex(), 3, "an older snapshot is ignored");
});

Deno.test("RaftLog hands out unstable entries until they are marked durable", () => {
  const log = logWith([]);
  log.append(entries([1, 1]));
  assertEquals(log.unstableEntries().map((entry) => entry.index), [1, 2]);
  log.stableTo(2, 7);
  assertEquals(
    log.unstableEntries().length,
    2,
    "a term mismatch is not durable",
  );
  log.stableTo(2, 1);
  assertEquals(log.hasUnstable(), false);
});
