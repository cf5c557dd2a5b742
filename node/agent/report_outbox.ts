/**
 * What a node saw happen to its allocs (restarts, exits), kept until a
 * heartbeat carrying it is accepted by the leader. The runtime writes here
 * from the moment it opens, so a report made before the link to the leader
 * is up (an exit found while re-attaching at start) is delivered once it is.
 */
import type { AllocReport } from "../../raft/mod.ts";

/** Reports kept for the next heartbeat; past it the oldest go. */
export const PENDING_REPORTS_MAX = 4_096;

export class ReportOutbox {
  #pending: AllocReport[] = [];
  #dropped = 0;

  /** Reports dropped because the outbox was full. */
  get dropped(): number {
    return this.#dropped;
  }

  get size(): number {
    return this.#pending.length;
  }

  /** Queues a report for the next heartbeat. */
  push(report: AllocReport): void {
    this.#pending.push(report);
    if (this.#pending.length > PENDING_REPORTS_MAX) {
      this.#pending.shift();
      this.#dropped++;
    }
  }

  /** Takes every queued report (for one heartbeat). */
  take(): AllocReport[] {
    const taken = this.#pending;
    this.#pending = [];
    return taken;
  }

  /** Puts back reports a heartbeat failed to deliver, before newer ones. */
  putBack(reports: readonly AllocReport[]): void {
    this.#pending = [...reports, ...this.#pending];
    const excess = this.#pending.length - PENDING_REPORTS_MAX;
    if (excess > 0) {
      this.#pending.splice(0, excess);
      this.#dropped += excess;
    }
  }
}
