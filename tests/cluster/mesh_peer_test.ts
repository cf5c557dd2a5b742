/**
 * Raft, node RPC and node messages on the WireGuard mesh: once a bridge
 * bed has formed, every node serves its peer port on its mesh address with
 * a certificate naming it (the primary that runs no containers too), and
 * with TCP to the peer port blocked on the underlay the cluster still
 * commits (the two voters reach each other through the mesh only), deploys
 * across the nodes that run containers and sees its replicas healthy.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { withBed } from "./bed.ts";
import { healthyAllocs, webConfig, writeConfig } from "./_web.ts";

interface MeshedNode {
  readonly name: string;
  readonly roles: readonly string[];
  readonly allocs: number;
  readonly meshAddress: string | null;
  readonly mesh: { readonly peer?: string } | null;
}

const PEER_PORT = 7946;

Deno.test("mesh: the peer port moves onto mesh addresses; the cluster works with the underlay's peer port blocked", async () => {
  await withBed(
    {
      nodes: 3,
      primaries: 2,
      primaryOnly: [2],
      name: "meshpeer",
      network: "bridge",
    },
    async (bed) => {
      const nodes = await bed.waitFor(async () => {
        const listed = await bed.mill(0, "nodes", "--json");
        const views = JSON.parse(listed.stdout).nodes as MeshedNode[];
        const all = views.length === 3 &&
          views.every((n) =>
            n.meshAddress !== null &&
            n.mesh?.peer === `${n.meshAddress}:${PEER_PORT}`
          );
        return all ? views : null;
      }, { what: "every node serving on its mesh address", timeoutMs: 60_000 });
      const meshAddresses = nodes.map((n) => n.meshAddress!);
      assertEquals(
        nodes.map((n) => `${n.name} ${n.roles.join(",")}`).sort(),
        ["n1 primary,secondary", "n2 primary", "n3 secondary"],
      );

      // Each node's certificate names its mesh address: a TLS client that
      // trusts only the cluster CA accepts it there.
      for (const [index, node] of bed.nodes.entries()) {
        const view = nodes.find((n) => n.name === node.name)!;
        const probe = await bed.exec(index, [
          "curl",
          "-sS",
          "-o",
          "/dev/null",
          "-w",
          "%{http_code}",
          "--max-time",
          "5",
          "--cacert",
          `${bed.dir}/ca.crt`,
          `https://${view.meshAddress}:${PEER_PORT}/peer/v1/watch`,
        ]);
        assertEquals(
          probe.code,
          0,
          `TLS to ${view.meshAddress}: ${probe.stderr}`,
        );
        // No client certificate: refused, but only after a verified handshake.
        assertTrue(["401", "403"].includes(probe.stdout), probe.stdout);
      }

      // Every node calls the others through the mesh once its handshakes
      // are fresh: connections to peer ports on mesh addresses.
      const meshPeersOf = async (index: number) => {
        const sockets = await bed.exec(index, [
          "ss",
          "-Htn",
          "state",
          "established",
          `( dport = :${PEER_PORT} )`,
        ]);
        assertEquals(sockets.code, 0, sockets.stderr);
        return sockets.stdout.split("\n").filter((l) => l.trim() !== "")
          .map((line) => line.trim().split(/\s+/).at(-1)!.split(":")[0]!)
          .filter((peer) => meshAddresses.includes(peer));
      };
      for (const index of bed.nodes.keys()) {
        await bed.waitFor(
          async () => (await meshPeersOf(index)).length > 0 ? true : null,
          {
            what: `node ${index + 1} connected to a peer through the mesh`,
            timeoutMs: 30_000,
          },
        );
      }

      // Block TCP to the peer port on the underlay, on every node.
      const underlay = bed.nodes.map((n) => n.address);
      for (const index of bed.nodes.keys()) {
        const script = [
          "table inet meshtest {",
          "  chain out {",
          "    type filter hook output priority filter; policy accept;",
          `    ip daddr { ${
            underlay.join(", ")
          } } tcp dport ${PEER_PORT} reject with tcp reset`,
          "  }",
          "}",
        ].join("\n");
        const blocked = await bed.exec(index, ["nft", "-f", "-"], {
          stdin: script,
        });
        assertEquals(blocked.code, 0, blocked.stderr);
      }

      const file = await writeConfig(
        bed,
        "web.mill",
        webConfig(bed.registry.images.http, 2),
      );
      const deployed = await bed.mill(0, "deploy", "-f", file);
      assertEquals(deployed.code, 0, `${deployed.stdout}${deployed.stderr}`);
      const allocs = await bed.waitFor(async () => {
        const healthy = await healthyAllocs(bed, "web");
        return healthy.length === 2 ? healthy : null;
      }, {
        what: "2 healthy replicas with the underlay blocked",
        timeoutMs: 60_000,
      });
      assertEquals(
        allocs.map((a) => a.nodeName).sort(),
        ["n1", "n3"],
        "one replica per node that runs containers: RPC reached them",
      );
      const listed = await bed.mill(0, "nodes", "--json");
      const after = JSON.parse(listed.stdout).nodes as MeshedNode[];
      assertEquals(after.find((n) => n.name === "n2")?.allocs, 0);
      // Without a container network, n2 still keeps other nodes' containers
      // off its agent's ports through the mesh.
      const ruleset = await bed.exec(1, ["nft", "list", "ruleset"]);
      assertTrue(
        /ip saddr & 0\.0\.0\.255 != 0\.0\.0\.1 tcp dport \{ 7443, 7946 \} reject/
          .test(ruleset.stdout),
        ruleset.stdout,
      );
    },
  );
});
