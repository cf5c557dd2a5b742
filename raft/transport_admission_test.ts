import { deepStrictEqual as assertEquals } from "node:assert/strict";
import type { MemberId, Message } from "./types.ts";
import {
  type AdmissionView,
  admitBatch,
  refusalStatus,
  TERM_JUMP_MAX,
} from "./transport_admission.ts";

function heartbeat(over: Partial<Message> = {}): Message {
  return {
    type: "heartbeat",
    from: "a",
    to: "b",
    term: 5,
    commit: 1,
    context: "",
    ...over,
  } as Message;
}

Deno.test("admitBatch() admits members' batches whole and refuses the rest whole", async (t) => {
  const view: AdmissionView = {
    id: "b",
    term: 5,
    lastIndex: 10,
    members: new Set(["a", "b", "c"]),
    peers: new Set(["a", "c", "j"]),
  };
  const joining: AdmissionView = { ...view, members: new Set() };
  const beat = heartbeat;
  const vote: Message = {
    type: "vote",
    from: "a",
    to: "b",
    term: 5 + TERM_JUMP_MAX + 1,
    lastLogIndex: 10,
    lastLogTerm: 5,
    transfer: false,
  };
  const answer = (term: number, matchIndex: number): Message => ({
    type: "append-response",
    from: "a",
    to: "b",
    term,
    success: true,
    matchIndex,
    rejectHint: 0,
    rejectTerm: 0,
  });
  const cases: [string, Message[], MemberId | null, AdmissionView, string][] = [
    ["a member's heartbeat", [beat()], "a", view, "admitted"],
    ["a batch from its sender", [beat(), answer(5, 10)], "a", view, "admitted"],
    ["an empty batch", [], "a", view, "admitted"],
    ["no sender: the claimed from stands in", [beat()], null, view, "admitted"],
    [
      "a forged from",
      [beat({ from: "c" })],
      "a",
      view,
      "raft.transport.forged_sender",
    ],
    [
      "one forged message in a batch",
      [beat(), beat({ from: "c" })],
      "a",
      view,
      "raft.transport.forged_sender",
    ],
    [
      "no sender and two claimed froms",
      [beat(), beat({ from: "c" })],
      null,
      view,
      "raft.transport.forged_sender",
    ],
    [
      "a non-member",
      [beat({ from: "x" })],
      "x",
      view,
      "raft.transport.not_member",
    ],
    [
      "a peer that is no member, while we are one",
      [beat({ from: "j" })],
      "j",
      view,
      "raft.transport.not_member",
    ],
    ["a joining node hears a peer", [beat()], "a", joining, "admitted"],
    [
      "a joining node refuses a stranger",
      [beat({ from: "x" })],
      "x",
      joining,
      "raft.transport.not_member",
    ],
    [
      "a message for another member",
      [beat({ to: "c" })],
      "a",
      view,
      "raft.transport.misaddressed",
    ],
    [
      "a term at the jump bound",
      [beat({ term: 5 + TERM_JUMP_MAX })],
      "a",
      view,
      "admitted",
    ],
    [
      "a heartbeat past the jump bound",
      [beat({ term: 5 + TERM_JUMP_MAX + 1 })],
      "a",
      view,
      "raft.transport.out_of_bounds",
    ],
    [
      "a vote request past the jump bound",
      [vote],
      "a",
      view,
      "raft.transport.out_of_bounds",
    ],
    [
      "a success past our last index, in our term",
      [answer(5, 11)],
      "a",
      view,
      "raft.transport.out_of_bounds",
    ],
    [
      "a success past our last index, of an older term",
      [answer(4, 11)],
      "a",
      view,
      "admitted",
    ],
  ];
  for (const [name, messages, sender, at, expected] of cases) {
    await t.step(name, () => {
      const refusal = admitBatch(messages, sender, at);
      assertEquals(refusal?.code ?? "admitted", expected);
    });
  }
});

Deno.test("refusalStatus() answers forged and non-member senders 403, bounds 400, misaddressing 421", () => {
  assertEquals(
    [
      refusalStatus("raft.transport.forged_sender"),
      refusalStatus("raft.transport.not_member"),
      refusalStatus("raft.transport.out_of_bounds"),
      refusalStatus("raft.transport.malformed"),
      refusalStatus("raft.transport.misaddressed"),
      refusalStatus("raft.transport.too_large"),
    ],
    [403, 403, 400, 400, 421, 413],
  );
});
