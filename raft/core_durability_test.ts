/**
 * The leader's own durability: its appends leave while its fsync runs
 * (`Ready.earlyMessages`), and it counts itself toward commit only once the
 * shell acknowledged its entries durable (`advance()`).
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
} from "./_testing.ts";
import type { RaftCore } from "./core.ts";
import type { AppendRequest, Message, Ready } from "./types.ts";

/** Tick `core` until it has a Ready, and take it. */
function tickToReady(core: RaftCore): Ready {
  for (let i = 0; i < 3 * TEST_CONFIG.electionTicks; i++) {
    if (core.hasReady()) return core.ready();
    core.tick();
  }
  throw new Error(`${core.id} produced no Ready`);
}

function appendsTo(messages: readonly Message[], to: string): AppendRequest[] {
  return messages.filter((message): message is AppendRequest =>
    message.type === "append" && message.to === to
  );
}

Deno.test("a lone voter commits an entry only once its own disk holds it", () => {
  const a = makeCore("a", fresh(["a"]));
  tickToReady(a);
  a.advance();
  assertEquals(a.role, "leader");
  while (a.hasReady()) {
    a.ready();
    a.advance();
  }
  const { index } = a.propose(bytes("x")) as { index: number };
  const first = a.ready();
  assertEquals(first.persist.entries.map((entry) => entry.index), [index]);
  assertEquals(first.committed.length, 0, "committed before its fsync");
  assertEquals(a.commitIndex, index - 1);
  a.advance();
  assertEquals(a.commitIndex, index);
  const second = a.ready();
  assertEquals(second.committed.map((entry) => entry.index), [index]);
  a.advance();
});

Deno.test("a leader sends its appends before its fsync and counts itself only after it", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  const a = cluster.node("a");
  const b = cluster.node("b");
  const { index } = a.propose(bytes("x")) as { index: number };
  const ready = a.ready();
  assertEquals(ready.persist.entries.map((entry) => entry.index), [index]);
  const toB = appendsTo(ready.earlyMessages, "b");
  assertEquals(toB.flatMap((m) => m.entries.map((e) => e.index)), [index]);
  assertEquals(appendsTo(ready.messages, "b"), []);
  // b holds the entry durably and says so; c never hears of it.
  b.step(toB[0]!);
  const answer = b.ready();
  assertEquals(answer.earlyMessages, [], "a follower's answer waits");
  b.advance();
  for (const message of answer.messages) a.step(message);
  assertEquals(
    a.commitIndex,
    index - 1,
    "one follower and a leader whose own write is not durable are no quorum",
  );
  a.advance();
  assertEquals(a.commitIndex, index, "the leader's durable write completes it");
});

Deno.test("messages of a Ready that changes the term or vote all wait for its fsync", () => {
  // A lone voter with a learner wins its election in the very Ready that
  // raises its term: its first append must not leave before that term is
  // durable (else a crash could let it lead that term twice).
  const a = makeCore("a", fresh(["a"], ["l"]));
  const ready = tickToReady(a);
  assertEquals(a.role, "leader");
  assert(ready.persist.hardState !== undefined, "the term rose");
  assertEquals(ready.earlyMessages, []);
  assert(appendsTo(ready.messages, "l").length > 0, "the append waits");
  a.advance();
  // The learner answers (probe done); the next append may leave early.
  const l = makeCore("l", fresh(["a"], ["l"]));
  for (const message of ready.messages) if (message.to === "l") l.step(message);
  for (const message of l.ready().messages) a.step(message);
  l.advance();
  while (a.hasReady()) {
    a.ready();
    a.advance();
  }
  a.propose(bytes("x"));
  const next = a.ready();
  assert(appendsTo(next.earlyMessages, "l").length > 0, "now it leaves early");
  a.advance();
});

Deno.test("a candidate's vote requests and a voter's grant wait for the fsync", () => {
  const cluster = new TestCluster(["a", "b", "c"], { preVote: false });
  const a = cluster.node("a");
  const campaign = tickToReady(a);
  assertEquals(a.role, "candidate");
  assertEquals(campaign.earlyMessages, []);
  const request = campaign.messages.find((m) => m.to === "b");
  assert(request?.type === "vote", JSON.stringify(campaign.messages));
  a.advance();
  const b = cluster.node("b");
  b.step(request);
  const grant = b.ready();
  assertEquals(grant.earlyMessages, []);
  assertEquals(grant.messages.map((m) => m.type), ["vote-response"]);
  b.advance();
});

