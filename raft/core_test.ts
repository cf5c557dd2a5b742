import {
  deepStrictEqual as assertEquals,
  ok as assert,
  throws,
} from "node:assert/strict";
import {
  bytes,
  fresh,
  makeCore,
  TEST_CONFIG,
  TestCluster,
  text,
} from "./_testing.ts";
import { AssertionError } from "./_assert.ts";
import { decodeMembership } from "./_membership.ts";

function proposeAll(
  cluster: TestCluster,
  leader: string,
  values: readonly string[],
): void {
  for (const value of values) {
    assert(cluster.node(leader).propose(bytes(value)).ok, `propose ${value}`);
  }
  cluster.settle();
}

function isolate(cluster: TestCluster, id: string): void {
  cluster.filter = (message) => message.from !== id && message.to !== id;
}

Deno.test("a three-node cluster elects one leader and commits proposals everywhere", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  assertEquals(cluster.leaders().map((core) => core.id), ["a"]);
  const values = Array.from({ length: 20 }, (_, i) => `x${i}`);
  proposeAll(cluster, "a", values);
  cluster.tickAll(2);
  for (const id of ["a", "b", "c"]) assertEquals(cluster.commands(id), values);
});

Deno.test("a single-voter cluster commits on its own", () => {
  const cluster = new TestCluster(["solo"]);
  cluster.elect("solo");
  proposeAll(cluster, "solo", ["a", "b"]);
  assertEquals(cluster.commands("solo"), ["a", "b"]);
});

Deno.test("propose() on a follower is refused and names the leader", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  const result = cluster.node("b").propose(bytes("x"));
  assertEquals(result, { ok: false, code: "raft.not_leader", leader: "a" });
});

Deno.test("pre-vote keeps an isolated node's term from rising", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  const term = cluster.node("c").term;
  isolate(cluster, "c");
  for (let i = 0; i < 100; i++) {
    cluster.tick("c");
    cluster.settle();
  }
  assertEquals(cluster.node("c").term, term);
  assertEquals(cluster.node("c").role, "pre-candidate");
  cluster.filter = () => true;
  cluster.tickAll(3);
  assertEquals(cluster.node("a").role, "leader");
  assertEquals(cluster.node("a").term, term);
});

Deno.test("without pre-vote an isolated node's term rises on every timeout", () => {
  const cluster = new TestCluster(["a", "b", "c"], { preVote: false });
  cluster.elect("a");
  const term = cluster.node("c").term;
  isolate(cluster, "c");
  for (let i = 0; i < 100; i++) {
    cluster.tick("c");
    cluster.settle();
  }
  assert(cluster.node("c").term > term + 1);
});

Deno.test("check-quorum makes a leader cut off from its followers step down", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  isolate(cluster, "a");
  for (let i = 0; i < TEST_CONFIG.electionTicks * 2 + 1; i++) {
    cluster.tick("a");
    cluster.settle();
  }
  assertEquals(cluster.node("a").role, "follower");
});

Deno.test("a follower that hears from a live leader ignores vote requests (leader lease)", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  const b = cluster.node("b");
  const term = b.term;
  for (const type of ["vote", "pre-vote"] as const) {
    b.step({
      type,
      from: "c",
      to: "b",
      term: term + 1,
      lastLogIndex: 100,
      lastLogTerm: term,
      transfer: false,
    });
    assertEquals(b.term, term);
    assert(!b.hasReady() || b.ready().messages.length === 0);
    if (!b.hasReady()) continue;
    b.advance();
  }
  b.step({
    type: "vote",
    from: "c",
    to: "b",
    term: term + 1,
    lastLogIndex: 100,
    lastLogTerm: term,
    transfer: true,
  });
  assertEquals(b.term, term + 1, "a transfer's vote request passes the lease");
});

Deno.test("a node refuses to vote for a candidate whose log is behind", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  proposeAll(cluster, "a", ["x"]);
  const b = cluster.node("b");
  cluster.tick("b", 100); // past the lease: the leader is silent in this test
  cluster.queue = [];
  b.step({
    type: "vote",
    from: "c",
    to: "b",
    term: b.term + 5,
    lastLogIndex: 1,
    lastLogTerm: 1,
    transfer: false,
  });
  const ready = b.ready();
  b.advance();
  const response = ready.messages.find((message) =>
    message.type === "vote-response"
  );
  assertEquals(response?.type === "vote-response" && response.granted, false);
});

