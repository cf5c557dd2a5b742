/**
 * Service discovery on the bed with bridge networking: a task's container
 * reaches `api.mill` by name on its declared port (whichever node it lands
 * on, across the mesh), a rollout changes the answers once it is done, and
 * a killed node's addresses leave DNS within the heartbeat timeout.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { type Bed, withBed } from "./bed.ts";
import { healthyAllocs, writeConfig } from "./_web.ts";

/**
 * The probe asks its node's DNS for api.mill (nslookup, as any resolver in
 * the container would) and sends a request to the first address on the
 * declared port. Not wget: the static busybox's wget crashes without glibc's
 * NSS modules, which a static image lacks; nc takes a numeric address.
 */
const PROBE =
  "ip=$(/bin/busybox nslookup api.mill | /bin/busybox awk '/^Address: /{print $2; exit}'); " +
  "(echo 'GET /health HTTP/1.0'; echo) | /bin/busybox nc -w 5 $ip 8080";

function appConfig(image: string, version: string): string {
  return `service "api" {
  image    = "${image}"
  port     = 8080
  replicas = 3
  cpu      = 0.1
  memory   = "32M"
  env      = { VERSION = "${version}" }
  health {
    path     = "/health"
    interval = "1s"
  }
}

task "probe" {
  image   = "${image}"
  command = ["/bin/busybox", "sh", "-c", "${PROBE}"]
  cpu     = 0.1
  memory  = "32M"
}

task "stranger" {
  image   = "${image}"
  command = ["/bin/busybox", "nslookup", "nobody.mill"]
  cpu     = 0.1
  memory  = "32M"
}
`;
}

async function apiIps(bed: Bed): Promise<string[]> {
  const allocs = await healthyAllocs(bed, "api");
  return allocs.map((a) => (a as unknown as { ip: string }).ip).sort();
}

async function resolved(bed: Bed, node: number): Promise<string[]> {
  const gateway = `10.210.${node}.1`;
  const result = await bed.exec(node, [
    "dig",
    "+short",
    "+time=2",
    "+tries=1",
    `@${gateway}`,
    "api.mill",
  ]);
  return result.stdout.trim().split("\n").filter((l) => l !== "").sort();
}

Deno.test("service discovery: a container finds api.mill by name across nodes, a rollout and a killed node change the answers", async () => {
  await withBed(
    { nodes: 3, primaries: 1, name: "dns", network: "bridge" },
    async (bed) => {
      const v1 = await writeConfig(
        bed,
        "v1.mill",
        appConfig(bed.registry.images.http, "1"),
      );
      const deployed = await bed.mill(0, "deploy", "-f", v1);
      assertEquals(deployed.code, 0, `${deployed.stdout}${deployed.stderr}`);
      const first = await bed.waitFor(async () => {
        const ips = await apiIps(bed);
        return ips.length === 3 ? ips : null;
      }, { what: "3 healthy api replicas", timeoutMs: 45_000 });
      for (let node = 0; node < 3; node++) {
        assertEquals(
          await resolved(bed, node),
          first,
          `node ${node + 1}'s DNS`,
        );
      }

      // A real container resolves the name through its node's DNS and
      // connects to the declared port, on its node or across the mesh.
      for (let run = 0; run < 3; run++) {
        const probe = await bed.mill(0, "spawn", "probe");
        assertEquals(
          probe.code,
          0,
          `probe ${run}: ${probe.stdout}${probe.stderr}`,
        );
        assertTrue(probe.stdout.includes("ok"), probe.stdout);
      }
      const stranger = await bed.mill(0, "spawn", "stranger");
      assertTrue(
        stranger.code !== 0,
        `an unknown name resolved: ${stranger.stdout}`,
      );

      // A rollout: once done, only the new replicas are served.
      const v2 = await writeConfig(
        bed,
        "v2.mill",
        appConfig(bed.registry.images.http, "2"),
      );
      const rolled = await bed.mill(0, "deploy", "-f", v2);
      assertEquals(rolled.code, 0, `${rolled.stdout}${rolled.stderr}`);
      const second = await bed.waitFor(async () => {
        const ips = await apiIps(bed);
        return ips.length === 3 && ips.every((ip) => !first.includes(ip))
          ? ips
          : null;
      }, { what: "3 new healthy replicas", timeoutMs: 45_000 });
      await bed.waitFor(async () => {
        const answer = await resolved(bed, 0);
        return answer.join() === second.join() ? answer : null;
      }, { what: "DNS to serve only the new replicas", timeoutMs: 10_000 });

      // A killed node: its replica's address leaves DNS once it is down.
      const victim = bed.nodes[2]!;
      const lost = (await healthyAllocs(bed, "api")).find((a) =>
        a.nodeName === victim.name
      );
      assertTrue(lost !== undefined, "a replica on n3");
      const lostIp = (lost as unknown as { ip: string }).ip;
      await bed.kill9(victim);
      await bed.waitFor(async () => {
        const answer = await resolved(bed, 0);
        return answer.length > 0 && !answer.includes(lostIp) ? answer : null;
      }, { what: `${lostIp} to leave node 1's DNS`, timeoutMs: 20_000 });
    },
  );
});
