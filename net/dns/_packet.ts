/**
 * The one door to npm:dns-packet: an independent DNS codec, used to read
 * what the server sends (tests, the bench's checks) and to write queries in
 * tests. The server's hot path has its own codec (`_wire.ts`).
 */

import { Buffer } from "node:buffer";
import * as dnsPacket from "dns-packet";

export interface DecodedRecord {
  readonly name: string;
  readonly type: string;
  readonly ttl?: number;
  readonly class?: string;
  // deno-lint-ignore no-explicit-any
  readonly data?: any;
}

export interface DecodedMessage {
  readonly id: number;
  /** The QR bit. */
  readonly response: boolean;
  /** The header's flags without QR. */
  readonly flags: number;
  readonly rcode: string;
  readonly truncated: boolean;
  readonly authoritative: boolean;
  readonly questions: readonly { name: string; type: string; class: string }[];
  readonly answers: readonly DecodedRecord[];
  readonly authorities: readonly DecodedRecord[];
  readonly additionals: readonly DecodedRecord[];
}

/** Decodes a DNS message; throws on malformed input. */
export function decodeMessage(bytes: Uint8Array): DecodedMessage {
  // deno-lint-ignore no-explicit-any
  const decoded: any = dnsPacket.decode(toBuffer(bytes));
  const flags: number = decoded.flags ?? 0;
  return {
    id: decoded.id ?? 0,
    response: decoded.type === "response",
    flags,
    rcode: decoded.rcode ?? "NOERROR",
    truncated: (flags & 0x0200) !== 0,
    authoritative: (flags & 0x0400) !== 0,
    questions: decoded.questions ?? [],
    answers: decoded.answers ?? [],
    authorities: decoded.authorities ?? [],
    additionals: decoded.additionals ?? [],
  };
}

/** A standard query for (name, type), recursion desired, optional EDNS0. */
export function encodeQuery(
  id: number,
  name: string,
  type: string,
  options: { ednsUdpSize?: number } = {},
): Uint8Array {
  const additionals = options.ednsUdpSize === undefined ? [] : [{
    type: "OPT",
    name: ".",
    udpPayloadSize: options.ednsUdpSize,
  }];
  // deno-lint-ignore no-explicit-any
  const packet: any = {
    type: "query",
    id,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: "IN" }],
    additionals,
  };
  return new Uint8Array(dnsPacket.encode(packet));
}

// deno-lint-ignore no-explicit-any
function toBuffer(bytes: Uint8Array): any {
  // dns-packet reads with Buffer methods.
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}
