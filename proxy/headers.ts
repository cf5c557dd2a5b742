/**
 * Headers across the proxy, pure: what goes to the upstream (hop-by-hop
 * headers dropped, the forwarding headers added) and what comes back to
 * the client (hop-by-hop dropped again, so HTTP/2 clients never see
 * connection-specific fields, which RFC 9113 forbids).
 */

/**
 * Meaningful for one connection only (RFC 9110 §7.6.1), plus the proxy
 * credentials meant for this proxy, `expect` (the proxy answers 100
 * Continue itself) and HTTP/2's pseudo-headers.
 */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "expect",
  "http2-settings",
]);

/** The forwarding headers the proxy writes itself (the client's are merged). */
const FORWARDING = new Set([
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "forwarded",
  "host",
]);

export type HeaderMap = Record<string, string | string[]>;

/** Names listed in Connection headers: hop-by-hop for this message. */
function connectionTokens(raw: readonly string[]): Set<string> {
  const tokens = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== "connection") continue;
    for (const token of raw[i + 1]!.split(",")) {
      const name = token.trim().toLowerCase();
      if (name !== "") tokens.add(name);
    }
  }
  return tokens;
}

/**
 * An IPv4-mapped IPv6 address ("::ffff:10.0.0.1", what a dual-stack
 * listener reports) as the IPv4 address it is.
 */
export function clientAddress(remote: string | undefined): string {
  if (remote === undefined) return "unknown";
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remote);
  return mapped === null ? remote : mapped[1]!;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** An RFC 7239 value: a token as is, anything else quoted. */
function forwardedValue(value: string): string {
  return TOKEN.test(value)
    ? value
    : `"${value.replace(/["\\]/g, (c) => `\\${c}`)}"`;
}

export interface ForwardingContext {
  /** The client's address as the proxy saw it (see clientAddress). */
  readonly client: string;
  readonly proto: "http" | "https";
  /** The Host (or :authority) the client sent, as it sent it. */
  readonly host: string;
  /** Keep Connection: upgrade and Upgrade (a WebSocket handshake). */
  readonly upgrade?: string;
}

/**
 * The headers for the upstream request, from the client's raw header list
 * (name, value, name, value…): hop-by-hop dropped, duplicates joined
 * (cookies with "; ", RFC 9113 §8.2.3), Host kept as the client sent it,
 * X-Forwarded-For and Forwarded appended to, X-Forwarded-Proto and
 * X-Forwarded-Host set.
 */
export function upstreamRequestHeaders(
  raw: readonly string[],
  context: ForwardingContext,
): HeaderMap {
  const drop = connectionTokens(raw);
  const out: Record<string, string> = {};
  const forwardedFor: string[] = [];
  const forwarded: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (name.startsWith(":")) continue;
    if (name === "x-forwarded-for") {
      forwardedFor.push(value);
      continue;
    }
    if (name === "forwarded") {
      forwarded.push(value);
      continue;
    }
    if (HOP_BY_HOP.has(name) || drop.has(name) || FORWARDING.has(name)) {
      continue;
    }
    const seen = out[name];
    out[name] = seen === undefined
      ? value
      : `${seen}${name === "cookie" ? "; " : ", "}${value}`;
  }
  const { client, proto, host } = context;
  out["host"] = host;
  out["x-forwarded-for"] = [...forwardedFor, client].join(", ");
  out["x-forwarded-proto"] = proto;
  out["x-forwarded-host"] = host;
  const node = client.includes(":") ? `"[${client}]"` : client;
  forwarded.push(
    `for=${node};proto=${proto}${
      host === "" ? "" : `;host=${forwardedValue(host)}`
    }`,
  );
  out["forwarded"] = forwarded.join(", ");
  if (context.upgrade !== undefined) {
    out["connection"] = "upgrade";
    out["upgrade"] = context.upgrade;
  }
  return out;
}

/**
 * The upstream response's headers for the client: hop-by-hop dropped,
 * repeated fields kept as lists (Set-Cookie must never be joined).
 */
export function clientResponseHeaders(raw: readonly string[]): HeaderMap {
  const drop = connectionTokens(raw);
  const out: HeaderMap = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (name.startsWith(":") || HOP_BY_HOP.has(name) || drop.has(name)) {
      continue;
    }
    const value = raw[i + 1]!;
    const seen = out[name];
    if (seen === undefined) out[name] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else out[name] = [seen, value];
  }
  return out;
}

/** Is a WebSocket (or other) upgrade asked for? The protocol, or undefined. */
export function requestedUpgrade(raw: readonly string[]): string | undefined {
  const tokens = connectionTokens(raw);
  if (!tokens.has("upgrade")) return undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === "upgrade") return raw[i + 1]!;
  }
  return undefined;
}

/** Bytes of the request's header section, as the client sent it. */
export function headerBytes(raw: readonly string[]): number {
  let total = 0;
  for (const part of raw) total += part.length + 2;
  return total;
}
