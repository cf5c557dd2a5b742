/**
 * Health checks between deploys as a leader duty: the health keeper
 * (node/agent/leader/health_keeper.ts) matched to the state every tick while this
 * node leads, closed when the term ends.
 */
import type { ClusterState, Command } from "../../../raft/mod.ts";
import { HealthKeeper } from "./health_keeper.ts";
import type { LeaderService, LeaderTerm } from "./leadership.ts";

export interface HealthDutyOptions {
  state(): ClusterState;
  commit(command: Command): Promise<unknown>;
  probeHost(nodeId: string): string;
  readonly tickMs: number;
  readonly nowMs: () => number;
  readonly log: (message: string) => void;
}

export class HealthDuty implements LeaderService {
  readonly name = "health";
  readonly #options: HealthDutyOptions;
  #keeper: HealthKeeper | null = null;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(options: HealthDutyOptions) {
    this.#options = options;
  }

  lead(term: LeaderTerm): void {
    const keeper = new HealthKeeper({
      state: this.#options.state,
      commit: this.#options.commit,
      probeHost: this.#options.probeHost,
      log: this.#options.log,
      nowMs: this.#options.nowMs,
    });
    this.#keeper = keeper;
    // Runs until stepDown(): the keeper follows the state each tick.
    this.#timer = setInterval(() => {
      if (!term.signal.aborted) keeper.tick();
    }, this.#options.tickMs);
  }

  async stepDown(): Promise<void> {
    clearInterval(this.#timer);
    const keeper = this.#keeper;
    this.#keeper = null;
    await keeper?.close();
  }
}
