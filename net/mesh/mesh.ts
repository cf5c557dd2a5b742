/**
 * A node's WireGuard interface and the routes to the other nodes through it.
 *
 * `up()` makes the interface (the kernel's WireGuard where `ip link add ...
 * type wireguard` works, else a daemonized `wireguard-go`) or adopts a
 * healthy one already there, and brings its key, port, MTU, address and
 * state to what they should be. `setPeers()` reconciles the peers and their
 * routes to exactly the list given. Every step compares first and changes
 * only what differs, so that each call can be repeated.
 */
import { formatIpv4 } from "../../config/cidr.ts";
import {
  type CommandRunner,
  MeshCommandError,
  meshRunner,
  runChecked,
} from "./command.ts";
import { type MeshKey, readMeshKey } from "./keys.ts";
import { peerSetArgs, routeChanges, type RouteRow } from "./plan.ts";
import {
  type CheckedPeer,
  checkPeers,
  interfaceNameProblem,
  MeshConfigError,
  type MeshPeer,
  parseMeshAddress,
  portProblem,
} from "./validate.ts";
import { type MeshPeerStatus, parseWgDump, type WgDump } from "./wg_dump.ts";

export const MESH_INTERFACE_DEFAULT = "mill-wg";
export const MESH_PORT_DEFAULT = 51820;
/** WireGuard's own default: room for its headers over an IPv6 underlay. */
export const MESH_MTU_DEFAULT = 1420;
/** wireguard-go refuses to start on Linux without it. */
const USERSPACE_ENV = { WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: "1" };

export type MeshBackend = "kernel" | "userspace";
export type MeshLog = (
  level: "info" | "warn" | "error",
  message: string,
) => void;

export interface MeshOptions {
  /** Default `mill-wg`. */
  readonly interfaceName?: string;
  /** UDP port on the underlay; default 51820. */
  readonly listenPort?: number;
  /** The node's private key file (see `ensureMeshKey`). */
  readonly keyPath: string;
  /** The node's mesh address, the first of its subnet (10.210.3.1). */
  readonly address: string;
  /** Default 1420. */
  readonly mtu?: number;
  readonly run?: CommandRunner;
  readonly log: MeshLog;
}

export class MeshError extends Error {
  override name = "MeshError";
}

interface LinkInfo {
  readonly kind: string | null;
  readonly mtu: number;
  readonly up: boolean;
  readonly ifindex: number;
}

