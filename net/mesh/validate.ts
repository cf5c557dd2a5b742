/**
 * Checks of everything the mesh is given, pure: interface names, ports, the
 * mesh address, peers (keys, endpoints, allowed IPs). Each problem is one
 * sentence that says what is wrong and what is expected.
 */
import {
  type Cidr,
  contains,
  formatCidr,
  formatIpv4,
  overlaps,
  parseCidr,
  parseIpv4,
} from "../../config/cidr.ts";
import { isWireguardKey } from "./keys.ts";

export interface MeshPeer {
  /** Base64, as `wg` prints it. */
  readonly publicKey: string;
  /** `a.b.c.d:port`: the peer's public (underlay) address. */
  readonly endpoint: string;
  /** Its mesh address `/32` and its container subnet `/24`. */
  readonly allowedIps: readonly string[];
}

/** Allowed IPs wider than this would take over much of the host's routing. */
export const ALLOWED_IP_MIN_PREFIX = 8;
/** Linux interface names are at most 15 bytes. */
const INTERFACE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;

export class MeshConfigError extends Error {
  override name = "MeshConfigError";
}

export function interfaceNameProblem(name: string): string | null {
  if (!INTERFACE_NAME.test(name) || name === "." || name === "..") {
    return `${
      JSON.stringify(name)
    } is not an interface name (1-15 letters, digits, "_", "-" or ".")`;
  }
  return null;
}

export function portProblem(port: number, what: string): string | null {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    return `${what} ${JSON.stringify(port)} is not a port (1-65535)`;
  }
  return null;
}

/** `address` canonical, or a message. */
export function parseMeshAddress(address: string): number | string {
  const value = parseIpv4(address);
  if (value === null) {
    return `mesh address ${
      JSON.stringify(address)
    } is not an IPv4 address like 10.210.3.1`;
  }
  return value;
}

/**
 * `a.b.c.d:port`, canonical as `wg show` prints it, or a message. Host names
 * are refused: wg resolves them once, and the cluster state holds addresses.
 */
export function parseEndpoint(endpoint: unknown): string | { problem: string } {
  if (typeof endpoint !== "string") {
    return { problem: "endpoint must be a string like 203.0.113.7:51820" };
  }
  const match = /^([^:]+):([0-9]{1,5})$/.exec(endpoint);
  const host = match ? parseIpv4(match[1]!) : null;
  if (match === null || host === null) {
    return {
      problem: `endpoint ${
        JSON.stringify(endpoint)
      } is not an IPv4 address and port like 203.0.113.7:51820`,
    };
  }
  const port = Number(match[2]);
  const bad = portProblem(port, `endpoint ${endpoint}: port`);
  if (bad !== null) return { problem: bad };
  if (host === 0 || (host >>> 24) === 127 || host >>> 28 >= 14) {
    return {
      problem:
        `endpoint ${endpoint} is not a unicast address another node can be reached at`,
    };
  }
  return `${formatIpv4(host)}:${port}`;
}

export interface CheckedPeer {
  readonly publicKey: string;
  readonly endpoint: string;
  /** Canonical `a.b.c.d/n`, sorted, no duplicates. */
  readonly allowedIps: readonly string[];
}

/**
 * The peers, canonical, or every problem found: bad keys, endpoints or
 * CIDRs, a key twice or equal to ours, an allowed IP that holds our own
 * mesh address or that two peers share.
 */
export function checkPeers(
  peers: readonly MeshPeer[],
  own: { readonly publicKey: string; readonly address: number },
): CheckedPeer[] {
  if (!Array.isArray(peers)) throw new MeshConfigError("peers must be a list");
  const problems: string[] = [];
  const out: CheckedPeer[] = [];
  const keys = new Set<string>();
  const claimed: { cidr: Cidr; key: string }[] = [];
  peers.forEach((peer, index) => {
    const where = `peer ${index + 1}`;
    if (typeof peer !== "object" || peer === null) {
      problems.push(`${where} is not an object`);
      return;
    }
    const key = peer.publicKey;
    if (!isWireguardKey(key)) {
      problems.push(
        `${where}: public key ${
          JSON.stringify(String(key).slice(0, 60))
        } is not a WireGuard key (44 base64 characters ending in "=")`,
      );
      return;
    }
    const label = `peer ${key}`;
    if (key === own.publicKey) {
      problems.push(`${label} has this node's own public key`);
    }
    if (keys.has(key)) problems.push(`${label} is listed twice`);
    keys.add(key);
    const endpoint = parseEndpoint(peer.endpoint);
    if (typeof endpoint !== "string") {
      problems.push(`${label}: ${endpoint.problem}`);
    }
    const ips = peer.allowedIps;
    if (!Array.isArray(ips) || ips.length === 0) {
      problems.push(
        `${label}: allowedIps must list its mesh address /32 and container subnet /24`,
      );
      return;
    }
    const cidrs: Cidr[] = [];
    for (const text of ips) {
      const cidr = typeof text === "string"
        ? parseCidr(text)
        : `${JSON.stringify(text)} is not a CIDR range`;
      if (typeof cidr === "string") {
        problems.push(`${label}: allowed IP ${cidr}`);
        continue;
      }
      const shown = formatCidr(cidr);
      if (cidr.prefix < ALLOWED_IP_MIN_PREFIX) {
        problems.push(
          `${label}: allowed IP ${shown} is wider than /${ALLOWED_IP_MIN_PREFIX}; a peer gets its mesh address and its node subnet`,
        );
        continue;
      }
      if (contains(cidr, own.address)) {
        problems.push(
          `${label}: allowed IP ${shown} holds this node's own mesh address ${
            formatIpv4(own.address)
          }`,
        );
        continue;
      }
      const clash = claimed.find((c) =>
        c.key !== key && overlaps(c.cidr, cidr)
      );
      if (clash) {
        problems.push(
          `${label}: allowed IP ${shown} overlaps ${
            formatCidr(clash.cidr)
          } of peer ${clash.key}`,
        );
        continue;
      }
      claimed.push({ cidr, key });
      cidrs.push(cidr);
    }
    if (typeof endpoint === "string") {
      out.push({
        publicKey: key,
        endpoint,
        allowedIps: [...new Set(cidrs.map(formatCidr))].sort(),
      });
    }
  });
  if (problems.length > 0) {
    throw new MeshConfigError(`mesh peers refused: ${problems.join("; ")}`);
  }
  return out;
}
