/**
 * The bed's network: a namespace per node and one for the underlay, a
 * bridge there with one veth per node (`nI` on the bridge, `eth0` in the
 * node), nothing in the root namespace. Partitions are nft rules in the
 * underlay namespace's bridge family, so they vanish with it.
 */
import { inNetns, run, runOk } from "./_run.ts";

/** nft table the partitions live in (inside the underlay namespace). */
export const PARTITION_TABLE = "mill_bed";

export interface UnderlayPlan {
  /** Prefix of every namespace: `<prefix>-u`, `<prefix>-n1`, … */
  readonly prefix: string;
  /** The first three octets, e.g. `10.123.0`. */
  readonly subnet: string;
  readonly nodes: number;
}

export const underlayNetns = (plan: UnderlayPlan) => `${plan.prefix}-u`;
export const nodeNetns = (plan: UnderlayPlan, index: number) =>
  `${plan.prefix}-n${index}`;
export const nodeAddress = (plan: UnderlayPlan, index: number) =>
  `${plan.subnet}.${index}`;
/** The bridge's own address: the registry listens there. */
export const bridgeAddress = (plan: UnderlayPlan) => `${plan.subnet}.254`;
/** The node's veth on the bridge side, in the underlay namespace. */
export const bridgePort = (index: number) => `n${index}`;

/** A fresh random plan: 6 hex digits in the prefix, a random 10.x.y.0/24. */
export function randomPlan(nodes: number): UnderlayPlan {
  const bytes = crypto.getRandomValues(new Uint8Array(5));
  const hex = [...bytes.subarray(0, 3)].map((b) =>
    b.toString(16).padStart(2, "0")
  ).join("");
  return {
    prefix: `mb-${hex}`,
    subnet: `10.${bytes[3]}.${bytes[4]}`,
    nodes,
  };
}

const ip = (...args: string[]) => runOk(["ip", ...args], { timeoutMs: 10_000 });

/** Creates the namespaces, the bridge and the links; every node's `lo` and `eth0` up. */
export async function createUnderlay(plan: UnderlayPlan): Promise<void> {
  const u = underlayNetns(plan);
  await ip("netns", "add", u);
  await ip("-n", u, "link", "set", "lo", "up");
  await ip("-n", u, "link", "add", "br0", "type", "bridge");
  await ip("-n", u, "addr", "add", `${bridgeAddress(plan)}/24`, "dev", "br0");
  await ip("-n", u, "link", "set", "br0", "up");
  const indexes = Array.from({ length: plan.nodes }, (_, i) => i + 1);
  await Promise.all(indexes.map(async (i) => {
    const ns = nodeNetns(plan, i);
    await ip("netns", "add", ns);
    await ip(
      "-n",
      u,
      "link",
      "add",
      bridgePort(i),
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "netns",
      ns,
    );
    await ip("-n", u, "link", "set", bridgePort(i), "master", "br0");
    await ip("-n", u, "link", "set", bridgePort(i), "up");
    await ip(
      "-n",
      ns,
      "addr",
      "add",
      `${nodeAddress(plan, i)}/24`,
      "dev",
      "eth0",
    );
    await ip("-n", ns, "link", "set", "lo", "up");
    await ip("-n", ns, "link", "set", "eth0", "up");
  }));
}

/** Brings the node's bridge port down (a dead machine) or up again. */
export async function setNodeLink(
  plan: UnderlayPlan,
  index: number,
  up: boolean,
): Promise<void> {
  await ip(
    "-n",
    underlayNetns(plan),
    "link",
    "set",
    bridgePort(index),
    up ? "up" : "down",
  );
}

/** One dropped direction: IP packets entering the bridge from `from`, leaving to `to`. */
export interface Cut {
  readonly from: number;
  readonly to: number;
}

/** The directed cuts that separate `groups` (node indexes) from each other. */
export function cutsBetween(groups: readonly (readonly number[])[]): Cut[] {
  const seen = new Set<number>();
  for (const group of groups) {
    for (const index of group) {
      if (seen.has(index)) {
        throw new Error(`node ${index} is in two partition groups`);
      }
      seen.add(index);
    }
  }
  const cuts: Cut[] = [];
  groups.forEach((group, g) =>
    groups.forEach((other, o) => {
      if (g === o) return;
      for (const from of group) {
        for (const to of other) cuts.push({ from, to });
      }
    })
  );
  return cuts;
}

