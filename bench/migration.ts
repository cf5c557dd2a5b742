/**
 * Migration bench (seed 000's failure path): the time from kill -9 of the
 * node that runs a volume-backed service to that service healthy on
 * another node, its volume moved by the cloud's detach and attach.
 *
 * A 3-node bridge bed against the fake DigitalOcean API (in the underlay,
 * its volumes real loop devices), the agents' heartbeat timeout at its
 * default of 15 s, the fake's attach and detach actions made to take
 * `--attach-s` and `--detach-s` (10 s each by default). DigitalOcean
 * publishes no time for these actions and none was measured here: the
 * defaults stand in for "several seconds", and the JSON says what was used.
 * `--rounds` rounds (3): each kills the node running `db` (a service that
 * counts its starts in its volume), waits for it healthy elsewhere with
 * the next count (its data came along), then restarts the killed node.
 *
 * Parts, from the leader's state and log: detection (kill → NodeDown),
 * detach (→ the volume detached), attach (→ attached to the new node),
 * start (→ the new alloc running), healthy (→ healthy).
 *
 * Anchor: Kubernetes with a CSI driver waits about six minutes
 * (attach-detach controller's maxWaitForUnmountDuration) before it force
 * detaches a volume from a dead node: a published figure, not measured
 * here (no Kubernetes on this machine). Goal: under 2 minutes with the
 * default 15 s heartbeat timeout, and under 45 s plus the cloud's action
 * time.
 *
 * Run: scripts/deno run -A bench/migration.ts [--rounds 3] [--attach-s 10] [--detach-s 10]
 */
import { startBed } from "../tests/cluster/bed.ts";
import { healthyAllocs, writeConfig } from "../tests/cluster/_web.ts";
import {
  countOn,
  dbConfig,
  DO_TOKEN,
  startFakeCloud,
} from "../tests/cluster/_volumes.ts";
import { intArg, median, round } from "./_stats.ts";

const ROUNDS = intArg("rounds", 3);
const ATTACH_S = intArg("attach-s", 10);
const DETACH_S = intArg("detach-s", 10);
const ANCHOR_S = 6 * 60;

/** The time of the leader's first log line matching `pattern` after `sinceMs`. */
function logTime(log: string, pattern: RegExp, sinceMs: number): number {
  for (const line of log.split("\n")) {
    const at = Date.parse(line.slice(0, 24));
    if (Number.isFinite(at) && at >= sinceMs && pattern.test(line)) return at;
  }
  throw new Error(
    `no log line ${pattern} after ${new Date(sinceMs).toISOString()}`,
  );
}

const bed = await startBed({
  nodes: 3,
  name: "migration",
  network: "bridge",
  heartbeat: { timeout: "15s", interval: "2s" },
  beforeAgents: (b) =>
    startFakeCloud(b, { attach: ATTACH_S * 1000, detach: DETACH_S * 1000 }),
});
try {
  const set = await bed.millWith(0, ["secret", "set", "digitalocean-token"], {
    stdin: DO_TOKEN,
  });
  if (set.code !== 0) throw new Error(set.stderr);
  const file = await writeConfig(
    bed,
    "db.mill",
    dbConfig(bed.registry.images.http),
  );
  const deployed = await bed.mill(0, "deploy", "-f", file, "--json");
  if (deployed.code !== 0) throw new Error(deployed.stderr);
  const rounds: Record<string, number>[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const [alloc] = await bed.waitFor(async () => {
      const healthy = await healthyAllocs(bed, "db");
      return healthy.length === 1 ? healthy : null;
    }, { what: "db healthy", timeoutMs: 120_000 });
    const victim = bed.nodes.find((n) => n.name === alloc!.nodeName)!;
    const via = bed.nodes.findIndex((n) => n !== victim);
    const before = Number(await countOn(bed, bed.nodes.indexOf(victim)));
    const killedAt = Date.now();
    await bed.kill9(victim);
    const moved = await bed.waitFor(async () => {
      const healthy = await healthyAllocs(bed, "db", bed.nodes[via]);
      return healthy.length === 1 && healthy[0]!.nodeName !== victim.name
        ? healthy[0]!
        : null;
    }, { what: "db healthy elsewhere", timeoutMs: 300_000, intervalMs: 200 });
    const healthyAt = Date.now();
    const movedIndex = bed.nodes.findIndex((n) => n.name === moved.nodeName);
    const after = Number(await countOn(bed, movedIndex));
    if (after !== before + 1) {
      throw new Error(
        `count ${before} became ${after}: the data did not come along`,
      );
    }
    const leader = await bed.leader();
    const log = await bed.logs(leader);
    const { state } = await bed.nodeState(leader);
    const victimNode = [...state.nodes.values()].find((n) =>
      n.name === victim.name
    )!;
    const downAt = victimNode.statusChangedAtMs;
    const detachedAt = logTime(log, /volume dbdata: detached from/, killedAt);
    const attachedAt = logTime(log, /volume dbdata: attached to/, killedAt);
    const startedAt = state.allocs.get(moved.id)?.startedAtMs ?? attachedAt;
    const round_ = {
      migration_s: (healthyAt - killedAt) / 1000,
      detection_s: (downAt - killedAt) / 1000,
      detach_s: (detachedAt - downAt) / 1000,
      attach_s: (attachedAt - detachedAt) / 1000,
      start_s: (startedAt - attachedAt) / 1000,
      healthy_s: (healthyAt - startedAt) / 1000,
    };
    console.error(`round ${r + 1}: ${JSON.stringify(round_)}`);
    rounds.push(round_);
    await bed.restart(victim);
    await bed.waitFor(async () => {
      const views = await bed.nodeViews(bed.nodes[via]);
      return views.find((v) => v.name === victim.name)?.status === "ready" ||
        null;
    }, { what: `${victim.name} ready again`, timeoutMs: 120_000 });
  }
  const med = (key: string) => round(median(rounds.map((r) => r[key]!)), 2);
  const migration = med("migration_s");
  console.log(JSON.stringify({
    bench: "migration",
    migration_s_median: migration,
    detection_s: med("detection_s"),
    detach_s: med("detach_s"),
    attach_s: med("attach_s"),
    start_s: med("start_s"),
    healthy_s: med("healthy_s"),
    rounds: ROUNDS,
    heartbeat_timeout_s: 15,
    cloud_attach_s: ATTACH_S,
    cloud_detach_s: DETACH_S,
    anchor: "kubernetes-csi-force-detach (published, not measured here)",
    anchor_s: ANCHOR_S,
    ratio: round(migration / ANCHOR_S, 3),
    goal_2min_met: migration < 120,
    goal_45s_plus_cloud_met: migration < 45 + ATTACH_S + DETACH_S,
  }));
} finally {
  await bed.stop();
}
