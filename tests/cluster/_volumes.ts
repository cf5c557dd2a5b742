/**
 * Volumes on the bed against the fake DigitalOcean API: the fake in the
 * underlay namespace (its own process; its volumes real loop devices linked
 * in a by-id directory the nodes share), the agents' storage flags, and a
 * database-like service that counts its starts in its volume.
 */
import { assertEquals } from "../../containerd/_assert_test.ts";
import type { Bed } from "./bed.ts";
import { inNetns, spawnLogged } from "./_run.ts";
import { healthyAllocs } from "./_web.ts";

export const DO_TOKEN = "dop_v1_bedtest";
const FAKE_PORT = 18080;
const REPO = new URL("../../", import.meta.url).pathname;

/** Starts the fake API in the underlay; the agents' storage flags. */
export async function startFakeCloud(
  bed: Bed,
  actionDelayMs: { attach: number; detach: number } = {
    attach: 300,
    detach: 300,
  },
) {
  const host = bed.registry.host.split(":")[0]!;
  const byIdDir = `${bed.dir}/by-id`;
  await Deno.mkdir(byIdDir, { recursive: true });
  await Deno.mkdir(`${bed.dir}/fake-do`, { recursive: true });
  const config = {
    token: DO_TOKEN,
    regions: ["nyc1"],
    droplets: bed.nodes.map((n) => ({
      id: 1000 + n.index,
      region: "nyc1",
      byIdDir,
    })),
    listen: { hostname: host, port: FAKE_PORT },
    actionDelayMs,
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

/**
 * A service that counts its starts in /data/count (its volume of `size`)
 * and serves /data; `version` changes its env (a rolling redeploy).
 */
export function dbConfig(
  image: string,
  { size = "1Gi", version = "1", extra = "" }: {
    size?: string;
    version?: string;
    /** More of the service block (a constraint). */
    extra?: string;
  } = {},
): string {
  const script = "n=$(cat /data/count 2>/dev/null || echo 0); " +
    "echo $((n+1)) > /data/count; echo ok > /data/health; sync; " +
    "exec httpd -f -p 8080 -h /data";
  return `service "db" {
  image   = "${image}"
  port    = 8080
  cpu     = 0.1
  memory  = "32M"
  command = ["/bin/sh", "-c", "${script}"]
  env     = { VERSION = "${version}" }
  health {
    path     = "/health"
    interval = "1s"
  }
  volume "dbdata" {
    path = "/data"
    size = "${size}"
  }
${extra}}
`;
}

/** The fake cloud's volumes, as its API lists them. */
export async function cloudVolumes(
  bed: Bed,
): Promise<{ id: string; name: string; droplet_ids: number[] }[]> {
  const host = bed.registry.host.split(":")[0]!;
  const got = await new Deno.Command("ip", {
    args: [
      "netns",
      "exec",
      bed.underlayNetns,
      "curl",
      "-sS",
      "--max-time",
      "5",
      "-H",
      `Authorization: Bearer ${DO_TOKEN}`,
      `http://${host}:${FAKE_PORT}/v2/volumes?per_page=200`,
    ],
  }).output();
  const text = new TextDecoder().decode(got.stdout);
  assertEquals(got.code, 0, new TextDecoder().decode(got.stderr));
  return JSON.parse(text).volumes;
}

/** The count db's healthy alloc serves, asked from node `via`. */
export async function countOn(bed: Bed, via: number): Promise<string> {
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
