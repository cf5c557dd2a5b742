/**
 * The deploy machine's book of pulls: one per (node, image) pair, its state,
 * whether the image was cached, and why a failed one failed.
 */

type PullPhase = "pulling" | "done" | "failed";

interface Pullable {
  readonly nodeId: string;
  readonly image: string;
}

export class PullBook {
  readonly #phases = new Map<string, PullPhase>();
  readonly #reasons = new Map<string, string>();
  readonly #cached = new Set<string>();

  /** Starts the pull for `alloc`'s pair unless it runs already; true when new. */
  begin(alloc: Pullable): boolean {
    const key = pullKey(alloc);
    if (this.#phases.has(key)) return false;
    this.#phases.set(key, "pulling");
    return true;
  }

  /** Records a pull's end; false when it was not running (late or repeated). */
  end(
    pair: Pullable,
    outcome: { ok: true; cached: boolean } | { ok: false; reason: string },
  ): boolean {
    const key = pullKey(pair);
    if (this.#phases.get(key) !== "pulling") return false;
    this.#phases.set(key, outcome.ok ? "done" : "failed");
    if (!outcome.ok) this.#reasons.set(key, outcome.reason);
    else if (outcome.cached) this.#cached.add(key);
    return true;
  }

  phase(alloc: Pullable): PullPhase | undefined {
    return this.#phases.get(pullKey(alloc));
  }

  cached(alloc: Pullable): boolean {
    return this.#cached.has(pullKey(alloc));
  }

  /** Whether `alloc` pulls the same pair as `pair`. */
  same(alloc: Pullable, pair: Pullable): boolean {
    return pullKey(alloc) === pullKey(pair);
  }

  /** What a failed pull's allocs report. */
  failure(alloc: Pullable): string {
    const reason = this.#reasons.get(pullKey(alloc));
    return `pull of "${alloc.image}" failed: ${reason ?? "unknown error"}`;
  }

  get anyRunning(): boolean {
    for (const phase of this.#phases.values()) {
      if (phase === "pulling") return true;
    }
    return false;
  }
}

function pullKey(pair: Pullable): string {
  return `${pair.nodeId}\u0000${pair.image}`;
}
