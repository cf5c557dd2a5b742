/**
 * Option parsing shared by `mill agent`, `mill up` and `mill init` (pure):
 * `HOST:PORT` addresses, roles, durations, sizes.
 */
import { parseDuration, parseSize } from "../../config/mod.ts";

export type AgentRole = "primary" | "secondary";

export class OptionError extends Error {
  override name = "OptionError";
}

export interface HostPort {
  readonly hostname: string;
  readonly port: number;
}

/** `HOST:PORT` (IPv6 in brackets); port 0 picks a free one. */
export function parseHostPort(
  text: string,
  what: string,
): HostPort {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(
    text,
  );
  const port = Number(match?.[3]);
  if (match === null || port > 65535) {
    throw new OptionError(
      `${what} "${text}" is not HOST:PORT (e.g. 127.0.0.1:7946)`,
    );
  }
  return { hostname: match[1] ?? match[2] ?? "", port };
}

/** `primary,secondary`, `primary` or `secondary`. */
export function parseRoles(text: string): AgentRole[] {
  const roles = text.split(",").map((r) => r.trim()).filter((r) => r !== "");
  const known: AgentRole[] = [];
  for (const role of roles) {
    if (role !== "primary" && role !== "secondary") {
      throw new OptionError(
        `Role "${role}" is not one of primary, secondary`,
      );
    }
    if (!known.includes(role)) known.push(role);
  }
  if (known.length === 0) {
    throw new OptionError("--role needs primary, secondary or both");
  }
  return known;
}

export function parseDurationOption(text: string, what: string): number {
  const parsed = parseDuration(text);
  if (!parsed.ok) throw new OptionError(`${what} "${text}" ${parsed.reason}`);
  if (parsed.value <= 0) throw new OptionError(`${what} must be positive`);
  return parsed.value;
}

export function parseSizeOption(text: string, what: string): number {
  const parsed = parseSize(text);
  if (!parsed.ok) throw new OptionError(`${what} "${text}" ${parsed.reason}`);
  return parsed.value;
}

/** Cores as a number (`2`, `0.5`) to millicores. */
export function parseCpuOption(text: string): number {
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || value <= 0 || value > 1024) {
    throw new OptionError(`--cpu "${text}" is not a number of cores`);
  }
  return Math.round(value * 1000);
}

/** A comma-separated list, empty items dropped. */
export function parseList(text: string | undefined): string[] {
  return (text ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
}

/** `--network`, shared by `mill agent`, `mill init --start` and `mill join`. */
export const NETWORK_OPTION = {
  flags: "--network <mode>",
  description:
    "bridge: every container gets its own network namespace, address and the node's DNS, nodes a WireGuard mesh; host: containers share the node's network and listen on $PORT",
  defaultValue: "bridge",
} as const;

/** `--ingress`, shared by `mill agent`, `mill init --start` and `mill join`. */
export const INGRESS_OPTION = {
  flags: "--ingress <address>",
  description:
    "HOST:PORT where this node's ingress proxy serves HTTP (default: the advertised address, port 80), or off: no proxy on this node",
} as const;

/** The agent's ingress slice: on by default (the advertised address, :80), none when `off`. */
export function parseIngressOption(
  text: string | undefined,
): { ingress?: { listen?: HostPort } } {
  if (text === "off") return {};
  if (text === undefined) return { ingress: {} };
  return { ingress: { listen: parseHostPort(text, "--ingress") } };
}

/** The storage flags, shared by `mill agent`, `mill init --start` and `mill join`. */
export const STORAGE_OPTIONS = [
  {
    flags: "--storage <provider>",
    description:
      "where persistent volumes live: local (loop devices on the leader's machine) or do (DigitalOcean, token in the secret digitalocean-token)",
  },
  { flags: "--do-region <region>", description: "the droplets' region (do)" },
  { flags: "--do-api <url>", description: "DigitalOcean's API base (do)" },
  {
    flags: "--do-by-id-dir <dir>",
    description: "where udev links attached volumes (do; /dev/disk/by-id)",
  },
  {
    flags: "--machine-id <id>",
    description: "the provider's id of this machine (a droplet id, for do)",
  },
] as const;

/** The agent's storage and machine-id slices from the storage flags. */
export function parseStorageOptions(
  option: (name: string) => string | undefined,
): {
  storage?:
    | { provider: "local" }
    | { provider: "do"; region: string; apiBase?: string; byIdDir?: string };
  machineId?: string;
} {
  const provider = option("storage");
  const machineId = option("machineId");
  const machine = machineId === undefined ? {} : { machineId };
  if (provider === undefined || provider === "local") {
    return provider === undefined
      ? machine
      : { ...machine, storage: { provider: "local" } };
  }
  if (provider !== "do") {
    throw new OptionError(`--storage "${provider}" is not local or do`);
  }
  const region = option("doRegion");
  if (region === undefined || !/^[a-z]{3}[0-9]$/.test(region)) {
    throw new OptionError(
      "--storage do needs --do-region, a DigitalOcean region like nyc1",
    );
  }
  const apiBase = option("doApi");
  const byIdDir = option("doByIdDir");
  return {
    ...machine,
    storage: {
      provider: "do",
      region,
      ...(apiBase === undefined ? {} : { apiBase }),
      ...(byIdDir === undefined ? {} : { byIdDir }),
    },
  };
}

/** `--netns-prefix`: several nodes on one machine (test beds) each need their own. */
export const NETNS_PREFIX_OPTION = {
  flags: "--netns-prefix <prefix>",
  description:
    "names of the containers' network namespaces and nft table (default mill; one per node on a machine)",
} as const;

/** The agent's network slice from `--network` (bridge when not given) and `--netns-prefix`. */
export function parseNetworkOption(
  text: string | undefined,
  netnsPrefix?: string,
): { network?: { mode: "bridge" | "host"; netnsPrefix?: string } } {
  if (netnsPrefix !== undefined && !/^[a-z][a-z0-9]{0,23}$/.test(netnsPrefix)) {
    throw new OptionError(
      `--netns-prefix "${netnsPrefix}" must be 1-24 lowercase letters and digits, starting with a letter`,
    );
  }
  if (text === "host") return {};
  if (text !== undefined && text !== "bridge") {
    throw new OptionError(`--network "${text}" is not bridge or host`);
  }
  return {
    network: {
      mode: "bridge",
      ...(netnsPrefix === undefined ? {} : { netnsPrefix }),
    },
  };
}
