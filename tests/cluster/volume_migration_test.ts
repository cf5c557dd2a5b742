/**
 * Seed 000's migration on the bed, against the fake DigitalOcean API (in
 * the underlay namespace, its volumes real loop devices linked in a
 * droplet's by-id directory): a service with a persistent volume runs on
 * one node; that node is killed with kill -9; the leader detaches the
 * volume from the dead droplet, attaches it to another, and the service is
 * healthy there with what it wrote before the kill.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { type Bed, withBed } from "./bed.ts";
import { inNetns, spawnLogged } from "./_run.ts";
import { healthyAllocs, writeConfig } from "./_web.ts";

const TOKEN = "dop_v1_bedtest";
const FAKE_PORT = 18080;
const REPO = new URL("../../", import.meta.url).pathname;

/** Starts the fake API in the underlay; the agents' storage flags. */
async function startFakeCloud(bed: Bed) {
  const host = bed.registry.host.split(":")[0]!;
  const byIdDir = `${bed.dir}/by-id`;
  await Deno.mkdir(byIdDir, { recursive: true });
  await Deno.mkdir(`${bed.dir}/fake-do`, { recursive: true });
  const config = {
    token: TOKEN,
    regions: ["nyc1"],
    droplets: bed.nodes.map((n) => ({
      id: 1000 + n.index,
      region: "nyc1",
      byIdDir,
    })),
    listen: { hostname: host, port: FAKE_PORT },
    actionDelayMs: { attach: 300, detach: 300 },
    dataDir: `${bed.dir}/fake-do`,
  };
  const log = `${bed.dir}/fake-do.log`;
  spawnLogged(
    inNetns(bed.underlayNetns, [
      `${REPO}scripts/deno`,
      "run",
      "-A",
      "--quiet",
      `${REPO}tests/fakes/digitalocean/serve.ts`,
      JSON.stringify(config),
    ]),
    { stdout: log, stderr: log },
  );
  await bed.waitFor(
    async () =>
      (await Deno.readTextFile(log).catch(() => "")).includes('"url"') || null,
    { what: "the fake DigitalOcean API listening" },
  );
  return (index: number) => [
    "--storage",
    "do",
    "--do-region",
    "nyc1",
    "--do-api",
    `http://${host}:${FAKE_PORT}`,
    "--do-by-id-dir",
    byIdDir,
    "--machine-id",
    String(1000 + index),
  ];
}

function dbConfig(image: string): string {
  const script = "n=$(cat /data/count 2>/dev/null || echo 0); " +
    "echo $((n+1)) > /data/count; echo ok > /data/health; sync; " +
    "exec httpd -f -p 8080 -h /data";
  return `service "db" {
  image   = "${image}"
  port    = 8080
  cpu     = 0.1
  memory  = "32M"
  command = ["/bin/sh", "-c", "${script}"]
  health {
    path     = "/health"
    interval = "1s"
  }
  volume "dbdata" {
    path = "/data"
    size = "1Gi"
  }
}
`;
}

async function countOn(bed: Bed, via: number): Promise<string> {
  const [alloc] = await healthyAllocs(bed, "db", bed.nodes[via]);
  const ip = (alloc as unknown as { ip: string }).ip;
  const got = await bed.exec(via, [
    "curl",
    "-sS",
    "--max-time",
    "5",
    `http://${ip}:8080/count`,
  ]);
  assertEquals(got.code, 0, got.stderr);
  return got.stdout.trim();
}

Deno.test("volumes: a dead node's volume moves to another droplet and the service finds its data there", async () => {
  await withBed({
    nodes: 3,
    name: "migrate",
    network: "bridge",
    heartbeat: { timeout: "3s", interval: "500ms" },
    beforeAgents: startFakeCloud,
  }, async (bed) => {
    const set = await bed.millWith(
      0,
      ["secret", "set", "digitalocean-token"],
      { stdin: TOKEN },
    );
    assertEquals(set.code, 0, set.stderr);
    const file = await writeConfig(
      bed,
      "db.mill",
      dbConfig(bed.registry.images.http),
    );
    const deployed = await bed.mill(0, "deploy", "-f", file);
    assertEquals(deployed.code, 0, `${deployed.stdout}${deployed.stderr}`);
    assertTrue(
      /db: volume dbdata: created \S+ \(1Gi\), attached to n\d/.test(
        deployed.stdout,
      ),
      deployed.stdout,
    );
    const [first] = await bed.waitFor(async () => {
      const healthy = await healthyAllocs(bed, "db");
      return healthy.length === 1 ? healthy : null;
    }, { what: "db healthy" });
    const leader = await bed.leader();
    const hostIndex = bed.nodes.findIndex((n) => n.name === first!.nodeName);
    const via = bed.nodes.findIndex((n, i) =>
        i !== hostIndex && n === leader
      ) >= 0
      ? bed.nodes.indexOf(leader)
      : bed.nodes.findIndex((_, i) => i !== hostIndex);
    assertEquals(await countOn(bed, hostIndex), "1");
    if (bed.nodes[hostIndex] === leader) {
      // The leader runs the move: keep it alive, kill a follower's service.
      throw new Error("db landed on the leader; this test needs it elsewhere");
    }

    await bed.kill9(bed.nodes[hostIndex]!);
    const moved = await bed.waitFor(async () => {
      const healthy = await healthyAllocs(bed, "db", bed.nodes[via]);
      return healthy.length === 1 &&
          healthy[0]!.nodeName !== first!.nodeName
        ? healthy[0]!
        : null;
    }, { what: "db healthy on another node", timeoutMs: 60_000 });
    const movedIndex = bed.nodes.findIndex((n) => n.name === moved.nodeName);
    assertEquals(await countOn(bed, movedIndex), "2", "the data came along");
    const { state } = await bed.nodeState(via);
    const volume = state.volumes.get("dbdata");
    assertEquals(volume?.state, "attached");
    assertEquals(state.nodes.get(volume!.nodeId!)?.name, moved.nodeName);
  });
});
