/**
 * The core against members that misbehave: a second "leader" in a term,
 * stale-term heartbeats, handovers nobody asked for, answers that claim
 * more than we hold, and a follower whose log lost acknowledged entries.
 */
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
  text,
} from "./_testing.ts";
import type { Entry, Heartbeat, Message } from "./types.ts";

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

function heartbeat(from: string, to: string, term: number): Heartbeat {
  return { type: "heartbeat", from, to, term, commit: 0, context: "" };
}

Deno.test("a leader ignores an append of its own term from another member instead of crashing", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  const a = cluster.node("a");
  const forged: Message[] = [
    heartbeat("c", "a", a.term),
    {
      type: "append",
      from: "c",
      to: "a",
      term: a.term,
      prevLogIndex: a.lastIndex,
      prevLogTerm: a.term,
      entries: [{
        index: a.lastIndex + 1,
        term: a.term,
        kind: "noop",
        data: new Uint8Array(),
      }],
      commit: a.lastIndex + 1,
    },
  ];
  const lastIndex = a.lastIndex;
  for (const message of forged) a.step(message);
  assertEquals([a.role, a.leader, a.lastIndex], ["leader", "a", lastIndex]);
});

Deno.test("a follower does not follow a second member claiming to lead its term, and campaigns when the leader is gone", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  const b = cluster.node("b");
  const term = b.term;
  cluster.filter = (message) => message.from !== "a" && message.to !== "a";
  let campaigned = false;
  for (let i = 0; i < 3 * TEST_CONFIG.electionTicks && !campaigned; i++) {
    b.step(heartbeat("c", "b", term));
    cluster.tick("b");
    cluster.drainReady();
    cluster.queue = [];
    campaigned = b.role === "pre-candidate" || b.term > term;
  }
  assert(campaigned, "b's election timer was never reset by c");
  assert(b.leader !== "c");
});

Deno.test("a stale-term heartbeat is answered with our term and does not reset the election timer", () => {
  const b = makeCore("b", {
    ...fresh(["a", "b", "c"]),
    hardState: { term: 5, vote: null, commit: 0 },
  });
  let answered = 0;
  for (let i = 0; i < 3 * TEST_CONFIG.electionTicks; i++) {
    b.step(heartbeat("a", "b", 4));
    b.tick();
    const ready = b.ready();
    b.advance();
    answered += ready.messages.filter((message) =>
      message.type === "append-response" && message.to === "a" &&
      message.term === 5
    ).length;
    if (b.role === "pre-candidate") {
      break;
    }
  }
  assertEquals(b.role, "pre-candidate", "the stale heartbeats kept b waiting");
  assert(answered > 0, "the stale leader learns the newer term");
});

Deno.test("a timeout-now from a member that is not the leader is ignored", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  const b = cluster.node("b");
  const term = b.term;
  b.step({ type: "timeout-now", from: "c", to: "b", term });
  assertEquals([b.role, b.term, b.leader], ["follower", term, "a"]);
  b.step({ type: "timeout-now", from: "a", to: "b", term });
  assertEquals([b.role, b.term], ["candidate", term + 1]);
});

Deno.test("a leader answered with a match past its last index counts none of it", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  proposeAll(cluster, "a", ["x"]);
  const a = cluster.node("a");
  const commit = a.commitIndex;
  a.step({
    type: "append-response",
    from: "b",
    to: "a",
    term: a.term,
    success: true,
    matchIndex: a.lastIndex + 100,
    rejectHint: 0,
    rejectTerm: 0,
  });
  assertEquals(a.role, "leader");
  assertEquals(a.progressOf("b")?.match, 0);
  assertEquals(a.commitIndex, commit, "commit never moves back");
  cluster.tickAll(2 * TEST_CONFIG.electionTicks);
  assertEquals(a.progressOf("b")?.match, a.lastIndex, "b is probed again");
});

Deno.test("a heartbeat answer echoing a read round never sent acknowledges nothing", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  proposeAll(cluster, "a", ["x"]);
  cluster.filter = () => false;
  const a = cluster.node("a");
  assert(a.readIndex("r1").ok);
  cluster.settle();
  for (const context of ["99", "2"]) {
    a.step({
      type: "heartbeat-response",
      from: "b",
      to: "a",
      term: a.term,
      context,
    });
  }
  cluster.drainReady();
  assertEquals(cluster.reads.get("a"), [], "round 1 had no real answer");
  a.step({
    type: "heartbeat-response",
    from: "b",
    to: "a",
    term: a.term,
    context: "1",
  });
  cluster.drainReady();
  assertEquals(cluster.reads.get("a")!.map((read) => read.requestId), ["r1"]);
});

