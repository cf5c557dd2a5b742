import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import fc from "fast-check";
import type { OrderFailure } from "./failure.ts";
import {
  afterFailure,
  afterSuccess,
  backoffMs,
  certificateStatus,
  type HeldCertificate,
  type HostCertificateState,
  newHostState,
  nextOrderAtMs,
  planOrders,
  RENEWAL_POLICY_DEFAULT as POLICY,
  renewalTimeMs,
} from "./renewal.ts";

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const T0 = Date.UTC(2026, 0, 1);

const time = fc.integer({ min: T0, max: T0 + 3650 * DAY });
const certificate: fc.Arbitrary<HeldCertificate> = fc.record({
  notBeforeMs: time,
  lifetimeMs: fc.integer({ min: 0, max: 5 * 365 * DAY }),
}).map(({ notBeforeMs, lifetimeMs }) => ({
  notBeforeMs,
  notAfterMs: notBeforeMs + lifetimeMs,
  issuer: "test CA",
}));

const failure: fc.Arbitrary<OrderFailure> = fc.oneof(
  fc.record({
    kind: fc.constant("rateLimited" as const),
    retryAfterMs: fc.option(fc.integer({ min: 0, max: 30 * DAY })),
    message: fc.constant("rate limited"),
  }),
  fc.record({
    kind: fc.constant("challengeFailed" as const),
    detail: fc.constant("connection refused"),
    message: fc.constant("challenge failed"),
  }),
  fc.record({
    kind: fc.constant("serverError" as const),
    status: fc.constantFrom(500, 503),
    retryAfterMs: fc.option(fc.integer({ min: 0, max: 30 * DAY })),
    message: fc.constant("down"),
  }),
  fc.record({
    kind: fc.constant("network" as const),
    message: fc.constant("unreachable"),
  }),
);

/** Any reachable state: a host, an optional certificate, then outcomes. */
const hostState: fc.Arbitrary<HostCertificateState> = fc.record({
  host: fc.constantFrom(
    ..."abcdefgh".split("").map((c) => `${c}.example`),
  ),
  held: fc.option(certificate),
  failures: fc.array(fc.tuple(failure, time), { maxLength: 12 }),
}).map(({ host, held, failures }) => {
  let state = newHostState(host);
  if (held !== null) state = afterSuccess(state, held, held.notBeforeMs);
  for (const [f, at] of failures) state = afterFailure(state, f, at);
  return state;
});

Deno.test("a host without a certificate is due at once", () => {
  fc.assert(fc.property(fc.string(), time, (host, now) => {
    deepStrictEqual(planOrders([newHostState(host)], now).due, [host]);
  }));
});

Deno.test("renewal falls inside the lifetime, 30 days before expiry or at a third left", () => {
  fc.assert(fc.property(certificate, (cert) => {
    const at = renewalTimeMs(cert);
    ok(at >= cert.notBeforeMs && at <= cert.notAfterMs);
    const lifetime = cert.notAfterMs - cert.notBeforeMs;
    const left = cert.notAfterMs - at;
    if (lifetime >= 90 * DAY) strictEqual(left, 30 * DAY);
    else ok(Math.abs(left - lifetime / 3) < 1, `${left} vs ${lifetime / 3}`);
  }));
  // Let's Encrypt's 90 days: 30 days before; a 10-minute certificate: 200 s before.
  const letsEncrypt = { notBeforeMs: T0, notAfterMs: T0 + 90 * DAY };
  strictEqual(renewalTimeMs(letsEncrypt), T0 + 60 * DAY);
  const short = { notBeforeMs: T0, notAfterMs: T0 + 10 * MINUTE };
  strictEqual(renewalTimeMs(short), T0 + 400_000);
});

Deno.test("backoff starts at a minute, doubles and stops at a day", () => {
  strictEqual(backoffMs(0), 0);
  strictEqual(backoffMs(1), MINUTE);
  strictEqual(backoffMs(2), 2 * MINUTE);
  strictEqual(backoffMs(3), 4 * MINUTE);
  strictEqual(backoffMs(11), 1024 * MINUTE); // about 17 h
  strictEqual(backoffMs(12), DAY); // 2048 min would be past 24 h
  strictEqual(backoffMs(1_000_000), DAY);
  fc.assert(fc.property(fc.nat(10_000), (n) => {
    ok(backoffMs(n + 1) >= backoffMs(n));
    ok(backoffMs(n + 1) <= POLICY.backoffMaxMs);
  }));
});

