/**
 * What to change to go from what the interface holds to what is wanted
 * (pure): the `wg set` arguments for the peers, and the routes to add and
 * remove. Nothing is changed that already matches, so that reconciling
 * twice does nothing the second time.
 */
import type { CheckedPeer } from "./validate.ts";
import type { MeshPeerStatus } from "./wg_dump.ts";

export const PERSISTENT_KEEPALIVE_S = 25;

/** `wg set NAME …` arguments (after the name); empty when nothing differs. */
export function peerSetArgs(
  current: readonly MeshPeerStatus[],
  wanted: readonly CheckedPeer[],
): string[] {
  const wantedKeys = new Set(wanted.map((p) => p.publicKey));
  const args: string[] = [];
  // Removals first, so that an allowed IP moving to another peer is free.
  for (const peer of current) {
    if (!wantedKeys.has(peer.publicKey)) {
      args.push("peer", peer.publicKey, "remove");
    }
  }
  const byKey = new Map(current.map((p) => [p.publicKey, p]));
  for (const peer of wanted) {
    const now = byKey.get(peer.publicKey);
    const same = now !== undefined &&
      now.endpoint === peer.endpoint &&
      now.persistentKeepaliveS === PERSISTENT_KEEPALIVE_S &&
      sameList(now.allowedIps, peer.allowedIps);
    if (same) continue;
    args.push(
      "peer",
      peer.publicKey,
      "endpoint",
      peer.endpoint,
      "persistent-keepalive",
      String(PERSISTENT_KEEPALIVE_S),
      "allowed-ips",
      peer.allowedIps.join(","),
    );
  }
  return args;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  const x = [...a].sort();
  const y = [...b].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** A route of `ip -j route show dev NAME`, as far as we read it. */
export interface RouteRow {
  readonly dst: string;
  readonly prefsrc?: string;
  readonly protocol?: string;
}

export interface RouteChanges {
  /** Destinations to delete from the interface. */
  readonly remove: string[];
  /** Destinations to (re)place on the interface with our source address. */
  readonly replace: string[];
}

/** `ip` prints a /32 destination without its prefix length. */
function withPrefix(dst: string): string {
  return dst.includes("/") ? dst : `${dst}/32`;
}

export function routeChanges(
  existing: readonly RouteRow[],
  wanted: readonly string[],
  source: string,
): RouteChanges {
  const want = new Set(wanted);
  const have = new Map<string, RouteRow>();
  for (const row of existing) {
    // Routes the kernel makes for the interface's own addresses are its own.
    if (row.protocol === "kernel") continue;
    have.set(withPrefix(row.dst), row);
  }
  const remove = [...have.keys()].filter((dst) => !want.has(dst)).sort();
  const replace = [...want].filter((dst) => have.get(dst)?.prefsrc !== source)
    .sort();
  return { remove, replace };
}