/** `id` comes back with only its first `keep` entries, as after a cut WAL. */
function shrink(
  cluster: TestCluster,
  id: string,
  voters: readonly string[],
  keep: number,
): void {
  const core = cluster.node(id);
  const entries: Entry[] = [];
  for (let index = 1; index <= keep; index++) entries.push(core.entry(index)!);
  cluster.add(makeCore(
    id,
    {
      ...fresh(voters),
      hardState: { term: core.term, vote: null, commit: keep },
      entries,
    },
    {},
    3,
  ));
}

Deno.test("a leader re-probes a follower whose log lost acknowledged entries and catches it up", () => {
  const voters = ["a", "b", "c"];
  const cluster = new TestCluster(voters);
  cluster.elect("a");
  proposeAll(cluster, "a", Array.from({ length: 20 }, (_, i) => `v${i}`));
  const a = cluster.node("a");
  assertEquals(a.progressOf("c")?.match, a.lastIndex);
  shrink(cluster, "c", voters, 8);
  assert(a.propose(bytes("after")).ok);
  let forgotten = false;
  for (let round = 0; round < 200; round++) {
    cluster.drainReady();
    const match = a.progressOf("c")!.match;
    forgotten ||= match < 8;
    if (forgotten) {
      const last = cluster.node("c").lastIndex;
      assert(match <= last, `match ${match} is past c's last index ${last}`);
    }
    if (cluster.queue.length === 0) cluster.tickAll(1);
    const batch = cluster.queue;
    cluster.queue = [];
    for (const message of batch) cluster.nodes.get(message.to)?.step(message);
    if (cluster.node("c").lastIndex === a.lastIndex && round > 10) break;
  }
  assert(forgotten, "the leader reset c's progress");
  cluster.tickAll(2);
  const c = cluster.node("c");
  assertEquals([a.role, c.lastIndex, c.commitIndex], [
    "leader",
    a.lastIndex,
    a.lastIndex,
  ]);
  for (let index = 1; index <= a.lastIndex; index++) {
    assertEquals(c.termAt(index), a.termAt(index), `term at ${index}`);
  }
  assertEquals(text(c.entry(a.lastIndex)!.data), "after");
});

Deno.test("a follower that lost entries no longer counts toward committing them", () => {
  const voters = ["a", "b", "c", "d", "e"];
  // Without check-quorum: a keeps leading while it hears from a minority.
  const cluster = new TestCluster(voters, { checkQuorum: false });
  cluster.elect("a");
  const a = cluster.node("a");
  const committed = a.commitIndex;
  const between = (x: string, y: string) => (message: Message) =>
    (message.from === x && message.to === y) ||
    (message.from === y && message.to === x);
  // Only c holds the new entries besides a: 2 of 5, not committed.
  cluster.filter = between("a", "c");
  proposeAll(cluster, "a", ["x", "y", "z"]);
  assertEquals(a.progressOf("c")?.match, a.lastIndex);
  assertEquals(a.commitIndex, committed);
  // c loses them; only its rejections get through from now on.
  shrink(cluster, "c", voters, committed);
  const cRejects = (message: Message) =>
    message.from === "c" && message.type === "append-response" &&
    !message.success;
  cluster.filter = (message) =>
    (message.from === "a" && message.to === "c") || cRejects(message);
  cluster.tickAll(TEST_CONFIG.electionTicks);
  assert(a.progressOf("c")!.match <= committed, "a forgot c's old match");
  // d catches up: a and d hold the entries, still 2 of 5.
  cluster.filter = (message) =>
    between("a", "d")(message) ||
    (message.from === "a" && message.to === "c") || cRejects(message);
  cluster.tickAll(2 * TEST_CONFIG.electionTicks);
  assertEquals(a.progressOf("d")?.match, a.lastIndex);
  assertEquals(a.commitIndex, committed, "c's lost entries did not count");
  cluster.filter = () => true;
  cluster.tickAll(2 * TEST_CONFIG.electionTicks);
  assertEquals(a.commitIndex, a.lastIndex);
  assertEquals(cluster.commands("c"), ["x", "y", "z"]);
});

Deno.test("a shrunk follower is caught up in an idle cluster too", () => {
  const voters = ["a", "b", "c"];
  const cluster = new TestCluster(voters);
  cluster.elect("a");
  proposeAll(cluster, "a", Array.from({ length: 10 }, (_, i) => `v${i}`));
  shrink(cluster, "c", voters, 3);
  cluster.tickAll(3 * TEST_CONFIG.electionTicks);
  const a = cluster.node("a");
  assertEquals(
    [cluster.node("c").lastIndex, a.progressOf("c")?.match],
    [a.lastIndex, a.lastIndex],
  );
});
