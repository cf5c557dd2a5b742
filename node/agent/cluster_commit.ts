/**
 * Committing a cluster command through Raft: proposed on this node (which
 * must lead), resolved with the state right after it or the FSM's refusal.
 */
import {
  type Command,
  encodeCommand,
  type EntryApplied,
  type RaftNode,
} from "../../raft/mod.ts";
import type { CommitResult } from "../deploy/mod.ts";

/** Proposes `command`; throws (RaftError) when this node does not lead. */
export async function commitCommand(
  raft: RaftNode,
  command: Command,
): Promise<CommitResult> {
  const { result } = await raft.propose(encodeCommand(command));
  const applied = result as EntryApplied;
  switch (applied.outcome) {
    case "applied":
      return { ok: true, state: applied.state };
    case "rejected":
      return { ok: false, rejection: applied.rejection };
    case "skipped":
      throw new Error("a proposed command was skipped by the FSM");
  }
}
