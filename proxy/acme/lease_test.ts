import { ok, strictEqual } from "node:assert/strict";
import fc from "fast-check";
import {
  LEASE_MARGIN_DEFAULT_MS,
  orderDeadlineMs,
  type OrderLease,
  releaseLease,
  takeLease,
} from "./lease.ts";

const step = fc.record({
  holder: fc.constantFrom("a", "b", "c"),
  op: fc.constantFrom("take", "release"),
  advanceMs: fc.integer({ min: 0, max: 120_000 }),
  orderTimeoutMs: fc.integer({ min: 1000, max: 180_000 }),
});

Deno.test("orders of different nodes never overlap in time", () => {
  fc.assert(fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
    let now = 1_000_000;
    let lease: OrderLease | null = null;
    // Each granted order runs at most until its deadline; a release ends it sooner.
    const orders: { holder: string; from: number; until: number }[] = [];
    for (const s of steps) {
      now += s.advanceMs;
      if (s.op === "take") {
        const decision = takeLease(lease, {
          holder: s.holder,
          host: "a.example",
          nowMs: now,
          orderTimeoutMs: s.orderTimeoutMs,
        });
        if (decision.granted) {
          // A node orders one host at a time: its earlier order has ended.
          for (const order of orders) {
            if (order.holder === s.holder) {
              order.until = Math.min(order.until, now);
            }
          }
          lease = decision.lease;
          ok(orderDeadlineMs(lease) - now === s.orderTimeoutMs);
          orders.push({
            holder: s.holder,
            from: now,
            until: orderDeadlineMs(lease),
          });
        } else {
          ok(decision.heldBy.holder !== s.holder);
          ok(decision.heldBy.expiresAtMs > now);
        }
      } else {
        const before: OrderLease | null = lease;
        lease = releaseLease(lease, s.holder);
        if (before !== null && before.holder !== s.holder) {
          strictEqual(lease, before);
        }
        const last = orders.at(-1);
        if (before?.holder === s.holder && last !== undefined) {
          last.until = Math.min(last.until, now);
        }
      }
    }
    for (const [i, a] of orders.entries()) {
      for (const b of orders.slice(i + 1)) {
        if (a.holder === b.holder) continue;
        ok(
          b.from >= a.until,
          `${JSON.stringify(a)} overlaps ${JSON.stringify(b)}`,
        );
      }
    }
  }));
});

Deno.test("a lease lasts the order's time limit plus the margin", () => {
  const decision = takeLease(null, {
    holder: "a",
    host: "a.example",
    nowMs: 0,
    orderTimeoutMs: 180_000,
  });
  ok(decision.granted);
  strictEqual(decision.lease.expiresAtMs, 180_000 + LEASE_MARGIN_DEFAULT_MS);
  strictEqual(orderDeadlineMs(decision.lease), 180_000);
});
