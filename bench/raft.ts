/**
 * bench/raft: mill's three-node Raft (tests/raft/kv_server.ts processes,
 * real fsync, loopback) against a three-member etcd cluster from Debian's
 * `/usr/bin/etcd`, in one run, with the same heartbeat, election timeout
 * and pre-vote on both.
 *
 * Writes, one in flight per proposer, 1, 16 and 256 proposers, to the
 * leader, over one client per proposer group:
 * - mill: HTTP/1.1 keep-alive `fetch` POSTs of `{"key","value"}` to
 *   `/kv/put` (its native handler; 200 once committed and applied);
 * - etcd, native: gRPC `etcdserverpb.KV/Put` over one kept-alive HTTP/2
 *   channel (`_etcd_grpc.ts`), the path etcd's own clients take;
 * - etcd, gateway: the JSON gateway's `POST /v3/kv/put` the same way as mill
 *   (an extra marshal and an in-process gRPC hop), reported beside it.
 * Every ratio is mill over the faster etcd path at that level: throughput
 * mill/etcd (≥ 1: mill faster), p99 mill/etcd (≤ 1: mill faster).
 *
 * Also: time from kill -9 of the leader to a new leader (median), the
 * failed and timed-out writes of each path, fdatasync cost on this disk.
 * Last line: one JSON object (keys in bench/README.md).
 *
 * Usage: scripts/deno run -A bench/raft.ts [--seconds 4] [--elections 20]
 *          [--etcd-elections 20] [--tick-ms 100] [--election-ticks 5]
 */
import { ProcessCluster, waitFor } from "../tests/raft/process_cluster.ts";
import { ETCD_BIN, EtcdCluster } from "./_etcd_cluster.ts";
import { type ElectionTarget, measureElections } from "./_elections.ts";
import {
  httpGroup,
  type LoadResult,
  type ProposerGroup,
  runLoad,
} from "./_load.ts";
import { intArg, percentile, round } from "./_stats.ts";

const CONCURRENCY = [1, 16, 256] as const;
const SECONDS = intArg("seconds", 4);
const ELECTIONS = intArg("elections", 20);
const ETCD_ELECTIONS = intArg("etcd-elections", ELECTIONS);
const TICK_MS = intArg("tick-ms", 100);
const ELECTION_TICKS = intArg("election-ticks", 5);
/** mill's kv_server runs with pre-vote on (raft/node.ts); etcd is told so. */
const PRE_VOTE = true;

type PathName = "mill" | "etcd_grpc" | "etcd_gateway";
const PATHS: readonly PathName[] = ["mill", "etcd_grpc", "etcd_gateway"];

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

async function startMill(): Promise<ProcessCluster> {
  const cluster = await ProcessCluster.create({
    tickMs: TICK_MS,
    electionTicks: ELECTION_TICKS,
    snapshotEvery: 100_000, // etcd's default --snapshot-count
  });
  try {
    for (const id of cluster.ids) await cluster.start(id);
  } catch (err) {
    await cluster.close();
    throw err;
  }
  return cluster;
}

function millElections(cluster: ProcessCluster): ElectionTarget {
  return {
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
  };
}

async function startEtcd(): Promise<EtcdCluster> {
  const cluster = await EtcdCluster.create({
    heartbeatMs: TICK_MS,
    electionMs: TICK_MS * ELECTION_TICKS,
    preVote: PRE_VOTE,
  });
  try {
    await Promise.all(cluster.names.map((n) => cluster.start(n)));
    // The hand-written PutRequest must land as etcd's own clients' would.
    const leader = await waitFor("an etcd leader", () => cluster.findLeader());
    const group = await cluster.grpcGroup(leader);
    try {
      const value = `checked-${crypto.randomUUID()}`;
      const outcome = await group.put("bench-check", value);
      const stored = await cluster.get(leader, "bench-check");
      if (outcome !== "ok" || stored !== value) {
        throw new Error(
          `etcd gRPC Put check failed: ${outcome}, stored ${stored}`,
        );
      }
    } finally {
      group.close();
    }
  } catch (err) {
    await cluster.close();
    throw err;
  }
  return cluster;
}

interface PathRun {
  readonly result: LoadResult;
  /** etcd gRPC only: the answered revisions account for every ok write. */
  readonly verified?: boolean;
}

/** One level on one path: a fresh group to the current leader, then load. */
async function runPath(
  path: PathName,
  mill: ProcessCluster,
  etcd: EtcdCluster,
  concurrency: number,
): Promise<PathRun> {
  if (path === "mill") {
    const url = `${mill.urls.get(await mill.leader())}/kv/put`;
    const group = httpGroup(
      url,
      (key, value) => JSON.stringify({ key, value }),
    );
    return { result: await withGroup(group, concurrency) };
  }
  const leader = await waitFor("an etcd leader", () => etcd.findLeader());
  if (path === "etcd_gateway") {
    return { result: await withGroup(etcd.gatewayGroup(leader), concurrency) };
  }
  const before = await etcd.revision(leader);
  const group = await etcd.grpcGroup(leader);
  const result = await withGroup(group, concurrency);
  const written = group.channel.maxRevision - before;
  const clean = result.errors === 0 && result.timeouts === 0;
  return {
    result,
    verified: clean ? written === result.okTotal : written >= result.okTotal,
  };
}

async function withGroup(
  group: ProposerGroup,
  concurrency: number,
): Promise<LoadResult> {
  try {
    return await runLoad(group, concurrency, SECONDS);
  } finally {
    group.close();
  }
}

function format(r: LoadResult): string {
  return `${r.commitsPerS.toFixed(0)} commits/s, p50 ${
    r.p50Ms.toFixed(2)
  } ms, p99 ${
    r.p99Ms.toFixed(2)
  } ms, ${r.errors} failed, ${r.timeouts} timed out`;
}

