import { ok, strictEqual, throws } from "node:assert/strict";
import { RateLimiter } from "./rate_limit.ts";

Deno.test("a source gets its burst, then the refill rate", () => {
  const limiter = new RateLimiter({ perSecond: 10, burst: 5 });
  let allowed = 0;
  for (let i = 0; i < 100; i++) if (limiter.allow("10.0.0.1", 0)) allowed++;
  strictEqual(allowed, 5);
  // 1 s later: 10 more tokens, capped at the burst.
  allowed = 0;
  for (let i = 0; i < 100; i++) if (limiter.allow("10.0.0.1", 1000)) allowed++;
  strictEqual(allowed, 5);
  // 100 ms later: one token.
  ok(limiter.allow("10.0.0.1", 1100));
  ok(!limiter.allow("10.0.0.1", 1100));
  // Another source has its own bucket.
  ok(limiter.allow("10.0.0.2", 1100));
});

Deno.test("the table stays bounded under many sources; idle ones go first", () => {
  const limiter = new RateLimiter({ perSecond: 1, burst: 1 }, 100);
  for (let i = 0; i < 10_000; i++) {
    limiter.allow(`10.0.${i >> 8}.${i & 255}`, i);
  }
  ok(limiter.size <= 100, String(limiter.size));
  // Full with busy sources: the oldest entry makes room.
  const fresh = new RateLimiter({ perSecond: 1, burst: 1 }, 2);
  ok(fresh.allow("a", 0));
  ok(!fresh.allow("a", 0));
  ok(fresh.allow("b", 0));
  ok(fresh.allow("c", 0)); // evicts the oldest ("a")
  strictEqual(fresh.size, 2);
});

Deno.test("bad limits throw with the rule", () => {
  throws(() => new RateLimiter({ perSecond: 0, burst: 1 }), /perSecond > 0/);
  throws(() => new RateLimiter({ perSecond: 1, burst: 0 }), /burst >= 1/);
  throws(() => new RateLimiter({ perSecond: 1, burst: 1 }, 0), />= 1/);
});
