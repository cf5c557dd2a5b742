/**
 * bench/raft: our three-node Raft (tests/raft/kv_server.ts processes, real
 * fsync, loopback) against a three-member etcd 3.4 cluster driven the same
 * way, in one run.
 *
 * Client path, identical for both: each proposer is a loop of HTTP/1.1
 * keep-alive `fetch` POSTs with a small JSON body, sent to the current
 * leader, one write in flight per proposer — ours `POST /kv/put
 * {"key","value"}`, etcd's gRPC gateway `POST /v3/kv/put {"key","value"}`
 * (base64). A write counts when the server answers 200, i.e. after it is
 * committed (and, for us, applied on the leader).
 *
 * Figures: commits/s and p50/p99 latency with 1, 16 and 256 proposers; time
 * from kill -9 of the leader to a new leader (median of 20, ours and etcd's
 * with their defaults); fdatasync cost on this disk. Last line: one JSON.
 *
 * Usage: scripts/deno run -A bench/raft.ts [--seconds 4] [--elections 20]
 *          [--etcd-elections 10] [--tick-ms 100] [--election-ticks 5]
 */
import {
  ProcessCluster,
  sleep,
  waitFor,
} from "../tests/raft/process_cluster.ts";

const CONCURRENCY = [1, 16, 256] as const;
const ETCD_BIN = "/usr/bin/etcd";
const VALUE_PAD = "x".repeat(64);

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Number(Deno.args[i + 1]) : fallback;
}

const SECONDS = arg("seconds", 4);
const ELECTIONS = arg("elections", 20);
const ETCD_ELECTIONS = arg("etcd-elections", 10);
const TICK_MS = arg("tick-ms", 100);
const ELECTION_TICKS = arg("election-ticks", 5);

