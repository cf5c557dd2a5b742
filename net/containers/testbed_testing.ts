/**
 * A private "host" for the container network's tests: a network namespace
 * standing for the node, an "internet" namespace linked to it by a veth
 * (the node's underlay address 192.0.2.1, the world's 192.0.2.2) and
 * helpers to run and serve inside namespaces. Every name carries a random
 * prefix; `close()` kills what it started and deletes every namespace of
 * the prefix, alloc namespaces included.
 */
import { type CommandResult, localRunner } from "./command.ts";
import { ContainerNetwork, type ContainerNetworkOptions } from "./network.ts";

export const SUBNET = "10.210.3.0/24";
export const HOST_UNDERLAY = "192.0.2.1";
export const WORLD = "192.0.2.2";

export interface LogLine {
  readonly level: string;
  readonly message: string;
}

export class TestHost {
  readonly prefix = `mt${crypto.randomUUID().replaceAll("-", "").slice(0, 8)}`;
  readonly hostNetns = `${this.prefix}-h`;
  readonly worldNetns = `${this.prefix}-w`;
  readonly run = localRunner(["nsenter", `--net=/run/netns/${this.hostNetns}`]);
  readonly logs: LogLine[] = [];
  readonly #children: Deno.ChildProcess[] = [];
  readonly #dirs: string[] = [];

  static async open(): Promise<TestHost> {
    const host = new TestHost();
    try {
      await host.#setUp();
    } catch (error) {
      await host.close();
      throw error;
    }
    return host;
  }

  async #setUp(): Promise<void> {
    await this.sh(["ip", "netns", "add", this.hostNetns]);
    await this.sh(["ip", "netns", "add", this.worldNetns]);
    await this.onHost(["ip", "link", "set", "lo", "up"]);
    await this.onHost([
      "ip",
      "link",
      "add",
      "uplink",
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "netns",
      this.worldNetns,
    ]);
    await this.onHost([
      "ip",
      "addr",
      "add",
      `${HOST_UNDERLAY}/24`,
      "dev",
      "uplink",
    ]);
    await this.onHost(["ip", "link", "set", "uplink", "up"]);
    const world = this.netnsPath(this.worldNetns);
    await this.inNetns(world, ["ip", "link", "set", "lo", "up"]);
    await this.inNetns(world, [
      "ip",
      "addr",
      "add",
      `${WORLD}/24`,
      "dev",
      "eth0",
    ]);
    await this.inNetns(world, ["ip", "link", "set", "eth0", "up"]);
  }

  netnsPath(name: string): string {
    return `/run/netns/${name}`;
  }

  network(
    options: Partial<ContainerNetworkOptions> = {},
  ): ContainerNetwork {
    return new ContainerNetwork({
      subnet: SUBNET,
      netnsPrefix: this.prefix,
      agentPorts: [7443, 7946],
      run: this.run,
      log: (level, message) => this.logs.push({ level, message }),
      ...options,
    });
  }

  /** Runs in the test's own namespace; throws on failure. */
  async sh(argv: readonly string[]): Promise<string> {
    const result = await localRunner()(argv);
    if (result.code !== 0) {
      throw new Error(`${argv.join(" ")}: ${result.stderr.trim()}`);
    }
    return result.stdout;
  }

  onHost(argv: readonly string[]): Promise<string> {
    return this.sh(["nsenter", `--net=/run/netns/${this.hostNetns}`, ...argv]);
  }

  inNetns(path: string, argv: readonly string[]): Promise<string> {
    return this.sh(["nsenter", `--net=${path}`, ...argv]);
  }

  /** Runs in the namespace and returns the result, failure included. */
  try(path: string, argv: readonly string[]): Promise<CommandResult> {
    return localRunner(["nsenter", `--net=${path}`])(argv);
  }

  /** `curl` from the namespace: the body, or null when it cannot connect. */
  async fetch(path: string, url: string): Promise<string | null> {
    const result = await this.try(path, [
      "curl",
      "-s",
      "--fail",
      "--max-time",
      "3",
      url,
    ]);
    return result.code === 0 ? result.stdout.trim() : null;
  }

  /**
   * Serves `name` at `/` and the client's address at `/cgi-bin/ip` with
   * busybox httpd on `port` in the namespace; resolves once it answers.
   */
  async serve(path: string, port: number, name: string): Promise<void> {
    const dir = await Deno.makeTempDir({ prefix: "mill-net-www-" });
    this.#dirs.push(dir);
    await Deno.writeTextFile(`${dir}/index.html`, `${name}\n`);
    await Deno.mkdir(`${dir}/cgi-bin`);
    await Deno.writeTextFile(
      `${dir}/cgi-bin/ip`,
      '#!/bin/sh\necho "Content-Type: text/plain"\necho\necho "$REMOTE_ADDR" | sed "s/^\\[::ffff://; s/\\]$//"\n',
      { mode: 0o755 },
    );
    this.start(path, ["busybox", "httpd", "-f", "-p", String(port), "-h", dir]);
    await this.until(
      `httpd ${name}`,
      async () => await this.fetch(path, `http://127.0.0.1:${port}/`) === name,
    );
  }

  /** Starts a long-running process in the namespace; killed by close(). */
  start(path: string, argv: readonly string[]): Deno.ChildProcess {
    const child = new Deno.Command("nsenter", {
      args: [`--net=${path}`, ...argv],
      stdout: "null",
      stderr: "null",
    }).spawn();
    this.#children.push(child);
    return child;
  }

  async until(what: string, check: () => Promise<boolean>): Promise<void> {
    for (let attempt = 0; attempt < 100; attempt++) {
      if (await check()) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`${what} did not come up`);
  }

  /** The namespaces of the machine-wide list that carry this test's prefix. */
  async ownNetns(): Promise<string[]> {
    const out = await this.sh(["ip", "netns", "list"]);
    return out.split("\n").map((l) => l.split(" ")[0] ?? "").filter((n) =>
      n.startsWith(`${this.prefix}-`)
    ).sort();
  }

  async close(): Promise<void> {
    for (const child of this.#children) {
      try {
        child.kill("SIGKILL");
      } catch {
        // Exited already.
      }
      await child.status;
    }
    for (const name of await this.ownNetns()) {
      await localRunner()(["ip", "netns", "delete", name]);
    }
    for (const dir of this.#dirs) await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `body` with a fresh test host, always closed after. */
export async function withHost(
  body: (host: TestHost) => Promise<void>,
): Promise<void> {
  const host = await TestHost.open();
  try {
    await body(host);
  } finally {
    await host.close();
  }
}
