import { assertEquals, assertTrue } from "../../../containerd/_assert_test.ts";
import {
  type LeaderService,
  Leadership,
  type LeaderTerm,
  type RaftRole,
} from "./leadership.ts";

function duty(name: string, events: string[], signals: AbortSignal[]) {
  return {
    name,
    lead(term: LeaderTerm) {
      events.push(`lead ${name} ${term.term}`);
      signals.push(term.signal);
    },
    stepDown() {
      events.push(`down ${name}`);
      return Promise.resolve();
    },
  } satisfies LeaderService;
}

function setUp(caughtUp: () => Promise<void> = () => Promise.resolve()) {
  let role: RaftRole = { role: "follower", term: 1 };
  const events: string[] = [];
  const signals: AbortSignal[] = [];
  const leadership = new Leadership({
    role: () => role,
    caughtUp,
    duties: [duty("a", events, signals), duty("b", events, signals)],
    pollMs: 60_000,
    log: () => {},
  });
  return {
    leadership,
    events,
    signals,
    become(next: RaftRole) {
      role = next;
      leadership.check();
    },
  };
}

Deno.test("Leadership starts the duties in order when the node leads and stops them in reverse when it stops", async () => {
  const bed = setUp();
  await bed.leadership.start();
  assertEquals(bed.events, []);
  bed.become({ role: "leader", term: 2 });
  await bed.leadership.settled;
  assertTrue(bed.leadership.isLeader);
  assertEquals(bed.events, ["lead a 2", "lead b 2"]);
  bed.become({ role: "follower", term: 3 });
  assertTrue(!bed.leadership.isLeader);
  await bed.leadership.settled;
  assertEquals(bed.events.slice(2), ["down b", "down a"]);
  assertTrue(bed.signals.every((signal) => signal.aborted));
  await bed.leadership.stop();
});

Deno.test("Leadership gives a new term fresh duties after laying down the old ones", async () => {
  const bed = setUp();
  await bed.leadership.start();
  bed.become({ role: "leader", term: 2 });
  await bed.leadership.settled;
  bed.become({ role: "leader", term: 5 });
  await bed.leadership.settled;
  assertEquals(bed.events, [
    "lead a 2",
    "lead b 2",
    "down b",
    "down a",
    "lead a 5",
    "lead b 5",
  ]);
  assertEquals(bed.signals.map((s) => s.aborted), [true, true, false, false]);
  await bed.leadership.stop();
  assertEquals(bed.events.slice(-2), ["down b", "down a"]);
  assertTrue(bed.signals.every((signal) => signal.aborted));
});

Deno.test("Leadership does nothing before start and after stop", async () => {
  const bed = setUp();
  bed.become({ role: "leader", term: 2 });
  assertEquals(bed.events, []);
  await bed.leadership.start();
  await bed.leadership.settled;
  assertEquals(bed.events, ["lead a 2", "lead b 2"]);
  await bed.leadership.stop();
  bed.become({ role: "leader", term: 3 });
  await bed.leadership.settled;
  assertEquals(bed.events, ["lead a 2", "lead b 2", "down b", "down a"]);
});

Deno.test("Leadership starts no duty before the new leader caught up with what was committed before its term", async () => {
  let release = () => {};
  let calls = 0;
  const bed = setUp(() => {
    calls++;
    // The first barrier fails (leadership not yet confirmed), the next waits.
    if (calls === 1) return Promise.reject(new Error("not confirmed"));
    return new Promise((resolve) => release = resolve);
  });
  await bed.leadership.start();
  bed.become({ role: "leader", term: 2 });
  await new Promise((resolve) => setTimeout(resolve, 50));
  assertEquals(calls, 2);
  assertEquals(bed.events, []);
  assertTrue(!bed.leadership.isLeader);
  release();
  await bed.leadership.settled;
  assertEquals(bed.events, ["lead a 2", "lead b 2"]);
  assertTrue(bed.leadership.isLeader);
  await bed.leadership.stop();
});

Deno.test("Leadership gives up waiting for the barrier when the term ends", async () => {
  const bed = setUp(() => new Promise(() => {/* never: no quorum */}));
  await bed.leadership.start();
  bed.become({ role: "leader", term: 2 });
  bed.become({ role: "follower", term: 3 });
  await bed.leadership.settled;
  assertEquals(bed.events, []);
  assertTrue(bed.signals.length === 0);
  await bed.leadership.stop();
});
