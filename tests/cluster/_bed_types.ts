/** The bed's public types (implemented in bed.ts). */
import type { TestImageName } from "../containerd/images.ts";
import type { BedNode } from "./_node.ts";
import type { NodeState } from "./_node_state.ts";
import type { RunResult } from "./_run.ts";

export interface BedOptions {
  readonly nodes: number;
  /** Raft voters, nodes 1…primaries (default min(3, nodes)); the rest are secondaries only. */
  readonly primaries?: number;
  /** A word for the bed's directory name (debugging). */
  readonly name?: string;
  /** Heartbeat settings of every node (default 4s / 500ms). */
  readonly heartbeat?: {
    readonly timeout?: string;
    readonly interval?: string;
  };
  /**
   * Primaries (by 1-based index, never 1: `mill init` makes a full node)
   * joined with `--role primary` alone: they lead and run no containers.
   */
  readonly primaryOnly?: readonly number[];
  /**
   * Runs once the underlay and the registry are up, before any agent: a
   * test's own services on the underlay (a fake cloud API). What it
   * returns gives the node of 1-based `index` more agent flags.
   */
  readonly beforeAgents?: (
    bed: Bed,
  ) => Promise<(index: number) => readonly string[]>;
  /** Container networking of every node (`--network`; default host). */
  readonly network?: "bridge" | "host";
}

/** A node, or its index in `bed.nodes` (0-based). */
export type NodeRef = BedNode | number;

export interface MillOptions {
  readonly stdin?: string;
  /** SIGKILL the CLI after this long (default 60 s); the result says `timedOut`. */
  readonly timeoutMs?: number;
}

/** What `GET /v1/nodes` lists. */
export interface NodeView {
  readonly id: string;
  readonly name: string;
  readonly status: "ready" | "down";
  readonly leader: boolean;
  readonly allocs: number;
  readonly roles: readonly string[];
}

export interface Bed {
  /** `mb-<6 hex>`: every namespace of the bed starts with it. */
  readonly prefix: string;
  /** The bed's temp dir (nodes, registry, HOME). */
  readonly dir: string;
  readonly nodes: readonly BedNode[];
  readonly underlayNetns: string;
  /** The registry (`<bridge address>:5000`) and the test images in it. */
  readonly registry: {
    readonly host: string;
    readonly images: Record<TestImageName, string>;
  };
  readonly heartbeat: { readonly timeout: string; readonly interval: string };
  node(ref: NodeRef): BedNode;
  /** The CLI inside the node's namespace, talking to that node's API (node 1's for a secondary). */
  mill(ref: NodeRef, ...args: string[]): Promise<RunResult>;
  millWith(
    ref: NodeRef,
    args: readonly string[],
    options: MillOptions,
  ): Promise<RunResult>;
  /** Any program inside the node's namespace (curl, ping, nc…). */
  exec(
    ref: NodeRef,
    argv: readonly string[],
    options?: MillOptions,
  ): Promise<RunResult>;
  /** GET `path` on the node's API (admin token, cluster CA) from inside its namespace; parsed JSON. */
  api<T>(ref: NodeRef, path: string): Promise<T>;
  /** `GET /v1/nodes` through `via` (default: the first running primary). */
  nodeViews(via?: NodeRef): Promise<NodeView[]>;
  /** The primary that leads, as the running primaries say (waits up to 20 s). */
  leader(): Promise<BedNode>;
  /** What the node's own FSM holds (its watch stream), not what the leader says. */
  nodeState(ref: NodeRef): Promise<NodeState>;
  /** The node's agent log (and its stderr). */
  logs(ref: NodeRef): Promise<string>;
  isRunning(ref: NodeRef): boolean;
  /** The whole node dies at once: every process in its namespace (agent, containerd, shims, containers), then its link goes down. */
  kill9(ref: NodeRef): Promise<void>;
  /** Link up, containerd and the agent again on the same dirs; returns once they are started. */
  restart(ref: NodeRef): Promise<void>;
  /** Drops traffic between the groups (within one, it flows); unlisted nodes reach everyone. Replaces earlier cuts. */
  partition(groups: readonly (readonly NodeRef[])[]): Promise<void>;
  /** Adds a cut: IP packets from `from` to `to` are dropped, the other way they pass. */
  cutOneWay(from: NodeRef, to: NodeRef): Promise<void>;
  /** The node alone on one side, every other node on the other. */
  isolate(ref: NodeRef): Promise<void>;
  /** Every cut removed. */
  heal(): Promise<void>;
  waitFor<T>(
    check: () =>
      | T
      | null
      | undefined
      | false
      | Promise<T | null | undefined | false>,
    options: { timeoutMs?: number; what: string; intervalMs?: number },
  ): Promise<T>;
  /** Removes everything, whatever state the nodes are in. Safe to call twice. */
  stop(): Promise<void>;
  /** What of the bed is still on the machine (empty after a clean stop). */
  leftovers(): Promise<string[]>;
}