/**
 * The nft script that makes the partition table hold exactly `cuts`.
 * Only IPv4/IPv6 is dropped: ARP still passes, so a healed path works at
 * once, and a one-way cut does not also break address resolution the
 * other way.
 */
export function partitionScript(cuts: readonly Cut[]): string {
  const unique = [...new Map(cuts.map((c) => [`${c.from}>${c.to}`, c]))
    .values()];
  const rules = unique.map((c) =>
    `add rule bridge ${PARTITION_TABLE} forward iifname "${
      bridgePort(c.from)
    }" oifname "${bridgePort(c.to)}" meta protocol { ip, ip6 } drop`
  );
  return [
    `table bridge ${PARTITION_TABLE} {}`,
    `delete table bridge ${PARTITION_TABLE}`,
    `table bridge ${PARTITION_TABLE} {`,
    `  chain forward { type filter hook forward priority 0; policy accept; }`,
    `}`,
    ...rules,
    "",
  ].join("\n");
}

/** Replaces the underlay's partition rules with `cuts` (none: healed). */
export async function applyCuts(
  plan: UnderlayPlan,
  cuts: readonly Cut[],
): Promise<void> {
  await runOk(inNetns(underlayNetns(plan), ["nft", "-f", "-"]), {
    stdin: partitionScript(cuts),
    timeoutMs: 10_000,
  });
}

/** Namespaces whose names start with `prefix-`. */
export async function namespacesWithPrefix(prefix: string): Promise<string[]> {
  const listed = await run(["ip", "netns", "list"], { timeoutMs: 10_000 });
  // The nodes' own (`mb-1a2b3c-n1`) and their allocs' (`mb1a2b3cn1-a-web-1`).
  const compact = compactPrefix(prefix);
  return listed.stdout.split("\n").map((line) => line.split(" ")[0] ?? "")
    .filter((name) =>
      name.startsWith(`${prefix}-`) || name.startsWith(compact)
    );
}

/** The bed's prefix without dashes: what its nodes' netns prefixes start with. */
export function compactPrefix(prefix: string): string {
  return prefix.replace(/[^a-z0-9]/g, "");
}

/** wireguard-go's control sockets are machine-wide; a killed one leaves its socket. */
export const WIREGUARD_SOCKET_DIR = "/var/run/wireguard";

/** The control sockets of the bed's nodes' WireGuard interfaces. */
export async function wireguardSockets(prefix: string): Promise<string[]> {
  const found: string[] = [];
  try {
    for await (const entry of Deno.readDir(WIREGUARD_SOCKET_DIR)) {
      if (entry.name.startsWith(compactPrefix(prefix))) {
        found.push(`${WIREGUARD_SOCKET_DIR}/${entry.name}`);
      }
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return found;
}

/** Pids of the processes in namespace `netns` (none when it is gone). */
export async function pidsInNetns(netns: string): Promise<number[]> {
  const listed = await run(["ip", "netns", "pids", netns], {
    timeoutMs: 10_000,
  });
  if (listed.code !== 0) return [];
  return listed.stdout.split(/\s+/).filter((p) => /^\d+$/.test(p)).map(
    Number,
  );
}

/** SIGKILLs every process in `netns` until none is left (new ones may appear while it kills). */
export async function killNetnsProcesses(netns: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const pids = (await pidsInNetns(netns)).filter((p) => p !== Deno.pid);
    if (pids.length === 0) return;
    if (Date.now() > deadline) {
      throw new Error(
        `processes ${pids.join(" ")} in ${netns} survive SIGKILL`,
      );
    }
    for (const pid of pids) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Exited meanwhile.
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Deletes the namespaces (their veths go with them). */
export async function deleteNamespaces(
  names: readonly string[],
): Promise<void> {
  for (const name of names) {
    await run(["ip", "netns", "delete", name], { timeoutMs: 10_000 });
  }
}
