/**
 * A token bucket per source IP: `burst` queries at once, refilled at
 * `perSecond`. The table is bounded: when it is full, buckets that have
 * refilled (idle sources, indistinguishable from new ones) are dropped, and
 * if none has, the oldest entry goes. Pure but for the clock passed in.
 */

export interface RateLimit {
  /** Tokens added per second (sustained queries per second per source). */
  readonly perSecond: number;
  /** The bucket's size (queries a source may send at once). */
  readonly burst: number;
}

export const RATE_LIMIT_DEFAULT: RateLimit = { perSecond: 1000, burst: 2000 };
/** Sources tracked at once. */
export const RATE_LIMIT_TABLE_MAX = 10_000;

interface Bucket {
  tokens: number;
  lastMs: number;
}

export class RateLimiter {
  readonly #limit: RateLimit;
  readonly #maxSources: number;
  readonly #buckets = new Map<string, Bucket>();
  #lastSweepMs = -Infinity;

  constructor(limit: RateLimit, maxSources = RATE_LIMIT_TABLE_MAX) {
    if (!(limit.perSecond > 0) || !(limit.burst >= 1)) {
      throw new RangeError(
        `rate limit needs perSecond > 0 and burst >= 1, got ${
          JSON.stringify(limit)
        }`,
      );
    }
    if (!Number.isInteger(maxSources) || maxSources < 1) {
      throw new RangeError(`rate limit table size ${maxSources} must be >= 1`);
    }
    this.#limit = limit;
    this.#maxSources = maxSources;
  }

  get size(): number {
    return this.#buckets.size;
  }

  /** Takes one token for `source` at `nowMs`; false when it has none left. */
  allow(source: string, nowMs: number): boolean {
    let bucket = this.#buckets.get(source);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.#maxSources) this.#evict(nowMs);
      bucket = { tokens: this.#limit.burst, lastMs: nowMs };
      this.#buckets.set(source, bucket);
    } else if (nowMs > bucket.lastMs) {
      bucket.tokens = Math.min(
        this.#limit.burst,
        bucket.tokens + (nowMs - bucket.lastMs) * this.#limit.perSecond / 1000,
      );
      bucket.lastMs = nowMs;
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  #evict(nowMs: number): void {
    // A full sweep at most once a second, so that a flood of new sources
    // costs O(1) per packet between sweeps.
    if (nowMs - this.#lastSweepMs >= 1000) {
      this.#lastSweepMs = nowMs;
      const refillMs = this.#limit.burst / this.#limit.perSecond * 1000;
      for (const [source, bucket] of this.#buckets) {
        if (nowMs - bucket.lastMs >= refillMs) this.#buckets.delete(source);
      }
    }
    if (this.#buckets.size < this.#maxSources) return;
    const oldest = this.#buckets.keys().next();
    if (!oldest.done) this.#buckets.delete(oldest.value);
  }
}
