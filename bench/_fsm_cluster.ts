/**
 * Three `_fsm_node.ts` processes on loopback, each with its own data
 * directory (real fsync), for bench/scheduler's committed figure: the
 * cluster FSM replicated by our Raft, driven over HTTP like tests/raft's
 * process cluster drives its key-value servers.
 */
import { sleep, waitFor } from "../tests/raft/process_cluster.ts";
import type { ClusterConfig } from "../config/types.ts";
import type { Command } from "../raft/mod.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const DENO = `${ROOT}scripts/deno`;
const NODE = `${ROOT}bench/_fsm_node.ts`;
const IDS = ["n1", "n2", "n3"] as const;

/** What `POST /bench/deploy` answers. */
export interface CommittedDeploy {
  readonly placements: number;
  /** Raft entries of the deploy: its `Deploy` (with wave 1) and later waves'. */
  readonly entries: number;
  /** Placements committed in the `Deploy`'s own entry (`DeployWithWave`). */
  readonly withDeploy: number;
  readonly waves: number;
  /** `prepareDeploy`: the schedule and its replay through `apply`. */
  readonly scheduleMs: number;
  /** From proposing the `Deploy` (with wave 1) until it was applied on the leader. */
  readonly deployCommitMs: number;
  /** Committing the later waves' entries, one after another (0: none). */
  readonly placementsCommitMs: number;
  readonly elapsedMs: number;
}

/** A deploy cut by a leader change (its figure is not counted). */
export class LeaderLost extends Error {
  override name = "LeaderLost";
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

export class FsmCluster {
  readonly #urls = new Map<string, string>();
  readonly #children: Deno.ChildProcess[] = [];
  readonly #client = Deno.createHttpClient({});
  #leader: string | null = null;

  private constructor(readonly root: string) {
    for (const id of IDS) {
      this.#urls.set(id, `http://127.0.0.1:${freePort()}`);
    }
  }

  /**
   * Starts the three members and waits for a leader. `electionTicks`:
   * Raft's default (5 ticks of 100 ms: an election after 0.5–1 s of
   * silence) unless given.
   */
  static async start(electionTicks = 5): Promise<FsmCluster> {
    const cluster = new FsmCluster(
      await Deno.makeTempDir({ prefix: "mill-bench-fsm-" }),
    );
    try {
      const peers = [...cluster.#urls].map(([id, url]) => `${id}=${url}`)
        .join(",");
      for (const id of IDS) {
        const log = await Deno.open(`${cluster.root}/${id}.log`, {
          write: true,
          create: true,
        });
        const child = new Deno.Command(DENO, {
          args: [
            "run",
            "-A",
            "--no-check",
            NODE,
            ...["--id", id, "--port", new URL(cluster.#urls.get(id)!).port],
            ...["--data", `${cluster.root}/${id}`, "--peers", peers],
            ...["--election-ticks", `${electionTicks}`],
          ],
          stdin: "null",
          stdout: "null",
          stderr: "piped",
        }).spawn();
        void child.stderr.pipeTo(log.writable);
        cluster.#children.push(child);
      }
      cluster.#leader = await waitFor("a leader", () => cluster.#findLeader());
      return cluster;
    } catch (error) {
      await cluster.close();
      throw error;
    }
  }

  /** Each member's WAL fsyncs so far (the figures claim real fsync). */
  async walSyncs(): Promise<number[]> {
    const syncs: number[] = [];
    for (const url of this.#urls.values()) {
      const response = await fetch(`${url}/status`, { client: this.#client });
      syncs.push((await response.json() as { walSyncs: number }).walSyncs);
    }
    return syncs;
  }

  async #findLeader(): Promise<string | null> {
    for (const [id, url] of this.#urls) {
      try {
        const response = await fetch(`${url}/status`, {
          client: this.#client,
          signal: AbortSignal.timeout(1_000),
        });
        const status = await response.json() as { role?: string };
        if (status.role === "leader") return id;
      } catch (_error) {
        // Not serving yet: the caller polls again.
      }
    }
    return null;
  }

  /** POSTs to the leader; `retry`: again on a new leader if leadership moved. */
  async #post<T>(path: string, body: unknown, retry = true): Promise<T> {
    for (let attempt = 0;; attempt++) {
      const leader = this.#leader ?? await waitFor(
        "a leader",
        () => this.#findLeader(),
      );
      const response = await fetch(`${this.#urls.get(leader)}${path}`, {
        method: "POST",
        body: JSON.stringify(body),
        client: this.#client,
      });
      const answer = await response.json();
      if (response.ok) return answer as T;
      const again = retry || answer.retry === true;
      if (response.status === 421 && again && attempt < 20) {
        // Leadership moved (an election under load): find the new leader.
        this.#leader = null;
        await sleep(100);
        continue;
      }
      const message = `${path}: HTTP ${response.status}: ${answer.error}`;
      throw response.status === 421
        ? new LeaderLost(message)
        : new Error(message);
    }
  }

  /** Commits `commands` all at once; throws when any is refused. */
  async commitAll(commands: readonly Command[]): Promise<void> {
    await this.#committed("/bench/commit", { commands });
  }

  /** Finishes the deploy, stops and purges every alloc (between rounds). */
  async reset(): Promise<void> {
    await this.#committed("/bench/reset", {});
  }

  async #committed(path: string, body: unknown): Promise<void> {
    const answer = await this.#post<{ rejected: string[] }>(path, body);
    if (answer.rejected.length > 0) {
      throw new Error(
        `${answer.rejected.length} refused, first: ${answer.rejected[0]}`,
      );
    }
  }

  /** The leader deploys `config` up to its committed placements, timed there. */
  deploy(deployId: string, config: ClusterConfig): Promise<CommittedDeploy> {
    // Retried only when nothing was committed: a deploy cut by a leader
    // change is not a figure.
    return this.#post<CommittedDeploy>(
      "/bench/deploy",
      { deployId, config },
      false,
    );
  }

  async close(): Promise<void> {
    for (const child of this.#children) {
      try {
        child.kill("SIGKILL");
      } catch (_error) {
        // Already exited.
      }
      await child.status;
    }
    this.#client.close();
    await Deno.remove(this.root, { recursive: true });
  }
}
