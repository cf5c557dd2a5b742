/**
 * The DNS server's counters, kept as flat arrays on the hot path and turned
 * into a plain object on demand (for metrics).
 */

import { RCODE, TYPE } from "./_wire.ts";

export interface StatsCounters {
  /** Answered queries by question type. */
  readonly byType: Uint32Array;
  /** Answered queries by response code (extended codes up to 31). */
  readonly byRcode: Uint32Array;
  rateLimited: number;
  /** Packets dropped unanswered: unreadable headers, responses, internal errors. */
  dropped: number;
  truncated: number;
  forwarded: number;
  tcpAccepted: number;
  tcpRejected: number;
  tcpIdleClosed: number;
  tcpOversized: number;
}

export function emptyStats(): StatsCounters {
  return {
    byType: new Uint32Array(65536),
    byRcode: new Uint32Array(32),
    rateLimited: 0,
    dropped: 0,
    truncated: 0,
    forwarded: 0,
    tcpAccepted: 0,
    tcpRejected: 0,
    tcpIdleClosed: 0,
    tcpOversized: 0,
  };
}

export interface DnsStats {
  /** Queries answered, by type name ("A", "SRV", "TYPE65"...). */
  readonly queriesByType: Readonly<Record<string, number>>;
  /** Responses sent, by rcode name ("NOERROR", "NXDOMAIN"...). */
  readonly responsesByRcode: Readonly<Record<string, number>>;
  readonly rateLimited: number;
  readonly dropped: number;
  readonly truncated: number;
  readonly forwarded: number;
  readonly forwardTimeouts: number;
  readonly forwardsInFlight: number;
  readonly rateLimitSources: number;
  readonly tcpAccepted: number;
  readonly tcpRejected: number;
  readonly tcpIdleClosed: number;
  readonly tcpOversized: number;
}

const TYPE_NAMES = new Map<number, string>(
  Object.entries(TYPE).map(([name, value]) => [value, name]),
);
const RCODE_NAMES = new Map<number, string>(
  Object.entries(RCODE).map(([name, value]) => [value, name]),
);

export function statsSnapshot(
  counters: StatsCounters,
  forwarder: { readonly timeouts: number; readonly inFlight: number },
  limiter: { readonly size: number } | null,
): DnsStats {
  const queriesByType: Record<string, number> = {};
  counters.byType.forEach((count, type) => {
    if (count !== 0) {
      queriesByType[TYPE_NAMES.get(type) ?? `TYPE${type}`] = count;
    }
  });
  const responsesByRcode: Record<string, number> = {};
  counters.byRcode.forEach((count, rcode) => {
    if (count !== 0) {
      responsesByRcode[RCODE_NAMES.get(rcode) ?? `RCODE${rcode}`] = count;
    }
  });
  return {
    queriesByType,
    responsesByRcode,
    rateLimited: counters.rateLimited,
    dropped: counters.dropped,
    truncated: counters.truncated,
    forwarded: counters.forwarded,
    forwardTimeouts: forwarder.timeouts,
    forwardsInFlight: forwarder.inFlight,
    rateLimitSources: limiter?.size ?? 0,
    tcpAccepted: counters.tcpAccepted,
    tcpRejected: counters.tcpRejected,
    tcpIdleClosed: counters.tcpIdleClosed,
    tcpOversized: counters.tcpOversized,
  };
}
