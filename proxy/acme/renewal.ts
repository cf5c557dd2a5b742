/**
 * When to order a certificate, for every host, from what is known of it:
 * the certificate served (or none), the failures since the last success and
 * what the CA said about them. Pure: the clock is an argument and the state
 * is data the caller keeps (in the cluster state, so a new leader picks up
 * the same schedule and backoff).
 *
 * - A host without a certificate is due now.
 * - A certificate is due 30 days before it expires, or when a third of its
 *   lifetime is left if that is sooner: 30 days for Let's Encrypt's 90-day
 *   certificates, 2 days for 6-day ones, 200 s for a 10-minute test one.
 * - After a failure, exponential backoff from the last attempt: 1 min
 *   doubling to 24 h, unless the CA's Retry-After (on a rate limit or a
 *   5xx) is later, which wins
 *   (capped at 7 days, so a bogus header cannot silence a host for good).
 */

import type { OrderFailure, OrderFailureKind } from "./failure.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export interface RenewalPolicy {
  /** Renew this long before expiry at most; 30 days. */
  readonly renewBeforeMs: number;
  /** ...or when this fraction of the lifetime is left, if sooner; 1/3. */
  readonly lifetimeFractionLeft: number;
  /** Backoff after the first failure; 1 min, doubling per failure. */
  readonly backoffMinMs: number;
  /** Backoff ceiling; 24 h. */
  readonly backoffMaxMs: number;
  /** The longest Retry-After honoured; 7 days. */
  readonly retryAfterMaxMs: number;
}

export const RENEWAL_POLICY_DEFAULT: RenewalPolicy = {
  renewBeforeMs: 30 * DAY,
  lifetimeFractionLeft: 1 / 3,
  backoffMinMs: MINUTE,
  backoffMaxMs: DAY,
  retryAfterMaxMs: 7 * DAY,
};

/** The served certificate, as far as scheduling and display go. */
export interface HeldCertificate {
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  readonly issuer: string;
}

export interface LastError {
  readonly kind: OrderFailureKind;
  readonly message: string;
  readonly atMs: number;
}

/** What the scheduler knows of one host. */
export interface HostCertificateState {
  readonly host: string;
  readonly certificate: HeldCertificate | null;
  /** Failed orders since the last success. */
  readonly failures: number;
  readonly lastAttemptMs: number | null;
  /** The CA's Retry-After of the last failure, as a time; null if none. */
  readonly retryAfterUntilMs: number | null;
  readonly lastError: LastError | null;
}

/** A host never ordered for. */
export function newHostState(host: string): HostCertificateState {
  return {
    host,
    certificate: null,
    failures: 0,
    lastAttemptMs: null,
    retryAfterUntilMs: null,
    lastError: null,
  };
}

/** When a certificate should be renewed (between its notBefore and notAfter). */
export function renewalTimeMs(
  certificate: Pick<HeldCertificate, "notBeforeMs" | "notAfterMs">,
  policy: RenewalPolicy = RENEWAL_POLICY_DEFAULT,
): number {
  const lifetime = Math.max(
    0,
    certificate.notAfterMs - certificate.notBeforeMs,
  );
  const before = Math.min(
    policy.renewBeforeMs,
    lifetime * policy.lifetimeFractionLeft,
  );
  return certificate.notAfterMs - before;
}

/** The wait after `failures` failures in a row (0 for none). */
export function backoffMs(
  failures: number,
  policy: RenewalPolicy = RENEWAL_POLICY_DEFAULT,
): number {
  if (failures <= 0) return 0;
  // 2 ** 40 minutes is far past any ceiling; keeps the number finite.
  const exponent = Math.min(failures - 1, 40);
  return Math.min(policy.backoffMinMs * 2 ** exponent, policy.backoffMaxMs);
}