interface LoadResult {
  commitsPerS: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Runs `concurrency` proposer loops for `seconds` against `put`. */
async function runLoad(
  put: (
    client: Deno.HttpClient,
    key: string,
    value: string,
  ) => Promise<boolean>,
  concurrency: number,
  seconds: number,
): Promise<LoadResult> {
  const client = Deno.createHttpClient({});
  const latencies: number[] = [];
  let errors = 0;
  const warmupEnd = performance.now() + 500;
  const end = warmupEnd + seconds * 1000;
  let counted = 0;
  const worker = async (w: number) => {
    for (let seq = 0; performance.now() < end; seq++) {
      const start = performance.now();
      const ok = await put(client, `k${w}`, `${w}-${seq}-${VALUE_PAD}`);
      const now = performance.now();
      if (!ok) {
        errors++;
        continue;
      }
      if (start >= warmupEnd && now <= end) {
        latencies.push(now - start);
        counted++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  client.close();
  latencies.sort((a, b) => a - b);
  return {
    commitsPerS: counted / seconds,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    errors,
  };
}

async function postOk(
  client: Deno.HttpClient,
  url: string,
  body: string,
): Promise<boolean> {
  try {
    const response = await fetch(url, {
      method: "POST",
      body,
      client,
      signal: AbortSignal.timeout(10_000),
    });
    await response.arrayBuffer();
    return response.ok;
  } catch (_err) {
    return false; // counted as an error by the caller
  }
}

// ---- etcd ------------------------------------------------------------------

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

function b64(text: string): string {
  return btoa(text);
}

class EtcdCluster {
  readonly names = ["e1", "e2", "e3"];
  readonly clientUrls = new Map<string, string>();
  readonly peerUrls = new Map<string, string>();
  readonly #children = new Map<string, Deno.ChildProcess>();
  readonly #client = Deno.createHttpClient({});

  private constructor(readonly root: string) {
    for (const name of this.names) {
      this.clientUrls.set(name, `http://127.0.0.1:${freePort()}`);
      this.peerUrls.set(name, `http://127.0.0.1:${freePort()}`);
    }
  }

  static async create(): Promise<EtcdCluster> {
    return new EtcdCluster(
      await Deno.makeTempDir({ prefix: "mill-bench-etcd-" }),
    );
  }

  async start(name: string): Promise<void> {
    const initial = this.names.map((n) => `${n}=${this.peerUrls.get(n)}`).join(
      ",",
    );
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

  async status(name: string): Promise<{ leader: string; self: string } | null> {
    try {
      const response = await fetch(
        `${this.clientUrls.get(name)}/v3/maintenance/status`,
        {
          method: "POST",
          body: "{}",
          client: this.#client,
          signal: AbortSignal.timeout(1_000),
        },
      );
      const body = await response.json() as {
        leader?: string;
        header?: { member_id?: string };
      };
      if (
        !response.ok || body.leader === undefined ||
        body.header?.member_id === undefined
      ) return null;
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

  async close(): Promise<void> {
    try {
      for (const name of [...this.#children.keys()]) await this.kill(name);
    } finally {
      this.#client.close();
      await Deno.remove(this.root, { recursive: true });
    }
  }
}

// ---- elections ---------------------------------------------------------------

interface ElectionTarget {
  findLeader(exclude?: string | null): Promise<string | null>;
  kill(id: string): Promise<void>;
  start(id: string): Promise<void>;
  /** True once every member is up and agrees on one leader. */
  allAgree(): Promise<boolean>;
}

/** kill -9 the leader; time until another member reports itself leader. */
async function measureElections(
  target: ElectionTarget,
  rounds: number,
): Promise<number[]> {
  const times: number[] = [];
  for (let round = 0; round < rounds; round++) {
    await waitFor(
      "a settled cluster",
      async () => (await target.allAgree()) ? true : null,
      60_000,
    );
    const leader = await waitFor("a leader", () => target.findLeader());
    const start = performance.now();
    await target.kill(leader);
    for (let attempt = 0; attempt < 100_000; attempt++) {
      if ((await target.findLeader(leader)) !== null) break;
      if (performance.now() - start > 30_000) {
        throw new Error("No new leader within 30 s");
      }
      await sleep(2);
    }
    times.push(performance.now() - start);
    await target.start(leader);
  }
  return times.sort((a, b) => a - b);
}

async function measureFdatasync(
  dir: string,
): Promise<{ p50Us: number; p99Us: number }> {
  const file = await Deno.open(`${dir}/fdatasync.bin`, {
    write: true,
    create: true,
    truncate: true,
  });
  const block = new Uint8Array(4096).fill(7);
  const times: number[] = [];
  for (let i = 0; i < 300; i++) {
    await file.write(block);
    const start = performance.now();
    await file.syncData();
    times.push((performance.now() - start) * 1000);
  }
  file.close();
  times.sort((a, b) => a - b);
  return { p50Us: percentile(times, 0.5), p99Us: percentile(times, 0.99) };
}

// ---- main ----------------------------------------------------------------------

/** One cluster under test, driven through the same client path. */
interface System {
  readonly name: string;
  /** A writer against the current leader. */
  leaderPut(): Promise<
    (client: Deno.HttpClient, key: string, value: string) => Promise<boolean>
  >;
  readonly elections: ElectionTarget;
  close(): Promise<void>;
}

async function startOurs(): Promise<System> {
  const cluster = await ProcessCluster.create({
    tickMs: TICK_MS,
    electionTicks: ELECTION_TICKS,
    snapshotEvery: 100_000, // etcd 3.4's default --snapshot-count
  });
  try {
    for (const id of cluster.ids) await cluster.start(id);
  } catch (err) {
    await cluster.close();
    throw err;
  }
  return {
    name: "ours",
    async leaderPut() {
      const url = `${cluster.urls.get(await cluster.leader())}/kv/put`;
      return (client, key, value) =>
        postOk(client, url, JSON.stringify({ key, value }));
    },
    elections: {
      findLeader: (exclude) => cluster.findLeader(exclude ?? null),
      kill: (id) => cluster.kill(id),
      start: (id) => cluster.start(id),
      allAgree: async () => {
        const statuses = await Promise.all(
          cluster.ids.map((id) => cluster.status(id)),
        );
        const leaders = new Set(statuses.map((s) => s?.leader ?? null));
        return leaders.size === 1 && !leaders.has(null);
      },
    },
    close: () => cluster.close(),
  };
}

async function startEtcd(): Promise<System> {
  const cluster = await EtcdCluster.create();
  try {
    await Promise.all(cluster.names.map((n) => cluster.start(n)));
  } catch (err) {
    await cluster.close();
    throw err;
  }
  return {
    name: "etcd",
    async leaderPut() {
      const leader = await waitFor(
        "an etcd leader",
        () => cluster.findLeader(),
      );
      const url = `${cluster.clientUrls.get(leader)}/v3/kv/put`;
      return (client, key, value) =>
        postOk(
          client,
          url,
          JSON.stringify({ key: b64(key), value: b64(value) }),
        );
    },
    elections: {
      findLeader: (exclude) => cluster.findLeader(exclude ?? null),
      kill: (name) => cluster.kill(name),
      start: (name) => cluster.start(name),
      allAgree: async () => {
        const statuses = await Promise.all(
          cluster.names.map((n) => cluster.status(n)),
        );
        const leaders = new Set(statuses.map((s) => s?.leader ?? null));
        return leaders.size === 1 && !leaders.has(null) && !leaders.has("0");
      },
    },
    close: () => cluster.close(),
  };
}

/**
 * Both clusters run side by side; each concurrency level runs on ours then
 * on etcd back to back, so that the machine's background load (shared CI
 * cores) hits both alike.
 */
async function benchBoth(ours: System, etcd: System) {
  const load = {
    ours: new Map<number, LoadResult>(),
    etcd: new Map<number, LoadResult>(),
  };
  for (const concurrency of CONCURRENCY) {
    for (const system of [ours, etcd]) {
      const result = await runLoad(
        await system.leaderPut(),
        concurrency,
        SECONDS,
      );
      load[system.name as "ours" | "etcd"].set(concurrency, result);
      console.log(
        `${system.name.padEnd(4)}  c=${concurrency}: ${format(result)}`,
      );
    }
  }
  const oursElections = await measureElections(ours.elections, ELECTIONS);
  console.log(`ours  election after kill -9: ${describe(oursElections)}`);
  const etcdElections = await measureElections(etcd.elections, ETCD_ELECTIONS);
  console.log(`etcd  election after kill -9: ${describe(etcdElections)}`);
  return {
    ours: { load: load.ours, elections: oursElections },
    etcd: { load: load.etcd, elections: etcdElections },
  };
}

function format(r: LoadResult): string {
  return `${r.commitsPerS.toFixed(0)} commits/s, p50 ${
    r.p50Ms.toFixed(2)
  } ms, p99 ${r.p99Ms.toFixed(2)} ms, ${r.errors} errors`;
}

function describe(sorted: number[]): string {
  return `median ${percentile(sorted, 0.5).toFixed(0)} ms, min ${
    sorted[0]?.toFixed(0)
  } ms, max ${sorted.at(-1)?.toFixed(0)} ms over ${sorted.length}`;
}

async function main(): Promise<void> {
  const started = performance.now();
  const scratch = await Deno.makeTempDir({ prefix: "mill-bench-raft-" });
  const fsync = await measureFdatasync(scratch);
  await Deno.remove(scratch, { recursive: true });
  console.log(
    `fdatasync (4 KiB append): p50 ${fsync.p50Us.toFixed(0)} us, p99 ${
      fsync.p99Us.toFixed(0)
    } us`,
  );
  const etcdVersion = new TextDecoder().decode(
    (await new Deno.Command(ETCD_BIN, { args: ["--version"], stdout: "piped" })
      .output()).stdout,
  ).match(/etcd Version: (\S+)/)?.[1] ?? "unknown";
  console.log(
    `anchor: etcd ${etcdVersion}, three members on loopback, default settings`,
  );
  const oursSystem = await startOurs();
  let results;
  try {
    const etcdSystem = await startEtcd();
    try {
      results = await benchBoth(oursSystem, etcdSystem);
    } finally {
      await etcdSystem.close();
    }
  } finally {
    await oursSystem.close();
  }
  const { ours, etcd } = results;
  const figures: Record<string, number> = {};
  for (const c of CONCURRENCY) {
    const o = ours.load.get(c)!;
    const e = etcd.load.get(c)!;
    figures[`commits_per_s_${c}`] = round(o.commitsPerS, 0);
    figures[`p50_ms_${c}`] = round(o.p50Ms);
    figures[`p99_ms_${c}`] = round(o.p99Ms);
    figures[`etcd_commits_per_s_${c}`] = round(e.commitsPerS, 0);
    figures[`etcd_p50_ms_${c}`] = round(e.p50Ms);
    figures[`etcd_p99_ms_${c}`] = round(e.p99Ms);
    figures[`ratio_throughput_${c}`] = round(o.commitsPerS / e.commitsPerS, 3);
    figures[`ratio_p99_${c}`] = round(o.p99Ms / e.p99Ms, 3);
  }
  for (const c of CONCURRENCY) {
    console.log(
      `c=${c}: ours/etcd throughput ${figures[`ratio_throughput_${c}`]}, p99 ${
        figures[`ratio_p99_${c}`]
      }`,
    );
  }
  const json = {
    bench: "raft",
    etcd_version: etcdVersion,
    ...figures,
    election_ms_median: round(percentile(ours.elections, 0.5), 0),
    election_ms_max: round(ours.elections.at(-1) ?? NaN, 0),
    elections: ours.elections.length,
    etcd_election_ms_median: round(percentile(etcd.elections, 0.5), 0),
    etcd_election_ms_max: round(etcd.elections.at(-1) ?? NaN, 0),
    etcd_elections: etcd.elections.length,
    tick_ms: TICK_MS,
    election_ticks: ELECTION_TICKS,
    fdatasync_us_p50: round(fsync.p50Us, 0),
    fdatasync_us_p99: round(fsync.p99Us, 0),
    seconds_per_level: SECONDS,
    elapsed_s: round((performance.now() - started) / 1000, 1),
  };
  console.log(JSON.stringify(json));
}

if (import.meta.main) await main();
