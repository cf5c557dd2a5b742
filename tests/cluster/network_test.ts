/**
 * Bridge networking on the multi-node bed: every alloc has an address of
 * its node's subnet and listens on its own declared port (two replicas of
 * a fixed-port image share a node), `web.mill` resolves to the healthy
 * replicas from every node's DNS, published host ports reach them, and a
 * container cannot open its node's agent ports but can ask its DNS.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { meshInterfaceOf } from "../../node/network/node_mesh.ts";
import { type Bed, withBed } from "./bed.ts";
import { healthyAllocs, webConfig, writeConfig } from "./_web.ts";

interface NodeInfo {
  readonly name: string;
  readonly subnet: string | null;
}

async function dig(
  bed: Bed,
  node: number,
  server: string,
  name: string,
  type = "A",
) {
  const result = await bed.exec(node, [
    "dig",
    "+short",
    "+time=2",
    "+tries=1",
    `@${server}`,
    name,
    type,
  ]);
  assertEquals(result.code, 0, result.stderr);
  return result.stdout.trim().split("\n").filter((l) => l !== "").sort();
}

/** The node's WireGuard interface: named after its netns prefix on a bed. */
function wgOf(bed: Bed, index: number): string {
  return meshInterfaceOf(bed.nodes[index]!.netns.replace(/[^a-z0-9]/g, ""));
}

/** Bytes node `index` received from its WireGuard peers. */
async function wgReceived(bed: Bed, index: number): Promise<number> {
  const shown = await bed.exec(index, [
    "wg",
    "show",
    wgOf(bed, index),
    "transfer",
  ]);
  assertEquals(shown.code, 0, shown.stderr);
  return shown.stdout.trim().split("\n").map((line) =>
    Number(line.split("\t")[1] ?? 0)
  )
    .reduce((sum, n) => sum + n, 0);
}

