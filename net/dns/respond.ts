/**
 * What the server does with one message, as a pure function: the reply
 * bytes, "drop" (no reply at all), or "forward" (not ours: ask upstream).
 * The server adds the I/O, the rate limit and the counters around it; the
 * fuzz tests drive it directly.
 */

import type { DnsZone } from "./zone.ts";
import { materialize, nxdomainResponse } from "./_responses.ts";
import {
  CLASS_IN,
  emptyResponse,
  ParsedQuery,
  parseQuery,
  RCODE,
  TYPE,
} from "./_wire.ts";

export class ResponderState {
  /** The zone answered; null before the first one arrives. */
  zone: DnsZone | null = null;
  domain: string;
  dotDomain: string;
  domainLabels: number;
  /** There are upstreams: the RA bit, and names outside are forwarded. */
  recursionAvailable = false;
  /** The last message's parse (reused; read it before the next call). */
  readonly parsed = new ParsedQuery();
  /** The rcode of the last reply (extended codes included). */
  rcode = 0;

  constructor(domain: string) {
    this.domain = domain;
    this.dotDomain = "." + domain;
    this.domainLabels = domain.split(".").length;
  }

  setZone(zone: DnsZone): void {
    this.zone = zone;
    this.domain = zone.domain;
    this.dotDomain = "." + zone.domain;
    this.domainLabels = zone.domain.split(".").length;
  }
}

/** The reply to `message`; `udp` bounds its size (TC past the limit). */
export function respond(
  message: Uint8Array,
  udp: boolean,
  state: ResponderState,
): Uint8Array | "drop" | "forward" {
  const parsed = state.parsed;
  const ra = state.recursionAvailable;
  const problem = parseQuery(message, message.length, parsed);
  if (problem !== null) {
    if (problem === "drop") return "drop";
    state.rcode = problem === "formerr"
      ? RCODE.FORMERR
      : problem === "notimp"
      ? RCODE.NOTIMP
      : RCODE.BADVERS;
    return emptyResponse(message, parsed, state.rcode, false, ra);
  }
  const name = parsed.name;
  if (name !== state.domain && !name.endsWith(state.dotDomain)) {
    if (ra) return "forward";
    state.rcode = RCODE.SERVFAIL;
    return emptyResponse(message, parsed, RCODE.SERVFAIL, false, false);
  }
  const zone = state.zone;
  const type = parsed.type;
  if (zone === null) {
    // No zone yet: "try later", not an NXDOMAIN that would be cached.
    state.rcode = RCODE.SERVFAIL;
    return emptyResponse(message, parsed, RCODE.SERVFAIL, false, ra);
  }
  if (parsed.qclass !== CLASS_IN || type === TYPE.AXFR || type === TYPE.IXFR) {
    state.rcode = RCODE.REFUSED;
    return emptyResponse(message, parsed, RCODE.REFUSED, true, ra);
  }
  const wire = zone.wire(name);
  if (wire === undefined) {
    state.rcode = RCODE.NXDOMAIN;
    return nxdomainResponse(
      message,
      parsed,
      zone.soaTemplate,
      state.domainLabels,
      ra,
    );
  }
  const pre = wire.byType.get(type) ?? wire.nodata;
  state.rcode = pre.rcode;
  return materialize(pre, message, parsed, ra, udp ? parsed.udpLimit : null);
}
