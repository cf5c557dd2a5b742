/**
 * The ingress on the bed: every node's proxy routes a config's `route`
 * blocks to the healthy allocs' container addresses, across the mesh;
 * routes by host and longest path prefix; answers an unknown host 404;
 * and a rolling deploy and a rollback under a request loop through two
 * nodes' proxies see only 200s.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { type Bed, withBed } from "./bed.ts";
import { healthyAllocs, writeConfig } from "./_web.ts";

function appConfig(image: string, version: string, healthPath = "/health") {
  return `service "web" {
  image    = "${image}"
  port     = 8080
  replicas = 2
  cpu      = 0.1
  memory   = "32M"
  env      = { VERSION = "${version}" }
  health {
    path     = "${healthPath}"
    interval = "1s"
  }
  route "shop.test" {}
}

service "api" {
  image    = "${image}"
  port     = 8080
  cpu      = 0.1
  memory   = "32M"
  health {
    path     = "/health"
    interval = "1s"
  }
  route "shop.test" {
    path = "/api"
  }
}
`;
}

/** `curl` from node `from`'s namespace to node `to`'s proxy: status and body. */
async function get(
  bed: Bed,
  from: number,
  to: number,
  host: string,
  path: string,
): Promise<{ status: number; body: string }> {
  const result = await bed.exec(from, [
    "curl",
    "-sS",
    "--max-time",
    "5",
    "-H",
    `Host: ${host}`,
    "-w",
    "\n%{http_code}",
    `http://${bed.nodes[to]!.address}${path}`,
  ]);
  assertEquals(result.code, 0, result.stderr);
  const cut = result.stdout.lastIndexOf("\n");
  return {
    status: Number(result.stdout.slice(cut + 1)),
    body: result.stdout.slice(0, cut),
  };
}

/**
 * A request loop in node `from`'s namespace against node `to`'s proxy
 * until `stop()`: every status it saw, counted.
 */
function requestLoop(bed: Bed, from: number, to: number, name: string) {
  const stopFile = `${bed.dir}/${name}.stop`;
  const url = `http://${bed.nodes[to]!.address}/health`;
  const script = `while [ ! -e ${stopFile} ]; do ` +
    `curl -s -o /dev/null --max-time 5 -H 'Host: shop.test' -w '%{http_code}\\n' ${url} || echo failed; ` +
    `done`;
  const running = bed.exec(from, ["sh", "-c", script]);
  return {
    async stop(): Promise<Map<string, number>> {
      await Deno.writeTextFile(stopFile, "");
      const done = await running;
      const counts = new Map<string, number>();
      for (const line of done.stdout.split("\n")) {
        if (line.trim() === "") continue;
        counts.set(line.trim(), (counts.get(line.trim()) ?? 0) + 1);
      }
      return counts;
    },
  };
}

Deno.test("ingress: every node's proxy routes hosts and prefixes to healthy allocs; a rollout and a rollback under load see only 200s", async () => {
  await withBed(
    { nodes: 3, name: "ingress", network: "bridge" },
    async (bed) => {
      const image = bed.registry.images.http;
      const v1 = await writeConfig(bed, "v1.mill", appConfig(image, "1"));
      const deployed = await bed.mill(0, "deploy", "-f", v1);
      assertEquals(deployed.code, 0, `${deployed.stdout}${deployed.stderr}`);
      await bed.waitFor(
        async () =>
          (await healthyAllocs(bed, "web")).length === 2 &&
          (await healthyAllocs(bed, "api")).length === 1,
        {
          what: "web and api healthy",
          timeoutMs: 45_000,
        },
      );

      // From every node to every node's proxy.
      for (let from = 0; from < 3; from++) {
        for (let to = 0; to < 3; to++) {
          await bed.waitFor(async () => {
            const answer = await get(bed, from, to, "shop.test", "/health");
            return answer.status === 200 && answer.body === "ok\n" || null;
          }, { what: `node ${to + 1}'s proxy to web, from node ${from + 1}` });
        }
      }
      const unknown = await get(bed, 0, 1, "nosuch.test", "/health");
      assertEquals(unknown.status, 404);
      assertTrue(!unknown.body.includes("10.210."), unknown.body);

      // The longest prefix: /api/… goes to api's one alloc (the access log
      // names the upstream), /apix to web.
      const [api] = await healthyAllocs(bed, "api");
      const apiIp = (api as unknown as { ip: string }).ip;
      const viaApi = await get(bed, 0, 2, "SHOP.test.", "/api/health");
      assertEquals(viaApi.status, 404, "httpd has no /api/health");
      await bed.waitFor(async () => {
        const lines = (await bed.logs(2)).split("\n").filter((l) =>
          l.includes("/api/health")
        );
        return lines.some((l) => l.includes(`${apiIp}:8080`)) || null;
      }, { what: "the access log naming api's alloc for /api/health" });
      const web = await healthyAllocs(bed, "web");
      const webIps = web.map((a) => (a as unknown as { ip: string }).ip);
      await get(bed, 0, 2, "shop.test", "/apix");
      await bed.waitFor(async () => {
        const lines = (await bed.logs(2)).split("\n").filter((l) =>
          l.includes("/apix")
        );
        return lines.some((l) => webIps.some((ip) => l.includes(`${ip}:`))) ||
          null;
      }, { what: "/apix served by web" });

      // A rollout, then a version that never gets healthy and rolls back,
      // under two request loops through two nodes' proxies.
      const loops = [
        requestLoop(bed, 1, 0, "loop-a"),
        requestLoop(bed, 2, 1, "loop-b"),
      ];
      const v2 = await writeConfig(bed, "v2.mill", appConfig(image, "2"));
      const rolled = await bed.mill(0, "deploy", "-f", v2);
      assertEquals(rolled.code, 0, `${rolled.stdout}${rolled.stderr}`);
      const bad = await writeConfig(
        bed,
        "bad.mill",
        appConfig(image, "3", "/nope"),
      );
      const failed = await bed.mill(0, "deploy", "-f", bad);
      assertEquals(failed.code, 1, `${failed.stdout}${failed.stderr}`);
      const seen = await Promise.all(loops.map((loop) => loop.stop()));
      for (const [index, counts] of seen.entries()) {
        const total = [...counts.values()].reduce((a, b) => a + b, 0);
        assertTrue(total > 20, `loop ${index + 1} made ${total} requests`);
        assertEquals(
          [...counts.keys()],
          ["200"],
          `loop ${index + 1}: ${JSON.stringify([...counts])}`,
        );
      }
    },
  );
});
