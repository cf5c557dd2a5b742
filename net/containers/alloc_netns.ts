/**
 * One alloc's network: a namespace of its own (`ip netns add`, visible as
 * `/run/netns/NAME` to containerd) and a veth pair whose host end sits on
 * the bridge and whose other end is the namespace's `eth0`, with the
 * alloc's address, `lo` up and the default route via the bridge.
 */
import { type CommandRunner, runChecked } from "./command.ts";
import { linkDetails } from "./bridge.ts";

export interface AllocNetnsSpec {
  readonly netns: string;
  readonly veth: string;
  readonly bridge: string;
  readonly address: string;
  readonly prefixLength: number;
  readonly gateway: string;
  readonly mtu?: number;
}

/** The names in the machine-wide `/run/netns` list. */
export async function listNetns(run: CommandRunner): Promise<string[]> {
  const out = await runChecked(run, ["ip", "netns", "list"]);
  // Lines are `NAME` or `NAME (id: N)`.
  return out.split("\n").map((line) => line.trim().split(" ")[0] ?? "")
    .filter((name) => name !== "");
}

/** Creates the namespace and its veth pair; on failure leaves neither. */
export async function createAllocNetns(
  run: CommandRunner,
  spec: AllocNetnsSpec,
): Promise<void> {
  const mtu = spec.mtu === undefined ? [] : ["mtu", String(spec.mtu)];
  const inNetns = (...args: string[]) =>
    runChecked(run, ["ip", "-n", spec.netns, ...args]);
  await runChecked(run, ["ip", "netns", "add", spec.netns]);
  try {
    await runChecked(run, [
      "ip",
      "link",
      "add",
      spec.veth,
      ...mtu,
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      ...mtu,
      "netns",
      spec.netns,
    ]);
    await runChecked(run, [
      "ip",
      "link",
      "set",
      spec.veth,
      "master",
      spec.bridge,
      "up",
    ]);
    await inNetns("link", "set", "lo", "up");
    await inNetns(
      "addr",
      "add",
      `${spec.address}/${spec.prefixLength}`,
      "dev",
      "eth0",
    );
    await inNetns("link", "set", "eth0", "up");
    await inNetns("route", "add", "default", "via", spec.gateway);
  } catch (error) {
    await removeAllocNetns(run, spec.netns, spec.veth).catch(
      () => {/* the create error is what matters */},
    );
    throw error;
  }
}

/**
 * Removes the veth pair and the namespace, whichever exist; returns what
 * it removed. The veth goes first: a namespace still holding a process
 * lives on after `ip netns delete`, and its veth with it.
 */
export async function removeAllocNetns(
  run: CommandRunner,
  netns: string,
  veth: string,
): Promise<string[]> {
  const removed: string[] = [];
  if (await linkDetails(run, ["link", "show", "dev", veth]) !== null) {
    await runChecked(run, ["ip", "link", "del", veth]);
    removed.push(`veth ${veth}`);
  }
  if ((await listNetns(run)).includes(netns)) {
    await runChecked(run, ["ip", "netns", "delete", netns]);
    removed.push(`netns ${netns}`);
  }
  return removed;
}

/** The IPv4 address of the namespace's eth0, or null when it has none. */
export async function allocAddressOf(
  run: CommandRunner,
  netns: string,
): Promise<string | null> {
  const result = await run([
    "ip",
    "-n",
    netns,
    "-j",
    "addr",
    "show",
    "dev",
    "eth0",
  ]);
  if (result.code !== 0) return null;
  const links = JSON.parse(result.stdout || "[]") as {
    addr_info?: { family?: string; local?: string }[];
  }[];
  return links[0]?.addr_info?.find((a) => a.family === "inet")?.local ?? null;
}
