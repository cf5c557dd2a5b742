/**
 * Responses encoded once per (name, type) when a zone is built, and turned
 * into the reply to one query by copying them and patching the id, the flags
 * and the question (the client's own spelling: answers point at it, so the
 * case it sent comes back). Also the NXDOMAIN response, whose question is
 * the client's and whose SOA points into it.
 */

import type { DnsAnswer, DnsRecord } from "./records.ts";
import {
  CLASS_IN,
  HEADER_BYTES,
  ipv4Bytes,
  MessageWriter,
  OPT_RECORD_BYTES,
  type ParsedQuery,
  RCODE,
  responseFlags,
  TYPE,
  writeOpt,
  writeU16,
} from "./_wire.ts";

export interface PrecomputedResponse {
  /** The whole response with id 0 and the canonical question. */
  readonly bytes: Uint8Array;
  readonly rcode: number;
  readonly questionEnd: number;
  /** Offset just past each answer record, for truncation to whole records. */
  readonly answerEnds: readonly number[];
  readonly ancount: number;
  readonly nscount: number;
  readonly arcount: number;
}

function writeRecord(w: MessageWriter, record: DnsRecord): void {
  switch (record.type) {
    case "A": {
      const at = w.beginRecord(record.name, TYPE.A, record.ttl);
      w.bytes(ipv4Bytes(record.address)!);
      w.endRecord(at);
      return;
    }
    case "SRV": {
      const at = w.beginRecord(record.name, TYPE.SRV, record.ttl);
      w.u16(record.priority);
      w.u16(record.weight);
      w.u16(record.port);
      // RFC 2782: the target is never compressed (later names may point at it).
      w.name(record.target, { compress: false });
      w.endRecord(at);
      return;
    }
    case "SOA": {
      const at = w.beginRecord(record.name, TYPE.SOA, record.ttl);
      w.name(record.mname);
      w.name(record.rname);
      for (
        const value of [
          record.serial,
          record.refresh,
          record.retry,
          record.expire,
          record.minimum,
        ]
      ) w.u32(value);
      w.endRecord(at);
      return;
    }
  }
}

const RCODE_NUMBER: Readonly<Record<DnsAnswer["rcode"], number>> = {
  NOERROR: RCODE.NOERROR,
  NXDOMAIN: RCODE.NXDOMAIN,
  REFUSED: RCODE.REFUSED,
};

/** Encodes `answer` to the question (name, type) with id 0. */
export function precomputeResponse(
  name: string,
  type: number,
  answer: DnsAnswer,
): PrecomputedResponse {
  const w = new MessageWriter();
  const rcode = RCODE_NUMBER[answer.rcode];
  w.u16(0);
  w.u16(responseFlags(0, rcode, true, false));
  w.u16(1);
  w.u16(answer.answers.length);
  w.u16(answer.authority.length);
  w.u16(answer.additionals.length);
  w.name(name);
  w.u16(type);
  w.u16(CLASS_IN);
  const questionEnd = w.length;
  const answerEnds: number[] = [];
  for (const record of answer.answers) {
    writeRecord(w, record);
    answerEnds.push(w.length);
  }
  for (const record of answer.authority) writeRecord(w, record);
  for (const record of answer.additionals) writeRecord(w, record);
  return {
    bytes: w.finish(),
    rcode,
    questionEnd,
    answerEnds,
    ancount: answer.answers.length,
    nscount: answer.authority.length,
    arcount: answer.additionals.length,
  };
}

/**
 * The reply to `query` (parsed into `parsed`) from a ready response. With
 * `udpLimit`, a reply over it keeps the answers that fit whole, drops the
 * other sections and sets TC (RFC 2181 §9): the client retries over TCP.
 */
