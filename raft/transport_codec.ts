/**
 * Binary frames of Raft messages on the wire. A message is
 *
 *   u8 type | string from | string to | u64 term | body
 *
 * (strings: u32 length + UTF-8, integers little-endian), bodies per type
 * below; entry data and snapshot data travel as raw bytes, never base64.
 * A batch (`POST /raft/messages`) is u32 count followed by the messages.
 * Type codes are on the wire between versions: add new ones, never reuse.
 *
 * Decoding also checks what a frame alone can tell (`messageBoundsViolation`):
 * integers within sane bounds, entries contiguous and of sensible terms,
 * membership entries that parse. What needs our state (term, membership)
 * is checked by the transport's admission (transport_admission.ts).
 */
import type { Entry, Membership, Message } from "./types.ts";
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

/**
 * Largest term or index accepted from the wire: 2^52, a million entries a
 * second for 142 years. The headroom below 2^53 keeps `index + count` and
 * `term + 1` exact, so no arithmetic on an admitted value leaves the safe
 * integers.
 */
export const WIRE_INTEGER_MAX = 2 ** 52;
/** Member ids on the wire (certificates carry at most 64 characters). */
export const WIRE_MEMBER_ID_LENGTH_MAX = 128;
/** Heartbeat contexts are ReadIndex round numbers: decimal digits. */
export const WIRE_CONTEXT_LENGTH_MAX = 16;
/** Members in one membership (a snapshot's or a membership entry's). */
export const WIRE_MEMBERS_MAX = 1024;

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

/** Decodes a batch; throws `DecodeError` on a bad frame, `OutOfBoundsError` on an out-of-bounds message. */
export function decodeBatch(bytes: Uint8Array): Message[] {
  const r = new ByteReader(bytes);
  const count = r.u32();
  if (count > WIRE_BATCH_MESSAGES_MAX) {
    throw new DecodeError(
      `Batch of ${count} messages exceeds ${WIRE_BATCH_MESSAGES_MAX}`,
    );
  }
  const messages: Message[] = [];
  for (let i = 0; i < count; i++) messages.push(readChecked(r));
  r.end();
  return messages;
}

/** Decodes one message (a snapshot request's body); throws like `decodeBatch`. */
export function decodeMessage(bytes: Uint8Array): Message {
  const r = new ByteReader(bytes);
  const message = readChecked(r);
  r.end();
  return message;
}

/** A frame that decodes but holds values no correct member sends. */
export class OutOfBoundsError extends DecodeError {
  override name = "OutOfBoundsError";
}

function readChecked(r: ByteReader): Message {
  const message = readMessage(r);
  const violation = messageBoundsViolation(message);
  if (violation !== null) {
    throw new OutOfBoundsError(
      `Out-of-bounds ${message.type} from "${message.from}": ${violation}`,
    );
  }
  return message;
}

// ---- bounds a frame alone can tell ------------------------------------------

function isWireInteger(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0 &&
    value <= WIRE_INTEGER_MAX;
}

function isMemberId(id: string): boolean {
  return id.length >= 1 && id.length <= WIRE_MEMBER_ID_LENGTH_MAX;
}

/** "" or a ReadIndex round: decimal digits. */
function isContext(context: string): boolean {
  return context.length <= WIRE_CONTEXT_LENGTH_MAX &&
    /^[0-9]*$/.test(context);
}

/**
 * Why `message` cannot come from a correct member, judged from the frame
 * alone; null when it is within bounds. A log position (index, term) is
 * (0, 0) exactly for the empty log: every entry has a term of at least 1.
 */
export function messageBoundsViolation(message: Message): string | null {
  if (!isMemberId(message.from) || !isMemberId(message.to)) {
    return `member ids must be 1 to ${WIRE_MEMBER_ID_LENGTH_MAX} characters`;
  }
  if (message.from === message.to) return `"from" and "to" are the same`;
  if (!isWireInteger(message.term)) {
    return `term ${message.term} is beyond ${WIRE_INTEGER_MAX}`;
  }
  switch (message.type) {
    case "vote":
    case "pre-vote":
      if (message.term === 0) return "a campaign is for a term of at least 1";
      return positionViolation(
        "last log",
        message.lastLogIndex,
        message.lastLogTerm,
        message.term,
      );
    case "vote-response":
    case "pre-vote-response":
      return null;
    case "append":
      return appendViolation(message);
    case "append-response":
      return appendResponseViolation(message);
    case "heartbeat":
      if (message.term === 0) return "a leader's term is at least 1";
      if (!isWireInteger(message.commit)) {
        return `commit ${message.commit} is beyond ${WIRE_INTEGER_MAX}`;
      }
      return isContext(message.context) ? null : "context is not a read round";
    case "heartbeat-response":
      return isContext(message.context) ? null : "context is not a read round";
    case "snapshot":
      return snapshotViolation(message);
    case "timeout-now":
      return message.term === 0 ? "a leader's term is at least 1" : null;
    default: {
      const _exhaustive: never = message;
      return _exhaustive;
    }
  }
}

