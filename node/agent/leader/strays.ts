/**
 * Containers a node runs that the cluster does not want there (unknown,
 * placed elsewhere, or ended — e.g. failed while the node was down and
 * since replaced) are stopped once they have been reported for
 * `STRAY_GRACE_MS`; live allocs the coordinator is stopping are left to it.
 */
import { allocsToStop, isTerminal } from "../../../raft/mod.ts";
import type { SecondaryRuntime } from "../../rpc/mod.ts";
import type { AcceptedHeartbeat } from "./node_messages.ts";
import type { LeaderService } from "./leadership.ts";

/** A container a node runs but should not is stopped once seen this long. */
export const STRAY_GRACE_MS = 5_000;
/** Stop grace for strays. */
const STRAY_STOP_GRACE_MS = 10_000;

export interface StraysOptions {
  runtime(nodeId: string): SecondaryRuntime;
  readonly nowMs: () => number;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

export class Strays implements LeaderService {
  readonly name = "strays";
  readonly #options: StraysOptions;
  /** `node/alloc` → when it was first seen running as a stray. */
  readonly #seen = new Map<string, number>();
  #leading = false;

  constructor(options: StraysOptions) {
    this.#options = options;
  }

  lead(): void {
    this.#seen.clear();
    this.#leading = true;
  }

  stepDown(): Promise<void> {
    this.#leading = false;
    this.#seen.clear();
    return Promise.resolve();
  }

  /** A heartbeat observer. */
  readonly observe = ({ message, state }: AcceptedHeartbeat): void => {
    if (!this.#leading) return;
    const nowMs = this.#options.nowMs();
    const strays = new Set(
      allocsToStop(state, message.nodeId, message.running).filter((id) => {
        const alloc = state.allocs.get(id);
        return alloc === undefined || alloc.nodeId !== message.nodeId ||
          isTerminal(alloc.status);
      }),
    );
    for (const allocId of message.running) {
      const key = `${message.nodeId}/${allocId}`;
      if (!strays.has(allocId)) {
        this.#seen.delete(key);
        continue;
      }
      const firstSeenMs = this.#seen.get(key) ?? nowMs;
      this.#seen.set(key, firstSeenMs);
      if (nowMs - firstSeenMs < STRAY_GRACE_MS) continue;
      this.#seen.delete(key);
      this.#stop(message.nodeId, allocId);
    }
  };

  #stop(nodeId: string, allocId: string): void {
    this.#options.log("info", `stopping stray alloc ${allocId} on ${nodeId}`);
    void this.#options.runtime(nodeId).stop(
      { allocId, signal: "SIGTERM", gracePeriodMs: STRAY_STOP_GRACE_MS },
      AbortSignal.timeout(STRAY_STOP_GRACE_MS + 20_000),
    ).catch((error) =>
      this.#options.log("warn", `cannot stop stray alloc ${allocId}: ${error}`)
    );
  }
}
