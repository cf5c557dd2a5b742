/**
 * The DNS wire format, as much of it as a small authoritative server and
 * forwarder needs: reading a query's header, question and EDNS0 OPT record
 * without allocating more than the name's string, and writing responses with
 * name compression. Pure; the hot path of the server.
 */

export const TYPE = {
  A: 1,
  NS: 2,
  SOA: 6,
  PTR: 12,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
} as const;

export const CLASS_IN = 1;

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  /** Extended (EDNS0): the upper 8 bits go into the OPT record. */
  BADVERS: 16,
} as const;

export const HEADER_BYTES = 12;
/** The plain-DNS UDP payload limit (RFC 1035). */
export const UDP_PLAIN_MAX = 512;
/** The largest UDP payload we send, whatever the client offers (DNS flag day 2020). */
export const UDP_EDNS_MAX = 1232;
/** What our OPT record advertises and costs. */
export const OPT_RECORD_BYTES = 11;

const FLAG_QR = 0x8000;
const FLAG_AA = 0x0400;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;
const FLAG_RA = 0x0080;

/** What `parseQuery` reports when the packet is not one it can answer. */
export type QueryProblem =
  /** Header unreadable or a response: no reply at all. */
  | "drop"
  /** Header readable but the rest is not a well-formed single question. */
  | "formerr"
  /** An opcode other than QUERY. */
  | "notimp"
  /** An EDNS version we do not speak. */
  | "badvers";

/**
 * A parsed query. One instance is reused for every packet (the server is
 * single-threaded), so it must be read before the next parse.
 */
export class ParsedQuery {
  id = 0;
  /** The header's second 16 bits: QR, opcode, AA, TC, RD, RA, Z, rcode. */
  flags = 0;
  /** Lowercased, without the trailing dot; "" for the root. */
  name = "";
  /** True when a label holds a byte outside [a-z0-9_-] (escaped in `name`). */
  oddBytes = false;
  type = 0;
  qclass = 0;
  /** Offset just past the question's class: [12, questionEnd) is the question. */
  questionEnd = 0;
  /** Offsets of the question's labels (labelOffsets[0] = 12). */
  readonly labelOffsets: number[] = [];
  labelCount = 0;
  /** The client's EDNS0 UDP payload size; 0 when it sent no OPT record. */
  ednsSize = 0;
  ednsVersion = 0;

  get hasEdns(): boolean {
    return this.ednsSize !== 0;
  }

  get recursionDesired(): boolean {
    return (this.flags & FLAG_RD) !== 0;
  }

  /** The most a UDP response to this query may take. */
  get udpLimit(): number {
    if (this.ednsSize === 0) return UDP_PLAIN_MAX;
    return Math.min(UDP_EDNS_MAX, Math.max(UDP_PLAIN_MAX, this.ednsSize));
  }
}

function u16(buf: Uint8Array, at: number): number {
  return (buf[at]! << 8) | buf[at + 1]!;
}

function isPlainNameByte(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d ||
    c === 0x5f;
}

/** A name's characters while it is read: 254 bytes, each at most "\\DDD". */
const NAME_CODES = new Uint16Array(254 * 4);

/** Skips a (possibly compressed) name; the offset after it, or -1. */
function skipName(buf: Uint8Array, at: number, end: number): number {
  let total = 0;
  while (at < end) {
    const len = buf[at]!;
    if (len === 0) return at + 1;
    if ((len & 0xc0) === 0xc0) return at + 2 <= end ? at + 2 : -1;
    if ((len & 0xc0) !== 0) return -1;
    total += len + 1;
    if (total > 255) return -1;
    at += len + 1;
  }
  return -1;
}

/**
 * Reads `buf[0, length)` as a query into `out`. Returns null when it is a
 * well-formed single-question QUERY, or the problem. Never throws.
 */
