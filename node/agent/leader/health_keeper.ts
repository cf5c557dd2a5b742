/**
 * Health checks between deploys, on the leader. During a deploy the
 * coordinator judges the allocs it starts; afterwards this keeper watches
 * every live service alloc on a ready node: a healthy alloc whose checks
 * fail moves back to `running` (out of DNS and the proxy), and a `running`
 * alloc (e.g. restarted by its node) that passes its checks becomes
 * `healthy` again. A service without health checks is healthy while it runs.
 * While a deploy runs, the keeper stands aside.
 */
import type { ServiceConfig } from "../../../config/mod.ts";
import {
  type Alloc,
  type ClusterState,
  type Command,
  runningDeploy,
} from "../../../raft/mod.ts";
import { HealthMonitor, probeTarget } from "../../health/mod.ts";

/** Most allocs watched at once. */
export const KEPT_ALLOCS_MAX = 1_000;

export interface HealthKeeperOptions {
  state(): ClusterState;
  commit(command: Command): Promise<unknown>;
  probeHost(nodeId: string): string;
  log(message: string): void;
  readonly nowMs?: () => number;
}

interface Watched {
  readonly monitor: HealthMonitor;
  readonly key: string;
}

export class HealthKeeper {
  readonly #options: HealthKeeperOptions;
  readonly #watched = new Map<string, Watched>();

  constructor(options: HealthKeeperOptions) {
    this.#options = options;
  }

  /** Starts and stops monitors to match the state; call periodically. */
  tick(): void {
    const state = this.#options.state();
    const wanted = runningDeploy(state) === null
      ? eligible(state)
      : new Map<string, { alloc: Alloc; service: ServiceConfig }>();
    for (const [allocId, watched] of this.#watched) {
      const entry = wanted.get(allocId);
      // A monitor that gave up (failed) starts over on the next tick.
      if (
        entry === undefined ||
        keyOf(entry.alloc, entry.service) !== watched.key ||
        watched.monitor.state.status === "failed"
      ) {
        this.#watched.delete(allocId);
        void watched.monitor.stop();
      }
    }
    for (const [allocId, { alloc, service }] of wanted) {
      if (this.#watched.has(allocId)) continue;
      if (this.#watched.size >= KEPT_ALLOCS_MAX) break;
      if (service.health === undefined) {
        if (alloc.status === "running") this.#mark(alloc, "healthy", "running");
        continue;
      }
      const monitor = new HealthMonitor({
        config: service.health,
        target: probeTarget(
          service.health,
          this.#options.probeHost(alloc.nodeId),
          alloc.hostPort ?? 0,
        ),
        onTransition: (transition) => {
          if (transition.to === "healthy") {
            this.#mark(alloc, "healthy", transition.reason);
          } else if (
            transition.to === "unhealthy" || transition.to === "failed"
          ) {
            this.#mark(
              alloc,
              "running",
              `health checks failing: ${transition.reason}`,
            );
          }
        },
        ...(this.#options.nowMs === undefined
          ? {}
          : { nowMs: this.#options.nowMs }),
      });
      this.#watched.set(allocId, { monitor, key: keyOf(alloc, service) });
    }
  }

  async close(): Promise<void> {
    const monitors = [...this.#watched.values()].map((w) => w.monitor.stop());
    this.#watched.clear();
    await Promise.allSettled(monitors);
  }

  #mark(alloc: Alloc, status: "healthy" | "running", message: string): void {
    const current = this.#options.state().allocs.get(alloc.id);
    const from = status === "healthy" ? "running" : "healthy";
    if (current?.status !== from) return;
    this.#options.commit({
      type: "AllocStatus",
      allocId: alloc.id,
      status,
      message,
      atMs: (this.#options.nowMs ?? Date.now)(),
    }).catch((error) =>
      this.#options.log(`cannot mark alloc ${alloc.id} ${status}: ${error}`)
    );
  }
}

/** The allocs the keeper watches: live services with a port, on ready nodes. */
function eligible(
  state: ClusterState,
): Map<string, { alloc: Alloc; service: ServiceConfig }> {
  const wanted = new Map<string, { alloc: Alloc; service: ServiceConfig }>();
  for (const alloc of state.allocs.values()) {
    if (alloc.kind !== "service" || alloc.stopRequested) continue;
    if (alloc.status !== "running" && alloc.status !== "healthy") continue;
    if (state.nodes.get(alloc.nodeId)?.status !== "ready") continue;
    const service = state.config.services[alloc.workload];
    if (service === undefined) continue;
    if (service.health !== undefined && alloc.hostPort === null) continue;
    wanted.set(alloc.id, { alloc, service });
  }
  return wanted;
}

/** A monitor is restarted when the alloc restarts or its checks change. */
function keyOf(alloc: Alloc, service: ServiceConfig): string {
  return `${alloc.restarts}/${alloc.startedAtMs}/${
    JSON.stringify(service.health ?? null)
  }`;
}
