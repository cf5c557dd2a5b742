/**
 * Three (or more) kv_server processes on loopback with real data
 * directories, for the kill -9 tests and bench/raft. Ports are chosen once
 * and kept across restarts, as a real node keeps its address.
 */
const ROOT = new URL("../..", import.meta.url).pathname;
const DENO = `${ROOT}scripts/deno`;
const SERVER = `${ROOT}tests/raft/kv_server.ts`;
const DEADLINE_MS = 30_000;

export interface ProcessClusterOptions {
  readonly size?: number;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  readonly snapshotEvery?: number;
}

export interface NodeStatusJson {
  readonly id: string;
  readonly role: string;
  readonly leader: string | null;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  readonly snapshotIndex: number;
}

export interface HistoryJson {
  readonly applied: number;
  readonly history: { index: number; key: string; value: string }[];
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` until it returns non-null, or throws after the deadline. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null>,
  deadlineMs = DEADLINE_MS,
): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${deadlineMs} ms waiting for ${what}`);
    }
    await sleep(10);
  }
}

interface RunningNode {
  readonly child: Deno.ChildProcess;
  exited: boolean;
  readonly logged: Promise<void>;
}

export class ProcessCluster {
  readonly ids: string[];
  readonly urls = new Map<string, string>();
  readonly #children = new Map<string, RunningNode>();
  readonly #options: Required<ProcessClusterOptions>;
  /** One keep-alive client for control requests. */
  readonly #client = Deno.createHttpClient({});

  private constructor(
    readonly root: string,
    options: Required<ProcessClusterOptions>,
  ) {
    this.#options = options;
    this.ids = Array.from({ length: options.size }, (_, i) => `n${i + 1}`);
  }

  static async create(
    options: ProcessClusterOptions = {},
  ): Promise<ProcessCluster> {
    const root = await Deno.makeTempDir({ prefix: "mill-raft-proc-" });
    const cluster = new ProcessCluster(root, {
      size: options.size ?? 3,
      tickMs: options.tickMs ?? 100,
      electionTicks: options.electionTicks ?? 5,
      snapshotEvery: options.snapshotEvery ?? 10_000,
    });
    for (const id of cluster.ids) {
      cluster.urls.set(id, `http://127.0.0.1:${freePort()}`);
    }
    return cluster;
  }

  dataDir(id: string): string {
    return `${this.root}/${id}`;
  }

  isRunning(id: string): boolean {
    return this.#children.has(id);
  }