Deno.test("proposals made between two Readies travel in batched appends", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  cluster.sent.length = 0;
  const values = Array.from({ length: 200 }, (_, i) => `v${i}`);
  proposeAll(cluster, "a", values);
  const appends = cluster.sent.filter((message) =>
    message.type === "append" && message.entries.length > 0
  );
  assert(
    appends.length <= 2 * Math.ceil(200 / TEST_CONFIG.maxEntriesPerAppend) + 2,
    `${appends.length} appends`,
  );
  assertEquals(cluster.commands("b"), values);
});

Deno.test("a follower in replicate mode gets several appends in flight before any answer", () => {
  const cluster = new TestCluster(["a", "b", "c"], {
    maxEntriesPerAppend: 1,
    maxInflight: 4,
  });
  cluster.elect("a");
  const a = cluster.node("a");
  for (let i = 0; i < 10; i++) a.propose(bytes(`v${i}`));
  const ready = a.ready();
  a.advance();
  const toB = ready.earlyMessages.filter((message) =>
    message.to === "b" && message.type === "append"
  );
  assertEquals(toB.length, 4, "the inflight window caps the pipeline");
  assertEquals(a.progressOf("b")?.mode, "replicate");
});

Deno.test("a follower's conflicting uncommitted tail is truncated, with few round trips", () => {
  // "c" holds 30 entries of an old term that never committed.
  const old = Array.from(
    { length: 30 },
    (_, i) => ({
      index: i + 1,
      term: 1,
      kind: "command" as const,
      data: bytes(`old${i}`),
    }),
  );
  const cluster = new TestCluster([]);
  const membership = ["a", "b", "c"];
  cluster.add(
    makeCore(
      "a",
      { ...fresh(membership), hardState: { term: 2, vote: null, commit: 0 } },
      {},
      1,
    ),
  );
  cluster.add(
    makeCore(
      "b",
      { ...fresh(membership), hardState: { term: 2, vote: null, commit: 0 } },
      {},
      2,
    ),
  );
  cluster.add(
    makeCore(
      "c",
      {
        ...fresh(membership),
        hardState: { term: 1, vote: null, commit: 0 },
        entries: old,
      },
      {},
      3,
    ),
  );
  cluster.filter = (message) => message.to !== "c" && message.from !== "c";
  cluster.elect("a");
  proposeAll(cluster, "a", Array.from({ length: 40 }, (_, i) => `new${i}`));
  cluster.filter = () => true;
  cluster.sent.length = 0;
  cluster.tickAll(3);
  const rejections = cluster.sent.filter((message) =>
    message.type === "append-response" && !message.success
  );
  assert(rejections.length <= 3, `${rejections.length} rejections`);
  assertEquals(cluster.node("c").lastIndex, cluster.node("a").lastIndex);
  assertEquals(text(cluster.node("c").entry(2)!.data), "new0");
});

Deno.test("a leader does not commit an entry of an earlier term by counting replicas", () => {
  // "a" holds index 2 of term 2 that only it has, and becomes leader of term 3.
  const voters = ["a", "b", "c"];
  const first = {
    index: 1,
    term: 1,
    kind: "command" as const,
    data: bytes("one"),
  };
  const second = {
    index: 2,
    term: 2,
    kind: "command" as const,
    data: bytes("two"),
  };
  const a = makeCore("a", {
    ...fresh(voters),
    hardState: { term: 2, vote: null, commit: 1 },
    entries: [first, second],
  });
  for (let i = 0; i < 30 && a.role === "follower"; i++) a.tick();
  a.step({
    type: "pre-vote-response",
    from: "b",
    to: "a",
    term: 3,
    granted: true,
  });
  a.step({ type: "vote-response", from: "b", to: "a", term: 3, granted: true });
  assertEquals([a.role, a.term, a.lastIndex], ["leader", 3, 3]);
  a.ready();
  a.advance();
  const ack = (matchIndex: number) =>
    a.step({
      type: "append-response",
      from: "b",
      to: "a",
      term: 3,
      success: true,
      matchIndex,
      rejectHint: 0,
      rejectTerm: 0,
    });
  ack(2);
  assertEquals(
    a.commitIndex,
    1,
    "index 2 sits on a majority, but is of term 2",
  );
  ack(3);
  assertEquals(
    a.commitIndex,
    3,
    "committing the noop of term 3 commits index 2 with it",
  );
});

