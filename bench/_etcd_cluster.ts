/**
 * bench/raft's anchor: a three-member etcd cluster from Debian's
 * `/usr/bin/etcd` on loopback, with real data directories, started with the
 * same heartbeat, election timeout and pre-vote as mill's cluster in the
 * same run. Control calls (status, revision) go through etcd's JSON gateway
 * and are not timed; the timed writes go through `_etcd_grpc.ts` (native
 * gRPC) or the gateway, each a proposer group of `_load.ts`.
 */
import { waitFor } from "../tests/raft/process_cluster.ts";
import { EtcdKvChannel } from "./_etcd_grpc.ts";
import { httpGroup, type ProposerGroup, WRITE_TIMEOUT_MS } from "./_load.ts";

export const ETCD_BIN = "/usr/bin/etcd";

export interface EtcdTimings {
  /** etcd's --heartbeat-interval: its tick. */
  readonly heartbeatMs: number;
  /** etcd's --election-timeout; etcd wants at least 5 heartbeats. */
  readonly electionMs: number;
  readonly preVote: boolean;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

export class EtcdCluster {
  readonly names = ["e1", "e2", "e3"];
  readonly clientUrls = new Map<string, string>();
  readonly peerUrls = new Map<string, string>();
  readonly #children = new Map<string, Deno.ChildProcess>();
  readonly #client = Deno.createHttpClient({});

  private constructor(readonly root: string, readonly timings: EtcdTimings) {
    for (const name of this.names) {
      this.clientUrls.set(name, `http://127.0.0.1:${freePort()}`);
      this.peerUrls.set(name, `http://127.0.0.1:${freePort()}`);
    }
  }

  static async create(timings: EtcdTimings): Promise<EtcdCluster> {
    if (timings.electionMs < 5 * timings.heartbeatMs) {
      throw new Error(
        `etcd refuses an election timeout (${timings.electionMs} ms) under ` +
          `5 heartbeats (${timings.heartbeatMs} ms): use --election-ticks 5 or more`,
      );
    }
    return new EtcdCluster(
      await Deno.makeTempDir({ prefix: "mill-bench-etcd-" }),
      timings,
    );
  }

  async start(name: string): Promise<void> {
    const initial = this.names.map((n) => `${n}=${this.peerUrls.get(n)}`)
      .join(",");
    const child = new Deno.Command(ETCD_BIN, {
      args: [
        "--name",
        name,
        "--data-dir",
        `${this.root}/${name}`,
        "--listen-client-urls",
        this.clientUrls.get(name)!,
        "--advertise-client-urls",
        this.clientUrls.get(name)!,
        "--listen-peer-urls",
        this.peerUrls.get(name)!,
        "--initial-advertise-peer-urls",
        this.peerUrls.get(name)!,
        "--initial-cluster",
        initial,
        "--initial-cluster-state",
        "new",
        "--initial-cluster-token",
        "mill-bench",
        "--heartbeat-interval",
        String(this.timings.heartbeatMs),
        "--election-timeout",
        String(this.timings.electionMs),
        `--pre-vote=${this.timings.preVote}`,
        "--log-level",
        "error",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    this.#children.set(name, child);
    await waitFor(
      `etcd ${name} to serve`,
      async () => (await this.status(name)) ?? null,
    );
  }

  async kill(name: string): Promise<void> {
    const child = this.#children.get(name);
    if (child === undefined) return;
    this.#children.delete(name);
    try {
      child.kill("SIGKILL");
    } catch (err) {
      // A member that already exited has nothing left to kill.
      if (!(err instanceof TypeError)) throw err;
    }
    await child.status;
  }

  async #gateway(name: string, path: string, body: unknown): Promise<unknown> {
    const response = await fetch(`${this.clientUrls.get(name)}${path}`, {
      method: "POST",
      body: JSON.stringify(body),
      client: this.#client,
      signal: AbortSignal.timeout(1_000),
    });
    const json = await response.json();
    if (!response.ok) {
      throw new Error(`etcd ${name} ${path}: ${JSON.stringify(json)}`);
    }
    return json;
  }

  async status(name: string): Promise<{ leader: string; self: string } | null> {
    try {
      const body = await this.#gateway(name, "/v3/maintenance/status", {}) as {
        leader?: string;
        header?: { member_id?: string };
      };
      if (body.leader === undefined || body.header?.member_id === undefined) {
        return null;
      }
      return { leader: body.leader, self: body.header.member_id };
    } catch (_err) {
      return null; // down or starting: the caller polls
    }
  }

  /** The name of a running member that is the leader, excluding `exclude`. */
  async findLeader(exclude: string | null = null): Promise<string | null> {
    const names = [...this.#children.keys()].filter((n) => n !== exclude);
    const statuses = await Promise.all(names.map((n) => this.status(n)));
    for (const [i, status] of statuses.entries()) {
      if (
        status !== null && status.leader === status.self &&
        status.leader !== "0"
      ) return names[i]!;
    }
    return null;
  }

  /** True once every member is up and agrees on one leader. */
  async allAgree(): Promise<boolean> {
    const statuses = await Promise.all(this.names.map((n) => this.status(n)));
    const leaders = new Set(statuses.map((s) => s?.leader ?? null));
    return leaders.size === 1 && !leaders.has(null) && !leaders.has("0");
  }

  /** The store's current revision, read (linearizably) from `name`. */
  async revision(name: string): Promise<number> {
    const body = await this.#gateway(name, "/v3/kv/range", {
      key: btoa("\0"),
    }) as { header?: { revision?: string } };
    const revision = Number(body.header?.revision);
    if (!Number.isInteger(revision)) {
      throw new Error(`etcd ${name}: no revision in ${JSON.stringify(body)}`);
    }
    return revision;
  }

  /** The value stored under `key`, read through the gateway. */
  async get(name: string, key: string): Promise<string | null> {
    const body = await this.#gateway(name, "/v3/kv/range", {
      key: btoa(key),
    }) as { kvs?: { value?: string }[] };
    const value = body.kvs?.[0]?.value;
    return value === undefined ? null : atob(value);
  }

  /** A native gRPC proposer group: one connected channel to `name`. */
  async grpcGroup(
    name: string,
  ): Promise<ProposerGroup & { readonly channel: EtcdKvChannel }> {
    const channel = new EtcdKvChannel(
      new URL(this.clientUrls.get(name)!).host,
    );
    try {
      await channel.ready(10_000);
    } catch (err) {
      channel.close();
      throw err;
    }
    return {
      channel,
      put: (key, value) => channel.put(key, value, WRITE_TIMEOUT_MS),
      close: () => channel.close(),
    };
  }

  /** A JSON-gateway proposer group (HTTP/1.1 keep-alive) to `name`. */
  gatewayGroup(name: string): ProposerGroup {
    return httpGroup(
      `${this.clientUrls.get(name)}/v3/kv/put`,
      (key, value) => JSON.stringify({ key: btoa(key), value: btoa(value) }),
    );
  }

  async close(): Promise<void> {
    try {
      for (const name of [...this.#children.keys()]) await this.kill(name);
    } finally {
      this.#client.close();
      await Deno.remove(this.root, { recursive: true });
    }
  }
}
