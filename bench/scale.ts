/**
 * Scale bench: the seed's upper bound on the multi-node test bed
 * (`tests/cluster/bed.ts`), no anchor.
 *
 * A bed of `--nodes` (20) nodes, 3 primaries and the rest secondaries (the
 * bed's heartbeat: 4 s timeout on node 1, 500 ms interval). Then:
 *
 * - **Idle, empty**: the leader's CPU and every agent's RSS over
 *   `--idle-seconds` (10) with nothing deployed.
 * - **Deploy** of `--services` (50) httpd services, 2 or 3 replicas each
 *   (`_scale_cluster.ts`), with `mill deploy -f` on node 1: `deploy_s` from
 *   the CLI's start to the first poll of the leader's `GET /v1/allocs` that
 *   shows every replica healthy. Meanwhile the leader's CPU (utime + stime
 *   from /proc over the wall time, % of one core) and every agent's RSS
 *   (VmRSS, sampled every 500 ms, the largest).
 * - **Idle** with everything running, after a settle of 5 s: the same
 *   figures over `--idle-seconds`.
 * - **Recover**: kill -9 (the bed's `kill9`: every process of the node, link
 *   down) of the two secondaries holding the most replicas and of one
 *   primary that is not the leader, all at once (2 of 3 voters stay: the
 *   quorum holds and the leader, node 1 with the bed's short heartbeat
 *   timeout, stays; `mill join` takes no --heartbeat-timeout, so a joined
 *   primary would declare nodes down only after 15 s, and keeping the leader
 *   keeps the figure about rescheduling). `recover_s` from the kill to every
 *   service at its replica count, healthy, on surviving nodes; `down_s` to
 *   the three nodes reported down.
 *
 * Last line: one JSON object (`anchor: null`: the seed gives the bound, not a
 * peer). Run: scripts/deno run -A bench/scale.ts [--nodes 20] [--services 50]
 * [--idle-seconds 10] [--tmpfs]
 */
import {
  type Bed,
  type BedNode,
  describeNodes,
  startBed,
} from "../tests/cluster/bed.ts";
import { writeConfig } from "../tests/cluster/_web.ts";
import {
  type Convergence,
  scaleConfig,
  scaleServices,
  waitConverged,
} from "./_scale_cluster.ts";
import {
  agentPid,
  CpuPeak,
  CpuWindow,
  FsyncProbe,
  RssSampler,
} from "./_scale_procs.ts";
import { intArg, round } from "./_stats.ts";

const NODES = intArg("nodes", 20);
const SERVICES = intArg("services", 50);
const IDLE_S = intArg("idle-seconds", 10);
const PRIMARIES = Math.min(3, NODES);
const SETTLE_MS = 5_000;
const DEPLOY_TIMEOUT_MS = 900_000;
const RECOVER_TIMEOUT_MS = 600_000;

const log = (line: string) => console.error(`bench: ${line}`);
const seconds = (ms: number) => round(ms / 1000, 1);

if (NODES < PRIMARIES + 2) {
  throw new Error(
    `--nodes must be at least ${
      PRIMARIES + 2
    }: the bench kills two secondaries`,
  );
}

/**
 * --tmpfs: the bed on a tmpfs mounted under /tmp (the agents may only use
 * /tmp), so that no fdatasync waits on the disk: the figures without it.
 */
const TMPFS = Deno.args.includes("--tmpfs");
/** Where kept logs go: not into the tmpfs, which goes with the bed. */
const LOGS_PARENT = Deno.env.get("TMPDIR") ?? "/tmp";
let tmpfsDir: string | null = null;
if (TMPFS) {
  // Short: containerd's socket path under it must stay within 108 bytes.
  tmpfsDir = await Deno.makeTempDir({ prefix: "ms-" });
  const mounted = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=8g", "tmpfs", tmpfsDir],
  }).output();
  if (!mounted.success) {
    throw new Error(
      `cannot mount a tmpfs on ${tmpfsDir}: ${
        new TextDecoder().decode(mounted.stderr)
      }`,
    );
  }
  Deno.env.set("TMPDIR", tmpfsDir);
}

