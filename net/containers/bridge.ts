/**
 * The node's container bridge: created when missing, given the subnet's
 * first address, brought up, with IPv4 forwarding on (per network
 * namespace: the host's) and `route_localnet` on the bridge so that the
 * node's own connections to localhost can reach a published alloc.
 */
import { type CommandRunner, runChecked } from "./command.ts";

export interface BridgeSpec {
  readonly name: string;
  /** `a.b.c.1`: the gateway address of the subnet. */
  readonly gateway: string;
  readonly prefixLength: number;
  readonly mtu?: number;
}

interface LinkJson {
  readonly ifname?: string;
  readonly flags?: readonly string[];
  readonly master?: string;
  readonly mtu?: number;
  readonly linkinfo?: { readonly info_kind?: string };
  readonly addr_info?: readonly {
    readonly family?: string;
    readonly local?: string;
    readonly prefixlen?: number;
  }[];
}

/** `ip -j` output for one device, or null when the device does not exist. */
export async function linkDetails(
  run: CommandRunner,
  args: readonly string[],
): Promise<LinkJson | null> {
  const result = await run(["ip", "-j", ...args]);
  if (result.code !== 0) {
    if (/does not exist|Cannot find device/i.test(result.stderr)) return null;
    throw new Error(
      `ip -j ${args.join(" ")} failed: ${result.stderr.trim()}`,
    );
  }
  const parsed = JSON.parse(result.stdout || "[]") as LinkJson[];
  return parsed[0] ?? null;
}

/**
 * Makes the bridge exist with its address, up. Returns what it had to do
 * (empty when everything was in place).
 */
export async function ensureBridge(
  run: CommandRunner,
  spec: BridgeSpec,
): Promise<string[]> {
  const done: string[] = [];
  const link = await linkDetails(run, ["-d", "link", "show", "dev", spec.name]);
  if (link === null) {
    await runChecked(run, [
      "ip",
      "link",
      "add",
      spec.name,
      ...(spec.mtu === undefined ? [] : ["mtu", String(spec.mtu)]),
      "type",
      "bridge",
    ]);
    done.push(`created bridge ${spec.name}`);
  } else if (link.linkinfo?.info_kind !== "bridge") {
    throw new Error(
      `Interface ${spec.name} exists and is not a bridge (${
        link.linkinfo?.info_kind ?? "a physical device"
      }); remove it or give the container network another bridge name`,
    );
  } else if (spec.mtu !== undefined && link.mtu !== spec.mtu) {
    await runChecked(run, [
      "ip",
      "link",
      "set",
      spec.name,
      "mtu",
      String(spec.mtu),
    ]);
    done.push(`set the mtu of ${spec.name} to ${spec.mtu}`);
  }
  const addresses = await linkDetails(run, ["addr", "show", "dev", spec.name]);
  const hasGateway = (addresses?.addr_info ?? []).some((a) =>
    a.family === "inet" && a.local === spec.gateway &&
    a.prefixlen === spec.prefixLength
  );
  if (!hasGateway) {
    await runChecked(run, [
      "ip",
      "addr",
      "add",
      `${spec.gateway}/${spec.prefixLength}`,
      "dev",
      spec.name,
    ]);
    done.push(`gave ${spec.name} address ${spec.gateway}/${spec.prefixLength}`);
  }
  if (!(addresses?.flags ?? []).includes("UP")) {
    await runChecked(run, ["ip", "link", "set", spec.name, "up"]);
    done.push(`brought ${spec.name} up`);
  }
  await runChecked(run, [
    "sysctl",
    "-q",
    "-w",
    "net.ipv4.ip_forward=1",
    `net.ipv4.conf.${spec.name}.route_localnet=1`,
  ]);
  return done;
}

/** Removes the bridge; nothing when it is gone already. */
export async function deleteBridge(
  run: CommandRunner,
  name: string,
): Promise<boolean> {
  if (await linkDetails(run, ["link", "show", "dev", name]) === null) {
    return false;
  }
  await runChecked(run, ["ip", "link", "del", name]);
  return true;
}

/** Host veths by name, with the bridge each is enslaved to. */
export async function listVeths(
  run: CommandRunner,
): Promise<{ name: string; master: string | null; up: boolean }[]> {
  const out = await runChecked(run, [
    "ip",
    "-j",
    "link",
    "show",
    "type",
    "veth",
  ]);
  const links = JSON.parse(out || "[]") as LinkJson[];
  return links.flatMap((l) =>
    l.ifname === undefined ? [] : [{
      name: l.ifname,
      master: l.master ?? null,
      up: (l.flags ?? []).includes("UP"),
    }]
  );
}
