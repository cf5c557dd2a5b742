/**
 * The `mill` zone: the cluster's services, allocs and nodes as DNS records,
 * built from a snapshot the caller computes from the cluster state. Pure and
 * immutable: a new state means a new zone, swapped into the server whole.
 *
 * Records (TTL 5 s at most, so a moved alloc is forgotten quickly):
 *   SERVICE.mill          A    one per healthy endpoint address
 *   _SERVICE._tcp.mill    SRV  0 1 PORT ALLOC.alloc.mill (endpoints with a port)
 *   ALLOC.alloc.mill      A    the alloc's address
 *   NODE.node.mill        A    the node's address
 *   mill                  SOA  for negative answers (minimum = the TTL)
 *
 * Every answer is also encoded once here, when the zone is built, so that
 * the server only patches the id, flags and question of a ready response.
 */

import {
  type PrecomputedResponse,
  precomputeResponse,
  type SoaTemplate,
  soaTemplate,
} from "./_responses.ts";
import { ipv4Bytes, TYPE } from "./_wire.ts";
import type { DnsAnswer, DnsRecord } from "./records.ts";

export type { DnsAnswer, DnsRecord } from "./records.ts";

export interface ZoneEndpoint {
  readonly allocId: string;
  /** IPv4, dotted. */
  readonly address: string;
  /** The service's port on that alloc; null: an A record but no SRV. */
  readonly port: number | null;
}

export interface ZoneInput {
  /** Healthy endpoints only: the caller decides what healthy means. */
  readonly services: readonly {
    readonly name: string;
    readonly endpoints: readonly ZoneEndpoint[];
  }[];
  readonly allocs: readonly { readonly id: string; readonly address: string }[];
  readonly nodes: readonly {
    readonly name: string;
    readonly address: string;
  }[];
}

export interface ZoneOptions {
  /** The zone's apex; "mill" unless told. */
  readonly domain?: string;
  /** Every record's TTL and the negative-caching TTL; 5 unless told, 5 at most. */
  readonly ttlSeconds?: number;
}

export const DOMAIN_DEFAULT = "mill";
export const TTL_MAX_SECONDS = 5;

/** A question's type as a name ("A", "SRV", "AAAA", "ANY"...) or a number. */
export type QuestionType = string | number;

const TYPE_BY_NAME: Readonly<Record<string, number>> = TYPE;

/** The numeric type of a type name or number; null when unknown. */
export function typeNumber(type: QuestionType): number | null {
  if (typeof type === "number") {
    return Number.isInteger(type) && type >= 0 && type <= 0xffff ? type : null;
  }
  return TYPE_BY_NAME[type.toUpperCase()] ?? null;
}