async function removeTmpfs(): Promise<void> {
  if (tmpfsDir === null) return;
  await new Deno.Command("umount", { args: ["-l", tmpfsDir] }).output();
  await Deno.remove(tmpfsDir, { recursive: true }).catch(() => {});
  tmpfsDir = null;
}

const started = performance.now();
log(`starting a bed of ${NODES} nodes (${PRIMARIES} primaries)`);
const bed = await startBed({
  nodes: NODES,
  primaries: PRIMARIES,
  name: "scale",
}).catch(async (error) => {
  await removeTmpfs();
  throw error;
});
const bedStartMs = performance.now() - started;
log(`bed formed in ${seconds(bedStartMs)} s (${bed.prefix}, ${bed.dir})`);

/** The file system the bed's dirs (data dirs, containerd roots) sit on. */
const bedFs = new TextDecoder().decode(
  (await new Deno.Command("stat", { args: ["-f", "-c", "%T", bed.dir] })
    .output()).stdout,
).trim();
log(`the bed's files are on ${bedFs}`);

let cleaned: Promise<void> | null = null;
const cleanup = () =>
  cleaned ??= (async () => {
    await bed.stop().catch((e) => log(`stopping the bed: ${e}`));
    const left = await bed.leftovers();
    if (left.length > 0) log(`the bed left behind:\n${left.join("\n")}`);
    await removeTmpfs();
  })();
const onSignal = () => {
  log("interrupted: cleaning up");
  cleanup().finally(() => Deno.exit(130));
};
Deno.addSignalListener("SIGINT", onSignal);
Deno.addSignalListener("SIGTERM", onSignal);

interface Window {
  leaderCpuPct: number;
  leaderCpuPeakPct: number;
  rssMaxMb: number;
  rssMaxNode: string;
  /** The slowest 4 KiB append + fdatasync in the bed's dir meanwhile. */
  fsyncMaxMs: number;
}

/** The leader's CPU and every agent's largest RSS while `during` runs. */
async function measure<T>(
  leaderPid: number,
  pids: Map<string, number>,
  during: () => Promise<T>,
): Promise<{ result: T; window: Window }> {
  const cpu = new CpuWindow(leaderPid);
  await cpu.start();
  const rss = new RssSampler([...pids.values()]);
  const peak = new CpuPeak(leaderPid);
  const fsync = new FsyncProbe(bed.dir);
  // Every voter's busiest second: a starved follower costs the leader its quorum.
  const voterPeaks = bed.nodes.filter((n) => n.primary).map((n) =>
    [n.name, new CpuPeak(pids.get(n.name)!)] as const
  );
  const voterPeaksText = async () => {
    const parts: string[] = [];
    for (const [name, p] of voterPeaks) {
      parts.push(`${name} ${round(await p.stop(), 1)} %`);
    }
    return parts.join(", ");
  };
  let result: T;
  try {
    result = await during();
  } catch (error) {
    const max = await rss.stop().catch(() => new Map<number, number>());
    log(
      `until the failure: leader CPU ${
        round(await cpu.stop(), 1)
      } % (busiest second ${round(await peak.stop(), 1)} %), agent RSS max ${
        round(Math.max(0, ...max.values()), 1)
      } MiB; voters' busiest second: ${await voterPeaksText()}; slowest fdatasync ${
        round(await fsync.stop(), 1)
      } ms`,
    );
    throw error;
  }
  const fsyncMaxMs = await fsync.stop();
  log(
    `voters' busiest second: ${await voterPeaksText()}; slowest fdatasync ${
      round(fsyncMaxMs, 1)
    } ms`,
  );
  const leaderCpuPct = await cpu.stop();
  const leaderCpuPeakPct = await peak.stop();
  const max = await rss.stop();
  let rssMaxMb = 0;
  let rssMaxNode = "";
  for (const [name, pid] of pids) {
    const mb = max.get(pid) ?? 0;
    if (mb > rssMaxMb) [rssMaxMb, rssMaxNode] = [mb, name];
  }
  return {
    result,
    window: {
      leaderCpuPct,
      leaderCpuPeakPct,
      rssMaxMb,
      rssMaxNode,
      fsyncMaxMs,
    },
  };
}

