import { assert } from "./_assert.ts";
import type { Membership, MembershipChange } from "./types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The bytes of a membership entry: JSON, so the log stays readable. */
export function encodeMembership(membership: Membership): Uint8Array {
  return encoder.encode(
    JSON.stringify({
      voters: membership.voters,
      learners: membership.learners,
    }),
  );
}

/** Parse a membership entry's data; a malformed one is a corrupt log (programmer error). */
export function decodeMembership(data: Uint8Array): Membership {
  const value: unknown = JSON.parse(decoder.decode(data));
  assert(
    typeof value === "object" && value !== null,
    "membership entry is not an object",
  );
  const { voters, learners } = value as Record<string, unknown>;
  assert(isStringArray(voters), "membership voters is not a list of ids");
  assert(isStringArray(learners), "membership learners is not a list of ids");
  return { voters, learners };
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) &&
    value.every((item) => typeof item === "string");
}

/** The membership after one change, or null when the change does not apply. */
export function membershipAfter(
  current: Membership,
  change: MembershipChange,
): Membership | null {
  const isVoter = current.voters.includes(change.id);
  const isLearner = current.learners.includes(change.id);
  switch (change.type) {
    case "add-learner":
      if (isVoter || isLearner) return null;
      return {
        voters: current.voters,
        learners: [...current.learners, change.id],
      };
    case "promote":
      if (!isLearner) return null;
      return {
        voters: [...current.voters, change.id],
        learners: current.learners.filter((id) => id !== change.id),
      };
    case "remove": {
      if (!isVoter && !isLearner) return null;
      const voters = current.voters.filter((id) => id !== change.id);
      if (voters.length === 0) return null;
      return {
        voters,
        learners: current.learners.filter((id) => id !== change.id),
      };
    }
    default: {
      const _exhaustive: never = change;
      return _exhaustive;
    }
  }
}

export function sameMembership(a: Membership, b: Membership): boolean {
  return sameIds(a.voters, b.voters) && sameIds(a.learners, b.learners);
}

function sameIds(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((id) => b.includes(id));
}
