/**
 * IPv4 addresses and CIDR ranges as plain numbers: the cluster range chosen
 * at `mill init`, the `/24` of it each node gets, and the addresses of a
 * node's subnet. Pure and shared by the FSM (which hands out subnets and
 * addresses) and the network layer (which configures them).
 */

/** The cluster range when `mill init` is not told another. */
export const CLUSTER_RANGE_DEFAULT = "10.210.0.0/16";
/** Every node's container subnet is this long. */
export const NODE_SUBNET_PREFIX = 24;

export interface Cidr {
  /** The network address as an unsigned 32-bit number. */
  readonly network: number;
  readonly prefix: number;
}

/** `a.b.c.d` to a number; null when it is not a dotted-quad IPv4 address. */
export function parseIpv4(text: string): number | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    value = value * 256 + octet;
  }
  return value;
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join(".");
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** `a.b.c.d/n` with no host bits set; a message saying what is wrong otherwise. */
export function parseCidr(text: string): Cidr | string {
  const [address, prefixText, extra] = text.split("/");
  if (
    address === undefined || prefixText === undefined || extra !== undefined
  ) {
    return `${JSON.stringify(text)} is not a CIDR range like 10.210.0.0/16`;
  }
  const network = parseIpv4(address);
  if (network === null) {
    return `${JSON.stringify(address)} is not an IPv4 address`;
  }
  if (!/^[0-9]{1,2}$/.test(prefixText) || Number(prefixText) > 32) {
    return `${JSON.stringify(prefixText)} is not a prefix length (0-32)`;
  }
  const prefix = Number(prefixText);
  if (((network & ~maskOf(prefix)) >>> 0) !== 0) {
    const fixed = formatCidr({
      network: (network & maskOf(prefix)) >>> 0,
      prefix,
    });
    return `${text} has host bits set; did you mean ${fixed}?`;
  }
  return { network, prefix };
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIpv4(cidr.network)}/${cidr.prefix}`;
}

/** Number of addresses in the range. */
export function sizeOf(cidr: Cidr): number {
  return 2 ** (32 - cidr.prefix);
}

export function contains(cidr: Cidr, address: number): boolean {
  return ((address & maskOf(cidr.prefix)) >>> 0) === cidr.network;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const prefix = Math.min(a.prefix, b.prefix);
  const mask = maskOf(prefix);
  return ((a.network & mask) >>> 0) === ((b.network & mask) >>> 0);
}

/**
 * Why `text` cannot be a cluster range, or null when it can: it must be a
 * private (RFC 1918) IPv4 range with room for at least one node subnet and
 * at most 65,536 of them.
 */
export function clusterRangeProblem(text: string): string | null {
  const cidr = parseCidr(text);
  if (typeof cidr === "string") return cidr;
  if (cidr.prefix > NODE_SUBNET_PREFIX) {
    return `${text} is smaller than one node subnet (/${NODE_SUBNET_PREFIX}); pick a /${NODE_SUBNET_PREFIX} or larger range such as ${CLUSTER_RANGE_DEFAULT}`;
  }
  if (cidr.prefix < 8) return `${text} is too large; pick a /8 or smaller`;
  const privateRanges = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
    .map((r) => parseCidr(r) as Cidr);
  const inside = privateRanges.some((r) =>
    r.prefix <= cidr.prefix && overlaps(r, cidr)
  );
  if (!inside) {
    return `${text} is not a private range (10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)`;
  }
  return null;
}

/** How many node subnets the range holds. */
export function nodeSubnetCount(range: Cidr): number {
  return 2 ** (NODE_SUBNET_PREFIX - range.prefix);
}

/** The `index`th node subnet of the range (0-based). */
export function nodeSubnet(range: Cidr, index: number): Cidr {
  if (
    !Number.isInteger(index) || index < 0 || index >= nodeSubnetCount(range)
  ) {
    throw new RangeError(
      `node subnet ${index} is outside ${formatCidr(range)}`,
    );
  }
  return {
    network: range.network +
      index * sizeOf({ network: 0, prefix: NODE_SUBNET_PREFIX }),
    prefix: NODE_SUBNET_PREFIX,
  };
}

/** A node's own address on its subnet: the first one (bridge and mesh). */
export function gatewayOf(subnet: Cidr): number {
  return subnet.network + 1;
}

/** The host numbers allocs may take on a subnet: .2 to the one before broadcast. */
export const ALLOC_HOST_MIN = 2;
export function allocHostMax(subnet: Cidr): number {
  return sizeOf(subnet) - 2;
}

/** The address of host number `host` on the subnet. */
export function hostAddress(subnet: Cidr, host: number): number {
  if (!Number.isInteger(host) || host < 1 || host > sizeOf(subnet) - 2) {
    throw new RangeError(`host ${host} is outside ${formatCidr(subnet)}`);
  }
  return subnet.network + host;
}