/** Copies every node's logs out of the bed's dir before stop() removes it. */
async function keepLogs(): Promise<void> {
  const dir = await Deno.makeTempDir({
    dir: LOGS_PARENT,
    prefix: "mill-scale-logs-",
  });
  for (const node of bed.nodes) {
    await Deno.writeTextFile(`${dir}/${node.name}.log`, await bed.logs(node));
  }
  log(`the nodes' logs are kept in ${dir}`);
}

/** Throws when the agent of a node not in `dead` has exited (a crash). */
async function agentsAlive(
  pids: Map<string, number>,
  dead: ReadonlySet<string>,
): Promise<void> {
  for (const [name, pid] of pids) {
    if (dead.has(name)) continue;
    try {
      await Deno.stat(`/proc/${pid}`);
    } catch {
      const tail = (await bed.logs(bed.nodes.find((n) => n.name === name)!))
        .trimEnd().split("\n").slice(-12).join("\n");
      throw new Error(`the agent of ${name} died:\n${tail}`);
    }
  }
}

const idle = () => new Promise((r) => setTimeout(r, IDLE_S * 1000));

function report(what: string, w: Window): void {
  log(
    `${what}: leader CPU ${
      round(w.leaderCpuPct, 1)
    } % of a core, agent RSS max ${round(w.rssMaxMb, 1)} MiB (${w.rssMaxNode})`,
  );
}

/** The two secondaries with the most allocs, and a primary that is not `leader`. */
function victims(
  leader: BedNode,
  placed: Convergence,
): BedNode[] {
  const load = (n: BedNode) => placed.perNode.get(n.name) ?? 0;
  const secondaries = bed.nodes.filter((n) => !n.primary)
    .sort((a, b) => load(b) - load(a)).slice(0, 2);
  const primary = bed.nodes.find((n) => n.primary && n !== leader);
  if (primary === undefined) throw new Error("no follower primary to kill");
  return [...secondaries, primary];
}

async function allDown(b: Bed, via: BedNode, names: Set<string>) {
  const views = await b.nodeViews(via);
  return views.filter((v) => names.has(v.name) && v.status === "down")
    .length === names.size;
}

