import {
  deepStrictEqual as assertEquals,
  ok as assert,
  throws,
} from "node:assert/strict";
import type {
  AppendRequest,
  Entry,
  Message,
  SnapshotRequest,
} from "./types.ts";
import { DecodeError } from "./storage/bytes.ts";
import {
  decodeBatch,
  decodeMessage,
  encodeBatch,
  encodeSnapshotHead,
  messageBoundsViolation,
  OutOfBoundsError,
  WIRE_INTEGER_MAX,
} from "./transport_codec.ts";

const base = { from: "node-a", to: "node-b", term: 7 };
const data = new Uint8Array([0, 1, 2, 255]);
const MESSAGES: Message[] = [
  { ...base, type: "vote", lastLogIndex: 10, lastLogTerm: 6, transfer: false },
  {
    ...base,
    type: "pre-vote",
    lastLogIndex: 2 ** 40,
    lastLogTerm: 1,
    transfer: true,
  },
  { ...base, type: "vote-response", granted: true },
  { ...base, type: "pre-vote-response", granted: false },
  {
    ...base,
    type: "append",
    prevLogIndex: 9,
    prevLogTerm: 6,
    commit: 8,
    entries: [
      { index: 10, term: 7, kind: "command", data },
      { index: 11, term: 7, kind: "noop", data: new Uint8Array(0) },
      {
        index: 12,
        term: 7,
        kind: "membership",
        data: new TextEncoder().encode('{"voters":["a"],"learners":[]}'),
      },
    ],
  },
  {
    ...base,
    type: "append",
    prevLogIndex: 0,
    prevLogTerm: 0,
    commit: 0,
    entries: [],
  },
  {
    ...base,
    type: "append-response",
    success: false,
    matchIndex: 9,
    rejectHint: 4,
    rejectTerm: 3,
  },
  { ...base, type: "heartbeat", commit: 12, context: "17" },
  { ...base, type: "heartbeat-response", context: "" },
  {
    ...base,
    type: "snapshot",
    snapshot: {
      meta: {
        index: 100,
        term: 5,
        membership: { voters: ["a", "b"], learners: ["c"] },
      },
      data,
    },
  },
  { ...base, type: "timeout-now" },
];

Deno.test("transport codec round-trips every message type", async (t) => {
  for (const message of MESSAGES) {
    await t.step(message.type, () => {
      assertEquals(decodeBatch(encodeBatch([message])), [message]);
    });
  }
  assertEquals(decodeBatch(encodeBatch(MESSAGES)), MESSAGES);
});

Deno.test("transport codec decodes a snapshot sent as head plus streamed data", () => {
  const message = MESSAGES.find((m) => m.type === "snapshot");
  if (message?.type !== "snapshot") throw new Error("fixture lacks a snapshot");
  const head = encodeSnapshotHead(message);
  assertEquals(
    decodeMessage(new Uint8Array([...head, ...message.snapshot.data])),
    message,
  );
});

Deno.test("transport codec rejects truncated, unknown and trailing bytes", async (t) => {
  const good = encodeBatch(MESSAGES);
  const cases: [string, Uint8Array][] = [
    ["empty", new Uint8Array(0)],
    ["truncated by one byte", good.subarray(0, good.length - 1)],
    ["cut in the middle", good.subarray(0, good.length >> 1)],
    ["unknown type code", new Uint8Array([1, 0, 0, 0, 99])],
    ["trailing byte", new Uint8Array([...good, 0])],
    ["huge count", new Uint8Array([255, 255, 255, 255])],
  ];
  for (const [name, bytes] of cases) {
    await t.step(name, () => {
      throws(() => decodeBatch(bytes), DecodeError);
    });
  }
});

const encoder = new TextEncoder();

function entry(index: number, term: number, kind: Entry["kind"] = "command") {
  const data = kind === "membership"
    ? encoder.encode('{"voters":["a"],"learners":["b"]}')
    : new Uint8Array(0);
  return { index, term, kind, data };
}

const APPEND: AppendRequest = {
  ...base,
  type: "append",
  prevLogIndex: 9,
  prevLogTerm: 6,
  commit: 8,
  entries: [entry(10, 6), entry(11, 7, "membership")],
};

const SNAPSHOT: SnapshotRequest = {
  ...base,
  type: "snapshot",
  snapshot: {
    meta: {
      index: 100,
      term: 5,
      membership: { voters: ["a", "b"], learners: ["c"] },
    },
    data,
  },
};

function withMeta(meta: Partial<SnapshotRequest["snapshot"]["meta"]>): Message {
  return {
    ...SNAPSHOT,
    snapshot: {
      ...SNAPSHOT.snapshot,
      meta: { ...SNAPSHOT.snapshot.meta, ...meta },
    },
  };
}

function membershipEntry(json: string): Message {
  return {
    ...APPEND,
    entries: [{
      index: 10,
      term: 6,
      kind: "membership",
      data: encoder.encode(json),
    }],
  };
}

const vote: Message = {
  ...base,
  type: "vote",
  lastLogIndex: 10,
  lastLogTerm: 6,
  transfer: false,
};
const failure: Message = {
  ...base,
  type: "append-response",
  success: false,
  matchIndex: 9,
  rejectHint: 4,
  rejectTerm: 3,
};

