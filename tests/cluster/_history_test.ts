/**
 * The nemesis test's history adapter on hand-made histories: it must let
 * the project's checker find stale reads, reads of values nobody wrote,
 * failed writes that took effect and lost acknowledged writes, and must
 * pass honest histories (including writes of unknown outcome).
 */
import {
  assertEquals,
  assertThrows,
  assertTrue,
} from "../../containerd/_assert_test.ts";
import {
  type ClientRecord,
  describeOps,
  describeViolation,
  judgeHistory,
  type ReadRecord,
  type WriteRecord,
} from "./_history.ts";

function write(
  client: number,
  key: string,
  invokedAt: number,
  completedAt: number | null,
  outcome: WriteRecord["outcome"] = completedAt === null ? "unknown" : "ok",
): WriteRecord {
  return {
    kind: "write",
    client,
    key,
    invokedAt,
    completedAt,
    outcome,
    detail: "hand-made",
  };
}

function read(
  client: number,
  invokedAt: number,
  completedAt: number,
  seen: Record<string, number>,
): ReadRecord {
  return { kind: "read", client, invokedAt, completedAt, seen, via: "n?" };
}

/** Two acknowledged writes of k by client 0, at [10, 20] and [30, 40]. */
const twoWrites: ClientRecord[] = [
  write(0, "k", 10, 20),
  write(0, "k", 30, 40),
];

Deno.test("judgeHistory() passes an honest history, unknown writes either way", () => {
  const honest: ClientRecord[] = [
    ...twoWrites,
    read(1, 5, 8, {}),
    read(1, 12, 25, { k: 15 }), // concurrent with the first write: sees it
    read(2, 12, 35, {}), // or not yet
    read(2, 45, 50, { k: 33 }),
    write(0, "k", 60, null), // unknown outcome, the key's last write
    read(1, 70, 80, { k: 33 }), // not taken effect (yet)
    read(2, 90, 95, { k: 61 }), // now it has
  ];
  const verdict = judgeHistory(honest, { k: 61 });
  assertEquals(verdict.linearizability.outcome, "ok");
  assertEquals(verdict.lost, []);
  assertEquals(verdict.unexplained, []);
  assertEquals(verdict.counts["write.ok"], 2);
  assertEquals(verdict.counts["write.unknown"], 1);
  // The unknown write never took effect: also fine.
  assertEquals(
    judgeHistory(honest.slice(0, 6), { k: 33 }).linearizability.outcome,
    "ok",
  );
});

Deno.test("judgeHistory() finds a stale read after a newer acknowledged write", () => {
  const stale = [...twoWrites, read(1, 50, 60, { k: 15 })];
  const verdict = judgeHistory(stale, { k: 35 });
  assertEquals(verdict.linearizability.outcome, "violation");
  assertTrue(verdict.linearizability.outcome === "violation");
  assertEquals(verdict.linearizability.key, "k");
  assertTrue(
    describeOps(verdict.linearizability.ops, 0).includes(
      "[50, 60] ms client 1: get → k#1",
    ),
  );
  assertEquals(verdict.lost, []);
});

Deno.test("judgeHistory() finds reads that see a write, then no longer do", () => {
  const inversion: ClientRecord[] = [
    write(0, "k", 10, 100),
    read(1, 20, 30, { k: 50 }),
    read(2, 40, 45, {}),
  ];
  assertEquals(
    judgeHistory(inversion, { k: 50 }).linearizability.outcome,
    "violation",
  );
});

Deno.test("judgeHistory() finds a stamp no write explains and a failed write that took effect", () => {
  const nobody = judgeHistory([...twoWrites, read(1, 50, 60, { k: 25 })], {
    k: 35,
  });
  assertEquals(nobody.linearizability.outcome, "violation");
  assertEquals(nobody.unexplained.map((u) => u.explained.kind), ["nobody"]);

  const failed = [
    write(0, "k", 10, 20),
    write(0, "k", 30, 40, "fail"),
    read(1, 50, 60, { k: 35 }),
  ];
  const verdict = judgeHistory(failed, { k: 35 });
  assertEquals(verdict.linearizability.outcome, "violation");
  assertEquals(verdict.unexplained.map((u) => u.explained.kind), [
    "failed-write",
    "failed-write",
  ]);
  assertEquals(verdict.lost, [{
    key: "k",
    acknowledged: "k#1",
    final: "k#2:failed",
  }]);

  const phantom = judgeHistory(
    [...twoWrites, read(1, 50, 60, { k: 35, x: 1 })],
    {
      k: 35,
    },
  );
  assertEquals(phantom.unexplained.map((u) => u.key), ["x"]);
});

Deno.test("judgeHistory() finds acknowledged writes the final state lost", () => {
  const missing = judgeHistory(twoWrites, {});
  assertEquals(missing.lost, [{ key: "k", acknowledged: "k#2", final: null }]);
  assertEquals(missing.linearizability.outcome, "violation");

  const older = judgeHistory(twoWrites, { k: 15 });
  assertEquals(older.lost, [{ key: "k", acknowledged: "k#2", final: "k#1" }]);
  assertEquals(older.linearizability.outcome, "violation");
});

Deno.test("the adapter refuses histories its model cannot read", () => {
  const refused = (history: ClientRecord[]) =>
    assertThrows(() => judgeHistory(history, {}), Error).message;
  assertTrue(
    refused([write(0, "k", 10, 20), write(1, "k", 30, 40)]).includes(
      "written by clients 0 and 1",
    ),
  );
  assertTrue(
    refused([write(0, "k", 10, null), write(0, "k", 30, 40)]).includes(
      "after a write of unknown outcome",
    ),
  );
  assertTrue(
    refused([write(0, "k", 10, 20), write(0, "k", 20, 40)]).includes(
      "by a tick",
    ),
  );
});

Deno.test("describeViolation() points at the read that missed an acknowledged write", () => {
  // The shape of a stale read the nemesis found: k#3 acknowledged at 40,
  // a later read still sees k#2, later ones see k#3.
  const history: ClientRecord[] = [
    write(0, "k", 10, 20),
    write(0, "k", 22, 30),
    write(0, "k", 32, 40),
    read(1, 50, 60, { k: 25 }),
    read(2, 55, 70, { k: 35 }),
  ];
  const verdict = judgeHistory(history, { k: 35 });
  assertTrue(verdict.linearizability.outcome === "violation");
  const text = describeViolation(verdict.linearizability.ops, 0);
  assertTrue(
    text.includes(
      "see a value nobody wrote:\n  [50, 60] ms client 1: get → k#2",
    ),
    text,
  );
  assertTrue(!text.includes("client 2"), text);
});
