/**
 * The nftables table mill owns on a node, as text for `nft -f`: the whole
 * table is generated from the desired state and replaced in one transaction
 * (declare, delete, declare again: `nft -f` applies a file atomically), so
 * the kernel never holds half of it. Pure.
 */

export type Protocol = "tcp" | "udp";

/** A host port of the node forwarded to a port of an alloc's address. */
export interface Publication {
  readonly allocId: string;
  readonly protocol: Protocol;
  readonly hostPort: number;
  readonly address: string;
  readonly containerPort: number;
}

export interface TableState {
  /** Table name (family `inet`). */
  readonly table: string;
  readonly bridge: string;
  /** The mesh interface: traffic through it keeps the container's source. */
  readonly meshInterface: string;
  /** The node's container subnet, `a.b.c.0/24`. */
  readonly subnet: string;
  /** The bridge's address (the subnet's first). */
  readonly gateway: string;
  /** TCP ports of the agent that containers must not reach on the node. */
  readonly agentPorts: readonly number[];
  /** The DNS port containers may reach on the gateway. */
  readonly dnsPort: number;
  readonly publications: readonly Publication[];
}

function assertPort(port: number, what: string): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`${what} ${port} is not a port (1-65535)`);
  }
}

function quoted(name: string): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new RangeError(`${JSON.stringify(name)} cannot be named in nft`);
  }
  return `"${name}"`;
}

function publicationRule(p: Publication): string {
  assertPort(p.hostPort, "host port");
  assertPort(p.containerPort, "container port");
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(p.address)) {
    throw new RangeError(`${p.address} is not an IPv4 address`);
  }
  // `fib daddr type local`: only traffic addressed to one of the node's own
  // addresses (127.0.0.1 included), never traffic passing through it.
  return `fib daddr type local ${p.protocol} dport ${p.hostPort} dnat ip to ${p.address}:${p.containerPort}`;
}

/** The `nft -f` script that makes the table exactly `state`. */
export function tableScript(state: TableState): string {
  if (!/^[a-z][a-z0-9]*$/.test(state.table)) {
    throw new RangeError(`${JSON.stringify(state.table)} is not a table name`);
  }
  const bridge = quoted(state.bridge);
  const mesh = quoted(state.meshInterface);
  for (const port of state.agentPorts) assertPort(port, "agent port");
  assertPort(state.dnsPort, "dns port");
  const publications = [...state.publications].sort((a, b) =>
    a.protocol.localeCompare(b.protocol) || a.hostPort - b.hostPort
  );
  const dnat = publications.map((p) => `    ${publicationRule(p)}`);
  const agentPorts = [...new Set(state.agentPorts)].sort((a, b) => a - b);
  const lines = [
    `table inet ${state.table} {}`,
    `delete table inet ${state.table}`,
    `table inet ${state.table} {`,
    `  chain prerouting {`,
    `    type nat hook prerouting priority dstnat; policy accept;`,
    ...dnat,
    `  }`,
    // The node's own connections to its addresses and to localhost.
    `  chain output {`,
    `    type nat hook output priority -100; policy accept;`,
    ...dnat,
    `  }`,
    `  chain postrouting {`,
    `    type nat hook postrouting priority srcnat; policy accept;`,
    // Out to the world: the node's address. Through the mesh: unchanged.
    `    ip saddr ${state.subnet} oifname != { ${bridge}, ${mesh} } masquerade`,
    // localhost:port published to an alloc: the reply must come back here.
    `    ip saddr 127.0.0.0/8 oifname ${bridge} masquerade`,
    // An alloc reaching a published port of its own node (hairpin).
    `    ip saddr ${state.subnet} oifname ${bridge} ct status dnat masquerade`,
    `  }`,
    `  chain input {`,
    `    type filter hook input priority filter; policy accept;`,
    // route_localnet is on for the bridge (localhost publications): refuse
    // packets a container addresses to the node's loopback itself.
    `    iifname ${bridge} ip daddr 127.0.0.0/8 ct direction original drop`,
    `    iifname ${bridge} ip daddr ${state.gateway} meta l4proto { tcp, udp } th dport ${state.dnsPort} accept`,
    ...(agentPorts.length === 0 ? [] : [
      `    iifname ${bridge} tcp dport { ${
        agentPorts.join(", ")
      } } reject with tcp reset`,
      // Through the mesh only nodes (each at the first address of its /24)
      // reach the agent, not the containers of other nodes.
      `    iifname ${mesh} ip saddr & 0.0.0.255 != 0.0.0.1 tcp dport { ${
        agentPorts.join(", ")
      } } reject with tcp reset`,
    ]),
    `  }`,
    `}`,
  ];
  return lines.join("\n") + "\n";
}

/**
 * For a node on the mesh without a container network (a primary-only
 * node): the one rule of the input chain that still applies, through the
 * mesh only nodes reach the agent's ports, not other nodes' containers.
 */
export function meshGuardScript(state: {
  readonly table: string;
  readonly meshInterface: string;
  readonly agentPorts: readonly number[];
}): string {
  if (!/^[a-z][a-z0-9]*$/.test(state.table)) {
    throw new RangeError(`${JSON.stringify(state.table)} is not a table name`);
  }
  for (const port of state.agentPorts) assertPort(port, "agent port");
  const ports = [...new Set(state.agentPorts)].sort((a, b) => a - b);
  return [
    `table inet ${state.table} {}`,
    `delete table inet ${state.table}`,
    `table inet ${state.table} {`,
    `  chain input {`,
    `    type filter hook input priority filter; policy accept;`,
    `    iifname ${
      quoted(state.meshInterface)
    } ip saddr & 0.0.0.255 != 0.0.0.1 tcp dport { ${
      ports.join(", ")
    } } reject with tcp reset`,
    `  }`,
    `}`,
  ].join("\n") + "\n";
}

/** The script that removes the table (and does not fail when it is gone). */
export function deleteTableScript(table: string): string {
  return `table inet ${table} {}\ndelete table inet ${table}\n`;
}

/**
 * The publications a listing of the table's prerouting chain holds (`nft
 * list chain inet T prerouting`), without their alloc ids: the caller
 * knows which alloc holds each address.
 */
export function parsePublicationRules(
  listing: string,
): Omit<Publication, "allocId">[] {
  const found: Omit<Publication, "allocId">[] = [];
  const rule = /\b(tcp|udp) dport (\d+) dnat ip to (\d+\.\d+\.\d+\.\d+):(\d+)/g;
  for (const match of listing.matchAll(rule)) {
    found.push({
      protocol: match[1] as Protocol,
      hostPort: Number(match[2]),
      address: match[3]!,
      containerPort: Number(match[4]),
    });
  }
  return found;
}