  /** Starts the node's process and waits until it answers /status. */
  async start(id: string): Promise<void> {
    if (this.#children.has(id)) throw new Error(`Node ${id} already runs`);
    const url = this.urls.get(id)!;
    const peers = [...this.urls].map(([member, u]) => `${member}=${u}`).join(
      ",",
    );
    const child = new Deno.Command(DENO, {
      args: [
        "run",
        "-A",
        "--no-check",
        SERVER,
        ...[
          "--id",
          id,
          "--port",
          new URL(url).port,
          "--data",
          this.dataDir(id),
          "--peers",
          peers,
        ],
        ...[
          "--tick-ms",
          `${this.#options.tickMs}`,
          "--election-ticks",
          `${this.#options.electionTicks}`,
        ],
        ...["--snapshot-every", `${this.#options.snapshotEvery}`],
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const log = await Deno.open(this.logPath(id), {
      append: true,
      create: true,
    });
    const running: RunningNode = {
      child,
      exited: false,
      logged: child.stderr.pipeTo(log.writable),
    };
    child.status.then(() => (running.exited = true));
    this.#children.set(id, running);
    await waitFor(`node ${id} to serve`, async () => {
      if (running.exited) {
        throw new Error(
          `Node ${id} exited at start-up: ${await this.logTail(id)}`,
        );
      }
      return (await this.status(id)) ?? null;
    });
  }

  /** Where a node's stderr goes (kept across restarts). */
  logPath(id: string): string {
    return `${this.root}/${id}.log`;
  }

  async logTail(id: string): Promise<string> {
    try {
      return (await Deno.readTextFile(this.logPath(id))).slice(-2000);
    } catch (err) {
      return `(no log: ${err})`;
    }
  }

  /** Ids of nodes whose process exited without being killed (a crash). */
  crashed(): string[] {
    return [...this.#children].filter(([, node]) => node.exited).map(([id]) =>
      id
    );
  }

  /** kill -9: no shutdown, no flush. */
  async kill(id: string): Promise<void> {
    const node = this.#children.get(id);
    if (node === undefined) return;
    this.#children.delete(id);
    if (!node.exited) node.child.kill("SIGKILL");
    await node.child.status;
    await node.logged;
  }

  async #get<T>(id: string, path: string): Promise<T | null> {
    try {
      const response = await fetch(`${this.urls.get(id)}${path}`, {
        client: this.#client,
        signal: AbortSignal.timeout(2_000),
      });
      if (!response.ok) {
        await response.body?.cancel();
        return null;
      }
      return await response.json() as T;
    } catch (_err) {
      // Down or starting: the caller polls again.
      return null;
    }
  }

  status(id: string): Promise<NodeStatusJson | null> {
    return this.#get<NodeStatusJson>(id, "/status");
  }

  history(id: string): Promise<HistoryJson | null> {
    return this.#get<HistoryJson>(id, "/kv/history");
  }

  /** The id of a running node that says it leads (in the highest term seen). */
  async findLeader(exclude: string | null = null): Promise<string | null> {
    let best: NodeStatusJson | null = null;
    const statuses = await Promise.all(
      [...this.#children.keys()].filter((id) => id !== exclude).map((id) =>
        this.status(id)
      ),
    );
    for (const status of statuses) {
      if (
        status?.role === "leader" && (best === null || status.term > best.term)
      ) best = status;
    }
    return best?.id ?? null;
  }

  leader(exclude: string | null = null): Promise<string> {
    return waitFor("a leader", () => this.findLeader(exclude));
  }

  /** Kills every process and removes the data directories. */
  async close(): Promise<void> {
    try {
      for (const id of [...this.#children.keys()]) await this.kill(id);
    } finally {
      this.#client.close();
      await Deno.remove(this.root, { recursive: true });
    }
  }
}

/**
 * Concurrent writers, each appending `w<writer>-<seq>` to its own key; a
 * value is never sent twice, so a value seen twice in a history was applied
 * twice. Records which writes were acknowledged.
 */
export class Writers {
  readonly acked = new Set<string>();
  attempts = 0;
  failures = 0;
  #stop = false;
  #leader: string | null = null;
  readonly #loops: Promise<void>[] = [];
  readonly #client = Deno.createHttpClient({});

  constructor(readonly cluster: ProcessCluster, readonly count: number) {}

  start(): void {
    for (let w = 0; w < this.count; w++) this.#loops.push(this.#loop(w));
  }

  async #loop(writer: number): Promise<void> {
    for (let seq = 0; !this.#stop; seq++) {
      const value = `w${writer}-${seq}`;
      this.attempts++;
      const leader = this.#leader ??
        this.cluster.ids[writer % this.cluster.ids.length]!;
      const url = this.cluster.urls.get(leader)!;
      try {
        const response = await fetch(`${url}/kv/put`, {
          method: "POST",
          body: JSON.stringify({ key: `w${writer}`, value }),
          client: this.#client,
          signal: AbortSignal.timeout(3_000),
        });
        const body = await response.json() as { leader?: string | null };
        if (response.ok) {
          this.acked.add(value);
          continue;
        }
        this.failures++;
        this.#leader = body.leader ?? await this.cluster.findLeader();
      } catch (_err) {
        // Node down or timed out: this value's fate is unknown; move on with a new one.
        this.failures++;
        this.#leader = await this.cluster.findLeader();
      }
      if (this.#leader === null) await sleep(20);
    }
  }

  /** Resolves once at least `n` writes are acknowledged in total. */
  waitForAcks(n: number): Promise<number> {
    return waitFor(
      `${n} acknowledged writes`,
      () => Promise.resolve(this.acked.size >= n ? this.acked.size : null),
    );
  }

  async stop(): Promise<void> {
    if (this.#stop) return;
    this.#stop = true;
    await Promise.all(this.#loops);
    this.#client.close();
  }
}