/** What the wire side reads for one name: a ready response per type. */
export interface NameWire {
  readonly byType: ReadonlyMap<number, PrecomputedResponse>;
  /** NOERROR, no answers, SOA: for every type the name lacks. */
  readonly nodata: PrecomputedResponse;
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** `name` lowercased and without a trailing dot. */
export function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

/** A host-name label (RFC 1123): letters, digits, inner hyphens, 1-63. */
export function isValidLabel(label: string): boolean {
  return LABEL.test(label);
}

function validDomain(domain: string): boolean {
  return domain.length > 0 && domain.length <= 200 &&
    domain.split(".").every(isValidLabel);
}

/** FNV-1a over the zone's text: a serial that changes with the content. */
function contentSerial(lines: readonly string[]): number {
  let hash = 0x811c9dc5;
  for (const line of lines) {
    for (let i = 0; i < line.length; i++) {
      hash ^= line.charCodeAt(i);
      hash = Math.imul(hash, 0x01000193) >>> 0;
    }
    hash ^= 10;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

export class DnsZone {
  readonly domain: string;
  readonly ttlSeconds: number;
  readonly serial: number;
  /** Input entries left out, each with the reason (for the caller's log). */
  readonly skipped: readonly string[];
  readonly soa: DnsRecord;
  readonly #dotDomain: string;
  readonly #records: Map<string, readonly DnsRecord[]>;
  readonly #wire = new Map<string, NameWire>();
  readonly #soaTemplate: SoaTemplate;

  /** Use `buildZone`. */
  constructor(
    domain: string,
    ttlSeconds: number,
    records: ReadonlyMap<string, readonly DnsRecord[]>,
    skipped: readonly string[],
  ) {
    this.domain = domain;
    this.ttlSeconds = ttlSeconds;
    this.#dotDomain = "." + domain;
    this.skipped = skipped;
    const lines = [...records].flatMap(([, list]) =>
      list.map((r) => JSON.stringify(r))
    ).sort();
    this.serial = contentSerial([domain, String(ttlSeconds), ...lines]);
    this.soa = {
      name: domain,
      type: "SOA",
      ttl: ttlSeconds,
      mname: domain,
      rname: `hostmaster.${domain}`,
      serial: this.serial,
      refresh: 60,
      retry: 10,
      expire: 3600,
      minimum: ttlSeconds,
    };
    this.#records = new Map(records);
    this.#records.set(domain, [...(records.get(domain) ?? []), this.soa]);
    this.#soaTemplate = soaTemplate(this.soa);
    for (const name of records.keys()) this.#precompute(name);
  }

  /** True for the domain and every name below it. */
  owns(name: string): boolean {
    const n = normalizeName(name);
    return n === this.domain || n.endsWith(this.#dotDomain);
  }

  /** The names that exist in the zone (those with records or children). */
  names(): IterableIterator<string> {
    return this.#records.keys();
  }

  answer(question: { name: string; type: QuestionType }): DnsAnswer {
    const name = normalizeName(question.name);
    if (!this.owns(name)) {
      return { rcode: "REFUSED", answers: [], authority: [], additionals: [] };
    }
    const records = this.#records.get(name);
    if (records === undefined) {
      return {
        rcode: "NXDOMAIN",
        answers: [],
        authority: [this.soa],
        additionals: [],
      };
    }
    const type = typeNumber(question.type);
    const answers = records.filter((r) =>
      type === TYPE.ANY || TYPE_BY_NAME[r.type] === type
    );
    if (answers.length === 0) {
      return {
        rcode: "NOERROR",
        answers: [],
        authority: [this.soa],
        additionals: [],
      };
    }
    const additionals: DnsRecord[] = [];
    for (const record of answers) {
      if (record.type !== "SRV") continue;
      for (const target of this.#records.get(record.target) ?? []) {
        if (target.type === "A") additionals.push(target);
      }
    }
    return { rcode: "NOERROR", answers, authority: [], additionals };
  }

  /** The ready responses of a normalized name; undefined when it does not exist. */
  wire(name: string): NameWire | undefined {
    return this.#wire.get(name);
  }

  /** The SOA record's encoding, for NXDOMAIN responses built per query. */
  get soaTemplate(): SoaTemplate {
    return this.#soaTemplate;
  }

  #precompute(name: string): void {
    const byType = new Map<number, PrecomputedResponse>();
    const types = new Set(
      this.#records.get(name)!.map((r) => TYPE_BY_NAME[r.type]!),
    );
    for (const type of [...types, TYPE.ANY]) {
      byType.set(
        type,
        precomputeResponse(name, type, this.answer({ name, type })),
      );
    }
    // The NODATA response's question type is patched from the query.
    const nodata = precomputeResponse(name, TYPE.NS, {
      rcode: "NOERROR",
      answers: [],
      authority: [this.soa],
      additionals: [],
    });
    this.#wire.set(name, { byType, nodata });
  }
}

/**
 * Builds the zone. Entries whose names are not valid DNS labels or whose
 * addresses are not IPv4 are skipped and listed in `zone.skipped`; this
 * never throws on input data, only on bad options.
 */
export function buildZone(
  input: ZoneInput,
  options: ZoneOptions = {},
): DnsZone {
  const domain = normalizeName(options.domain ?? DOMAIN_DEFAULT);
  if (!validDomain(domain)) {
    throw new RangeError(
      `DNS domain ${
        JSON.stringify(options.domain)
      } is not a name of valid labels (letters, digits, inner hyphens)`,
    );
  }
  const ttl = options.ttlSeconds ?? TTL_MAX_SECONDS;
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > TTL_MAX_SECONDS) {
    throw new RangeError(
      `DNS TTL ${ttl} must be a whole number of seconds from 0 to ${TTL_MAX_SECONDS}`,
    );
  }
  const skipped: string[] = [];
  const records = new Map<string, DnsRecord[]>();
  const seen = new Set<string>();
  const add = (record: DnsRecord) => {
    const key = JSON.stringify(record);
    if (seen.has(key)) return;
    seen.add(key);
    const list = records.get(record.name);
    if (list === undefined) records.set(record.name, [record]);
    else list.push(record);
  };
  /** The label's lowercase form, or null (and a note) when it is not one. */
  const label = (kind: string, raw: unknown): string | null => {
    const text = typeof raw === "string" ? normalizeName(raw) : "";
    if (isValidLabel(text)) return text;
    skipped.push(`${kind} ${JSON.stringify(raw)}: not a valid DNS label`);
    return null;
  };
  const address = (kind: string, raw: unknown): string | null => {
    if (typeof raw === "string" && ipv4Bytes(raw) !== null) return raw;
    skipped.push(`${kind}: address ${JSON.stringify(raw)} is not IPv4`);
    return null;
  };
  // The apex and the empty non-terminals exist whatever the input holds,
  // so that they answer NODATA, never NXDOMAIN (RFC 8020).
  records.set(domain, []);
  for (const branch of ["alloc", "node", "_tcp"]) {
    records.set(`${branch}.${domain}`, []);
  }
  const allocName = (id: string) => `${id}.alloc.${domain}`;

  for (const alloc of input.allocs ?? []) {
    const id = label("alloc", alloc?.id);
    const ip = id === null ? null : address(`alloc ${id}`, alloc.address);
    if (id !== null && ip !== null) {
      add({ name: allocName(id), type: "A", ttl, address: ip });
    }
  }
  for (const node of input.nodes ?? []) {
    const name = label("node", node?.name);
    const ip = name === null ? null : address(`node ${name}`, node.address);
    if (name !== null && ip !== null) {
      add({ name: `${name}.node.${domain}`, type: "A", ttl, address: ip });
    }
  }
  for (const service of input.services ?? []) {
    const name = label("service", service?.name);
    if (name === null) continue;
    const serviceName = `${name}.${domain}`;
    const srvName = `_${name}._tcp.${domain}`;
    // A service with no healthy endpoint still exists: NODATA, not NXDOMAIN.
    if (!records.has(serviceName)) records.set(serviceName, []);
    if (!records.has(srvName)) records.set(srvName, []);
    for (const endpoint of service.endpoints ?? []) {
      const ip = address(`service ${name} endpoint`, endpoint?.address);
      if (ip === null) continue;
      add({ name: serviceName, type: "A", ttl, address: ip });
      if (endpoint.port === null) continue;
      const port = endpoint.port;
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        skipped.push(
          `service ${name} endpoint ${ip}: port ${
            JSON.stringify(port)
          } is not 1-65535`,
        );
        continue;
      }
      const id = label(`service ${name} alloc`, endpoint.allocId);
      if (id === null) continue;
      add({
        name: srvName,
        type: "SRV",
        ttl,
        priority: 0,
        weight: 1,
        port,
        target: allocName(id),
      });
      // The SRV target resolves even when the allocs list lacks it.
      if (!(records.get(allocName(id)) ?? []).some((r) => r.type === "A")) {
        add({ name: allocName(id), type: "A", ttl, address: ip });
      }
    }
  }
  return new DnsZone(domain, ttl, records, skipped);
}
