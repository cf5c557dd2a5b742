/**
 * Hosts for the mesh tests and bench: network namespaces with random names,
 * joined by veth pairs on a random underlay /24 (10.201.X.0/24), each with a
 * bridge standing for its container subnet. `dispose()` ends every
 * process left in them (wireguard-go included), removes their WireGuard
 * sockets and deletes the namespaces, whatever state a test failed in.
 */
import {
  type CommandResult,
  type CommandRunner,
  meshRunner,
  runChecked,
} from "./command.ts";

export interface Host {
  readonly netns: string;
  /** Runs in the host's namespace. */
  readonly run: CommandRunner;
  /** Runs in the host's namespace; stdout, throws on failure. */
  exec(...argv: string[]): Promise<string>;
}

export interface Wire {
  readonly devA: string;
  readonly devB: string;
  readonly addressA: string;
  readonly addressB: string;
  /** The underlay's `a.b.c` (its /24 is `a.b.c.0/24`). */
  readonly prefix: string;
}

function suffix(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 8);
}

async function rootIp(...args: string[]): Promise<CommandResult> {
  return await meshRunner()(["ip", ...args]);
}

export class Testbed {
  readonly #hosts: Host[] = [];
  readonly #wgNames: string[] = [];
  readonly #children: Deno.ChildProcess[] = [];

  /** A new namespace, loopback up. */
  async host(): Promise<Host> {
    const netns = `mill-mt-${suffix()}`;
    const added = await rootIp("netns", "add", netns);
    if (added.code !== 0) throw new Error(`ip netns add: ${added.stderr}`);
    const run = meshRunner(["nsenter", `--net=/var/run/netns/${netns}`]);
    const host: Host = {
      netns,
      run,
      exec: (...argv) => runChecked(run, argv),
    };
    this.#hosts.push(host);
    await host.exec("ip", "link", "set", "lo", "up");
    return host;
  }

  /** A unique WireGuard interface name (their sockets share one folder). */
  wgName(): string {
    const name = `mw${suffix()}`;
    this.#wgNames.push(name);
    return name;
  }

  /** A veth pair between `a` and `b` on a random underlay /24 (.1 and .2). */
  async wire(a: Host, b: Host): Promise<Wire> {
    const tag = suffix().slice(0, 6);
    const devA = `ua${tag}`;
    const devB = `ub${tag}`;
    const prefix = `10.201.${Math.floor(Math.random() * 256)}`;
    const added = await rootIp(
      "-n",
      a.netns,
      "link",
      "add",
      devA,
      "type",
      "veth",
      "peer",
      "name",
      devB,
      "netns",
      b.netns,
    );
    if (added.code !== 0) throw new Error(`veth: ${added.stderr}`);
    const addressA = `${prefix}.1`;
    const addressB = `${prefix}.2`;
    await a.exec("ip", "addr", "add", `${addressA}/24`, "dev", devA);
    await b.exec("ip", "addr", "add", `${addressB}/24`, "dev", devB);
    await a.exec("ip", "link", "set", devA, "up");
    await b.exec("ip", "link", "set", devB, "up");
    return { devA, devB, addressA, addressB, prefix };
  }

  /**
   * A bridge holding `cidrs` (`10.210.3.1/24`): the container subnet, as the
   * node's container bridge would (this kernel has no dummy interfaces).
   */
  async subnet(host: Host, ...cidrs: string[]): Promise<void> {
    await host.exec("ip", "link", "add", "ctr0", "type", "bridge");
    for (const cidr of cidrs) {
      await host.exec("ip", "addr", "add", cidr, "dev", "ctr0");
    }
    await host.exec("ip", "link", "set", "ctr0", "up");
  }

  /** A long-running process in `host`, ended by `dispose()`. */
  spawn(host: Host, argv: string[]): Deno.ChildProcess {
    const child = new Deno.Command("nsenter", {
      args: [`--net=/var/run/netns/${host.netns}`, ...argv],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#children.push(child);
    return child;
  }

  /** The TCP probe's server on `address:port` in `host`, once it listens. */
  async probeServer(host: Host, address: string, port: number): Promise<void> {
    const child = this.spawn(host, [
      Deno.execPath(),
      "run",
      "--allow-net",
      "--no-config",
      new URL("./testbed_probe.ts", import.meta.url).pathname,
      "serve",
      address,
      String(port),
    ]);
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    const { value } = await reader.read();
    reader.releaseLock();
    if (!value?.includes("ready")) {
      throw new Error(`probe server on ${address}:${port} did not start`);
    }
    // Keep draining so that it never blocks on a full pipe.
    child.stdout.pipeTo(new WritableStream()).catch(() => {});
    child.stderr.pipeTo(new WritableStream()).catch(() => {});
  }

  /** One TCP probe from `host`: the source address the server saw, or null. */
  async probe(
    host: Host,
    address: string,
    port: number,
    timeoutMs = 2000,
  ): Promise<string | null> {
    const result = await host.run([
      Deno.execPath(),
      "run",
      "--allow-net",
      "--no-config",
      new URL("./testbed_probe.ts", import.meta.url).pathname,
      "connect",
      address,
      String(port),
      String(timeoutMs),
    ]);
    return result.code === 0 ? result.stdout.trim() : null;
  }

  /** Probes until one answers or `deadlineMs` passes; the answer or null. */
  async probeUntil(
    host: Host,
    address: string,
    port: number,
    deadlineMs = 20_000,
  ): Promise<string | null> {
    const end = Date.now() + deadlineMs;
    while (Date.now() < end) {
      const seen = await this.probe(host, address, port);
      if (seen !== null) return seen;
    }
    return null;
  }

  async dispose(): Promise<void> {
    for (const child of this.#children) {
      try {
        child.kill("SIGKILL");
      } catch {
        // Exited already.
      }
      await child.status;
    }
    for (const host of this.#hosts) {
      await endProcessesIn(`/var/run/netns/${host.netns}`);
      await rootIp("netns", "delete", host.netns);
    }
    for (const name of this.#wgNames) {
      await Deno.remove(`/var/run/wireguard/${name}.sock`).catch(() => {});
    }
  }
}

async function netnsInode(path: string): Promise<number | null> {
  try {
    return (await Deno.stat(path)).ino;
  } catch {
    return null;
  }
}

/** Pids of the processes in the namespace at `nsPath`. */
export async function pidsIn(nsPath: string): Promise<number[]> {
  const inode = await netnsInode(nsPath);
  if (inode === null) return [];
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    if (await netnsInode(`/proc/${entry.name}/ns/net`) === inode) {
      pids.push(Number(entry.name));
    }
  }
  return pids;
}

/** SIGTERM (wireguard-go then removes its socket), SIGKILL after 2 s. */
async function endProcessesIn(nsPath: string): Promise<void> {
  const signal = (pids: number[], sig: Deno.Signal) => {
    for (const pid of pids) {
      try {
        Deno.kill(pid, sig);
      } catch {
        // Exited meanwhile.
      }
    }
  };
  signal(await pidsIn(nsPath), "SIGTERM");
  for (let i = 0; i < 20; i++) {
    if ((await pidsIn(nsPath)).length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  signal(await pidsIn(nsPath), "SIGKILL");
}
