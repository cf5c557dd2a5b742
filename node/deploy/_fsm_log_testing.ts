/**
 * For the deploy's commit tests: a commit through the cluster FSM the way
 * the leader's commit ends (the entry's bytes decoded and applied in log
 * order), recording every entry; and seed 002's config.
 */
import {
  apply,
  type ClusterState,
  type Command,
  decodeCommand,
  encodeCommand,
} from "../../raft/fsm/mod.ts";
import { config, GIB, MIB, service } from "../../raft/fsm/testing.ts";
import type { CommitResult } from "./context.ts";

export class FsmLog {
  readonly entries: Command[] = [];
  constructor(public state: ClusterState) {}

  commit = (command: Command): Promise<CommitResult> => {
    this.entries.push(command);
    const decoded = decodeCommand(encodeCommand(command));
    if (!decoded.ok) return Promise.resolve(decoded);
    const applied = apply(this.state, decoded.command);
    if (applied.ok) this.state = applied.state;
    return Promise.resolve(applied);
  };
}

export const seed002 = config([
  service("web", { replicas: 2, port: 3000, cpu: 0.5, memoryBytes: 512 * MIB }),
  service("api", { port: 8080, cpu: 1, memoryBytes: 1 * GIB }),
]);