Deno.test("bridge networking: addresses of each node's subnet, fixed ports shared on a node, DNS names, publications, no way to the agent, containers across nodes through WireGuard", async () => {
  await withBed(
    { nodes: 2, primaries: 1, name: "network", network: "bridge" },
    async (bed) => {
      const listed = await bed.mill(0, "nodes", "--json");
      const nodes = JSON.parse(listed.stdout).nodes as NodeInfo[];
      const subnets = new Map(nodes.map((n) => [n.name, n.subnet]));
      assertEquals([...subnets.values()].sort(), [
        "10.210.0.0/24",
        "10.210.1.0/24",
      ]);

      const file = await writeConfig(
        bed,
        "web.mill",
        webConfig(bed.registry.images.http, 4),
      );
      const deployed = await bed.mill(0, "deploy", "-f", file);
      assertEquals(deployed.code, 0, `${deployed.stdout}${deployed.stderr}`);
      const allocs = await bed.waitFor(async () => {
        const healthy = await healthyAllocs(bed, "web");
        return healthy.length === 4 ? healthy : null;
      }, { what: "4 healthy web replicas", timeoutMs: 45_000 });
      const ips = allocs.map((a) => (a as unknown as { ip: string }).ip);
      assertEquals(new Set(ips).size, 4, `distinct addresses ${ips}`);

      for (const [index, node] of bed.nodes.entries()) {
        const subnet = subnets.get(node.name)!;
        const gateway = subnet.replace(/0\/24$/, "1");
        const mine = allocs.filter((a) => a.nodeName === node.name);
        assertEquals(mine.length, 2, `two replicas on ${node.name}`);
        for (const alloc of mine) {
          const ip = (alloc as unknown as { ip: string }).ip;
          assertTrue(
            ip.startsWith(subnet.replace(/0\/24$/, "")),
            `${ip} in ${subnet}`,
          );
          // Its own address, its declared port: both replicas listen on 8080.
          const direct = await bed.exec(node, [
            "curl",
            "-fsS",
            "--max-time",
            "5",
            `http://${ip}:8080/health`,
          ]);
          assertEquals(direct.stdout, "ok\n", direct.stderr);
          // Its publication on the node's address, from the other node.
          const other = bed.nodes[1 - index]!;
          const published = await bed.exec(other, [
            "curl",
            "-fsS",
            "--max-time",
            "5",
            `http://${node.address}:${alloc.hostPort}/health`,
          ]);
          assertEquals(published.stdout, "ok\n", published.stderr);
        }
        // Every node's DNS knows every healthy replica and the alloc names.
        assertEquals(
          await dig(bed, index, gateway, "web.mill"),
          [...ips].sort(),
        );
        assertEquals(
          await dig(bed, index, gateway, "WEB.mill."),
          [...ips].sort(),
          "case-insensitive",
        );
        const srv = await dig(bed, index, gateway, "_web._tcp.mill", "SRV");
        assertEquals(srv.length, 4);
        assertTrue(
          srv.every((line) => / 8080 [a-z0-9-]+\.alloc\.mill\.$/.test(line)),
          srv.join("\n"),
        );
        const alloc = mine[0]!;
        assertEquals(await dig(bed, index, gateway, `${alloc.id}.alloc.mill`), [
          (alloc as unknown as { ip: string }).ip,
        ]);
        assertEquals(await dig(bed, index, gateway, `${node.name}.node.mill`), [
          gateway,
        ]);
        const missing = await bed.exec(index, [
          "dig",
          "+time=2",
          "+tries=1",
          `@${gateway}`,
          "nope.mill",
        ]);
        assertTrue(missing.stdout.includes("status: NXDOMAIN"), missing.stdout);

        // From inside a container's namespace: DNS yes, the agent's ports no.
        const netns = `/run/netns/${
          node.netns.replace(/[^a-z0-9]/g, "")
        }-a-${alloc.id}`;
        const inside = (argv: string[]) =>
          bed.exec(index, ["nsenter", `--net=${netns}`, ...argv], {
            timeoutMs: 10_000,
          });
        const asked = await inside([
          "dig",
          "+short",
          "+time=2",
          "+tries=1",
          `@${gateway}`,
          "web.mill",
        ]);
        assertEquals(
          asked.stdout.trim().split("\n").sort(),
          [...ips].sort(),
          asked.stderr,
        );
        for (const target of [`${gateway}:7946`, `${node.address}:7946`]) {
          const peer = await inside([
            "curl",
            "-sk",
            "--max-time",
            "3",
            `https://${target}/`,
          ]);
          assertTrue(
            peer.code !== 0,
            `a container reached the peer port at ${target}: ${peer.stdout}`,
          );
        }
        if (node.primary) {
          const api = await inside([
            "curl",
            "-sk",
            "--max-time",
            "3",
            `https://${node.address}:7443/v1/status`,
          ]);
          assertTrue(
            api.code !== 0,
            `a container reached the API: ${api.stdout}`,
          );
        }
      }

      // Across nodes: a container on n1 reaches one on n2 on its own address,
      // through WireGuard (the peer's transfer counters grow).
      const [a, b] = [
        allocs.find((x) => x.nodeName === "n1")!,
        allocs.find((x) => x.nodeName === "n2")!,
      ];
      const bIp = (b as unknown as { ip: string }).ip;
      const aNetns = `/run/netns/${
        bed.nodes[0]!.netns.replace(/[^a-z0-9]/g, "")
      }-a-${a.id}`;
      const before = await wgReceived(bed, 0);
      const across = await bed.exec(0, [
        "nsenter",
        `--net=${aNetns}`,
        "curl",
        "-fsS",
        "--max-time",
        "5",
        `http://${bIp}:8080/health`,
      ]);
      assertEquals(
        across.stdout,
        "ok\n",
        `container to container across nodes: ${across.stderr}`,
      );
      assertTrue(
        await wgReceived(bed, 0) > before,
        "the reply came back through WireGuard",
      );
      const handshakes = await bed.exec(0, [
        "wg",
        "show",
        wgOf(bed, 0),
        "latest-handshakes",
      ]);
      assertTrue(/\t[1-9][0-9]+$/m.test(handshakes.stdout), handshakes.stdout);

      // mill nodes shows each node's mesh address and the leader's last
      // handshake with it.
      const table = await bed.mill(0, "nodes");
      const n2Row = table.stdout.split("\n").find((l) => l.startsWith("n2"));
      const n2Subnet = subnets.get("n2")!.replace(/0\/24$/, "1");
      assertTrue(
        n2Row?.includes(`${n2Subnet} (handshake `) === true,
        table.stdout,
      );

      // Scaling down changes the answers at once (TTL ≤ 5 s).
      const fewer = await writeConfig(
        bed,
        "web2.mill",
        webConfig(bed.registry.images.http, 2),
      );
      const scaled = await bed.mill(0, "deploy", "-f", fewer);
      assertEquals(scaled.code, 0, `${scaled.stdout}${scaled.stderr}`);
      const gateway = subnets.get(bed.nodes[0]!.name)!.replace(/0\/24$/, "1");
      const kept = await bed.waitFor(async () => {
        const healthy = await healthyAllocs(bed, "web");
        return healthy.length === 2 ? healthy : null;
      }, { what: "2 healthy replicas", timeoutMs: 30_000 });
      const keptIps = kept.map((a) => (a as unknown as { ip: string }).ip)
        .sort();
      await bed.waitFor(async () => {
        const answer = await dig(bed, 0, gateway, "web.mill");
        return answer.join() === keptIps.join() ? answer : null;
      }, { what: "DNS to follow the scale-down", timeoutMs: 10_000 });
      // The stopped replicas' containers and namespaces are gone from their
      // nodes (the agents run with the binary's scoped permissions).
      await bed.waitFor(async () => {
        let containers = 0;
        let namespaces = 0;
        for (const [index, node] of bed.nodes.entries()) {
          const listed = await bed.exec(index, [
            "ctr",
            "-a",
            node.containerdSocket,
            "-n",
            "mill",
            "containers",
            "ls",
            "-q",
          ]);
          containers += listed.stdout.trim().split("\n").filter((l) =>
            l !== ""
          ).length;
          const prefix = `${node.netns.replace(/[^a-z0-9]/g, "")}-a-`;
          const netns = await bed.exec(index, ["ip", "netns", "list"]);
          namespaces += netns.stdout.split("\n").filter((l) =>
            l.startsWith(prefix)
          ).length;
        }
        return containers === 2 && namespaces === 2 ? true : null;
      }, {
        what: "only the 2 kept replicas' containers and namespaces left",
        timeoutMs: 20_000,
      });
    },
  );
});