function describe(sorted: number[]): string {
  return `median ${percentile(sorted, 0.5).toFixed(0)} ms, min ${
    sorted[0]?.toFixed(0)
  } ms, max ${sorted.at(-1)?.toFixed(0)} ms over ${sorted.length}`;
}

/** The raw figures of one path at one level, under `prefix`. */
function rawFigures(
  prefix: string,
  c: number,
  r: LoadResult,
): Record<string, number> {
  return {
    [`${prefix}commits_per_s_${c}`]: round(r.commitsPerS, 0),
    [`${prefix}p50_ms_${c}`]: round(r.p50Ms),
    [`${prefix}p99_ms_${c}`]: round(r.p99Ms),
    [`${prefix}errors_${c}`]: r.errors,
    [`${prefix}timeouts_${c}`]: r.timeouts,
  };
}

const PREFIX: Record<PathName, string> = {
  mill: "",
  etcd_grpc: "etcd_",
  etcd_gateway: "etcd_gateway_",
};

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
    `anchor: etcd ${etcdVersion}, three members on loopback; both with ` +
      `heartbeat ${TICK_MS} ms, election timeout ${
        TICK_MS * ELECTION_TICKS
      } ms, pre-vote ${PRE_VOTE ? "on" : "off"}`,
  );
  const load = new Map<PathName, Map<number, LoadResult>>(
    PATHS.map((p) => [p, new Map()]),
  );
  let verified = true;
  let millTimes: number[];
  let etcdTimes: number[];
  const mill = await startMill();
  try {
    const etcd = await startEtcd();
    try {
      // Each level runs on every path back to back, so that the machine's
      // background load hits all of them alike.
      for (const c of CONCURRENCY) {
        for (const path of PATHS) {
          const run = await runPath(path, mill, etcd, c);
          load.get(path)!.set(c, run.result);
          if (run.verified === false) {
            verified = false;
            console.log(`etcd_grpc c=${c}: revisions do not match ok writes`);
          }
          console.log(`${path.padEnd(12)} c=${c}: ${format(run.result)}`);
        }
      }
      millTimes = await measureElections(millElections(mill), ELECTIONS);
      console.log(`mill election after kill -9: ${describe(millTimes)}`);
      etcdTimes = await measureElections(etcd, ETCD_ELECTIONS);
      console.log(`etcd election after kill -9: ${describe(etcdTimes)}`);
    } finally {
      await etcd.close();
    }
  } finally {
    await mill.close();
  }
  const figures: Record<string, number | string> = {};
  for (const c of CONCURRENCY) {
    const m = load.get("mill")!.get(c)!;
    const grpc = load.get("etcd_grpc")!.get(c)!;
    const gateway = load.get("etcd_gateway")!.get(c)!;
    for (const path of PATHS) {
      Object.assign(
        figures,
        rawFigures(PREFIX[path], c, load.get(path)!.get(c)!),
      );
    }
    // The anchor is etcd's better path for each figure.
    const fastest = grpc.commitsPerS >= gateway.commitsPerS ? grpc : gateway;
    const lowestP99 = grpc.p99Ms <= gateway.p99Ms ? grpc : gateway;
    figures[`ratio_throughput_${c}`] = round(
      m.commitsPerS / fastest.commitsPerS,
      3,
    );
    figures[`ratio_p99_${c}`] = round(m.p99Ms / lowestP99.p99Ms, 3);
    figures[`ratio_throughput_anchor_${c}`] = fastest === grpc
      ? "grpc"
      : "gateway";
    figures[`ratio_p99_anchor_${c}`] = lowestP99 === grpc ? "grpc" : "gateway";
    console.log(
      `c=${c}: mill/etcd throughput ${figures[`ratio_throughput_${c}`]} (vs ${
        figures[`ratio_throughput_anchor_${c}`]
      }), p99 ${figures[`ratio_p99_${c}`]} (vs ${
        figures[`ratio_p99_anchor_${c}`]
      })`,
    );
  }
  const sum = (path: PathName, key: "errors" | "timeouts") =>
    [...load.get(path)!.values()].reduce((n, r) => n + r[key], 0);
  const json = {
    bench: "raft",
    etcd_version: etcdVersion,
    etcd_client: "grpc",
    ...figures,
    errors_total: sum("mill", "errors"),
    timeouts_total: sum("mill", "timeouts"),
    etcd_errors_total: sum("etcd_grpc", "errors"),
    etcd_timeouts_total: sum("etcd_grpc", "timeouts"),
    etcd_gateway_errors_total: sum("etcd_gateway", "errors"),
    etcd_gateway_timeouts_total: sum("etcd_gateway", "timeouts"),
    etcd_grpc_writes_verified: verified,
    election_ms_median: round(percentile(millTimes, 0.5), 0),
    election_ms_max: round(millTimes.at(-1) ?? NaN, 0),
    elections: millTimes.length,
    etcd_election_ms_median: round(percentile(etcdTimes, 0.5), 0),
    etcd_election_ms_max: round(etcdTimes.at(-1) ?? NaN, 0),
    etcd_elections: etcdTimes.length,
    tick_ms: TICK_MS,
    election_ticks: ELECTION_TICKS,
    heartbeat_ms: TICK_MS,
    election_timeout_ms: TICK_MS * ELECTION_TICKS,
    pre_vote: PRE_VOTE,
    fdatasync_us_p50: round(fsync.p50Us, 0),
    fdatasync_us_p99: round(fsync.p99Us, 0),
    seconds_per_level: SECONDS,
    elapsed_s: round((performance.now() - started) / 1000, 1),
  };
  console.log(JSON.stringify(json));
}

if (import.meta.main) await main();
