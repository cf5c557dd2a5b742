/**
 * The names mill gives a node's container network objects, all derived from
 * one prefix so that two container networks (two nodes on one machine, each
 * in a namespace of its own) never collide in the machine-wide `/run/netns`
 * list. Pure.
 *
 * - an alloc's namespace: `<prefix>-a-<allocId>` (the prefix holds no `-`,
 *   so the alloc id is what follows the first `-a-`);
 * - the host end of its veth pair: `mv` + 4 hex digits of the prefix's hash
 *   + 8 hex digits of the alloc's hash (14 characters; Linux allows 15);
 * - the nftables table: `inet <prefix>`.
 */

export const NETNS_PREFIX_DEFAULT = "mill";
export const NETNS_DIR = "/run/netns";
/** Linux interface names hold at most 15 characters (IFNAMSIZ - 1). */
export const IFNAME_LENGTH_MAX = 15;

const PREFIX_PATTERN = /^[a-z][a-z0-9]{0,23}$/;
const ALLOC_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const IFNAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;

/** Why `prefix` cannot prefix mill's names, or null. */
export function netnsPrefixProblem(prefix: string): string | null {
  return PREFIX_PATTERN.test(prefix)
    ? null
    : `netns prefix ${
      JSON.stringify(prefix)
    } must be 1-24 lowercase letters and digits, starting with a letter (like "mill" or "millb")`;
}

/** Why `allocId` cannot name an alloc's network objects, or null. */
export function allocIdProblem(allocId: string): string | null {
  return ALLOC_ID_PATTERN.test(allocId)
    ? null
    : `alloc id ${
      JSON.stringify(allocId)
    } must be 1-128 letters, digits, "_", ".", ":" or "-", starting with a letter or digit`;
}

/** Why `name` cannot be a network interface's name, or null. */
export function interfaceNameProblem(name: string): string | null {
  return IFNAME_PATTERN.test(name)
    ? null
    : `interface name ${
      JSON.stringify(name)
    } must be 1-${IFNAME_LENGTH_MAX} letters, digits, "_", "." or "-"`;
}

/** FNV-1a, 32 bits, over the UTF-8 bytes: short stable names, not security. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

function hex(value: number, digits: number): string {
  return value.toString(16).padStart(8, "0").slice(8 - digits);
}

export class NetworkNames {
  readonly prefix: string;
  readonly #vethStart: string;

  constructor(prefix: string = NETNS_PREFIX_DEFAULT) {
    const problem = netnsPrefixProblem(prefix);
    if (problem !== null) throw new RangeError(problem);
    this.prefix = prefix;
    this.#vethStart = `mv${hex(fnv1a32(prefix), 4)}`;
  }

  /** The nftables table (family `inet`) of this prefix. */
  get table(): string {
    return this.prefix;
  }

  netnsOf(allocId: string): string {
    return `${this.prefix}-a-${allocId}`;
  }

  netnsPathOf(allocId: string): string {
    return `${NETNS_DIR}/${this.netnsOf(allocId)}`;
  }

  /** The alloc id a namespace of this prefix belongs to; null for others. */
  allocOfNetns(netns: string): string | null {
    const start = `${this.prefix}-a-`;
    if (!netns.startsWith(start)) return null;
    const allocId = netns.slice(start.length);
    return allocIdProblem(allocId) === null ? allocId : null;
  }

  /** The host end of the alloc's veth pair. */
  vethOf(allocId: string): string {
    return `${this.#vethStart}${hex(fnv1a32(`${this.prefix}\0${allocId}`), 8)}`;
  }

  /** Whether `name` has the shape of this prefix's veths. */
  isOwnVeth(name: string): boolean {
    return name.length === this.#vethStart.length + 8 &&
      name.startsWith(this.#vethStart) &&
      /^[0-9a-f]{8}$/.test(name.slice(this.#vethStart.length));
  }
}
