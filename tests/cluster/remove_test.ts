/**
 * `mill remove` on a bridge bed of three primaries: a ready node is
 * refused; a node killed with kill -9 is removed once it is down, leaves
 * the Raft membership and every other node's WireGuard peers, routes and
 * DNS; the two that remain still commit a deploy; and the removed node,
 * restarted with its old data dir, cannot come back: every peer port
 * refuses its certificate, so it never registers again nor moves the term.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { meshInterfaceOf } from "../../node/network/node_mesh.ts";
import { type Bed, withBed } from "./bed.ts";
import { healthyAllocs, webConfig, writeConfig } from "./_web.ts";

interface Listed {
  readonly id: string;
  readonly name: string;
  readonly status: string;
  readonly meshAddress: string | null;
  readonly mesh: { readonly publicKey: string } | null;
}

async function listNodes(bed: Bed, via: number): Promise<Listed[]> {
  const listed = await bed.mill(via, "nodes", "--json");
  assertEquals(listed.code, 0, listed.stderr);
  return JSON.parse(listed.stdout).nodes as Listed[];
}

/** The public keys of node `index`'s WireGuard peers. */
async function wgPeers(bed: Bed, index: number): Promise<string[]> {
  const iface = meshInterfaceOf(
    bed.nodes[index]!.netns.replace(/[^a-z0-9]/g, ""),
  );
  const shown = await bed.exec(index, ["wg", "show", iface, "peers"]);
  assertEquals(shown.code, 0, shown.stderr);
  return shown.stdout.split("\n").filter((l) => l.trim() !== "");
}

Deno.test("mill remove: a dead primary leaves the membership, the mesh and DNS everywhere; restarted, it cannot come back", async () => {
  await withBed(
    { nodes: 3, primaries: 3, name: "remove", network: "bridge" },
    async (bed) => {
      const nodes = await bed.waitFor(async () => {
        const views = await listNodes(bed, 0);
        return views.length === 3 && views.every((n) => n.mesh !== null)
          ? views
          : null;
      }, { what: "three nodes on the mesh", timeoutMs: 60_000 });
      const leader = await bed.leader();
      const victim = bed.nodes.find((n) => n !== leader)!;
      const keeper = bed.nodes.findIndex((n) => n !== victim && n !== leader);
      const others = [bed.nodes.indexOf(leader), keeper];
      const victimView = nodes.find((n) => n.name === victim.name)!;
      const victimKey = victimView.mesh!.publicKey;
      for (const index of others) {
        await bed.waitFor(
          async () => (await wgPeers(bed, index)).includes(victimKey) || null,
          { what: `node ${index + 1} peering with ${victim.name}` },
        );
      }

      const ready = await bed.mill(0, "remove", victim.name, "--yes");
      assertEquals(ready.code, 1, ready.stdout);
      assertTrue(ready.stderr.includes("node.remove_ready"), ready.stderr);
      const unknown = await bed.mill(0, "remove", "nosuchnode", "--yes");
      assertEquals(unknown.code, 1, unknown.stdout);
      assertTrue(unknown.stderr.includes("node.not_found"), unknown.stderr);

      await bed.kill9(victim);
      await bed.waitFor(async () => {
        const views = await listNodes(bed, keeper);
        return views.find((n) => n.name === victim.name)?.status === "down" ||
          null;
      }, { what: `${victim.name} down`, timeoutMs: 30_000 });
      const removed = await bed.mill(
        keeper,
        "remove",
        victim.name,
        "--yes",
        "--json",
      );
      assertEquals(removed.code, 0, `${removed.stdout}${removed.stderr}`);
      assertEquals(JSON.parse(removed.stdout), {
        name: victim.name,
        id: victimView.id,
        wasMember: true,
      });

      for (const index of others) {
        const what = `node ${index + 1}`;
        await bed.waitFor(
          async () => !(await wgPeers(bed, index)).includes(victimKey) || null,
          { what: `${what} to drop ${victim.name}'s WireGuard peer` },
        );
        const routes = await bed.exec(index, ["ip", "-4", "route", "show"]);
        const subnet = victimView.meshAddress!.replace(/\.1$/, ".0/24");
        assertTrue(!routes.stdout.includes(subnet), routes.stdout);
        const { state } = await bed.nodeState(index);
        assertTrue(!state.nodes.has(victimView.id), `${what} state`);
        assertEquals(state.removedNodes, [victimView.id], `${what} state`);
        const dig = await bed.exec(index, [
          "dig",
          "+time=2",
          "+tries=1",
          `@${
            nodes.find((n) => n.name === bed.nodes[index]!.name)!
              .meshAddress
          }`,
          `${victim.name}.node.mill`,
          "A",
        ]);
        assertTrue(dig.stdout.includes("status: NXDOMAIN"), dig.stdout);
      }

      // Two voters of two: the cluster still commits.
      const file = await writeConfig(
        bed,
        "web.mill",
        webConfig(bed.registry.images.http, 2),
      );
      const deployed = await bed.mill(keeper, "deploy", "-f", file);
      assertEquals(deployed.code, 0, `${deployed.stdout}${deployed.stderr}`);
      await bed.waitFor(async () => {
        const healthy = await healthyAllocs(bed, "web");
        return healthy.length === 2 ? healthy : null;
      }, { what: "2 healthy replicas on the two nodes left" });

      // The removed node comes back with its old data dir: every peer port
      // refuses it, so it neither registers nor disturbs the term.
      const before = JSON.parse(
        (await bed.mill(keeper, "status", "--json"))
          .stdout,
      ) as { term: number };
      await bed.restart(victim);
      await bed.waitFor(
        async () =>
          ((await bed.logs(victim)).match(/ serving: peer /g) ?? []).length >=
            2 || null,
        { what: `${victim.name} serving again`, timeoutMs: 30_000 },
      );
      // Several election timeouts of a node that thinks it is a voter.
      await new Promise((resolve) => setTimeout(resolve, 6_000));
      const after = JSON.parse(
        (await bed.mill(keeper, "status", "--json"))
          .stdout,
      ) as { term: number };
      assertEquals(after.term, before.term, "the removed node moved no term");
      assertEquals(
        (await listNodes(bed, keeper)).map((n) => n.name).sort(),
        bed.nodes.filter((n) => n !== victim).map((n) => n.name).sort(),
      );
    },
  );
});