/** A log position (index, term) of a log whose owner is at `termMax`. */
function positionViolation(
  what: string,
  index: number,
  term: number,
  termMax: number,
): string | null {
  if (!isWireInteger(index)) {
    return `${what} index ${index} is beyond ${WIRE_INTEGER_MAX}`;
  }
  if (term > termMax) {
    return `${what} term ${term} is past the message's term ${termMax}`;
  }
  if ((index === 0) !== (term === 0)) {
    return `${what} position (${index}, ${term}) is impossible: only the empty log has term 0`;
  }
  return null;
}

function appendViolation(
  message: Extract<Message, { type: "append" }>,
): string | null {
  if (message.term === 0) return "a leader's term is at least 1";
  const previous = positionViolation(
    "previous",
    message.prevLogIndex,
    message.prevLogTerm,
    message.term,
  );
  if (previous !== null) return previous;
  if (!isWireInteger(message.commit)) {
    return `commit ${message.commit} is beyond ${WIRE_INTEGER_MAX}`;
  }
  if (message.prevLogIndex + message.entries.length > WIRE_INTEGER_MAX) {
    return `entries run past index ${WIRE_INTEGER_MAX}`;
  }
  let termFloor = message.prevLogTerm;
  for (const [i, entry] of message.entries.entries()) {
    const violation = entryViolation(
      entry,
      message.prevLogIndex + 1 + i,
      termFloor,
      message.term,
    );
    if (violation !== null) return violation;
    termFloor = entry.term;
  }
  return null;
}

/** Entries follow the previous one without a gap, with terms that never decrease. */
function entryViolation(
  entry: Entry,
  index: number,
  termMin: number,
  termMax: number,
): string | null {
  if (entry.index !== index) {
    return `entries are not contiguous: index ${entry.index} where ${index} belongs`;
  }
  if (entry.term < termMin || entry.term > termMax || entry.term === 0) {
    return `entry ${entry.index} has term ${entry.term}, outside [${
      Math.max(termMin, 1)
    }, ${termMax}]`;
  }
  if (entry.kind !== "membership") return null;
  const membership = parseMembershipData(entry.data);
  if (membership === null) {
    return `membership entry ${entry.index} does not parse`;
  }
  const violation = membershipViolation(membership);
  return violation === null
    ? null
    : `membership entry ${entry.index}: ${violation}`;
}

function appendResponseViolation(
  message: Extract<Message, { type: "append-response" }>,
): string | null {
  for (const value of [message.matchIndex, message.rejectHint]) {
    if (!isWireInteger(value)) {
      return `index ${value} is beyond ${WIRE_INTEGER_MAX}`;
    }
  }
  if (message.rejectTerm > message.term) {
    return `reject term ${message.rejectTerm} is past the message's term ${message.term}`;
  }
  if (message.success) {
    return message.rejectHint === 0 && message.rejectTerm === 0
      ? null
      : "a success carries no rejection hint";
  }
  return message.rejectHint <= message.matchIndex
    ? null
    : `reject hint ${message.rejectHint} is past the rejected index ${message.matchIndex}`;
}

function snapshotViolation(
  message: Extract<Message, { type: "snapshot" }>,
): string | null {
  if (message.term === 0) return "a leader's term is at least 1";
  const { meta } = message.snapshot;
  if (meta.index === 0) return "a snapshot sent to a member covers index 1 on";
  const position = positionViolation(
    "snapshot",
    meta.index,
    meta.term,
    message.term,
  );
  if (position !== null) return position;
  const violation = membershipViolation(meta.membership);
  return violation === null ? null : `snapshot membership: ${violation}`;
}

/** A membership a correct leader could have made: voters, distinct ids, nobody twice. */
export function membershipViolation(membership: Membership): string | null {
  const ids = [...membership.voters, ...membership.learners];
  if (membership.voters.length === 0) return "it has no voter";
  if (ids.length > WIRE_MEMBERS_MAX) {
    return `${ids.length} members exceed ${WIRE_MEMBERS_MAX}`;
  }
  if (!ids.every(isMemberId)) {
    return `member ids must be 1 to ${WIRE_MEMBER_ID_LENGTH_MAX} characters`;
  }
  return new Set(ids).size === ids.length ? null : "a member is listed twice";
}

const DECODER = new TextDecoder("utf-8", { fatal: true });

/**
 * A membership entry's data (JSON, see _membership.ts) parsed without
 * trusting it; null when it is not a membership. The core's own decoder
 * asserts, as its log holds only what was checked here first.
 */
export function parseMembershipData(data: Uint8Array): Membership | null {
  let value: unknown;
  try {
    value = JSON.parse(DECODER.decode(data));
  } catch (_err) {
    return null; // not UTF-8 or not JSON: the caller reports it as out of bounds
  }
  if (typeof value !== "object" || value === null) return null;
  const { voters, learners } = value as Record<string, unknown>;
  if (!isIdList(voters) || !isIdList(learners)) return null;
  return { voters, learners };
}

function isIdList(value: unknown): value is string[] {
  return Array.isArray(value) &&
    value.every((item) => typeof item === "string");
}