try {
  const leader = await bed.leader();
  const leaderTimeout = leader.index === 1 ? bed.heartbeat.timeout : "15s";
  log(`leader ${leader.name} (heartbeat timeout ${leaderTimeout})`);
  const pids = new Map<string, number>();
  for (const node of bed.nodes) {
    pids.set(node.name, await agentPid(node.dataDir));
  }
  const leaderPid = pids.get(leader.name)!;

  const empty = (await measure(leaderPid, pids, idle)).window;
  report("idle, nothing deployed", empty);

  const services = scaleServices(SERVICES);
  const replicas = services.reduce((sum, s) => sum + s.replicas, 0);
  const file = await writeConfig(
    bed,
    "scale.mill",
    scaleConfig(bed.registry.images.http, services),
  );
  log(`deploying ${SERVICES} services, ${replicas} replicas`);
  const deployed = await measure(leaderPid, pids, async () => {
    const t0 = performance.now();
    const cli = await bed.millWith(0, ["deploy", "-f", file], {
      timeoutMs: DEPLOY_TIMEOUT_MS,
    });
    const cliMs = performance.now() - t0;
    if (cli.code !== 0) {
      throw new Error(
        `mill deploy exited ${cli.code}${
          cli.timedOut ? " (timed out)" : ""
        }:\n${cli.stdout.slice(-3000)}${cli.stderr.slice(-3000)}`,
      );
    }
    log(`mill deploy exited 0 after ${seconds(cliMs)} s`);
    const converged = await waitConverged(bed, leader, services, {
      t0,
      timeoutMs: DEPLOY_TIMEOUT_MS,
      what: "deploy",
      log,
      check: () => agentsAlive(pids, new Set()),
    });
    return { cliMs, ...converged };
  });
  const deployMs = deployed.result.ms;
  log(`deploy: every replica healthy after ${seconds(deployMs)} s`);
  report("under the deploy", deployed.window);
  const spread = [...deployed.result.last.perNode.entries()]
    .sort((a, b) => Number(a[0].slice(1)) - Number(b[0].slice(1)))
    .map(([n, c]) => `${n}:${c}`).join(" ");
  log(`allocs per node: ${spread}`);

  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const steady = (await measure(leaderPid, pids, idle)).window;
  report(`idle, ${replicas} replicas running`, steady);

  const killed = victims(leader, deployed.result.last);
  const dead = new Set(killed.map((n) => n.name));
  const moving = killed.reduce(
    (sum, n) => sum + (deployed.result.last.perNode.get(n.name) ?? 0),
    0,
  );
  log(`kill -9 of ${[...dead].join(", ")} (${moving} replicas on them)`);
  const t0 = performance.now();
  await Promise.all(killed.map((n) => bed.kill9(n)));
  const downWatch = bed.waitFor(
    () => allDown(bed, leader, dead),
    { what: "the killed nodes down", timeoutMs: RECOVER_TIMEOUT_MS },
  ).then(() => performance.now() - t0, () => NaN);
  const recovered = await waitConverged(bed, leader, services, {
    t0,
    timeoutMs: RECOVER_TIMEOUT_MS,
    what: "recover",
    dead,
    log,
    check: () => agentsAlive(pids, dead),
  });
  const downMs = await downWatch;
  log(
    `recover: down after ${seconds(downMs)} s, every service back after ${
      seconds(recovered.ms)
    } s`,
  );
  const after = await bed.leader();
  if (after !== leader) {
    log(`the leader changed to ${after.name} meanwhile`);
  }

  await cleanup();
  const figures = {
    bench: "scale",
    anchor: null,
    nodes: NODES,
    primaries: PRIMARIES,
    services: SERVICES,
    replicas,
    deploy_s: seconds(deployMs),
    deploy_cli_s: seconds(deployed.result.cliMs),
    recover_s: seconds(recovered.ms),
    down_s: seconds(downMs),
    replicas_moved: moving,
    killed: [...dead],
    leader: leader.name,
    leader_changed: after !== leader,
    heartbeat_timeout: leaderTimeout,
    heartbeat_interval: bed.heartbeat.interval,
    leader_cpu_pct: round(deployed.window.leaderCpuPct, 1),
    leader_cpu_pct_peak_1s: round(deployed.window.leaderCpuPeakPct, 1),
    fdatasync_ms_max: round(deployed.window.fsyncMaxMs, 1),
    idle_fdatasync_ms_max: round(steady.fsyncMaxMs, 1),
    idle_leader_cpu_pct: round(steady.leaderCpuPct, 1),
    empty_leader_cpu_pct: round(empty.leaderCpuPct, 1),
    agent_rss_mb_max: round(deployed.window.rssMaxMb, 1),
    agent_rss_mb_max_idle: round(steady.rssMaxMb, 1),
    agent_rss_mb_max_empty: round(empty.rssMaxMb, 1),
    agent_rss_max_node: deployed.window.rssMaxNode,
    idle_seconds: IDLE_S,
    bed_fs: bedFs,
    bed_start_s: seconds(bedStartMs),
    elapsed_s: seconds(performance.now() - started),
  };
  console.log(JSON.stringify(figures));
} catch (error) {
  log(`failed: ${(error as Error).message}`);
  console.error(await describeNodes(bed, 40));
  await keepLogs();
  throw error;
} finally {
  await cleanup();
}
