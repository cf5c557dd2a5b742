/**
 * Binary frames of Raft messages on the wire. A message is
 *
 *   u8 type | string from | string to | u64 term | body
 *
 * (strings: u32 length + UTF-8, integers little-endian), bodies per type
 * below; entry data and snapshot data travel as raw bytes, never base64.
 * A batch (`POST /raft/messages`) is u32 count followed by the messages.
 * Type codes are on the wire between versions: add new ones, never reuse.
 */
import type { Message } from "./types.ts";
import { ByteReader, ByteWriter, DecodeError } from "./storage/bytes.ts";
import {
  readEntry,
  readSnapshotMeta,
  writeEntry,
  writeSnapshotMeta,
} from "./storage/codec.ts";

const TYPE_CODES: Readonly<Record<Message["type"], number>> = {
  "vote": 1,
  "pre-vote": 2,
  "vote-response": 3,
  "pre-vote-response": 4,
  "append": 5,
  "append-response": 6,
  "heartbeat": 7,
  "heartbeat-response": 8,
  "snapshot": 9,
  "timeout-now": 10,
};
const TYPES_BY_CODE: ReadonlyMap<number, Message["type"]> = new Map(
  Object.entries(TYPE_CODES).map((
    [type, code],
  ) => [code, type as Message["type"]]),
);

/** Bound on messages in one batch and entries in one append read from the wire. */
export const WIRE_BATCH_MESSAGES_MAX = 65_536;
export const WIRE_ENTRIES_MAX = 1_000_000;

/** Writes everything of `message` except, for a snapshot, the data bytes themselves. */
function writeHead(w: ByteWriter, message: Message): void {
  w.u8(TYPE_CODES[message.type]).string(message.from).string(message.to).u64(
    message.term,
  );
}

export function writeMessage(w: ByteWriter, message: Message): void {
  writeHead(w, message);
  switch (message.type) {
    case "vote":
    case "pre-vote":
      w.u64(message.lastLogIndex).u64(message.lastLogTerm).u8(
        message.transfer ? 1 : 0,
      );
      return;
    case "vote-response":
    case "pre-vote-response":
      w.u8(message.granted ? 1 : 0);
      return;
    case "append":
      w.u64(message.prevLogIndex).u64(message.prevLogTerm).u64(message.commit)
        .u32(message.entries.length);
      for (const entry of message.entries) writeEntry(w, entry);
      return;
    case "append-response":
      w.u8(message.success ? 1 : 0).u64(message.matchIndex).u64(
        message.rejectHint,
      ).u64(message.rejectTerm);
      return;
    case "heartbeat":
      w.u64(message.commit).string(message.context);
      return;
    case "heartbeat-response":
      w.string(message.context);
      return;
    case "snapshot":
      writeSnapshotMeta(w, message.snapshot.meta);
      w.bytes(message.snapshot.data);
      return;
    case "timeout-now":
      return;
    default: {
      const _exhaustive: never = message;
      throw new Error(`unknown message ${JSON.stringify(_exhaustive)}`);
    }
  }
}

/**
 * The frame of a snapshot message up to and including its data length, so
 * the sender can stream the data after it without copying it into a buffer.
 */
export function encodeSnapshotHead(
  message: Extract<Message, { type: "snapshot" }>,
): Uint8Array {
  const w = new ByteWriter(256);
  writeHead(w, message);
  writeSnapshotMeta(w, message.snapshot.meta);
  w.u32(message.snapshot.data.length);
  return w.view().slice();
}

function bool(r: ByteReader): boolean {
  const b = r.u8();
  if (b > 1) throw new DecodeError(`Bad boolean ${b}`);
  return b === 1;
}

export function readMessage(r: ByteReader): Message {
  const code = r.u8();
  const type = TYPES_BY_CODE.get(code);
  if (type === undefined) {
    throw new DecodeError(`Unknown message type code ${code}`);
  }
  const from = r.string();
  const to = r.string();
  const term = r.u64();
  switch (type) {
    case "vote":
    case "pre-vote":
      return {
        type,
        from,
        to,
        term,
        lastLogIndex: r.u64(),
        lastLogTerm: r.u64(),
        transfer: bool(r),
      };
    case "vote-response":
    case "pre-vote-response":
      return { type, from, to, term, granted: bool(r) };
    case "append": {
      const prevLogIndex = r.u64();
      const prevLogTerm = r.u64();
      const commit = r.u64();
      const count = r.u32();
      if (count > WIRE_ENTRIES_MAX) {
        throw new DecodeError(
          `Append of ${count} entries exceeds ${WIRE_ENTRIES_MAX}`,
        );
      }
      const entries = [];
      for (let i = 0; i < count; i++) entries.push(readEntry(r));
      return {
        type,
        from,
        to,
        term,
        prevLogIndex,
        prevLogTerm,
        commit,
        entries,
      };
    }
    case "append-response":
      return {
        type,
        from,
        to,
        term,
        success: bool(r),
        matchIndex: r.u64(),
        rejectHint: r.u64(),
        rejectTerm: r.u64(),
      };
    case "heartbeat":
      return { type, from, to, term, commit: r.u64(), context: r.string() };
    case "heartbeat-response":
      return { type, from, to, term, context: r.string() };
    case "snapshot": {
      const meta = readSnapshotMeta(r);
      return { type, from, to, term, snapshot: { meta, data: r.bytes() } };
    }
    case "timeout-now":
      return { type, from, to, term };
  }
}

export function encodeBatch(
  messages: readonly Message[],
): Uint8Array<ArrayBuffer> {
  const w = new ByteWriter(1024);
  w.u32(messages.length);
  for (const message of messages) writeMessage(w, message);
  return w.view();
}

export function decodeBatch(bytes: Uint8Array): Message[] {
  const r = new ByteReader(bytes);
  const count = r.u32();
  if (count > WIRE_BATCH_MESSAGES_MAX) {
    throw new DecodeError(
      `Batch of ${count} messages exceeds ${WIRE_BATCH_MESSAGES_MAX}`,
    );
  }
  const messages: Message[] = [];
  for (let i = 0; i < count; i++) messages.push(readMessage(r));
  r.end();
  return messages;
}

export function decodeMessage(bytes: Uint8Array): Message {
  const r = new ByteReader(bytes);
  const message = readMessage(r);
  r.end();
  return message;
}
