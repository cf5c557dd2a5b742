/**
 * The proxy's route table, pure: which service a request is for (its host,
 * then the longest path prefix) and the endpoints that may answer it. Built
 * once from the caller's routes, immutable, swapped whole by the proxy.
 *
 * Hosts are matched case-insensitively, without a port and without a
 * trailing dot. A path prefix matches on segment boundaries: "/api" matches
 * "/api" and "/api/x", never "/apix"; "/" matches every path. Input the
 * table cannot serve (a host that is not a DNS name, a prefix that is not a
 * clean absolute path, a bad endpoint, two routes for the same host and
 * prefix) is refused when the table is built, every problem named at once.
 */

export interface Endpoint {
  /** An IPv4 or IPv6 literal: the container's address. */
  readonly address: string;
  readonly port: number;
  readonly allocId: string;
}

export interface Route {
  /** A DNS name, e.g. "shop.example.com" (case and a trailing dot ignored). */
  readonly host: string;
  /** An absolute path, "/" for every path; a trailing "/" is ignored. */
  readonly pathPrefix: string;
  readonly service: string;
  /** The healthy endpoints only; empty: the route exists but answers 503. */
  readonly endpoints: readonly Endpoint[];
  /** How requests spread over the endpoints; the proxy's default unless set. */
  readonly balance?: BalancePolicy;
}

export type BalancePolicy = "round-robin" | "least-connections";

/** A route as the table holds it: normalized, with a stable key. */
export interface TableRoute {
  /** "host path": the same route in the next table has the same key. */
  readonly key: string;
  readonly host: string;
  readonly pathPrefix: string;
  readonly service: string;
  readonly endpoints: readonly TableEndpoint[];
  readonly balance: BalancePolicy | null;
}

export interface TableEndpoint extends Endpoint {
  /** "address:port" ("[v6]:port"), the identity balancing and health use. */
  readonly key: string;
}

export type RouteLookup =
  | { readonly kind: "route"; readonly route: TableRoute }
  | { readonly kind: "unknown-host"; readonly host: string }
  | { readonly kind: "no-path-match"; readonly host: string }
  | { readonly kind: "no-endpoint"; readonly route: TableRoute };

export class RouteTableError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`invalid routes: ${problems.join("; ")}`);
    this.name = "RouteTableError";
    this.problems = problems;
  }
}