Deno.test("a new commit rides on the next append, or leaves alone on flushCommit", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  const a = cluster.node("a");
  const commitsTo = (messages: readonly Message[], to: string) =>
    appendsTo(messages, to).map((m) => m.commit);
  // x commits once b answers; no empty append goes out for it alone.
  const x = a.propose(bytes("x")) as { index: number };
  const first = a.ready();
  a.advance();
  cluster.queue = [];
  const b = cluster.node("b");
  for (const message of appendsTo(first.earlyMessages, "b")) b.step(message);
  const answer = b.ready();
  b.advance();
  for (const message of answer.messages) a.step(message);
  assertEquals(a.commitIndex, x.index);
  assert(a.commitPending);
  if (a.hasReady()) {
    const quiet = a.ready();
    a.advance();
    assertEquals(commitsTo(quiet.earlyMessages, "b"), []);
  }
  // The next proposal's append carries it.
  a.propose(bytes("y"));
  const next = a.ready();
  a.advance();
  assertEquals(commitsTo(next.earlyMessages, "b"), [x.index]);
  assertEquals(a.commitPending, false);
  // Idle, the shell flushes it: an empty append to each follower.
  cluster.queue = [];
  for (const message of next.earlyMessages) {
    if (message.to === "b") b.step(message);
  }
  const answer2 = b.ready();
  b.advance();
  for (const message of answer2.messages) a.step(message);
  assert(a.commitPending);
  a.flushCommit();
  const flushed = a.ready();
  a.advance();
  for (const to of ["b", "c"]) {
    const appends = appendsTo(flushed.earlyMessages, to);
    assertEquals(appends.map((m) => [m.entries.length, m.commit]), [[
      0,
      a.commitIndex,
    ]]);
  }
  assertEquals(a.commitPending, false);
});

Deno.test("entries committed while a Ready's fsync runs are handed out at once, and only once", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  const a = cluster.node("a");
  const b = cluster.node("b");
  const c = cluster.node("c");
  const x = a.propose(bytes("x")) as { index: number };
  const first = a.ready();
  a.advance();
  // y's Ready is out (its fsync running) when the answers for it arrive.
  const y = a.propose(bytes("y")) as { index: number };
  const second = a.ready();
  assertEquals(a.takeCommitted(), [], "nothing committed yet");
  for (const follower of [b, c]) {
    for (const ready of [first, second]) {
      for (const m of appendsTo(ready.earlyMessages, follower.id)) {
        follower.step(m);
      }
    }
    const answer = follower.ready();
    follower.advance();
    for (const message of answer.messages) a.step(message);
  }
  // b and c hold both durably: a quorum without a's own unfinished write.
  assertEquals(a.commitIndex, y.index);
  const taken = a.takeCommitted().map((entry) => entry.index);
  assertEquals(taken, [x.index, y.index]);
  assertEquals(a.takeCommitted(), [], "handed out once");
  a.advance();
  assertEquals(a.appliedIndex, y.index);
  assert(!a.ready().committed.some((entry) => entry.index <= y.index));
  a.advance();
});

Deno.test("while a Ready persists, a leader's appends for new proposals leave at once", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  const a = cluster.node("a");
  const b = cluster.node("b");
  const first = a.propose(bytes("x")) as { index: number };
  const ready = a.ready();
  assertEquals(a.takeEarlyMessages(), [], "nothing new yet");
  // Proposed while the first Ready's fsync runs.
  const second = a.propose(bytes("y")) as { index: number };
  const early = a.takeEarlyMessages();
  const toB = appendsTo(early, "b");
  assertEquals(toB.flatMap((m) => m.entries.map((e) => e.index)), [
    second.index,
  ]);
  assertEquals(a.takeEarlyMessages(), [], "taken once");
  // Its own count still waits for the fsyncs: b alone is no quorum.
  for (const m of [...appendsTo(ready.earlyMessages, "b"), ...toB]) b.step(m);
  const answer = b.ready();
  b.advance();
  for (const message of answer.messages) a.step(message);
  assertEquals(a.commitIndex, first.index - 1);
  a.advance();
  assertEquals(a.commitIndex, first.index, "the first entry is durable here");
  const next = a.ready();
  assertEquals(next.persist.entries.map((e) => e.index), [second.index]);
  assertEquals(appendsTo(next.earlyMessages, "b"), [], "already sent");
  a.advance();
  assertEquals(a.commitIndex, second.index);
});

Deno.test("no message leaves between phases while the term or vote is not durable", () => {
  // A lone voter with a learner leads from the Ready that raises its term.
  const a = makeCore("a", fresh(["a"], ["l"]));
  const ready = tickToReady(a);
  assertEquals(a.role, "leader");
  assert(ready.persist.hardState !== undefined, "the term rose");
  a.propose(bytes("x"));
  a.tick();
  assertEquals(a.takeEarlyMessages(), [], "the term is not durable yet");
  a.advance();
  const next = a.ready();
  assert(
    appendsTo(next.messages, "l").length > 0 || next.earlyMessages.length > 0,
  );
  a.advance();
});

Deno.test("a follower's Ready answers its leader once, with the highest match", () => {
  const cluster = new TestCluster(["a", "b", "c"]);
  cluster.elect("a");
  const a = cluster.node("a");
  const b = cluster.node("b");
  const appends: AppendRequest[] = [];
  for (const value of ["x", "y", "z"]) {
    a.propose(bytes(value));
    const ready = a.ready();
    appends.push(...appendsTo(ready.earlyMessages, "b"));
    a.advance();
  }
  assertEquals(appends.length, 3);
  for (const append of appends) b.step(append);
  const answers = b.ready().messages.filter((m) =>
    m.type === "append-response"
  );
  b.advance();
  assertEquals(answers.length, 1);
  const last = appends.at(-1)!;
  assert(answers[0]!.type === "append-response" && answers[0]!.success);
  assertEquals(
    answers[0]!.matchIndex,
    last.prevLogIndex + last.entries.length,
  );
});
