/**
 * The check `mill init` makes before it fixes the cluster range: a range
 * that overlaps a route this machine already has (its LAN, a VPC, a VPN,
 * Docker's bridge) would make those addresses unreachable from containers,
 * or the containers unreachable from there. Pure part: `overlappingRoutes`.
 */
import {
  type Cidr,
  formatCidr,
  overlaps,
  parseCidr,
} from "../../config/cidr.ts";

/** A route as `ip -j route` prints it (the fields we read). */
export interface HostRoute {
  readonly dst: string;
  readonly dev?: string;
}

/** Interfaces mill itself makes: their routes are its own. */
const OWN_DEVICES = new Set(["mill0", "mill-wg"]);

/** The routes of `routes` that overlap `range`, as `dst dev` text; default routes do not count. */
export function overlappingRoutes(
  range: Cidr,
  routes: readonly HostRoute[],
): string[] {
  const found: string[] = [];
  for (const route of routes) {
    if (route.dst === "default" || OWN_DEVICES.has(route.dev ?? "")) continue;
    const cidr = parseCidr(
      route.dst.includes("/") ? route.dst : `${route.dst}/32`,
    );
    if (typeof cidr === "string" || cidr.prefix === 0) continue;
    if (overlaps(range, cidr)) {
      found.push(
        `${formatCidr(cidr)}${
          route.dev === undefined ? "" : ` dev ${route.dev}`
        }`,
      );
    }
  }
  return found;
}

/** Why `range` clashes with this machine's IPv4 routes, or null when it does not. */
export async function hostRouteClash(
  rangeText: string,
): Promise<string | null> {
  const range = parseCidr(rangeText);
  if (typeof range === "string") return range;
  const output = await new Deno.Command("ip", {
    args: ["-j", "-4", "route", "show", "table", "all"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    return `cannot list this machine's routes (ip route: ${
      new TextDecoder().decode(output.stderr).trim()
    })`;
  }
  const routes = JSON.parse(
    new TextDecoder().decode(output.stdout),
  ) as HostRoute[];
  const clashes = overlappingRoutes(range, routes);
  return clashes.length === 0
    ? null
    : `${rangeText} overlaps this machine's route${
      clashes.length === 1 ? "" : "s"
    } ${clashes.join(", ")}; pick another range with --cluster-range`;
}