Deno.test("readIndex() answers only after a heartbeat quorum confirms the leader", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  proposeAll(cluster, "a", ["x"]);
  isolate(cluster, "a");
  assert(cluster.node("a").readIndex("r1").ok);
  cluster.tickAll(3);
  assertEquals(cluster.reads.get("a"), [], "no quorum, no read");
  cluster.filter = () => true;
  assert(cluster.node("a").readIndex("r2").ok);
  cluster.settle();
  assertEquals(cluster.reads.get("a")!.map((read) => read.requestId), [
    "r1",
    "r2",
  ]);
  assertEquals(
    cluster.reads.get("a")![1]!.index,
    cluster.node("a").commitIndex,
  );
  assertEquals(cluster.node("b").readIndex("r3").ok, false);
});

Deno.test("readIndex() on a new leader waits until it commits an entry of its term", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.filter = (message) =>
    !(message.type === "append" && message.entries.length > 0);
  cluster.elect("a");
  assert(cluster.node("a").readIndex("early").ok);
  cluster.tickAll(3);
  assertEquals(cluster.reads.get("a"), []);
  cluster.filter = () => true;
  cluster.tickAll(3);
  assertEquals(cluster.reads.get("a")!.map((read) => read.requestId), [
    "early",
  ]);
});

Deno.test("transferLeadership() catches the target up, then hands over", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  cluster.filter = (message) => message.to !== "c";
  proposeAll(cluster, "a", ["x", "y"]);
  cluster.filter = () => true;
  const term = cluster.node("a").term;
  assert(cluster.node("a").transferLeadership("c").ok);
  assertEquals(cluster.node("a").propose(bytes("z")), {
    ok: false,
    code: "raft.transferring",
    leader: "a",
  });
  cluster.settle();
  assertEquals(cluster.node("c").role, "leader");
  assertEquals(cluster.node("c").term, term + 1);
  assertEquals(cluster.node("a").role, "follower");
  assertEquals(cluster.node("a").transferLeadership("b").ok, false);
});

Deno.test("membership: a learner follows without voting, is promoted, then a voter is removed", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  const a = cluster.node("a");
  cluster.add(makeCore("d", fresh([], []), {}, 9));
  assert(a.proposeMembership({ type: "add-learner", id: "d" }).ok);
  assertEquals(
    a.proposeMembership({ type: "remove", id: "b" }).ok,
    false,
    "one change at a time",
  );
  cluster.settle();
  cluster.tickAll(2);
  assertEquals(cluster.node("d").role, "learner");
  proposeAll(cluster, "a", ["x"]);
  cluster.tickAll(2);
  assertEquals(cluster.commands("d"), ["x"]);
  // A learner's copy does not count toward commit.
  cluster.filter = (message) => message.to !== "b" && message.to !== "c";
  proposeAll(cluster, "a", ["y"]);
  assertEquals(cluster.commands("a"), ["x"]);
  cluster.filter = () => true;
  cluster.tickAll(2);
  assert(a.proposeMembership({ type: "promote", id: "d" }).ok);
  cluster.tickAll(2);
  assertEquals(cluster.node("d").membership.voters.includes("d"), true);
  assertEquals(cluster.node("d").role, "follower");
  assert(a.proposeMembership({ type: "remove", id: "b" }).ok);
  cluster.tickAll(2);
  assertEquals([...a.membership.voters].sort(), ["a", "c", "d"]);
  const last = cluster.applied.get("c")!.filter((entry) =>
    entry.kind === "membership"
  ).at(-1)!;
  assertEquals([...decodeMembership(last.data).voters].sort(), ["a", "c", "d"]);
});

