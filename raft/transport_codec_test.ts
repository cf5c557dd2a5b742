import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import type { Message } from "./types.ts";
import { DecodeError } from "./storage/bytes.ts";
import {
  decodeBatch,
  decodeMessage,
  encodeBatch,
  encodeSnapshotHead,
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
        data: new TextEncoder().encode('{"voters":["a"]}'),
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
    matchIndex: 0,
    rejectHint: 4,
    rejectTerm: 3,
  },
  { ...base, type: "heartbeat", commit: 12, context: "read-1" },
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