export function parseQuery(
  buf: Uint8Array,
  length: number,
  out: ParsedQuery,
): QueryProblem | null {
  out.ednsSize = 0;
  out.ednsVersion = 0;
  out.labelCount = 0;
  out.name = "";
  out.oddBytes = false;
  out.questionEnd = 0;
  if (length < HEADER_BYTES || length > buf.length) return "drop";
  out.id = u16(buf, 0);
  out.flags = u16(buf, 2);
  if ((out.flags & FLAG_QR) !== 0) return "drop";
  if (((out.flags >> 11) & 0xf) !== 0) return "notimp";
  const qdcount = u16(buf, 4);
  const ancount = u16(buf, 6);
  const nscount = u16(buf, 8);
  const arcount = u16(buf, 10);
  if (qdcount !== 1) return "formerr";
  // The question's name: plain labels only (a pointer here could only
  // point into the header).
  let at = HEADER_BYTES;
  let total = 0;
  let n = 0;
  const codes = NAME_CODES;
  for (;;) {
    if (at >= length) return "formerr";
    const len = buf[at]!;
    if (len === 0) {
      at++;
      break;
    }
    if (len > 63) return "formerr";
    total += len + 1;
    if (total > 254 || at + 1 + len > length) return "formerr";
    out.labelOffsets[out.labelCount++] = at;
    if (n !== 0) codes[n++] = 0x2e;
    for (let i = at + 1; i <= at + len; i++) {
      let c = buf[i]!;
      if (c >= 0x41 && c <= 0x5a) c |= 0x20;
      if (isPlainNameByte(c)) {
        codes[n++] = c;
      } else {
        // \DDD, as in zone files: a dot or a control byte inside a label
        // must not read as a label boundary.
        out.oddBytes = true;
        codes[n++] = 0x5c;
        codes[n++] = 0x30 + Math.floor(c / 100);
        codes[n++] = 0x30 + Math.floor(c / 10) % 10;
        codes[n++] = 0x30 + c % 10;
      }
    }
    at += len + 1;
  }
  if (at + 4 > length) return "formerr";
  // One string for the whole name (appending per byte would build a rope
  // that the zone's map lookup then has to flatten).
  out.name = n === 0 ? "" : String.fromCharCode.apply(
    null,
    codes.subarray(0, n) as unknown as number[],
  );
  out.type = u16(buf, at);
  out.qclass = u16(buf, at + 2);
  at += 4;
  out.questionEnd = at;
  // Queries carry no answers or authority, but skipping them is cheap and
  // lets an OPT record behind them be found.
  for (let i = 0; i < ancount + nscount + arcount; i++) {
    const nameStart = at;
    at = skipName(buf, at, length);
    if (at < 0 || at + 10 > length) return "formerr";
    const type = u16(buf, at);
    const rdlength = u16(buf, at + 8);
    if (at + 10 + rdlength > length) return "formerr";
    if (i >= ancount + nscount && type === TYPE.OPT) {
      // One OPT, owned by the root (RFC 6891 §6.1.1).
      if (out.ednsSize !== 0 || buf[nameStart] !== 0) return "formerr";
      out.ednsSize = Math.max(1, u16(buf, at + 2));
      out.ednsVersion = buf[at + 5]!;
    }
    at += 10 + rdlength;
  }
  if (at !== length) return "formerr";
  if (out.ednsSize !== 0 && out.ednsVersion !== 0) return "badvers";
  return null;
}

/** Response flags for a query's flags: QR, RD copied, AA/RA as given. */
export function responseFlags(
  queryFlags: number,
  rcode: number,
  authoritative: boolean,
  recursionAvailable: boolean,
): number {
  return FLAG_QR | (queryFlags & FLAG_RD) | (authoritative ? FLAG_AA : 0) |
    (recursionAvailable ? FLAG_RA : 0) | (rcode & 0xf);
}

export function setTruncated(buf: Uint8Array): void {
  buf[2]! |= FLAG_TC >> 8;
}

export function isTruncated(buf: Uint8Array): boolean {
  return (buf[2]! & (FLAG_TC >> 8)) !== 0;
}

export function writeU16(buf: Uint8Array, at: number, value: number): void {
  buf[at] = (value >> 8) & 0xff;
  buf[at + 1] = value & 0xff;
}

export function readU16(buf: Uint8Array, at: number): number {
  return u16(buf, at);
}

/** Our OPT record (RFC 6891): root owner, our payload size, `extRcode`. */
export function writeOpt(buf: Uint8Array, at: number, extRcode = 0): number {
  buf[at] = 0;
  writeU16(buf, at + 1, TYPE.OPT);
  writeU16(buf, at + 3, UDP_EDNS_MAX);
  buf[at + 5] = extRcode;
  buf[at + 6] = 0; // version 0
  buf[at + 7] = 0; // flags (DO clear)
  buf[at + 8] = 0;
  writeU16(buf, at + 9, 0); // no options
  return at + OPT_RECORD_BYTES;
}

