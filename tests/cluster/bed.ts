/**
 * The multi-node test bed: a cluster of real `mill agent` processes, each
 * node in a network namespace of its own with its own containerd, formed
 * the way the README's "Two nodes on one machine" tells a user (node 1
 * `mill init --start`, the others `mill join`), on an underlay bridge in a
 * namespace of its own. Tests kill, restart and partition nodes, and
 * `stop` removes everything; `withBed` also fails a test that left
 * anything behind. See README.md beside this file.
 */
import type { TestImageName } from "../containerd/images.ts";
import { findLeftovers, loopDevicesUnder } from "./_leftovers.ts";
import {
  agentCommand,
  type AgentPlan,
  API_PORT,
  type BedNode,
  MILL,
  NodeProcesses,
  PEER_PORT,
} from "./_node.ts";
import { type NodeState, readNodeState } from "./_node_state.ts";
import { startBedRegistry } from "./_registry.ts";
import {
  type Background,
  inNetns,
  run,
  runOk,
  type RunResult,
  waitFor,
} from "./_run.ts";
import {
  applyCuts,
  bridgeAddress,
  createUnderlay,
  type Cut,
  cutsBetween,
  deleteNamespaces,
  killNetnsProcesses,
  namespacesWithPrefix,
  nodeAddress,
  nodeNetns,
  randomPlan,
  setNodeLink,
  underlayNetns,
  type UnderlayPlan,
  wireguardSockets,
} from "./_underlay.ts";

export type { BedNode } from "./_node.ts";
export type {
  Bed,
  BedOptions,
  MillOptions,
  NodeRef,
  NodeView,
} from "./_bed_types.ts";
import type {
  Bed,
  BedOptions,
  MillOptions,
  NodeRef,
  NodeView,
} from "./_bed_types.ts";
export type { NodeState } from "./_node_state.ts";
export type { RunResult } from "./_run.ts";
export { waitFor } from "./_run.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const DEFAULT_HEARTBEAT = { timeout: "4s", interval: "500ms" };
const FORM_TIMEOUT_MS = 60_000;

interface InitAnswer {
  readonly joinToken: string;
  readonly primaryJoinToken: string;
}

class ClusterBed implements Bed {
  readonly prefix: string;
  readonly nodes: BedNode[];
  readonly underlayNetns: string;
  readonly heartbeat: { timeout: string; interval: string };
  registry = { host: "", images: {} as Record<TestImageName, string> };
  #registryProcess: Background | null = null;
  readonly #procs: NodeProcesses[];
  readonly #env: Record<string, string>;
  #cuts: Cut[] = [];
  #init: InitAnswer | null = null;
  #started = new Set<number>();
  readonly #containerIds = new Set<string>();
  #stopped = false;
  #extraArgs: (index: number) => readonly string[] = () => [];

