/**
 * Admission of inbound Raft requests: only members speak, each as the
 * sender the peer port authenticated, within bounds a correct peer never
 * exceeds. Pure functions over a view of our state; the transport answers a
 * refusal with its HTTP status and `{ code, message }` and counts it. What a
 * frame alone tells is checked earlier, by the codec
 * (`messageBoundsViolation`).
 */
import type { MemberId, Message } from "./types.ts";

/**
 * How far above our term a message's term may be. With pre-vote on, a
 * member's term rises only once a majority granted its pre-vote, i.e. once
 * per real election, and elections are an election timeout apart: 2^24
 * (16.7 million) elections are 19 days of a cluster electing ten leaders a
 * second and never keeping one. A peer further ahead is broken or forged (a
 * node away for longer must be re-seeded anyway), and a term can reach the
 * wire's bound of 2^52 only through 2^28 admitted jumps.
 */
export const TERM_JUMP_MAX = 2 ** 24;

/** What admission reads of the node's Raft state, once per request. */
export interface RaftView {
  readonly term: number;
  readonly lastIndex: number;
  /**
   * Who may speak: the voters and learners of the latest configuration in
   * our log (pending additions included) and of the committed one (a member
   * being removed speaks until its removal commits here).
   */
  readonly members: ReadonlySet<MemberId>;
}

/** `RaftView` plus what the transport itself knows. */
export interface AdmissionView extends RaftView {
  readonly id: MemberId;
  /**
   * The peers we were started with or told of (`setPeer`). They may speak
   * only while we belong to no configuration ourselves: a joining node
   * knows no membership until the leader's first append or snapshot.
   */
  readonly peers: ReadonlySet<MemberId>;
}

export type TransportRefusalCode =
  | "raft.transport.too_large"
  | "raft.transport.malformed"
  | "raft.transport.out_of_bounds"
  | "raft.transport.forged_sender"
  | "raft.transport.not_member"
  | "raft.transport.misaddressed"
  | "raft.transport.busy";

/** Why a request was refused: data, answered with `status` and `{ code, message }`. */
export interface Refusal {
  readonly code: TransportRefusalCode;
  readonly message: string;
}

const REFUSAL_STATUS: Readonly<Record<TransportRefusalCode, number>> = {
  "raft.transport.too_large": 413,
  "raft.transport.malformed": 400,
  "raft.transport.out_of_bounds": 400,
  "raft.transport.forged_sender": 403,
  "raft.transport.not_member": 403,
  "raft.transport.misaddressed": 421,
  "raft.transport.busy": 429,
};

/** The HTTP status a refusal is answered with. */
export function refusalStatus(code: TransportRefusalCode): number {
  return REFUSAL_STATUS[code];
}

/** May `sender` speak Raft to us at all? (Checked before reading a body.) */
export function senderRefusal(
  sender: MemberId,
  view: AdmissionView,
): Refusal | null {
  if (view.members.has(sender)) return null;
  const joining = !view.members.has(view.id);
  if (joining && view.peers.has(sender)) return null;
  return {
    code: "raft.transport.not_member",
    message: joining
      ? `Member "${view.id}" belongs to no configuration yet and "${sender}" is not one of its peers`
      : `"${sender}" is not a voter or learner of the configuration "${view.id}" knows; a removed or unknown node may not speak Raft`,
  };
}

/**
 * Admits a decoded request whole or refuses it whole. `sender` is the
 * authenticated caller; null only for servers that authenticate nobody
 * (tests), where the first message's claimed `from` stands in. Pure.
 */
export function admitBatch(
  messages: readonly Message[],
  sender: MemberId | null,
  view: AdmissionView,
): Refusal | null {
  const speaker = sender ?? messages[0]?.from;
  if (speaker === undefined) return null;
  for (const message of messages) {
    if (message.to !== view.id) {
      return {
        code: "raft.transport.misaddressed",
        message:
          `A ${message.type} for "${message.to}" reached "${view.id}"; check the peer address of "${message.to}"`,
      };
    }
    if (message.from !== speaker) {
      return {
        code: "raft.transport.forged_sender",
        message:
          `A ${message.type} claims to be from "${message.from}" but "${speaker}" sent it`,
      };
    }
  }
  const refusal = senderRefusal(speaker, view);
  if (refusal !== null) return refusal;
  for (const message of messages) {
    const violation = stateBoundsViolation(message, view);
    if (violation !== null) {
      return {
        code: "raft.transport.out_of_bounds",
        message:
          `Out-of-bounds ${message.type} from "${speaker}": ${violation}`,
      };
    }
  }
  return null;
}

/** Bounds that need our state; the frame's own are checked by the codec. */
function stateBoundsViolation(
  message: Message,
  view: AdmissionView,
): string | null {
  if (message.term > view.term + TERM_JUMP_MAX) {
    return `term ${message.term} is more than ${TERM_JUMP_MAX} above our term ${view.term}`;
  }
  // Of our own term's log a follower holds at most what we hold: we are the
  // only one who could have sent it.
  if (
    message.type === "append-response" && message.term === view.term &&
    message.matchIndex > view.lastIndex
  ) {
    return `index ${message.matchIndex} is past our last index ${view.lastIndex}`;
  }
  return null;
}
