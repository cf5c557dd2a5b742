import {
  deepStrictEqual as assertEquals,
  ok as assert,
} from "node:assert/strict";
import {
  bytes,
  fresh,
  makeCore,
  TEST_CONFIG,
  TestCluster,
} from "./_testing.ts";

Deno.test("a learner never campaigns, however long it waits", () => {
  const cluster = new TestCluster(["a", "b", "c"], {}, ["l"]);
  cluster.filter = (message) => message.to !== "l" && message.from !== "l";
  for (let i = 0; i < 20 * TEST_CONFIG.electionTicks; i++) cluster.tick("l");
  cluster.settle();
  assertEquals(cluster.node("l").role, "learner");
  assertEquals(cluster.node("l").term, 0);
  assertEquals(
    cluster.sent.filter((message) => message.from === "l").length,
    0,
  );
});

Deno.test("a member outside the membership (not yet added) never campaigns", () => {
  const core = makeCore("new", fresh([], []));
  for (let i = 0; i < 20 * TEST_CONFIG.electionTicks; i++) core.tick();
  assertEquals([core.role, core.term, core.hasReady()], ["follower", 0, false]);
});

Deno.test("a leader that hears of a higher term steps down", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  const a = cluster.node("a");
  a.step({
    type: "heartbeat-response",
    from: "b",
    to: "a",
    term: a.term + 3,
    context: "",
  });
  assertEquals([a.role, a.leader], ["follower", null]);
  assertEquals(a.propose(bytes("x")).ok, false);
});

Deno.test("a stale leader learns the newer term from the answer to its append", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  cluster.filter = (message) => message.to !== "a" && message.from !== "a";
  for (let i = 0; i < 10 * TEST_CONFIG.electionTicks; i++) {
    cluster.tick("b");
    cluster.tick("c");
    cluster.settle();
    if (cluster.leaders().length === 2) break;
  }
  const [newLeader] = cluster.leaders().filter((core) => core.id !== "a");
  assert(newLeader, "the majority side elected a leader");
  assertEquals(
    cluster.node("a").role,
    "leader",
    "the isolated leader does not know yet",
  );
  cluster.filter = () => true;
  cluster.node("a").propose(bytes("lost"));
  cluster.settle();
  assertEquals(cluster.node("a").role, "follower");
  cluster.tickAll(3);
  assertEquals(cluster.leaders().map((core) => core.id), [newLeader.id]);
  assertEquals(
    cluster.commands("a"),
    [],
    "the stale leader's proposal never commits",
  );
});

Deno.test("a transfer to an unreachable member is abandoned after an election timeout", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  cluster.filter = (message) => message.to !== "c";
  assert(cluster.node("a").transferLeadership("c").ok);
  assertEquals(cluster.node("a").propose(bytes("x")).ok, false);
  for (let i = 0; i < TEST_CONFIG.electionTicks; i++) {
    cluster.tick("a");
    cluster.tick("b");
    cluster.settle();
  }
  assertEquals(cluster.node("a").role, "leader");
  assert(cluster.node("a").propose(bytes("y")).ok, "proposals resume");
});

Deno.test("proposals past the uncommitted bound are refused as overloaded", () => {
  const cluster = new TestCluster(["a", "b", "c"], {
    maxUncommittedEntries: 5,
  });
  cluster.elect("a");
  cluster.filter = (message) => message.from === "a" ? false : true;
  const results = Array.from(
    { length: 8 },
    (_, i) => cluster.node("a").propose(bytes(`v${i}`)),
  );
  assertEquals(results.filter((result) => result.ok).length, 5);
  assertEquals(results.at(-1), {
    ok: false,
    code: "raft.overloaded",
    leader: "a",
  });
});

Deno.test("ReadIndex requests past the pending bound are refused as overloaded", () => {
  const cluster = new TestCluster(["a", "b", "c"], { maxPendingReads: 2 });
  cluster.elect("a");
  cluster.filter = () => false;
  const a = cluster.node("a");
  assertEquals([a.readIndex("1").ok, a.readIndex("2").ok], [true, true]);
  assertEquals(a.readIndex("3"), {
    ok: false,
    code: "raft.overloaded",
    leader: "a",
  });
});

Deno.test("Ready reports role changes once, and the hard state only when it changed", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  const a = cluster.node("a");
  for (let i = 0; i < 3 * TEST_CONFIG.electionTicks && !a.hasReady(); i++) {
    a.tick();
  }
  const first = a.ready();
  a.advance();
  cluster.queue.push(...first.messages);
  assertEquals(first.softState?.role, "pre-candidate");
  assertEquals(
    first.persist.hardState,
    undefined,
    "a pre-vote changes no durable state",
  );
  cluster.settle();
  assertEquals(a.role, "leader");
  assertEquals(a.hasReady(), false);
});

Deno.test("a vote request of a stale term is rejected with the current term", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  const b = cluster.node("b");
  b.step({
    type: "vote",
    from: "c",
    to: "b",
    term: b.term - 1,
    lastLogIndex: 99,
    lastLogTerm: 99,
    transfer: false,
  });
  const reply = b.ready().messages.find((message) => message.to === "c");
  b.advance();
  assertEquals(reply, {
    type: "vote-response",
    to: "c",
    term: b.term,
    granted: false,
    from: "b",
  });
});

Deno.test("a follower restarted with an old commit catches up in an idle cluster", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  for (const value of ["x", "y"]) cluster.node("a").propose(bytes(value));
  cluster.settle();
  cluster.tickAll(2);
  const c = cluster.node("c");
  const entries = [1, 2, 3].map((index) => c.entry(index)!);
  // "c" restarts having persisted the entries but an older commit.
  cluster.nodes.delete("c");
  cluster.add(makeCore(
    "c",
    {
      ...fresh(["a", "b", "c"]),
      hardState: { term: c.term, vote: null, commit: 1 },
      entries,
    },
    {},
    7,
  ));
  cluster.tickAll(2 * TEST_CONFIG.electionTicks);
  assertEquals(cluster.node("c").commitIndex, 3);
  assertEquals(cluster.commands("c"), ["x", "y"]);
});