/** [name, message, expected violation substring or null when within bounds] */
const BOUNDS: [string, Message, string | null][] = [
  ["every fixture", MESSAGES[0]!, null],
  ["an append of contiguous entries", APPEND, null],
  ["the first append of an empty log", {
    ...APPEND,
    prevLogIndex: 0,
    prevLogTerm: 0,
    entries: [entry(1, 7)],
  }, null],
  ["an empty id", { ...vote, from: "" }, "member ids"],
  ["an id past the bound", { ...vote, to: "x".repeat(129) }, "member ids"],
  ["from and to the same", { ...vote, to: "node-a" }, "the same"],
  [
    "a term past the wire bound",
    { ...vote, term: WIRE_INTEGER_MAX + 1 },
    "beyond",
  ],
  ["a term of 2^53 - 1", { ...vote, term: 2 ** 53 - 1 }, "beyond"],
  ["a term at the wire bound", {
    ...vote,
    term: WIRE_INTEGER_MAX,
  }, null],
  ["a campaign for term 0", {
    ...vote,
    term: 0,
    lastLogIndex: 0,
    lastLogTerm: 0,
  }, "at least 1"],
  [
    "a candidate's last log term past its term",
    { ...vote, lastLogTerm: 8 },
    "past the message's term",
  ],
  ["a last log index past the wire bound", {
    ...vote,
    lastLogIndex: WIRE_INTEGER_MAX + 1,
  }, "beyond"],
  ["a non-empty log of term 0", { ...vote, lastLogTerm: 0 }, "impossible"],
  ["a rejection at term 0 (a fresh node)", {
    ...base,
    type: "vote-response",
    term: 0,
    granted: false,
  }, null],
  ["an append at term 0", { ...APPEND, term: 0 }, "at least 1"],
  ["an entry out of place", {
    ...APPEND,
    entries: [entry(10, 6), entry(12, 7)],
  }, "not contiguous"],
  ["entries that start past the previous index", {
    ...APPEND,
    entries: [entry(11, 6)],
  }, "not contiguous"],
  ["an entry whose term falls", {
    ...APPEND,
    entries: [entry(10, 7), entry(11, 6)],
  }, "outside"],
  ["an entry below the previous term", {
    ...APPEND,
    entries: [entry(10, 5)],
  }, "outside"],
  ["an entry past the message's term", {
    ...APPEND,
    entries: [entry(10, 8)],
  }, "outside"],
  [
    "a previous term past the message's term",
    { ...APPEND, prevLogTerm: 8 },
    "past the message's term",
  ],
  ["entries that run past the wire bound", {
    ...APPEND,
    prevLogIndex: WIRE_INTEGER_MAX,
    entries: [entry(WIRE_INTEGER_MAX + 1, 7)],
  }, "run past"],
  ["a commit past the wire bound", {
    ...APPEND,
    commit: 2 ** 53 - 1,
  }, "beyond"],
  [
    "a membership entry that is not JSON",
    membershipEntry("{"),
    "does not parse",
  ],
  [
    "a membership entry without learners",
    membershipEntry('{"voters":["a"]}'),
    "does not parse",
  ],
  [
    "a membership entry without voters",
    membershipEntry('{"voters":[],"learners":["a"]}'),
    "no voter",
  ],
  [
    "a membership entry that lists a member twice",
    membershipEntry(
      '{"voters":["a"],"learners":["a"]}',
    ),
    "twice",
  ],
  [
    "a rejection hint past the rejected index",
    { ...failure, rejectHint: 10 },
    "past the rejected index",
  ],
  [
    "a reject term past the message's term",
    { ...failure, rejectTerm: 8 },
    "past the message's term",
  ],
  ["a success with a hint", { ...failure, success: true }, "no rejection hint"],
  ["a match index past the wire bound", {
    ...failure,
    matchIndex: WIRE_INTEGER_MAX + 1,
  }, "beyond"],
  ["a heartbeat with a read round", {
    ...base,
    type: "heartbeat",
    commit: 3,
    context: "42",
  }, null],
  ["a heartbeat with a context that is no read round", {
    ...base,
    type: "heartbeat",
    commit: 3,
    context: "NaN",
  }, "read round"],
  ["a heartbeat answer with a context past the bound", {
    ...base,
    type: "heartbeat-response",
    context: "1".repeat(17),
  }, "read round"],
  ["a snapshot", SNAPSHOT, null],
  ["a snapshot at index 0", withMeta({ index: 0, term: 0 }), "index 1 on"],
  [
    "a snapshot of a term past the message's",
    withMeta({ term: 8 }),
    "past the message's term",
  ],
  [
    "a snapshot past the wire bound",
    withMeta({ index: WIRE_INTEGER_MAX + 1 }),
    "beyond",
  ],
  [
    "a snapshot without voters",
    withMeta({
      membership: { voters: [], learners: ["c"] },
    }),
    "no voter",
  ],
  [
    "a snapshot listing a member twice",
    withMeta({
      membership: { voters: ["a", "b"], learners: ["b"] },
    }),
    "twice",
  ],
  [
    "a timeout-now at term 0",
    { ...base, type: "timeout-now", term: 0 },
    "at least 1",
  ],
];

Deno.test("messageBoundsViolation() tells what no correct member sends", async (t) => {
  for (const [name, message, expected] of BOUNDS) {
    await t.step(name, () => {
      const violation = messageBoundsViolation(message);
      if (expected === null) assertEquals(violation, null);
      else {
        assert(violation?.includes(expected), `${violation}`);
        if (
          Number.isSafeInteger(message.term) &&
          JSON.stringify(message).length < 10_000
        ) {
          throws(() => decodeBatch(encodeBatch([message])), OutOfBoundsError);
        }
      }
    });
  }
  for (const message of MESSAGES) {
    assertEquals(messageBoundsViolation(message), null, message.type);
  }
});