Deno.test("proposeMembership() rejects changes that do not apply", async (t) => {
  const cluster = new TestCluster(["a", "b"]);
  cluster.elect("a");
  const a = cluster.node("a");
  const cases = [
    { type: "add-learner", id: "a" },
    { type: "promote", id: "b" },
    { type: "promote", id: "nobody" },
    { type: "remove", id: "nobody" },
  ] as const;
  for (const change of cases) {
    await t.step(`${change.type} ${change.id}`, () => {
      assertEquals(a.proposeMembership(change), {
        ok: false,
        code: "raft.membership_invalid",
        leader: "a",
      });
    });
  }
});

Deno.test("a leader removed from the voters steps down once the change commits", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  assert(cluster.node("a").proposeMembership({ type: "remove", id: "a" }).ok);
  cluster.settle();
  assertEquals(cluster.node("a").role, "follower");
  cluster.tickAll(40);
  const leaders = cluster.leaders().map((core) => core.id);
  assertEquals(leaders.length, 1);
  assert(leaders[0] !== "a");
});

Deno.test("a member that fell behind a compaction catches up by InstallSnapshot", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  cluster.filter = (message) => message.to !== "c";
  proposeAll(cluster, "a", ["x", "y", "z"]);
  const a = cluster.node("a");
  const meta = a.snapshotMeta(a.appliedIndex);
  a.compact({ meta, data: bytes("fsm-state") });
  assertEquals(a.snapshot.meta.index, meta.index);
  assertEquals(a.entry(meta.index), null);
  cluster.filter = () => true;
  cluster.sent.length = 0;
  cluster.tickAll(3);
  const snapshots = cluster.sent.filter((message) =>
    message.type === "snapshot"
  );
  assertEquals(snapshots.length, 1);
  const c = cluster.node("c");
  assertEquals(c.snapshot.meta.index, meta.index);
  assertEquals(text(c.snapshot.data), "fsm-state");
  proposeAll(cluster, "a", ["after"]);
  cluster.tickAll(2);
  assertEquals(
    cluster.commands("c"),
    ["after"],
    "only entries after the snapshot are applied",
  );
});

Deno.test("a core restored from its persisted state keeps term, vote and log", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  proposeAll(cluster, "a", ["x"]);
  const b = cluster.node("b");
  const entries = [1, 2].map((index) => b.entry(index)!);
  const restored = makeCore("b", {
    ...fresh(["a", "b", "c"]),
    hardState: { term: b.term, vote: "a", commit: b.commitIndex },
    entries,
    applied: b.commitIndex,
  });
  assertEquals([restored.term, restored.lastIndex, restored.commitIndex], [
    b.term,
    2,
    b.commitIndex,
  ]);
  assertEquals(restored.hasReady(), false);
});

Deno.test("the core refuses misuse with an assertion", async (t) => {
  await t.step("electionTicks not above heartbeatTicks", () => {
    throws(
      () =>
        makeCore("a", fresh(["a"]), { electionTicks: 1, heartbeatTicks: 1 }),
      AssertionError,
    );
  });
  await t.step("a restored commit past the log", () => {
    throws(
      () =>
        makeCore("a", {
          ...fresh(["a"]),
          hardState: { term: 1, vote: null, commit: 5 },
        }),
      AssertionError,
    );
  });
  await t.step("a non-contiguous restored log", () => {
    const entries = [{
      index: 2,
      term: 1,
      kind: "noop" as const,
      data: bytes(""),
    }];
    throws(() => makeCore("a", { ...fresh(["a"]), entries }), AssertionError);
  });
  await t.step("a message for another member", () => {
    const core = makeCore("a", fresh(["a", "b"]));
    throws(
      () => core.step({ type: "timeout-now", from: "b", to: "c", term: 1 }),
      AssertionError,
    );
  });
  await t.step("ready() twice without advance()", () => {
    const core = makeCore("a", fresh(["a"]));
    for (let i = 0; i < 30; i++) core.tick();
    core.ready();
    throws(() => core.ready(), AssertionError);
  });
  await t.step("a compaction past the applied index", () => {
    const cluster = new TestCluster(["a"]);
    cluster.elect("a");
    const a = cluster.node("a");
    throws(() => a.snapshotMeta(a.appliedIndex + 1), AssertionError);
  });
});