/** When the next order for this host may start; at or before now means due. */
export function nextOrderAtMs(
  state: HostCertificateState,
  policy: RenewalPolicy = RENEWAL_POLICY_DEFAULT,
): number {
  let at = state.certificate === null
    ? Number.NEGATIVE_INFINITY
    : renewalTimeMs(state.certificate, policy);
  if (state.failures > 0 && state.lastAttemptMs !== null) {
    at = Math.max(at, state.lastAttemptMs + backoffMs(state.failures, policy));
    if (state.retryAfterUntilMs !== null) {
      at = Math.max(
        at,
        Math.min(
          state.retryAfterUntilMs,
          state.lastAttemptMs + policy.retryAfterMaxMs,
        ),
      );
    }
  }
  return at;
}

export interface OrderPlan {
  /** Hosts to order for now, most urgent first: none yet, then soonest expiry. */
  readonly due: readonly string[];
  /** When the next host not yet due becomes due; null if none is waiting. */
  readonly nextWakeMs: number | null;
}

function urgency(state: HostCertificateState): number {
  return state.certificate === null
    ? Number.NEGATIVE_INFINITY
    : state.certificate.notAfterMs;
}

/** Which hosts are due at `nowMs`, and when to look again. */
export function planOrders(
  states: readonly HostCertificateState[],
  nowMs: number,
  policy: RenewalPolicy = RENEWAL_POLICY_DEFAULT,
): OrderPlan {
  const due: HostCertificateState[] = [];
  let nextWakeMs: number | null = null;
  for (const state of states) {
    const at = nextOrderAtMs(state, policy);
    if (at <= nowMs) due.push(state);
    else if (nextWakeMs === null || at < nextWakeMs) nextWakeMs = at;
  }
  due.sort((a, b) =>
    urgency(a) - urgency(b) || (a.host < b.host ? -1 : a.host > b.host ? 1 : 0)
  );
  return { due: due.map((s) => s.host), nextWakeMs };
}

/** The state after an order that ended with `certificate`. */
export function afterSuccess(
  state: HostCertificateState,
  certificate: HeldCertificate,
  nowMs: number,
): HostCertificateState {
  return {
    host: state.host,
    certificate,
    failures: 0,
    lastAttemptMs: nowMs,
    retryAfterUntilMs: null,
    lastError: null,
  };
}

/** The state after an order that failed; the certificate held stays served. */
export function afterFailure(
  state: HostCertificateState,
  failure: OrderFailure,
  nowMs: number,
): HostCertificateState {
  const retryAfterMs =
    failure.kind === "rateLimited" || failure.kind === "serverError"
      ? failure.retryAfterMs
      : null;
  return {
    host: state.host,
    certificate: state.certificate,
    failures: state.failures + 1,
    lastAttemptMs: nowMs,
    retryAfterUntilMs: retryAfterMs === null ? null : nowMs + retryAfterMs,
    lastError: { kind: failure.kind, message: failure.message, atMs: nowMs },
  };
}

/** A host's certificate as `mill status` and `mill certs` show it. */
export interface CertificateStatus {
  readonly host: string;
  /**
   * none: no certificate yet (served on HTTP only); valid; renewing: due
   * for renewal (or backing off from a failed one); expired.
   */
  readonly state: "none" | "valid" | "renewing" | "expired";
  readonly issuer: string | null;
  readonly notAfterMs: number | null;
  readonly nextOrderAtMs: number;
  readonly failures: number;
  readonly lastError: LastError | null;
}

export function certificateStatus(
  state: HostCertificateState,
  nowMs: number,
  policy: RenewalPolicy = RENEWAL_POLICY_DEFAULT,
): CertificateStatus {
  const certificate = state.certificate;
  const next = nextOrderAtMs(state, policy);
  return {
    host: state.host,
    state: certificate === null
      ? "none"
      : nowMs >= certificate.notAfterMs
      ? "expired"
      : nowMs >= renewalTimeMs(certificate, policy)
      ? "renewing"
      : "valid",
    issuer: certificate?.issuer ?? null,
    notAfterMs: certificate?.notAfterMs ?? null,
    nextOrderAtMs: Number.isFinite(next) ? next : nowMs,
    failures: state.failures,
    lastError: state.lastError,
  };
}