Deno.test("after a failure nothing is ordered before the backoff, nor before a later Retry-After", () => {
  fc.assert(fc.property(hostState, failure, time, (before, f, at) => {
    const state = afterFailure(before, f, at);
    const next = nextOrderAtMs(state);
    ok(next >= at + backoffMs(state.failures));
    ok(next >= at + POLICY.backoffMinMs);
    const said = "retryAfterMs" in f ? f.retryAfterMs : null;
    if (said !== null) {
      ok(next >= at + Math.min(said, POLICY.retryAfterMaxMs));
    }
    // Neither backoff nor Retry-After is waited on longer than needed.
    const renewal = state.certificate === null
      ? Number.NEGATIVE_INFINITY
      : renewalTimeMs(state.certificate);
    const retryAfter = said === null
      ? 0
      : Math.min(said, POLICY.retryAfterMaxMs);
    strictEqual(
      next,
      Math.max(renewal, at + backoffMs(state.failures), at + retryAfter),
    );
    // The certificate held is still served, and the error is kept to show.
    strictEqual(state.certificate, before.certificate);
    strictEqual(state.lastError?.kind, f.kind);
  }));
});

Deno.test("a Retry-After shorter than the backoff does not shorten it", () => {
  let state = newHostState("a.example");
  for (let i = 0; i < 5; i++) {
    state = afterFailure(state, {
      kind: "network",
      message: "down",
    }, T0);
  }
  state = afterFailure(state, {
    kind: "rateLimited",
    retryAfterMs: 1000,
    message: "slow down",
  }, T0);
  strictEqual(nextOrderAtMs(state), T0 + 32 * MINUTE);
  // A longer one wins.
  state = afterFailure(state, {
    kind: "rateLimited",
    retryAfterMs: 3 * 60 * MINUTE,
    message: "slow down",
  }, T0);
  strictEqual(nextOrderAtMs(state), T0 + 3 * 60 * MINUTE);
});

Deno.test("a success clears the backoff: next order at the renewal time", () => {
  fc.assert(fc.property(hostState, certificate, time, (before, cert, at) => {
    const state = afterSuccess(before, cert, at);
    strictEqual(state.failures, 0);
    strictEqual(state.lastError, null);
    strictEqual(nextOrderAtMs(state), renewalTimeMs(cert));
  }));
});

Deno.test("once due, a host stays due as time passes", () => {
  fc.assert(fc.property(hostState, time, fc.nat(DAY), (state, now, later) => {
    if (planOrders([state], now).due.length === 1) {
      strictEqual(planOrders([state], now + later).due.length, 1);
    }
  }));
});

Deno.test("the plan: due hosts by urgency, the wake-up at the earliest of the rest", () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(hostState, {
        maxLength: 8,
        selector: (s) => s.host,
      }),
      time,
      (states, now) => {
        const plan = planOrders(states, now);
        const due = new Set(plan.due);
        for (const state of states) {
          const next = nextOrderAtMs(state);
          if (next <= now) ok(due.has(state.host));
        }
        strictEqual(
          plan.due.length,
          states.filter((s) => nextOrderAtMs(s) <= now).length,
        );
        const waiting = states.map((s) => nextOrderAtMs(s)).filter((at) =>
          at > now
        );
        strictEqual(
          plan.nextWakeMs,
          waiting.length === 0 ? null : Math.min(...waiting),
        );
        // A host without a certificate comes before one that has one.
        const byHost = new Map(states.map((s) => [s.host, s]));
        let seenCertificate = false;
        for (const host of plan.due) {
          const hasCertificate = byHost.get(host)?.certificate != null;
          if (!hasCertificate) {
            ok(!seenCertificate, "uncertified host after a certified one");
          }
          seenCertificate ||= hasCertificate;
        }
      },
    ),
  );
});

Deno.test("the status shows none, valid, renewing and expired with the last error", () => {
  const cert = { notBeforeMs: T0, notAfterMs: T0 + 90 * DAY, issuer: "R3" };
  let state = newHostState("a.example");
  strictEqual(certificateStatus(state, T0).state, "none");
  state = afterSuccess(state, cert, T0);
  deepStrictEqual(certificateStatus(state, T0 + DAY), {
    host: "a.example",
    state: "valid",
    issuer: "R3",
    notAfterMs: T0 + 90 * DAY,
    nextOrderAtMs: T0 + 60 * DAY,
    failures: 0,
    lastError: null,
  });
  state = afterFailure(state, {
    kind: "challengeFailed",
    detail: "connection refused",
    message: "could not fetch",
  }, T0 + 61 * DAY);
  const renewing = certificateStatus(state, T0 + 61 * DAY);
  strictEqual(renewing.state, "renewing");
  strictEqual(renewing.nextOrderAtMs, T0 + 61 * DAY + MINUTE);
  deepStrictEqual(renewing.lastError, {
    kind: "challengeFailed",
    message: "could not fetch",
    atMs: T0 + 61 * DAY,
  });
  strictEqual(certificateStatus(state, T0 + 90 * DAY).state, "expired");
});
