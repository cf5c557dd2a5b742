/**
 * Service discovery on the bed with bridge networking: a task's container
 * reaches `api.mill` by name on its declared port (whichever node it lands
 * on, across the mesh); a rollout, scaling up and down and a rolled-back
 * deploy change every node's A and SRV answers to exactly the healthy
 * allocs once they are done; and a killed node's addresses leave DNS
 * within the heartbeat timeout.
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

/** `healthPath` other than /health: httpd answers 404, the version never gets healthy. */
function appConfig(
  image: string,
  version: string,
  { replicas = 3, healthPath = "/health" } = {},
): string {
  return `service "api" {
  image    = "${image}"
  port     = 8080
  replicas = ${replicas}
  cpu      = 0.1
  memory   = "32M"
  env      = { VERSION = "${version}" }
  health {
    path     = "${healthPath}"
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

/**
 * Each node's own DNS server, by index in `bed.nodes`: its mesh address,
 * the first of its subnet. Subnets are not handed out in node order, so
 * another node's address would be asked across the mesh.
 */
async function dnsServers(bed: Bed): Promise<string[]> {
  const { nodes } = await bed.api<
    { nodes: { name: string; meshAddress: string | null }[] }
  >(0, "/v1/nodes");
  return bed.nodes.map((node) => {
    const address = nodes.find((n) => n.name === node.name)?.meshAddress;
    if (typeof address !== "string") {
      throw new Error(`${node.name} has no mesh address`);
    }
    return address;
  });
}

async function resolved(
  bed: Bed,
  node: number,
  gateway: string,
): Promise<string[]> {
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

interface Endpoint {
  readonly id: string;
  readonly ip: string;
}

/** The api allocs that serve now as the API says: healthy, not asked to stop. */
async function serving(bed: Bed): Promise<Endpoint[]> {
  const allocs = await healthyAllocs(bed, "api") as unknown as {
    id: string;
    ip: string;
    stopRequested: boolean;
  }[];
  return allocs.filter((a) => !a.stopRequested)
    .map((a) => ({ id: a.id, ip: a.ip }))
    .sort((a, b) => a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0);
}

/** What a node's DNS says of api: A, SRV and the SRV targets' A records (sorted). */
interface DnsView {
  readonly a: string[];
  readonly srv: string[];
  readonly targets: string[];
  readonly ttls: number[];
}

/** The view `endpoints` imply: one A, one SRV on the declared port, one target each. */
function viewOf(endpoints: readonly Endpoint[]): Omit<DnsView, "ttls"> {
  return {
    a: endpoints.map((e) => e.ip).sort(),
    srv: endpoints.map((e) => `0 1 8080 ${e.id}.alloc.mill.`).sort(),
    targets: endpoints.map((e) => `${e.id}.alloc.mill. ${e.ip}`).sort(),
  };
}

/** Asks node's DNS (dig, inside its namespace) for api.mill A and _api._tcp.mill SRV. */
async function dnsView(
  bed: Bed,
  node: number,
  server: string,
): Promise<DnsView> {
  const result = await bed.exec(node, [
    "dig",
    "+noall",
    "+answer",
    "+additional",
    "+time=2",
    "+tries=1",
    `@${server}`,
    "api.mill",
    "A",
    "_api._tcp.mill",
    "SRV",
  ]);
  if (result.code !== 0) {
    throw new Error(
      `dig on node ${node + 1}: ${result.stdout}${result.stderr}`,
    );
  }
  const view: DnsView = { a: [], srv: [], targets: [], ttls: [] };
  for (const line of result.stdout.split("\n")) {
    const [name, ttl, _class, type, ...data] = line.trim().split(/\s+/);
    if (name === undefined || name === "" || name.startsWith(";")) continue;
    view.ttls.push(Number(ttl));
    if (type === "A" && name === "api.mill.") view.a.push(data.join(" "));
    else if (type === "SRV") view.srv.push(data.join(" "));
    else if (type === "A") view.targets.push(`${name} ${data.join(" ")}`);
    else throw new Error(`unexpected record: ${line}`);
  }
  view.a.sort();
  view.srv.sort();
  view.targets.sort();
  return view;
}

function sameView(view: DnsView, endpoints: readonly Endpoint[]): boolean {
  const { ttls: _, ...records } = view;
  return JSON.stringify(records) === JSON.stringify(viewOf(endpoints));
}

/**
 * Waits until every node's DNS answers exactly `endpoints` (A, SRV and
 * the targets' addresses), each record with a TTL of 5 s at most.
 */
async function untilServed(
  bed: Bed,
  servers: readonly string[],
  endpoints: readonly Endpoint[],
  what: string,
): Promise<void> {
  for (let node = 0; node < bed.nodes.length; node++) {
    const view = await bed.waitFor(async () => {
      const view = await dnsView(bed, node, servers[node]!);
      return sameView(view, endpoints) ? view : null;
    }, { what: `node ${node + 1}'s DNS to answer ${what}`, timeoutMs: 10_000 })
      .catch(async (error) => {
        const last = await dnsView(bed, node, servers[node]!).catch((e) =>
          String(e)
        );
        throw new Error(
          `${error.message}\nwanted ${JSON.stringify(viewOf(endpoints))}\n` +
            `got ${JSON.stringify(last)}`,
        );
      });
    assertTrue(
      view.ttls.every((ttl) => Number.isInteger(ttl) && ttl >= 0 && ttl <= 5),
      `node ${node + 1}'s TTLs: ${view.ttls}`,
    );
  }
}