  constructor(
    readonly plan: UnderlayPlan,
    readonly dir: string,
    primaries: number,
    heartbeat: { timeout: string; interval: string },
    readonly network: "bridge" | "host" = "host",
    primaryOnly: readonly number[] = [],
    readonly beforeAgents?: BedOptions["beforeAgents"],
  ) {
    this.prefix = plan.prefix;
    this.underlayNetns = underlayNetns(plan);
    this.heartbeat = heartbeat;
    const home = `${dir}/home`;
    this.#env = {
      HOME: home,
      MILL_CONFIG: `${home}/.mill/config.json`,
      DENO_DIR: Deno.env.get("DENO_DIR") ||
        `${Deno.env.get("HOME")}/.cache/deno`,
      PATH: Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin",
      NO_COLOR: "1",
    };
    this.nodes = Array.from({ length: plan.nodes }, (_, i) => {
      const index = i + 1;
      const address = nodeAddress(plan, index);
      const nodeDir = `${dir}/n${index}`;
      const primary = index <= primaries;
      return {
        index,
        name: `n${index}`,
        netns: nodeNetns(plan, index),
        address,
        dir: nodeDir,
        dataDir: `${nodeDir}/data`,
        primary,
        primaryOnly: primary && primaryOnly.includes(index),
        apiUrl: primary ? `https://${address}:${API_PORT}` : null,
        peer: `${address}:${PEER_PORT}`,
        containerdSocket: `${nodeDir}/containerd/containerd.sock`,
        logFile: `${nodeDir}/agent.log`,
      };
    });
    this.#procs = this.nodes.map((n) => new NodeProcesses(n, this.#env));
  }

  async start(): Promise<void> {
    await Deno.mkdir(`${this.dir}/home`, { recursive: true });
    await Promise.all(
      this.nodes.map((n) => Deno.mkdir(n.dataDir, { recursive: true })),
    );
    await createUnderlay(this.plan);
    const [registry] = await Promise.all([
      startBedRegistry(
        `${this.dir}/registry`,
        this.underlayNetns,
        bridgeAddress(this.plan),
      ),
      ...this.#procs.map((p) => p.startContainerd()),
    ]);
    this.#registryProcess = registry.process;
    this.registry = { host: registry.host, images: registry.images };
    // A test's own services on the underlay (an API the nodes call), which
    // may also give the nodes' agents more flags.
    this.#extraArgs = await this.beforeAgents?.(this) ?? (() => []);
    const first = this.nodes[0]!;
    this.#startAgent(first, false);
    this.#init = await waitFor(async () => {
      const text = await Deno.readTextFile(`${first.dir}/agent.stdout`);
      const line = text.split("\n").find((l) => l.includes('"joinToken"'));
      return line === undefined ? null : JSON.parse(line) as InitAnswer;
    }, { what: "mill init's answer", timeoutMs: FORM_TIMEOUT_MS });
    await this.#writeContexts();
    await waitFor(async () => {
      const status = await this.api<{ nodes: { ready: number } }>(
        first,
        "/v1/status",
      );
      return status.nodes.ready === 1;
    }, { what: "node 1 ready", timeoutMs: FORM_TIMEOUT_MS, intervalMs: 100 });
    for (const node of this.nodes.slice(1)) this.#startAgent(node, false);
    await waitFor(async () => {
      const views = await this.nodeViews(first);
      return views.filter((v) => v.status === "ready").length ===
        this.nodes.length;
    }, {
      what: `${this.nodes.length} nodes ready`,
      timeoutMs: FORM_TIMEOUT_MS,
      intervalMs: 100,
    });
    for (const node of this.nodes.slice(1).filter((n) => n.primary)) {
      await waitFor(
        async () => (await this.logs(node)).includes("promoted to voter"),
        {
          what: `${node.name} a voter`,
          timeoutMs: FORM_TIMEOUT_MS,
          intervalMs: 100,
        },
      );
    }
  }

  /** The one place a node's agent is started (flags for later options go in agentCommand). */
  #startAgent(node: BedNode, restart: boolean): void {
    const plan: AgentPlan = {
      kind: node.index === 1 ? "init" : "join",
      registryHost: this.registry.host,
      heartbeatTimeout: this.heartbeat.timeout,
      heartbeatInterval: this.heartbeat.interval,
      network: this.network,
      restart,
      extraArgs: this.#extraArgs(node.index),
      ...(node.index === 1 ? {} : {
        joinAddress: this.nodes[0]!.peer,
        joinToken: node.primary
          ? this.#init!.primaryJoinToken
          : this.#init!.joinToken,
      }),
    };
    this.#procs[node.index - 1]!.startAgent(agentCommand(node, plan));
    this.#started.add(node.index);
  }

  /** One context file per primary, pointing at its own API (same CA and token). */
  async #writeContexts(): Promise<void> {
    const file = JSON.parse(await Deno.readTextFile(this.#env.MILL_CONFIG!));
    const context = file.contexts[file.current];
    await Deno.mkdir(`${this.dir}/contexts`, { recursive: true });
    for (const node of this.nodes.filter((n) => n.primary)) {
      const own = {
        format: file.format,
        current: "default",
        contexts: { default: { ...context, apiUrl: node.apiUrl } },
      };
      await Deno.writeTextFile(this.#contextOf(node), JSON.stringify(own), {
        mode: 0o600,
      });
    }
    await Deno.writeTextFile(`${this.dir}/ca.crt`, context.caCertPem);
    await Deno.writeTextFile(`${this.dir}/admin.token`, context.token, {
      mode: 0o600,
    });
  }

  #contextOf(node: BedNode): string {
    return node.primary
      ? `${this.dir}/contexts/${node.name}.json`
      : this.#env.MILL_CONFIG!;
  }

  node(ref: NodeRef): BedNode {
    const node = typeof ref === "number"
      ? this.nodes[ref]
      : this.nodes.find((n) => n === ref || n.name === ref.name);
    if (node === undefined) {
      throw new Error(
        `the bed has no node ${typeof ref === "number" ? ref : ref.name}`,
      );
    }
    return node;
  }

  mill(ref: NodeRef, ...args: string[]): Promise<RunResult> {
    return this.millWith(ref, args, {});
  }

  millWith(
    ref: NodeRef,
    args: readonly string[],
    options: MillOptions,
  ): Promise<RunResult> {
    const node = this.node(ref);
    return run(inNetns(node.netns, [MILL, ...args]), {
      env: { ...this.#env, MILL_CONFIG: this.#contextOf(node) },
      cwd: ROOT,
      ...(options.stdin === undefined ? {} : { stdin: options.stdin }),
      timeoutMs: options.timeoutMs ?? 60_000,
    });
  }

  exec(
    ref: NodeRef,
    argv: readonly string[],
    options: MillOptions = {},
  ): Promise<RunResult> {
    return run(inNetns(this.node(ref).netns, argv), {
      ...(options.stdin === undefined ? {} : { stdin: options.stdin }),
      timeoutMs: options.timeoutMs ?? 30_000,
    });
  }

  async api<T>(ref: NodeRef, path: string): Promise<T> {
    const node = this.node(ref);
    const url = node.apiUrl ?? this.nodes[0]!.apiUrl!;
    const token = await Deno.readTextFile(`${this.dir}/admin.token`);
    const result = await this.exec(node, [
      "curl",
      "-sS",
      "--fail-with-body",
      "--max-time",
      "10",
      "--cacert",
      `${this.dir}/ca.crt`,
      "-H",
      `authorization: Bearer ${token}`,
      `${url}${path}`,
    ], { timeoutMs: 15_000 });
    if (result.code !== 0) {
      throw new Error(
        `GET ${path} on ${node.name}: curl ${result.code} ${result.stderr}${result.stdout}`,
      );
    }
    return JSON.parse(result.stdout) as T;
  }

  async nodeViews(via?: NodeRef): Promise<NodeView[]> {
    const node = via === undefined
      ? this.#runningPrimaries()[0]
      : this.node(via);
    if (node === undefined) throw new Error("no primary is running");
    return (await this.api<{ nodes: NodeView[] }>(node, "/v1/nodes")).nodes;
  }

  #runningPrimaries(): BedNode[] {
    return this.nodes.filter((n) => n.primary && this.isRunning(n));
  }

  leader(): Promise<BedNode> {
    return waitFor(async () => {
      for (const node of this.#runningPrimaries()) {
        try {
          const status = await this.api<{ leader: { name: string } | null }>(
            node,
            "/v1/status",
          );
          const leader = this.nodes.find((n) => n.name === status.leader?.name);
          if (leader !== undefined) return leader;
        } catch {
          // Cut off or not answering: ask the next one.
        }
      }
      return null;
    }, { what: "a leader", timeoutMs: 20_000 });
  }

  nodeState(ref: NodeRef): Promise<NodeState> {
    return readNodeState(this.node(ref), `${this.dir}/ca.crt`);
  }

  async logs(ref: NodeRef): Promise<string> {
    const node = this.node(ref);
    const read = (path: string) => Deno.readTextFile(path).catch(() => "");
    return (await read(node.logFile)) +
      (await read(`${node.dir}/agent.stderr`));
  }

  isRunning(ref: NodeRef): boolean {
    return this.#procs[this.node(ref).index - 1]!.agent !== null;
  }

  async kill9(ref: NodeRef): Promise<void> {
    const node = this.node(ref);
    const procs = this.#procs[node.index - 1]!;
    await procs.kill9();
    for (const id of await procs.containerIds()) this.#containerIds.add(id);
    await setNodeLink(this.plan, node.index, false);
  }

  async restart(ref: NodeRef): Promise<void> {
    const node = this.node(ref);
    const procs = this.#procs[node.index - 1]!;
    if (procs.agent !== null || procs.containerd !== null) {
      throw new Error(`${node.name} is running; kill9 it first`);
    }
    await setNodeLink(this.plan, node.index, true);
    await procs.startContainerd();
    this.#startAgent(node, true);
  }

  async partition(groups: readonly (readonly NodeRef[])[]): Promise<void> {
    this.#cuts = cutsBetween(
      groups.map((g) => g.map((r) => this.node(r).index)),
    );
    await applyCuts(this.plan, this.#cuts);
  }

  async cutOneWay(from: NodeRef, to: NodeRef): Promise<void> {
    this.#cuts = [...this.#cuts, {
      from: this.node(from).index,
      to: this.node(to).index,
    }];
    await applyCuts(this.plan, this.#cuts);
  }

  isolate(ref: NodeRef): Promise<void> {
    const node = this.node(ref);
    return this.partition([[node], this.nodes.filter((n) => n !== node)]);
  }

  async heal(): Promise<void> {
    this.#cuts = [];
    await applyCuts(this.plan, []);
  }

  waitFor<T>(
    check: () =>
      | T
      | null
      | undefined
      | false
      | Promise<T | null | undefined | false>,
    options: { timeoutMs?: number; what: string; intervalMs?: number },
  ): Promise<T> {
    return waitFor(check, options);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const errors: string[] = [];
    const attempt = async (what: string, step: () => Promise<unknown>) => {
      try {
        await step();
      } catch (error) {
        errors.push(`${what}: ${(error as Error).message}`);
      }
    };
    for (const procs of this.#procs) {
      await attempt(`killing ${procs.node.name}`, () => procs.kill9());
      const ids = await procs.containerIds();
      for (const id of ids) this.#containerIds.add(id);
    }
    for (const procs of this.#procs) {
      await attempt(
        `removing the containers of ${procs.node.name}`,
        () => procs.removeContainers([...this.#containerIds]),
      );
    }
    await attempt("killing the registry", async () => {
      if (
        await namespacesWithPrefix(this.prefix).then((l) =>
          l.includes(this.underlayNetns)
        )
      ) {
        await killNetnsProcesses(this.underlayNetns);
      }
      await this.#registryProcess?.kill();
    });
    await attempt("unmounting", () => unmountUnder(this.dir));
    await attempt("detaching loop devices", async () => {
      for (const loop of await loopDevicesUnder(this.dir)) {
        await runOk(["losetup", "-d", loop.device], { timeoutMs: 10_000 });
      }
    });
    await attempt(
      "deleting the namespaces",
      async () => deleteNamespaces(await namespacesWithPrefix(this.prefix)),
    );
    await attempt("removing the WireGuard sockets", async () => {
      for (const socket of await wireguardSockets(this.prefix)) {
        await Deno.remove(socket);
      }
    });
    await attempt(
      "removing the directory",
      () => Deno.remove(this.dir, { recursive: true }),
    );
    if (errors.length > 0) {
      throw new Error(`stopping the bed ${this.prefix}:\n${errors.join("\n")}`);
    }
  }

  leftovers(): Promise<string[]> {
    return findLeftovers({
      prefix: this.prefix,
      dir: this.dir,
      containerIds: [...this.#containerIds],
    });
  }
}

async function unmountUnder(dir: string): Promise<void> {
  for (let round = 0; round < 3; round++) {
    const mounts = (await Deno.readTextFile("/proc/self/mounts")).split("\n")
      .map((line) => line.split(" ")[1] ?? "")
      .filter((target) => target.startsWith(`${dir}/`))
      .sort((a, b) => b.length - a.length);
    if (mounts.length === 0) return;
    for (const target of mounts) {
      await run(["umount", "-l", target], { timeoutMs: 10_000 });
    }
  }
}

/** Starts a bed and forms its cluster; on a failure half-way, removes what it made and throws with the logs. */
export async function startBed(options: BedOptions): Promise<Bed> {
  if (
    !Number.isInteger(options.nodes) || options.nodes < 1 || options.nodes > 250
  ) {
    throw new Error(`a bed has 1 to 250 nodes, not ${options.nodes}`);
  }
  const primaries = options.primaries ?? Math.min(3, options.nodes);
  if (
    !Number.isInteger(primaries) || primaries < 1 || primaries > options.nodes
  ) {
    throw new Error(
      `primaries must be 1 to ${options.nodes}, not ${primaries}`,
    );
  }
  const primaryOnly = options.primaryOnly ?? [];
  if (primaryOnly.some((i) => !Number.isInteger(i) || i < 2 || i > primaries)) {
    throw new Error(
      `primaryOnly names primaries 2 to ${primaries}, not ${primaryOnly}`,
    );
  }
  let plan = randomPlan(options.nodes);
  // Another bed's prefix would make stop() delete its namespaces too.
  while ((await namespacesWithPrefix(plan.prefix)).length > 0) {
    plan = randomPlan(options.nodes);
  }
  const label = (options.name ?? "bed").replace(/[^a-z0-9]+/gi, "-").slice(
    0,
    20,
  );
  const dir = await Deno.makeTempDir({ prefix: `${plan.prefix}-${label}-` });
  const bed = new ClusterBed(
    plan,
    dir,
    primaries,
    {
      timeout: options.heartbeat?.timeout ?? DEFAULT_HEARTBEAT.timeout,
      interval: options.heartbeat?.interval ?? DEFAULT_HEARTBEAT.interval,
    },
    options.network,
    options.primaryOnly,
    options.beforeAgents,
  );
  try {
    await bed.start();
    return bed;
  } catch (error) {
    const logs = await describeNodes(bed);
    await bed.stop().catch(() => {});
    throw new Error(
      `the bed did not form: ${(error as Error).message}\n${logs}`,
    );
  }
}

/** The last lines of every node's log, for a failure message. */
export async function describeNodes(bed: Bed, lines = 30): Promise<string> {
  const parts = await Promise.all(bed.nodes.map(async (node) => {
    const log = (await bed.logs(node)).trimEnd().split("\n").slice(-lines).join(
      "\n",
    );
    return `--- ${node.name} (${node.netns}, ${node.address}) log:\n${log}`;
  }));
  return parts.join("\n");
}

/**
 * Runs `body` on a fresh bed, then always stops it and fails when
 * anything of it is left. With MILL_BED_KEEP=1 a failing bed is kept
 * running for a look (README.md: debugging).
 */
export async function withBed(
  options: BedOptions,
  body: (bed: Bed) => Promise<void>,
): Promise<void> {
  const bed = await startBed(options);
  let failure: unknown = null;
  try {
    await body(bed);
  } catch (error) {
    failure = error;
    if (Deno.env.get("MILL_BED_KEEP") === "1") {
      console.error(
        `kept the bed ${bed.prefix} in ${bed.dir}; enter a node with:\n  nsenter --net=/var/run/netns/${
          bed.nodes[0]!.netns
        } bash`,
      );
      throw error;
    }
    console.error(await describeNodes(bed));
  }
  try {
    await bed.stop();
  } catch (error) {
    failure ??= error;
  }
  const left = await bed.leftovers();
  if (failure !== null) throw failure;
  if (left.length > 0) {
    throw new Error(`the bed ${bed.prefix} left behind:\n${left.join("\n")}`);
  }
}
