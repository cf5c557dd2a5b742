/**
 * Three nodes form a cluster of three primaries the README's way (init,
 * then joins), each sees all three ready, a 3-replica service spreads over
 * them and answers on every node, and the bed leaves nothing behind.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { withBed } from "./bed.ts";
import { fetchOnNode, healthyAllocs, webConfig, writeConfig } from "./_web.ts";

Deno.test("three primaries form, each lists three ready nodes, a 3-replica service spreads and answers on every node", async () => {
  await withBed({ nodes: 3, name: "formation" }, async (bed) => {
    for (const node of bed.nodes) {
      const listed = await bed.mill(node, "nodes", "--json");
      assertEquals(listed.code, 0, listed.stderr);
      const nodes = JSON.parse(listed.stdout).nodes as {
        name: string;
        status: string;
      }[];
      assertEquals(
        nodes.map((n) => `${n.name} ${n.status}`).sort(),
        ["n1 ready", "n2 ready", "n3 ready"],
        `mill nodes on ${node.name}`,
      );
    }
    const file = await writeConfig(
      bed,
      "web.mill",
      webConfig(bed.registry.images.http, 3),
    );
    const deployed = await bed.mill(bed.nodes[1]!, "deploy", "-f", file);
    assertEquals(deployed.code, 0, `${deployed.stdout}${deployed.stderr}`);
    const allocs = await bed.waitFor(async () => {
      const healthy = await healthyAllocs(bed, "web");
      return healthy.length === 3 ? healthy : null;
    }, { what: "3 healthy web replicas", timeoutMs: 30_000 });
    assertEquals(
      allocs.map((a) => a.nodeName).sort(),
      ["n1", "n2", "n3"],
      "one replica per node",
    );
    for (const alloc of allocs) {
      const node = bed.nodes.find((n) => n.name === alloc.nodeName)!;
      assertTrue(alloc.hostPort !== null, `${alloc.id} has a host port`);
      assertEquals(await fetchOnNode(bed, node, alloc.hostPort!), "ok\n");
      // From another node too: the underlay carries it.
      const other = bed.nodes.find((n) => n !== node)!;
      const across = await bed.exec(other, [
        "curl",
        "-fsS",
        "--max-time",
        "5",
        `http://${node.address}:${alloc.hostPort}/health`,
      ]);
      assertEquals(across.stdout, "ok\n", across.stderr);
    }
  });
});
