/**
 * Which endpoint of a route answers the next request: round-robin or
 * least-connections, with passive health. An endpoint that refused a
 * connection (or could not be reached in time) is skipped for a while that
 * doubles with each failure in a row (1 s, 2 s, 4 s… up to 30 s) and ends
 * with its first success. When every endpoint of a route is skipped, they
 * are tried anyway, the one marked longest ago first: the route table only
 * lists replicas the cluster believes healthy, so a guess beats a 503.
 *
 * State is kept per endpoint ("address:port"), shared by every route that
 * lists it, and survives table swaps; `retain` drops endpoints that left.
 * The clock is injected so the tests drive it.
 */
import type {
  BalancePolicy,
  TableEndpoint,
  TableRoute,
} from "./route_table.ts";

export interface PassiveHealth {
  /** How long an endpoint is skipped after its first failure. */
  readonly baseMs: number;
  /** The longest it is skipped, however many failures in a row. */
  readonly maxMs: number;
}

export const PASSIVE_HEALTH_DEFAULT: PassiveHealth = {
  baseMs: 1_000,
  maxMs: 30_000,
};

export interface BalancerOptions {
  readonly policy?: BalancePolicy;
  readonly health?: PassiveHealth;
  readonly now?: () => number;
}

interface EndpointState {
  inFlight: number;
  failures: number;
  skippedUntil: number;
}

export interface EndpointSnapshot {
  readonly key: string;
  readonly inFlight: number;
  readonly failures: number;
  /** Milliseconds left in its skip; 0 when it is in rotation. */
  readonly skippedForMs: number;
}

export class Balancer {
  readonly #policy: BalancePolicy;
  readonly #health: PassiveHealth;
  readonly #now: () => number;
  readonly #endpoints = new Map<string, EndpointState>();
  readonly #turns = new Map<string, number>();

  constructor(options: BalancerOptions = {}) {
    this.#policy = options.policy ?? "round-robin";
    this.#health = options.health ?? PASSIVE_HEALTH_DEFAULT;
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * The endpoint for the next attempt of a request to `route`, never one
   * in `tried`; null when every endpoint was tried.
   */
  pick(
    route: TableRoute,
    tried: ReadonlySet<string> = new Set(),
  ): TableEndpoint | null {
    const now = this.#now();
    const left = route.endpoints.filter((e) => !tried.has(e.key));
    if (left.length === 0) return null;
    const healthy = left.filter((e) => this.#state(e.key).skippedUntil <= now);
    if (healthy.length === 0) {
      // All skipped: the one whose skip ends first.
      return left.reduce((best, e) =>
        this.#state(e.key).skippedUntil < this.#state(best.key).skippedUntil
          ? e
          : best
      );
    }
    const turn = this.#turns.get(route.key) ?? 0;
    this.#turns.set(route.key, (turn + 1) % 1_000_000_007);
    const policy = route.balance ?? this.#policy;
    if (policy === "round-robin") return healthy[turn % healthy.length]!;
    // Least connections; ties go round the ring so equal endpoints share.
    let best: TableEndpoint | null = null;
    let bestLoad = Infinity;
    for (let i = 0; i < healthy.length; i++) {
      const endpoint = healthy[(turn + i) % healthy.length]!;
      const load = this.#state(endpoint.key).inFlight;
      if (load < bestLoad) {
        best = endpoint;
        bestLoad = load;
      }
    }
    return best;
  }

  /** A request to `key` started; call `release` once it ends. */
  acquire(key: string): void {
    this.#state(key).inFlight++;
  }

  release(key: string): void {
    const state = this.#endpoints.get(key);
    if (state !== undefined && state.inFlight > 0) state.inFlight--;
  }

  /** The endpoint could not be reached: skip it for a growing while. */
  reportFailure(key: string): void {
    const state = this.#state(key);
    state.failures++;
    const ms = Math.min(
      this.#health.maxMs,
      this.#health.baseMs * 2 ** Math.min(state.failures - 1, 30),
    );
    state.skippedUntil = this.#now() + ms;
  }

  /** The endpoint answered: back in rotation at once. */
  reportSuccess(key: string): void {
    const state = this.#endpoints.get(key);
    if (state === undefined) return;
    state.failures = 0;
    state.skippedUntil = 0;
  }

  /** Forgets endpoints and routes not in these sets (after a table swap). */
  retain(endpointKeys: ReadonlySet<string>, routeKeys: ReadonlySet<string>) {
    for (const [key, state] of this.#endpoints) {
      // One still serving a request keeps its count until it ends.
      if (!endpointKeys.has(key) && state.inFlight === 0) {
        this.#endpoints.delete(key);
      }
    }
    for (const key of this.#turns.keys()) {
      if (!routeKeys.has(key)) this.#turns.delete(key);
    }
  }

  snapshot(): EndpointSnapshot[] {
    const now = this.#now();
    return [...this.#endpoints].map(([key, s]) => ({
      key,
      inFlight: s.inFlight,
      failures: s.failures,
      skippedForMs: Math.max(0, Math.round(s.skippedUntil - now)),
    }));
  }

  #state(key: string): EndpointState {
    let state = this.#endpoints.get(key);
    if (state === undefined) {
      state = { inFlight: 0, failures: 0, skippedUntil: 0 };
      this.#endpoints.set(key, state);
    }
    return state;
  }
}
