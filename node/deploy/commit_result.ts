/** What a commit through Raft gave: the state after it, or the FSM's refusal. */
import type { ClusterState, Rejection } from "../../raft/fsm/mod.ts";

export type CommitResult =
  | { readonly ok: true; readonly state: ClusterState }
  | { readonly ok: false; readonly rejection: Rejection };
