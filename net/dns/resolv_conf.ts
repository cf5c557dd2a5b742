/**
 * The upstream resolvers a node's DNS server forwards to when it is not told
 * any: the nameservers of /etc/resolv.conf, less those that would send the
 * query back to the server itself.
 */

import { ipv4Bytes } from "./_wire.ts";

export const RESOLV_CONF_PATH = "/etc/resolv.conf";

/** The `nameserver` addresses of a resolv.conf text, in order. */
export function nameserversOf(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const match = /^\s*nameserver\s+(\S+)/.exec(line);
    if (match !== null) out.push(match[1]!);
  }
  return out;
}

function isLoopback(address: string): boolean {
  const bytes = ipv4Bytes(address);
  return bytes !== null ? bytes[0] === 127 : address === "::1";
}

const WILDCARDS = new Set(["0.0.0.0", "::", ""]);

/**
 * `ip:port` upstreams from nameserver addresses (port 53), without those
 * that point at a server listening on `listen`: the same address and port,
 * or a loopback address when it listens on every address at that port.
 * Only IPv4 nameservers are kept (the forwarder's socket is IPv4).
 */
export function upstreamsFrom(
  nameservers: readonly string[],
  listen: { hostname: string; port: number },
): string[] {
  const out: string[] = [];
  for (const address of nameservers) {
    if (ipv4Bytes(address) === null) continue;
    const self = listen.port === 53 &&
      (address === listen.hostname ||
        (WILDCARDS.has(listen.hostname) && isLoopback(address)));
    if (!self) out.push(`${address}:53`);
  }
  return out;
}

/** Upstreams from /etc/resolv.conf; none when it cannot be read. */
export function defaultUpstreams(
  listen: { hostname: string; port: number },
  path = RESOLV_CONF_PATH,
): string[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return [];
  }
  return upstreamsFrom(nameserversOf(text), listen);
}

/** `ip:port` to its parts; null when it is not an IPv4 address and port. */
export function parseUpstream(
  text: string,
): { address: string; port: number } | null {
  const colon = text.lastIndexOf(":");
  if (colon < 0) return null;
  const address = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  if (ipv4Bytes(address) === null || !/^[0-9]{1,5}$/.test(portText)) {
    return null;
  }
  const port = Number(portText);
  return port >= 1 && port <= 65535 ? { address, port } : null;
}
