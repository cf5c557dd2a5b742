/**
 * The bridge from the Raft log to the FSM: a committed entry in, the next
 * state out. Every replica applies the same entries in the same order and
 * so reaches the same state, rejections included (a rejected command is
 * still a log entry; it changes nothing, everywhere).
 */
import type { Entry } from "../types.ts";
import { apply } from "./apply.ts";
import type { Command, Rejection } from "./command.ts";
import { decodeCommand } from "./codec.ts";
import type { ClusterState } from "./state.ts";

/** What one committed entry did to the state. */
export type EntryApplied =
  | {
    readonly outcome: "applied";
    readonly state: ClusterState;
    readonly command: Command;
  }
  | {
    readonly outcome: "rejected";
    readonly state: ClusterState;
    /** Null when the bytes were not a command at all. */
    readonly command: Command | null;
    readonly rejection: Rejection;
  }
  /** `noop` and `membership` entries are Raft's own; the FSM skips them. */
  | { readonly outcome: "skipped"; readonly state: ClusterState };

/** Applies one committed entry; never throws on its contents. */
export function applyEntry(state: ClusterState, entry: Entry): EntryApplied {
  if (entry.kind !== "command") return { outcome: "skipped", state };
  const decoded = decodeCommand(entry.data);
  if (!decoded.ok) {
    return {
      outcome: "rejected",
      state,
      command: null,
      rejection: decoded.rejection,
    };
  }
  const applied = apply(state, decoded.command);
  if (!applied.ok) {
    return {
      outcome: "rejected",
      state,
      command: decoded.command,
      rejection: applied.rejection,
    };
  }
  return { outcome: "applied", state: applied.state, command: decoded.command };
}