export function materialize(
  pre: PrecomputedResponse,
  query: Uint8Array,
  parsed: ParsedQuery,
  recursionAvailable: boolean,
  udpLimit: number | null,
): Uint8Array {
  const optBytes = parsed.hasEdns ? OPT_RECORD_BYTES : 0;
  let length = pre.bytes.length;
  let ancount = pre.ancount;
  let nscount = pre.nscount;
  let arcount = pre.arcount;
  let truncated = false;
  if (udpLimit !== null && length + optBytes > udpLimit) {
    truncated = true;
    const room = udpLimit - optBytes;
    let fit = 0;
    while (fit < pre.answerEnds.length && pre.answerEnds[fit]! <= room) fit++;
    length = fit === 0 ? pre.questionEnd : pre.answerEnds[fit - 1]!;
    ancount = fit;
    nscount = 0;
    arcount = 0;
  }
  let out: Uint8Array;
  if (optBytes === 0) {
    out = pre.bytes.slice(0, length);
  } else {
    out = new Uint8Array(length + optBytes);
    out.set(
      length === pre.bytes.length ? pre.bytes : pre.bytes.subarray(0, length),
    );
  }
  out[0] = query[0]!;
  out[1] = query[1]!;
  writeU16(
    out,
    2,
    responseFlags(parsed.flags, pre.rcode, true, recursionAvailable) |
      (truncated ? 0x0200 : 0),
  );
  // The client's question, byte for byte (a loop: it is short, and a
  // subarray would be one more object per query).
  for (let i = HEADER_BYTES; i < parsed.questionEnd; i++) out[i] = query[i]!;
  if (truncated) {
    writeU16(out, 6, ancount);
    writeU16(out, 8, nscount);
  }
  if (optBytes !== 0) {
    writeOpt(out, length);
    arcount++;
  }
  if (truncated || optBytes !== 0) writeU16(out, 10, arcount);
  return out;
}

/**
 * The SOA record with its three names pointing at the apex (owner, mname,
 * and rname after its "hostmaster" label), to be patched per response.
 */
export interface SoaTemplate {
  readonly bytes: Uint8Array;
  readonly pointerOffsets: readonly number[];
}

export function soaTemplate(soa: DnsRecord): SoaTemplate {
  if (soa.type !== "SOA") throw new Error("soaTemplate needs an SOA record");
  const mailbox = soa.rname.slice(0, soa.rname.length - soa.name.length - 1);
  const fixed = [soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum];
  const rdlength = 2 + (1 + mailbox.length + 2) + 20;
  const bytes = new Uint8Array(12 + rdlength);
  writeU16(bytes, 2, TYPE.SOA);
  writeU16(bytes, 4, CLASS_IN);
  writeU16(bytes, 6, (soa.ttl >>> 16) & 0xffff);
  writeU16(bytes, 8, soa.ttl & 0xffff);
  writeU16(bytes, 10, rdlength);
  let at = 14;
  bytes[at++] = mailbox.length;
  for (let i = 0; i < mailbox.length; i++) bytes[at++] = mailbox.charCodeAt(i);
  const rnamePointer = at;
  at += 2;
  for (const value of fixed) {
    writeU16(bytes, at, (value >>> 16) & 0xffff);
    writeU16(bytes, at + 2, value & 0xffff);
    at += 4;
  }
  return { bytes, pointerOffsets: [0, 12, rnamePointer] };
}

/**
 * NXDOMAIN for a name under the zone: the client's question and the SOA,
 * its names pointing at the apex inside that question.
 */
export function nxdomainResponse(
  query: Uint8Array,
  parsed: ParsedQuery,
  soa: SoaTemplate,
  domainLabels: number,
  recursionAvailable: boolean,
): Uint8Array {
  const apex = parsed.labelOffsets[parsed.labelCount - domainLabels]!;
  const optBytes = parsed.hasEdns ? OPT_RECORD_BYTES : 0;
  const out = new Uint8Array(parsed.questionEnd + soa.bytes.length + optBytes);
  out[0] = query[0]!;
  out[1] = query[1]!;
  writeU16(
    out,
    2,
    responseFlags(parsed.flags, RCODE.NXDOMAIN, true, recursionAvailable),
  );
  writeU16(out, 4, 1);
  writeU16(out, 8, 1);
  out.set(query.subarray(HEADER_BYTES, parsed.questionEnd), HEADER_BYTES);
  out.set(soa.bytes, parsed.questionEnd);
  for (const offset of soa.pointerOffsets) {
    writeU16(out, parsed.questionEnd + offset, 0xc000 | apex);
  }
  if (optBytes !== 0) {
    writeOpt(out, parsed.questionEnd + soa.bytes.length);
    writeU16(out, 10, 1);
  }
  return out;
}
