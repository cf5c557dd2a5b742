/**
 * Seed 000's migration on the bed, against the fake DigitalOcean API (in
 * the underlay namespace, its volumes real loop devices linked in a
 * droplet's by-id directory): a service with a persistent volume runs on
 * one node; that node is killed with kill -9; the leader detaches the
 * volume from the dead droplet, attaches it to another, and the service is
 * healthy there with what it wrote before the kill.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { withBed } from "./bed.ts";
import { healthyAllocs, writeConfig } from "./_web.ts";
import { countOn, dbConfig, DO_TOKEN, startFakeCloud } from "./_volumes.ts";

Deno.test("volumes: a dead node's volume moves to another droplet and the service finds its data there", async () => {
  await withBed({
    nodes: 3,
    name: "migrate",
    network: "bridge",
    heartbeat: { timeout: "3s", interval: "500ms" },
    beforeAgents: (bed) => startFakeCloud(bed),
  }, async (bed) => {
    const set = await bed.millWith(
      0,
      ["secret", "set", "digitalocean-token"],
      { stdin: DO_TOKEN },
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
    const hostIndex = bed.nodes.findIndex((n) => n.name === first!.nodeName);
    assertEquals(await countOn(bed, hostIndex), "1");
    // Whichever node runs db dies, the leader too: any other answers.
    const via = bed.nodes.findIndex((_, i) => i !== hostIndex);

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