/** Deploys `text` as `file` and waits for `replicas` api allocs serving. */
async function deployServing(
  bed: Bed,
  file: string,
  text: string,
  replicas: number,
): Promise<Endpoint[]> {
  const path = await writeConfig(bed, file, text);
  const deployed = await bed.mill(0, "deploy", "-f", path);
  assertEquals(deployed.code, 0, `${deployed.stdout}${deployed.stderr}`);
  return await bed.waitFor(async () => {
    const now = await serving(bed);
    return now.length === replicas ? now : null;
  }, { what: `${replicas} api replicas serving`, timeoutMs: 30_000 });
}

Deno.test("service discovery: a container finds api.mill by name across nodes; a rollout, scaling, a rollback and a killed node change the answers", async () => {
  await withBed(
    { nodes: 3, primaries: 1, name: "dns", network: "bridge" },
    async (bed) => {
      const v1 = await writeConfig(
        bed,
        "v1.mill",
        appConfig(bed.registry.images.http, "1"),
      );
      const servers = await dnsServers(bed);
      const deployed = await bed.mill(0, "deploy", "-f", v1);
      assertEquals(deployed.code, 0, `${deployed.stdout}${deployed.stderr}`);
      const first = await bed.waitFor(async () => {
        const now = await serving(bed);
        return now.length === 3 ? now : null;
      }, { what: "3 healthy api replicas", timeoutMs: 45_000 });
      for (let node = 0; node < 3; node++) {
        assertEquals(
          await resolved(bed, node, servers[node]!),
          first.map((e) => e.ip).sort(),
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
      // By id: a new replica may get the address an old one left.
      const second = await bed.waitFor(async () => {
        const now = await serving(bed);
        return now.length === 3 &&
            now.every((e) => !first.some((f) => f.id === e.id))
          ? now
          : null;
      }, { what: "3 new healthy replicas", timeoutMs: 45_000 });
      await untilServed(bed, servers, second, "only the new replicas");

      // Scaling: up, then down; every node answers exactly the serving set.
      const five = await deployServing(
        bed,
        "v2x5.mill",
        appConfig(bed.registry.images.http, "2", { replicas: 5 }),
        5,
      );
      await untilServed(bed, servers, five, "5 replicas");
      const three = await deployServing(
        bed,
        "v2x3.mill",
        appConfig(bed.registry.images.http, "2", { replicas: 3 }),
        3,
      );
      assertTrue(
        three.every((e) => five.some((f) => f.id === e.id)),
        "scaling down keeps replicas it had",
      );
      await untilServed(bed, servers, three, "3 replicas");

      // A version that never gets healthy rolls back: the old replicas are
      // served throughout and after, the failed version's never.
      const bad = await writeConfig(
        bed,
        "bad.mill",
        appConfig(bed.registry.images.http, "bad", { healthPath: "/nope" }),
      );
      const samples: { node: number; view: DnsView }[] = [];
      let failing = true;
      const sampler = (async () => {
        for (let i = 0; failing; i++) {
          const node = i % bed.nodes.length;
          const view = await dnsView(bed, node, servers[node]!).catch(() =>
            null
          );
          if (view !== null) samples.push({ node, view });
        }
      })();
      const failed = await bed.mill(0, "deploy", "-f", bad);
      failing = false;
      await sampler;
      assertEquals(failed.code, 1, `${failed.stdout}${failed.stderr}`);
      const { state } = await bed.nodeState(0);
      const record = state.deploys.at(-1);
      assertEquals(record?.status, "rolled_back");
      const failedAllocs = [...state.allocs.values()].filter((a) =>
        a.deployId === record?.id
      );
      assertTrue(failedAllocs.length > 0, "the failed version was placed");
      const failedIps = failedAllocs.map((a) => a.ip);
      assertTrue(
        failedIps.every((ip) => ip !== null),
        `failed allocs' addresses: ${failedIps}`,
      );
      const after = await bed.waitFor(async () => {
        const now = await serving(bed);
        return now.length === 3 ? now : null;
      }, {
        what: "3 api replicas serving after the rollback",
        timeoutMs: 30_000,
      });
      assertEquals(after, three, "the rollback kept the old replicas");
      await untilServed(
        bed,
        servers,
        three,
        "the old replicas after the rollback",
      );
      for (let node = 0; node < bed.nodes.length; node++) {
        const view = await dnsView(bed, node, servers[node]!);
        assertTrue(
          !view.a.some((ip) => failedIps.includes(ip)),
          `node ${node + 1} answers a failed alloc: ${view.a}`,
        );
      }
      assertTrue(samples.length > 0, "DNS answered during the failed deploy");
      for (const { node, view } of samples) {
        assertTrue(
          sameView(view, three),
          `node ${node + 1} during the failed deploy: ${JSON.stringify(view)}`,
        );
      }

      // A killed node: its replica's address leaves DNS once it is down.
      // Node 1 is the only primary: the victim is another node with a replica.
      const lost = (await healthyAllocs(bed, "api")).find((a) =>
        a.nodeName !== bed.nodes[0]!.name
      );
      assertTrue(lost !== undefined, "a replica off n1");
      const victim = bed.nodes.find((n) => n.name === lost.nodeName)!;
      const lostIp = (lost as unknown as { ip: string }).ip;
      await bed.kill9(victim);
      await bed.waitFor(async () => {
        const answer = await resolved(bed, 0, servers[0]!);
        return answer.length > 0 && !answer.includes(lostIp) ? answer : null;
      }, { what: `${lostIp} to leave node 1's DNS`, timeoutMs: 20_000 });
    },
  );
});
