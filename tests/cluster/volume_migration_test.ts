/**
 * Seed 000's migration on the bed, against the fake DigitalOcean API (in
 * the underlay namespace, its volumes real loop devices linked in a
 * droplet's by-id directory): a service with a persistent volume runs on
 * one node; that node is killed with kill -9; the leader detaches the
 * volume from the dead droplet, attaches it to another, and the service is
 * healthy there with what it wrote before the kill. Then the node it moved
 * to is drained (seed 001's volume handoff): the alloc there stops, the
 * node unmounts the volume, it moves to the last droplet, and the service
 * is healthy there with everything it wrote; the drained node keeps no
 * mount of it, and the cloud shows it attached to the new droplet only.
 *
 * Seed 001's "node already down when drained": a service pinned to one
 * node dies with it and cannot move; draining the dead node detaches its
 * volume (ready, attached to no droplet), `mill remove` then takes the node
 * out, and once the pin is lifted the service takes the volume up on
 * another node with its data.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { withBed } from "./bed.ts";
import { healthyAllocs, writeConfig } from "./_web.ts";
import {
  cloudVolumes,
  countOn,
  dbConfig,
  DO_TOKEN,
  startFakeCloud,
} from "./_volumes.ts";

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

    // Drain the node it moved to: the volume follows the service again.
    const drained = await bed.mill(via, "drain", moved.nodeName!);
    assertEquals(drained.code, 0, `${drained.stdout}${drained.stderr}`);
    assertTrue(
      new RegExp(`db: volume dbdata: moved from ${moved.nodeName} to n\\d`)
        .test(drained.stdout),
      drained.stdout,
    );
    const last = await bed.waitFor(async () => {
      const healthy = await healthyAllocs(bed, "db", bed.nodes[via]);
      return healthy.length === 1 &&
          healthy[0]!.nodeName !== moved.nodeName &&
          healthy[0]!.nodeName !== first!.nodeName
        ? healthy[0]!
        : null;
    }, { what: "db healthy on the last node" });
    const lastIndex = bed.nodes.findIndex((n) => n.name === last.nodeName);
    assertEquals(await countOn(bed, lastIndex), "3", "every start's record");
    const mounts = await Deno.readTextFile("/proc/self/mounts");
    assertEquals(
      mounts.split("\n").filter((line) =>
        line.includes(`${bed.nodes[movedIndex]!.dataDir}/persistent`)
      ),
      [],
      "the drained node unmounted the volume",
    );
    const after = (await bed.nodeState(via)).state.volumes.get("dbdata");
    assertEquals(after?.state, "attached");
    const cloud = await cloudVolumes(bed);
    assertEquals(cloud.length, 1, JSON.stringify(cloud));
    assertEquals(cloud[0]!.droplet_ids, [1000 + bed.nodes[lastIndex]!.index]);
  });
});

Deno.test("volumes: draining a dead node detaches its volume; the service takes it up elsewhere", async () => {
  await withBed({
    nodes: 3,
    name: "voldown",
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
    const pinned = bed.nodes[2]!;
    const pin = `  constraint {
    attribute = "node.name"
    value     = "${pinned.name}"
  }
`;
    const image = bed.registry.images.http;
    const file = await writeConfig(
      bed,
      "db.mill",
      dbConfig(image, { extra: pin }),
    );
    const deployed = await bed.mill(0, "deploy", "-f", file);
    assertEquals(deployed.code, 0, `${deployed.stdout}${deployed.stderr}`);
    await bed.waitFor(async () => {
      const healthy = await healthyAllocs(bed, "db");
      return healthy.length === 1 && healthy[0]!.nodeName === pinned.name ||
        null;
    }, { what: `db healthy on ${pinned.name}` });
    assertEquals(await countOn(bed, 2), "1");

    await bed.kill9(pinned);
    await bed.waitFor(async () => {
      const { state } = await bed.nodeState(0);
      const node = [...state.nodes.values()].find((n) =>
        n.name === pinned.name
      );
      return node?.status === "down" || null;
    }, { what: `${pinned.name} down`, timeoutMs: 60_000 });
    const stuck = (await bed.nodeState(0)).state.volumes.get("dbdata");
    assertEquals(stuck?.state, "attached", "nowhere else may take it");

    const drained = await bed.mill(0, "drain", pinned.name);
    assertEquals(drained.code, 0, `${drained.stdout}${drained.stderr}`);
    assertTrue(
      drained.stdout.includes(
        `db: volume dbdata: detached from ${pinned.name}`,
      ),
      drained.stdout,
    );
    const ready = (await bed.nodeState(0)).state.volumes.get("dbdata");
    assertEquals([ready?.state, ready?.nodeId], ["ready", null]);
    assertEquals((await cloudVolumes(bed))[0]!.droplet_ids, []);
    const removed = await bed.mill(0, "remove", "--yes", pinned.name);
    assertEquals(removed.code, 0, `${removed.stdout}${removed.stderr}`);

    await Deno.writeTextFile(file, dbConfig(image, { version: "2" }));
    const again = await bed.mill(0, "deploy", "-f", file);
    assertEquals(again.code, 0, `${again.stdout}${again.stderr}`);
    const [taken] = await bed.waitFor(async () => {
      const healthy = await healthyAllocs(bed, "db");
      return healthy.length === 1 ? healthy : null;
    }, { what: "db healthy again" });
    const at = bed.nodes.findIndex((n) => n.name === taken!.nodeName);
    assertEquals(await countOn(bed, at), "2", "its data came along");
    assertEquals((await cloudVolumes(bed))[0]!.droplet_ids, [
      1000 + bed.nodes[at]!.index,
    ]);
  });
});