export class Mesh {
  readonly interfaceName: string;
  readonly listenPort: number;
  readonly address: string;
  readonly mtu: number;
  readonly #keyPath: string;
  readonly #addressValue: number;
  readonly #run: CommandRunner;
  readonly #log: MeshLog;
  #key: MeshKey | null = null;
  /** The last peers given: re-applied when `up()` rebuilds the interface. */
  #peers: CheckedPeer[] | null = null;
  #backend: MeshBackend | null = null;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: MeshOptions) {
    const name = options.interfaceName ?? MESH_INTERFACE_DEFAULT;
    const port = options.listenPort ?? MESH_PORT_DEFAULT;
    const mtu = options.mtu ?? MESH_MTU_DEFAULT;
    const address = parseMeshAddress(options.address);
    const problems = [
      interfaceNameProblem(name),
      portProblem(port, "listen port"),
      typeof address === "string" ? address : null,
      Number.isInteger(mtu) && mtu >= 1280 && mtu <= 9000
        ? null
        : `MTU ${mtu} is not between 1280 and 9000`,
      typeof options.keyPath === "string" && options.keyPath !== ""
        ? null
        : "keyPath must name the private key file",
    ].filter((p) => p !== null);
    if (problems.length > 0 || typeof address === "string") {
      throw new MeshConfigError(`mesh refused: ${problems.join("; ")}`);
    }
    this.interfaceName = name;
    this.listenPort = port;
    this.mtu = mtu;
    this.#addressValue = address;
    this.address = formatIpv4(address);
    this.#keyPath = options.keyPath;
    this.#run = options.run ?? meshRunner();
    this.#log = options.log;
  }

  /** Which WireGuard runs the interface; null before `up()`. */
  get backend(): MeshBackend | null {
    return this.#backend;
  }

  /**
   * Makes or adopts the interface and sets it to this node's key, port, MTU
   * and address, up; then the last peers given, if any.
   */
  up(): Promise<void> {
    return this.#serial(async () => {
      const key = await readMeshKey(this.#keyPath);
      this.#key = key;
      let link = await this.#link();
      if (link !== null && link.kind !== "wireguard" && link.kind !== "tun") {
        throw new MeshError(
          `an interface named ${this.interfaceName} exists and is ${
            link.kind ?? "of no known kind"
          }, not WireGuard; delete it (ip link del ${this.interfaceName}) or give the mesh another interface name`,
        );
      }
      if (link !== null && await this.#dumpOrNull() === null) {
        this.#log(
          "warn",
          `mesh: ${this.interfaceName} exists but WireGuard does not answer for it; recreating it`,
        );
        await this.#deleteLink();
        link = null;
      }
      if (link === null) {
        await this.#create();
        link = await this.#link();
        if (link === null) {
          throw new MeshError(
            `${this.interfaceName} vanished right after it was made`,
          );
        }
      } else {
        this.#backend = link.kind === "wireguard" ? "kernel" : "userspace";
      }
      await this.#configure(key, link);
      if (this.#peers !== null) await this.#applyPeers(this.#peers);
    });
  }

  /**
   * Makes the interface's peers exactly `peers` (added, updated, the others
   * removed), with a route for each allowed IP through the interface from
   * the mesh address. Refuses the whole list when any entry is wrong.
   */
  setPeers(peers: readonly MeshPeer[]): Promise<void> {
    return this.#serial(async () => {
      const key = this.#key ?? await readMeshKey(this.#keyPath);
      const checked = checkPeers(peers, {
        publicKey: key.publicKey,
        address: this.#addressValue,
      });
      this.#peers = checked;
      if (await this.#link() === null) {
        throw new MeshError(
          `the mesh interface ${this.interfaceName} is not there; call up() first (the peers are kept and applied then)`,
        );
      }
      await this.#applyPeers(checked);
    });
  }

  /** Each peer as WireGuard sees it. */
  status(): Promise<MeshPeerStatus[]> {
    return this.#serial(async () => {
      const dump = await this.#dumpOrNull();
      if (dump === null) {
        throw new MeshError(
          `the mesh interface ${this.interfaceName} is not up; call up() first`,
        );
      }
      return [...dump.peers];
    });
  }

  /** Removes the interface, and with it its peers and routes. */
  down(): Promise<void> {
    return this.#serial(async () => {
      if (await this.#link() !== null) await this.#deleteLink();
      this.#backend = null;
    });
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(task, task);
    this.#queue = next.catch(() => {});
    return next;
  }

  async #link(): Promise<LinkInfo | null> {
    const result = await this.#run([
      "ip",
      "-d",
      "-j",
      "link",
      "show",
      "dev",
      this.interfaceName,
    ]);
    if (result.code !== 0) {
      if (/does not exist/i.test(result.stderr)) return null;
      throw new MeshCommandError(["ip", "link", "show"], result);
    }
    const [row] = JSON.parse(result.stdout) as {
      ifindex: number;
      mtu: number;
      flags?: string[];
      linkinfo?: { info_kind?: string };
    }[];
    if (row === undefined) return null;
    return {
      kind: row.linkinfo?.info_kind ?? null,
      mtu: row.mtu,
      up: row.flags?.includes("UP") ?? false,
      ifindex: row.ifindex,
    };
  }

  /** The interface's WireGuard state, null when nothing answers for it. */
  async #dumpOrNull(): Promise<WgDump | null> {
    const result = await this.#run(["wg", "show", this.interfaceName, "dump"]);
    if (result.code !== 0) return null;
    return parseWgDump(result.stdout);
  }

  async #create(): Promise<void> {
    const name = this.interfaceName;
    const kernel = await this.#run([
      "ip",
      "link",
      "add",
      "dev",
      name,
      "type",
      "wireguard",
    ]);
    if (kernel.code === 0) {
      this.#backend = "kernel";
      this.#log("info", `mesh: made ${name} (kernel WireGuard)`);
      return;
    }
    // No kernel WireGuard: wireguard-go, daemonized in a session of its own
    // so that it outlives an agent restart; deleting the link ends it.
    let last = kernel;
    for (let attempt = 0; attempt < 20; attempt++) {
      last = await this.#run(["wireguard-go", name], undefined, {
        env: USERSPACE_ENV,
        detached: true,
      });
      // A previous wireguard-go for this name may still be shutting down.
      if (last.code === 0 || !/in use|busy/i.test(last.stderr)) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    if (last.code !== 0) {
      throw new MeshError(
        `cannot make the mesh interface ${name}: the kernel has no WireGuard (${kernel.stderr.trim()}) and wireguard-go failed (exit ${last.code}): ${
          lastLines(last.stderr)
        }; install the wireguard kernel module or wireguard-go`,
      );
    }
    this.#backend = "userspace";
    this.#log("info", `mesh: made ${name} (userspace wireguard-go)`);
  }

  async #deleteLink(): Promise<void> {
    await runChecked(this.#run, [
      "ip",
      "link",
      "del",
      "dev",
      this.interfaceName,
    ]);
    // wireguard-go exits once its device is gone, removing its socket; wait
    // for that, so that a new one for the same name can start.
    for (let i = 0; i < 50; i++) {
      if (await this.#dumpOrNull() === null) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    this.#log(
      "warn",
      `mesh: WireGuard still answers for ${this.interfaceName} after its link was deleted`,
    );
  }

  async #configure(key: MeshKey, link: LinkInfo): Promise<void> {
    const name = this.interfaceName;
    const dump = await this.#dumpOrNull();
    if (dump === null) {
      throw new MeshError(`WireGuard does not answer for ${name}`);
    }
    if (
      dump.iface.publicKey !== key.publicKey ||
      dump.iface.listenPort !== this.listenPort
    ) {
      const result = await this.#run([
        "wg",
        "set",
        name,
        "listen-port",
        String(this.listenPort),
        "private-key",
        key.keyPath,
      ]);
      if (result.code !== 0) {
        const inUse = /in use/i.test(result.stderr)
          ? `; is UDP port ${this.listenPort} taken by another program? pick another mesh port`
          : "";
        throw new MeshError(
          `cannot set ${name}'s key and port ${this.listenPort}: ${result.stderr.trim()}${inUse}`,
        );
      }
    }
    if (link.mtu !== this.mtu) {
      await runChecked(this.#run, [
        "ip",
        "link",
        "set",
        "dev",
        name,
        "mtu",
        String(this.mtu),
      ]);
    }
    await this.#reconcileAddress();
    if (!link.up) {
      await runChecked(this.#run, ["ip", "link", "set", "dev", name, "up"]);
    }
  }

  /**
   * Exactly the mesh address /32 on the interface: routes leave from it
   * (`src`) even before the node's bridge holds it too.
   */
  async #reconcileAddress(): Promise<void> {
    const name = this.interfaceName;
    const out = await runChecked(this.#run, [
      "ip",
      "-j",
      "-4",
      "addr",
      "show",
      "dev",
      name,
    ]);
    const rows = JSON.parse(out) as {
      addr_info?: { local: string; prefixlen: number }[];
    }[];
    const have = (rows[0]?.addr_info ?? []).map((a) =>
      `${a.local}/${a.prefixlen}`
    );
    const want = `${this.address}/32`;
    for (const other of have.filter((a) => a !== want)) {
      await runChecked(this.#run, ["ip", "addr", "del", other, "dev", name]);
    }
    if (!have.includes(want)) {
      await runChecked(this.#run, ["ip", "addr", "add", want, "dev", name]);
    }
  }

  async #applyPeers(peers: readonly CheckedPeer[]): Promise<void> {
    const name = this.interfaceName;
    const dump = await this.#dumpOrNull();
    if (dump === null) {
      throw new MeshError(
        `WireGuard does not answer for ${name}; call up() to repair it`,
      );
    }
    const args = peerSetArgs(dump.peers, peers);
    if (args.length > 0) {
      await runChecked(this.#run, ["wg", "set", name, ...args]);
    }
    const out = await runChecked(this.#run, [
      "ip",
      "-j",
      "-4",
      "route",
      "show",
      "table",
      "main",
      "dev",
      name,
    ]);
    const changes = routeChanges(
      JSON.parse(out || "[]") as RouteRow[],
      peers.flatMap((p) => p.allowedIps),
      this.address,
    );
    for (const dst of changes.remove) {
      await runChecked(this.#run, [
        "ip",
        "route",
        "del",
        dst,
        "dev",
        name,
        "table",
        "main",
      ]);
    }
    for (const dst of changes.replace) {
      await runChecked(this.#run, [
        "ip",
        "route",
        "replace",
        dst,
        "dev",
        name,
        "src",
        this.address,
        "table",
        "main",
      ]);
    }
    if (args.length > 0 || changes.remove.length + changes.replace.length > 0) {
      this.#log(
        "info",
        `mesh: ${peers.length} peer(s) on ${name}; routes +${changes.replace.length} -${changes.remove.length}`,
      );
    }
  }
}

function lastLines(text: string): string {
  const lines = text.trim().split("\n").filter((l) => !/^W\s|WARNING/.test(l));
  return lines.slice(-3).join(" ").trim() || "no message";
}