/**
 * A response with no records: the header, the query's question when it was
 * read, and an OPT record when the query had one. For errors and for names
 * we hold nothing about.
 */
export function emptyResponse(
  query: Uint8Array,
  parsed: ParsedQuery,
  rcode: number,
  authoritative: boolean,
  recursionAvailable: boolean,
): Uint8Array {
  const questionEnd = parsed.questionEnd;
  const withQuestion = questionEnd > HEADER_BYTES;
  const edns = parsed.hasEdns || rcode > 15;
  const size = (withQuestion ? questionEnd : HEADER_BYTES) +
    (edns ? OPT_RECORD_BYTES : 0);
  const out = new Uint8Array(size);
  if (query.length >= 2) {
    out[0] = query[0]!;
    out[1] = query[1]!;
  }
  const flags = query.length >= 4 ? u16(query, 2) : 0;
  writeU16(
    out,
    2,
    responseFlags(flags, rcode, authoritative, recursionAvailable),
  );
  if (withQuestion) {
    out.set(query.subarray(HEADER_BYTES, questionEnd), HEADER_BYTES);
    writeU16(out, 4, 1);
  }
  if (edns) {
    writeOpt(out, withQuestion ? questionEnd : HEADER_BYTES, rcode >> 4);
    writeU16(out, 10, 1);
  }
  return out;
}

/** Encodes a dotted IPv4 address; null when it is not one. */
export function ipv4Bytes(address: string): Uint8Array | null {
  const parts = address.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return null;
    const value = Number(part);
    if (value > 255) return null;
    out[i] = value;
  }
  return out;
}

/**
 * Writes a DNS message into a growing buffer, compressing names against the
 * ones it already wrote (suffix pointers, RFC 1035 §4.1.4).
 */
export class MessageWriter {
  #buf = new Uint8Array(512);
  #at = 0;
  readonly #names = new Map<string, number>();

  get length(): number {
    return this.#at;
  }

  #room(bytes: number): void {
    if (this.#at + bytes <= this.#buf.length) return;
    const grown = new Uint8Array(
      Math.max(this.#buf.length * 2, this.#at + bytes),
    );
    grown.set(this.#buf.subarray(0, this.#at));
    this.#buf = grown;
  }

  u8(value: number): void {
    this.#room(1);
    this.#buf[this.#at++] = value & 0xff;
  }

  u16(value: number): void {
    this.#room(2);
    writeU16(this.#buf, this.#at, value);
    this.#at += 2;
  }

  u32(value: number): void {
    this.u16((value >>> 16) & 0xffff);
    this.u16(value & 0xffff);
  }

  bytes(data: Uint8Array): void {
    this.#room(data.length);
    this.#buf.set(data, this.#at);
    this.#at += data.length;
  }

  /**
   * A lowercase dotted name of valid labels ("" is the root). With
   * `compress: false` it is written whole, though later names may still
   * point into it.
   */
  name(name: string, options: { compress?: boolean } = {}): void {
    const compress = options.compress ?? true;
    let rest = name;
    while (rest.length !== 0) {
      const pointer = compress ? this.#names.get(rest) : undefined;
      if (pointer !== undefined) {
        this.u16(0xc000 | pointer);
        return;
      }
      if (this.#at < 0x4000 && !this.#names.has(rest)) {
        this.#names.set(rest, this.#at);
      }
      const dot = rest.indexOf(".");
      const label = dot < 0 ? rest : rest.slice(0, dot);
      this.u8(label.length);
      for (let i = 0; i < label.length; i++) this.u8(label.charCodeAt(i));
      rest = dot < 0 ? "" : rest.slice(dot + 1);
    }
    this.u8(0);
  }

  /** Starts a record; returns the offset of its RDLENGTH, for `endRecord`. */
  beginRecord(name: string, type: number, ttl: number): number {
    this.name(name);
    this.u16(type);
    this.u16(CLASS_IN);
    this.u32(ttl);
    const rdlengthAt = this.#at;
    this.u16(0);
    return rdlengthAt;
  }

  endRecord(rdlengthAt: number): void {
    writeU16(this.#buf, rdlengthAt, this.#at - rdlengthAt - 2);
  }

  /** Overwrites a 16-bit field already written (header counts). */
  patchU16(at: number, value: number): void {
    writeU16(this.#buf, at, value);
  }

  finish(): Uint8Array {
    return this.#buf.slice(0, this.#at);
  }
}