export interface RouteTable {
  /** Every route, in the order given. */
  readonly routes: readonly TableRoute[];
  /** The hosts with at least one route, normalized. */
  readonly hosts: ReadonlySet<string>;
  /** `host` as a client sent it (port, case, trailing dot); `path` without query. */
  lookup(host: string, path: string): RouteLookup;
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const IPV4 =
  /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** A host name as the table keys it, or null when it is not a DNS name. */
export function normalizeRouteHost(host: string): string | null {
  let name = host.toLowerCase();
  if (name.endsWith(".")) name = name.slice(0, -1);
  if (name.length === 0 || name.length > 253) return null;
  const labels = name.split(".");
  if (!labels.every((label) => LABEL.test(label))) return null;
  // A name of digits and dots only is an IPv4 address, not a host name.
  if (labels.every((label) => /^\d+$/.test(label))) return null;
  return name;
}

/**
 * A request's Host (or :authority) as the table keys it: lower case, port
 * and trailing dot removed; "" when there is none or it cannot be a host.
 */
export function requestHost(host: string | undefined | null): string {
  if (host === undefined || host === null) return "";
  let name = host.trim().toLowerCase();
  if (name.startsWith("[")) {
    const end = name.indexOf("]");
    return end < 0 ? "" : name.slice(0, end + 1);
  }
  const colon = name.indexOf(":");
  if (colon >= 0) name = name.slice(0, colon);
  if (name.endsWith(".")) name = name.slice(0, -1);
  return name;
}

/** A prefix as the table keys it ("/api/" → "/api"), or why it is refused. */
function normalizePrefix(prefix: string): string | { error: string } {
  if (!prefix.startsWith("/")) return { error: "must start with /" };
  // Visible ASCII only (percent-encode the rest), no query or fragment.
  if (!/^[!-~]+$/.test(prefix) || /[?#\\]/.test(prefix)) {
    return { error: "must be a plain path (no query, fragment or spaces)" };
  }
  const trimmed = prefix.length > 1 && prefix.endsWith("/")
    ? prefix.slice(0, -1)
    : prefix;
  if (trimmed !== "/") {
    const segments = trimmed.slice(1).split("/");
    if (segments.some((s) => s === "" || s === "." || s === "..")) {
      return { error: "has an empty, . or .. segment" };
    }
  }
  return trimmed;
}

function isAddress(address: string): boolean {
  if (IPV4.test(address)) return true;
  // An IPv6 literal without brackets; the URL parser decides the details.
  if (!address.includes(":") || !/^[0-9a-fA-F:.]+$/.test(address)) {
    return false;
  }
  try {
    new URL(`http://[${address}]/`);
    return true;
  } catch {
    return false;
  }
}

export function endpointKey(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Does `prefix` (normalized) cover `path`, on a segment boundary? */
export function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === "/") return true;
  return path === prefix ||
    (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 0x2f);
}

/** Builds the table, or throws RouteTableError naming every problem. */
export function buildRouteTable(routes: readonly Route[]): RouteTable {
  const problems: string[] = [];
  const built: TableRoute[] = [];
  const byHost = new Map<string, TableRoute[]>();
  routes.forEach((route, index) => {
    const where = `route ${index} (${JSON.stringify(route.host)} ${
      JSON.stringify(route.pathPrefix)
    })`;
    const host = typeof route.host === "string"
      ? normalizeRouteHost(route.host)
      : null;
    if (host === null) {
      problems.push(`${where}: host is not a DNS name`);
    }
    const prefix = typeof route.pathPrefix === "string"
      ? normalizePrefix(route.pathPrefix)
      : { error: "must be a string" };
    if (typeof prefix !== "string") {
      problems.push(`${where}: path prefix ${prefix.error}`);
    }
    if (typeof route.service !== "string" || route.service === "") {
      problems.push(`${where}: service is empty`);
    }
    const balance = route.balance ?? null;
    if (
      balance !== null && balance !== "round-robin" &&
      balance !== "least-connections"
    ) {
      problems.push(
        `${where}: balance is not "round-robin" or "least-connections"`,
      );
    }
    const endpoints: TableEndpoint[] = [];
    const seen = new Set<string>();
    for (const endpoint of route.endpoints ?? []) {
      const label = `${where}: endpoint ${JSON.stringify(endpoint.address)}:${
        String(endpoint.port)
      }`;
      if (!isAddress(endpoint.address)) {
        problems.push(`${label}: address is not an IP address`);
        continue;
      }
      if (
        !Number.isInteger(endpoint.port) || endpoint.port < 1 ||
        endpoint.port > 65535
      ) {
        problems.push(`${label}: port is not 1-65535`);
        continue;
      }
      if (typeof endpoint.allocId !== "string" || endpoint.allocId === "") {
        problems.push(`${label}: allocId is empty`);
        continue;
      }
      const key = endpointKey(endpoint.address, endpoint.port);
      if (seen.has(key)) {
        problems.push(`${label}: listed twice`);
        continue;
      }
      seen.add(key);
      endpoints.push({
        address: endpoint.address,
        port: endpoint.port,
        allocId: endpoint.allocId,
        key,
      });
    }
    if (host === null || typeof prefix !== "string") return;
    const key = `${host} ${prefix}`;
    const same = byHost.get(host) ?? [];
    const clash = same.find((r) => r.pathPrefix === prefix);
    if (clash !== undefined) {
      problems.push(
        `${where}: ${host}${prefix} is already routed to ${clash.service}`,
      );
      return;
    }
    const entry: TableRoute = {
      key,
      host,
      pathPrefix: prefix,
      service: route.service,
      endpoints,
      balance,
    };
    same.push(entry);
    byHost.set(host, same);
    built.push(entry);
  });
  if (problems.length > 0) throw new RouteTableError(problems);
  // Longest prefix first: the first match is the most specific one.
  for (const list of byHost.values()) {
    list.sort((a, b) => b.pathPrefix.length - a.pathPrefix.length);
  }
  return {
    routes: built,
    hosts: new Set(byHost.keys()),
    lookup(rawHost: string, path: string): RouteLookup {
      const host = requestHost(rawHost);
      const candidates = byHost.get(host);
      if (candidates === undefined) return { kind: "unknown-host", host };
      const route = candidates.find((r) => prefixMatches(r.pathPrefix, path));
      if (route === undefined) return { kind: "no-path-match", host };
      if (route.endpoints.length === 0) return { kind: "no-endpoint", route };
      return { kind: "route", route };
    },
  };
}

/** The table with no routes: every host is unknown. */
export const EMPTY_ROUTE_TABLE: RouteTable = buildRouteTable([]);
