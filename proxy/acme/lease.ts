/**
 * The rule of the cluster's ordering lease: one node orders at a time, so
 * two leaders (an old one not yet aware it was replaced) or a leader change
 * mid-order never order twice. The lease itself lives in the cluster state;
 * these are the pure functions its state machine applies, with the time
 * carried in the command (the proposer's clock), so every replica decides
 * the same.
 *
 * Safety comes from two bounds: a lease is granted for the order's whole
 * time limit plus a margin, and the holder passes the lease's expiry minus
 * that margin to orderCertificate as its deadline. A holder that is killed,
 * partitioned or slow stops ordering before its lease can run out, and
 * nobody else may take it before then. The margin covers clock skew between
 * nodes and the time to commit the lease.
 */

export interface OrderLease {
  /** The node ordering. */
  readonly holder: string;
  readonly host: string;
  readonly acquiredAtMs: number;
  readonly expiresAtMs: number;
}

/** Skew and commit time allowed for; 30 s. */
export const LEASE_MARGIN_DEFAULT_MS = 30_000;

export type LeaseDecision =
  | { readonly granted: true; readonly lease: OrderLease }
  | { readonly granted: false; readonly heldBy: OrderLease };

/**
 * A node asks for the lease to order `host` within `orderTimeoutMs`. Granted
 * when free, expired, or already its own (a node orders one host at a time,
 * so its own lease means its previous order has ended).
 */
export function takeLease(
  current: OrderLease | null,
  request: {
    readonly holder: string;
    readonly host: string;
    readonly nowMs: number;
    readonly orderTimeoutMs: number;
    readonly marginMs?: number;
  },
): LeaseDecision {
  if (
    current !== null && current.expiresAtMs > request.nowMs &&
    current.holder !== request.holder
  ) {
    return { granted: false, heldBy: current };
  }
  return {
    granted: true,
    lease: {
      holder: request.holder,
      host: request.host,
      acquiredAtMs: request.nowMs,
      expiresAtMs: request.nowMs + request.orderTimeoutMs +
        (request.marginMs ?? LEASE_MARGIN_DEFAULT_MS),
    },
  };
}

/** The holder gives the lease back when its order ends; others cannot. */
export function releaseLease(
  current: OrderLease | null,
  holder: string,
): OrderLease | null {
  return current !== null && current.holder === holder ? null : current;
}

/** The deadline the holder gives orderCertificate: the expiry less the margin. */
export function orderDeadlineMs(
  lease: OrderLease,
  marginMs: number = LEASE_MARGIN_DEFAULT_MS,
): number {
  return lease.expiresAtMs - marginMs;
}
