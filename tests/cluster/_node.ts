/**
 * One node of the bed: its containerd and its agent, both run inside the
 * node's network namespace, and everything of it under the node's dir.
 * `agentCommand` is the one place a node's `mill` command line is made.
 */
import { containerdConfig } from "../containerd/testbed.ts";
import { inNetns, run, spawnLogged, waitFor } from "./_run.ts";
import type { Background } from "./_run.ts";
import { killNetnsProcesses } from "./_underlay.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
export const MILL = `${ROOT}scripts/mill`;
export const PEER_PORT = 7946;
export const API_PORT = 7443;
/**
 * Where runc keeps the state of mill's containers when the agent is not
 * given --runc-root (`mill join` has no such flag): the shim's default
 * root plus containerd's namespace.
 */
export const DEFAULT_RUNC_ROOT = "/run/containerd/runc/mill";
/** The agent's default cgroup parent, under each cgroup hierarchy. */
export const DEFAULT_CGROUP_PARENT = "mill";

export interface BedNode {
  /** 1-based. */
  readonly index: number;
  /** The node's mill name: `n1`, `n2`, … */
  readonly name: string;
  readonly netns: string;
  /** Its underlay IPv4 address. */
  readonly address: string;
  /** Everything of the node lives here. */
  readonly dir: string;
  readonly dataDir: string;
  readonly primary: boolean;
  /** A primary joined with `--role primary` alone: it runs no containers. */
  readonly primaryOnly: boolean;
  /** `https://<address>:7443` on a primary, null on a secondary-only node. */
  readonly apiUrl: string | null;
  /** `<address>:7946`. */
  readonly peer: string;
  readonly containerdSocket: string;
  readonly logFile: string;
}

/** What the bed knows of how to start a node's agent. */
export interface AgentPlan {
  /** The first primary (`mill init --start`) or a joining node (`mill join`). */
  readonly kind: "init" | "join";
  readonly registryHost: string;
  /** e.g. "2s": how long the leader (any primary) waits for a node's heartbeat. */
  readonly heartbeatTimeout: string;
  readonly heartbeatInterval: string;
  /** `--network` of every node. */
  readonly network: "bridge" | "host";
  /** The peer address of node 1, and the token to join with (join only). */
  readonly joinAddress?: string;
  readonly joinToken?: string;
  /** After the first start: node 1 runs `mill agent`, a joined node its `mill join` again. */
  readonly restart: boolean;
  /** More agent flags of this node (a test's storage provider, say). */
  readonly extraArgs?: readonly string[];
}

/** The `mill …` arguments that start `node`'s agent, as a user would type them. */
export function agentCommand(node: BedNode, plan: AgentPlan): string[] {
  const common = [
    "--data-dir",
    node.dataDir,
    "--name",
    node.name,
    "--listen",
    node.peer,
    "--containerd-socket",
    node.containerdSocket,
    "--insecure-registry",
    plan.registryHost,
    "--heartbeat-interval",
    plan.heartbeatInterval,
    "--heartbeat-timeout",
    plan.heartbeatTimeout,
    // Bridge is the CLI's default: a bridge bed runs nodes as users do.
    ...(plan.network === "host" ? ["--network", "host"] : []),
    // Namespaces are machine-wide: each node's allocs get their own names.
    "--netns-prefix",
    `${node.netns.replace(/[^a-z0-9]/g, "")}`,
    ...(plan.extraArgs ?? []),
    "--log-file",
    node.logFile,
  ];
  if (plan.kind === "init") {
    return plan.restart
      ? [
        "agent",
        "--role",
        "primary,secondary",
        "--api-listen",
        `${node.address}:${API_PORT}`,
        ...common,
      ]
      : [
        "init",
        "--json",
        "--api-address",
        node.address,
        "--start",
        ...common,
      ];
  }
  return [
    "join",
    plan.joinAddress!,
    "--token",
    plan.joinToken!,
    ...(node.primary
      ? [
        "--role",
        node.primaryOnly ? "primary" : "primary,secondary",
        "--api-listen",
        `${node.address}:${API_PORT}`,
      ]
      : []),
    ...common,
  ];
}

/** A node's processes; `null` when not running. */
export class NodeProcesses {
  containerd: Background | null = null;
  agent: Background | null = null;
  constructor(readonly node: BedNode, readonly env: Record<string, string>) {}

  get containerdDir(): string {
    return `${this.node.dir}/containerd`;
  }

  async startContainerd(): Promise<void> {
    const dir = this.containerdDir;
    await Deno.mkdir(dir, { recursive: true });
    const config = `${dir}/config.toml`;
    await Deno.writeTextFile(
      config,
      containerdConfig(dir, this.node.containerdSocket),
    );
    await Deno.remove(this.node.containerdSocket).catch(() => {});
    this.containerd = spawnLogged(
      inNetns(this.node.netns, ["containerd", "--config", config]),
      { stdout: `${dir}/containerd.log`, stderr: `${dir}/containerd.log` },
      { env: { PATH: this.env.PATH! } },
    );
    const socket = this.node.containerdSocket;
    await waitFor(async () => {
      const conn = await Deno.connect({ transport: "unix", path: socket });
      conn.close();
      return true;
    }, {
      what: `containerd of ${this.node.name}`,
      timeoutMs: 20_000,
      intervalMs: 20,
    });
  }

  /** Starts the agent with `mill <args>`; its stdout and stderr go to files in the node's dir. */
  startAgent(args: readonly string[]): void {
    const dir = this.node.dir;
    this.agent = spawnLogged(
      inNetns(this.node.netns, [MILL, ...args]),
      { stdout: `${dir}/agent.stdout`, stderr: `${dir}/agent.stderr` },
      { env: this.env, cwd: ROOT },
    );
  }

  /** Everything of the node dies at once: every process in its namespace. */
  async kill9(): Promise<void> {
    await killNetnsProcesses(this.node.netns);
    await Promise.all([this.agent?.kill(), this.containerd?.kill()]);
    this.agent = null;
    this.containerd = null;
  }

  /** Ids of the containers this node's containerd ever made (its task state dirs). */
  async containerIds(): Promise<string[]> {
    const ids: string[] = [];
    const dir =
      `${this.containerdDir}/state/io.containerd.runtime.v2.task/mill`;
    try {
      for await (const entry of Deno.readDir(dir)) ids.push(entry.name);
    } catch {
      // None yet.
    }
    return ids;
  }

  /**
   * After `kill9`: what the dead containers left outside the node's dir
   * (runc state, cgroups) is removed by `runc delete --force`, as
   * containerd would on its next start.
   */
  async removeContainers(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      await run(
        ["runc", "--root", DEFAULT_RUNC_ROOT, "delete", "--force", id],
        {
          timeoutMs: 10_000,
        },
      );
      for (const path of await cgroupPaths(id)) {
        await Deno.remove(path).catch(() => {});
      }
    }
  }
}

/** The cgroup dirs a container of the default parent has in each hierarchy. */
export async function cgroupPaths(id: string): Promise<string[]> {
  const paths: string[] = [];
  try {
    for await (const entry of Deno.readDir("/sys/fs/cgroup")) {
      if (!entry.isDirectory) continue;
      const path =
        `/sys/fs/cgroup/${entry.name}/${DEFAULT_CGROUP_PARENT}/${id}`;
      try {
        await Deno.stat(path);
        paths.push(path);
      } catch {
        // Not in this hierarchy.
      }
    }
  } catch {
    // No cgroup fs.
  }
  return paths;
}
