/**
 * A persistent volume on a one-node cluster with the local provider (a
 * sparse file on a loop device): the first deploy creates and attaches it
 * and says so, the node makes an ext4 on the blank device, mounts it under
 * its data dir and binds it into the container; what the service wrote
 * survives a rolling redeploy and a `mill down` and `mill deploy` (the
 * volume is unmounted when its last alloc ends, and kept); `mill volume
 * list` shows it, `--orphans` a tagged volume the cluster does not know,
 * and `mill volume delete` is refused while the service mounts it, then
 * takes a snapshot and destroys it; the bed's stop leaves no loop device.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { withBed } from "./bed.ts";
import { healthyAllocs, writeConfig } from "./_web.ts";
import { countOn, dbConfig } from "./_volumes.ts";
import { LocalVolumeDriver } from "../../storage/local/local_driver.ts";

/** The cluster's volume tag, read off a listed volume's local id. */
function clusterTag(listed: { stdout: string }): string {
  const [view] = JSON.parse(listed.stdout).volumes;
  // A local id is local-<cloud name>, the name mill-<cluster>-<volume>.
  return `mill-cluster-${String(view.cloudId).split("-")[2]}`;
}

Deno.test("volumes: a persistent volume is created, mounted and kept across redeploys and a down", async () => {
  await withBed(
    { nodes: 1, name: "volume", network: "bridge" },
    async (bed) => {
      const image = bed.registry.images.http;
      const deploy = async (file: string, text: string) => {
        const path = await writeConfig(bed, file, text);
        const deployed = await bed.mill(0, "deploy", "-f", path);
        assertEquals(deployed.code, 0, `${deployed.stdout}${deployed.stderr}`);
        await bed.waitFor(
          async () => (await healthyAllocs(bed, "db")).length === 1,
          {
            what: "db healthy",
          },
        );
        return deployed.stdout;
      };
      const first = await deploy(
        "v1.mill",
        dbConfig(image, { size: "64M", version: "1" }),
      );
      assertTrue(
        /db: volume dbdata: created local-\S+ \(64M\), attached to n1/.test(
          first,
        ),
        first,
      );
      assertEquals(await countOn(bed, 0), "1");
      const { state } = await bed.nodeState(0);
      const volume = state.volumes.get("dbdata");
      assertEquals(volume?.state, "attached");
      assertEquals(volume?.nodeId, [...state.nodes.keys()][0]);
      const mounts = await Deno.readTextFile("/proc/self/mounts");
      const mountPoint = `${
        bed.nodes[0]!.dataDir
      }/persistent/volumes/mnt/dbdata`;
      assertTrue(mounts.includes(` ${mountPoint} ext4 `), "mounted as ext4");

      // A rolling redeploy: the new alloc finds what the old one wrote.
      await deploy("v2.mill", dbConfig(image, { size: "64M", version: "2" }));
      assertEquals(await countOn(bed, 0), "2");

      // Down: the volume is released (unmounted) and kept; back up, it is there.
      const down = await bed.mill(0, "down", "--yes");
      assertEquals(down.code, 0, `${down.stdout}${down.stderr}`);
      await bed.waitFor(
        async () =>
          !(await Deno.readTextFile("/proc/self/mounts")).includes(
            ` ${mountPoint} `,
          ) || null,
        { what: "the volume unmounted once nothing uses it" },
      );
      assertEquals((await bed.nodeState(0)).state.volumes.has("dbdata"), true);
      await deploy("v3.mill", dbConfig(image, { size: "64M", version: "3" }));
      assertEquals(await countOn(bed, 0), "3");

      // mill volume list, and a delete refused while db mounts it.
      const listed = await bed.mill(0, "volume", "list", "--json");
      assertEquals(listed.code, 0, listed.stderr);
      const [view] = JSON.parse(listed.stdout).volumes;
      assertEquals(
        [view.name, view.state, view.node, view.service, view.sizeBytes],
        ["dbdata", "attached", "n1", "db", 64_000_000],
      );
      const inUse = await bed.mill(0, "volume", "delete", "dbdata", "--yes");
      assertEquals(inUse.code, 1, inUse.stdout);
      assertTrue(inUse.stderr.includes("volume.in_use"), inUse.stderr);

      // An orphan: tagged with the cluster, unknown to it (reported only).
      const driver = await LocalVolumeDriver.open({
        dir: `${bed.nodes[0]!.dataDir}/local-volumes`,
      });
      const stray = await driver.create({
        name: "stray",
        sizeBytes: 16 * 2 ** 20,
        tags: [clusterTag(listed)],
      });
      const orphans = JSON.parse(
        (await bed.mill(0, "volume", "list", "--orphans", "--json")).stdout,
      ).orphans as { cloudId: string }[];
      assertEquals(orphans.map((o) => o.cloudId), [stray.id]);
      await driver.destroy(stray.id);

      // Taken out of the config, it is deleted (a snapshot first).
      assertEquals((await bed.mill(0, "down", "--yes")).code, 0);
      const deleted = await bed.mill(
        0,
        "volume",
        "delete",
        "dbdata",
        "--snapshot",
        "--yes",
        "--json",
      );
      assertEquals(deleted.code, 0, `${deleted.stdout}${deleted.stderr}`);
      const { snapshotId } = JSON.parse(deleted.stdout);
      assertTrue(typeof snapshotId === "string", deleted.stdout);
      assertEquals(
        JSON.parse((await bed.mill(0, "volume", "list", "--json")).stdout)
          .volumes,
        [],
      );
      assertEquals(await driver.list(), []);
      await driver.deleteSnapshot(snapshotId);
    },
  );
});
