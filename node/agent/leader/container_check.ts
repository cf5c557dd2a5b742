/**
 * The leader's cross-check of a returning node: on the first heartbeat
 * after a node (re-)registered or came back up, every alloc the FSM has as
 * `running` or `healthy` there since before that moment, but whose
 * container the node does not run, is marked failed. Exits the node saw
 * itself arrive as reports in the same heartbeat and win (they are applied
 * first); this catches the ones nobody saw, so no alloc stays `running` for
 * a container that is gone.
 */
import type {
  Alloc,
  ClusterState,
  Command,
  NodeId,
} from "../../../raft/mod.ts";
import type { CommitResult } from "../../deploy/mod.ts";
import type { AcceptedHeartbeat } from "./node_messages.ts";
import type { LeaderService } from "./leadership.ts";

export interface ContainerCheckOptions {
  commit(command: Command): Promise<CommitResult>;
  readonly nowMs: () => number;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

/** The allocs of `nodeId` the FSM thinks run, decided before `sinceMs`, that do not. */
export function vanishedAllocs(
  state: ClusterState,
  nodeId: NodeId,
  running: readonly string[],
  sinceMs: number,
): Alloc[] {
  const runs = new Set(running);
  const vanished: Alloc[] = [];
  for (const alloc of state.allocs.values()) {
    if (alloc.nodeId !== nodeId || alloc.stopRequested) continue;
    if (alloc.status !== "running" && alloc.status !== "healthy") continue;
    if (alloc.updatedAtMs >= sinceMs || runs.has(alloc.id)) continue;
    vanished.push(alloc);
  }
  return vanished;
}

export class ContainerCheck implements LeaderService {
  readonly name = "container-check";
  readonly #options: ContainerCheckOptions;
  #leading = false;

  constructor(options: ContainerCheckOptions) {
    this.#options = options;
  }

  lead(): void {
    this.#leading = true;
  }

  stepDown(): Promise<void> {
    this.#leading = false;
    return Promise.resolve();
  }

  /** A heartbeat observer. */
  readonly observe = (heartbeat: AcceptedHeartbeat): void => {
    if (!this.#leading || heartbeat.returnedAtMs === null) return;
    const { message, state } = heartbeat;
    const vanished = vanishedAllocs(
      state,
      message.nodeId,
      message.running,
      heartbeat.returnedAtMs,
    );
    for (const alloc of vanished) {
      this.#options.log(
        "warn",
        `alloc ${alloc.id} was ${alloc.status} but ${message.nodeId} no longer runs its container`,
      );
      this.#options.commit({
        type: "AllocStatus",
        allocId: alloc.id,
        status: "failed",
        message: "container gone while the node's agent was away",
        atMs: this.#options.nowMs(),
      }).catch((error) =>
        this.#options.log("warn", `cannot mark ${alloc.id} failed: ${error}`)
      );
    }
  };
}
