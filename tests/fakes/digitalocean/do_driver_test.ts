/**
 * The `do` driver against the fake DigitalOcean: real HTTP, real loop
 * devices behind the volumes (root only). Every test ends with nothing
 * left: no backing file, loop device or by-id link.
 */

import {
  deepStrictEqual as assertEquals,
  ok as assert,
  rejects,
} from "node:assert/strict";
import { DigitalOceanDriver } from "../../../storage/do/do_driver.ts";
import {
  GIB,
  isRoot,
  rejectsWith,
  run,
  TOKEN,
  withBed,
} from "./do_driver_testing.ts";

Deno.test({
  name:
    "do driver: create, list by pages, attach a real device, snapshot, restore, destroy",
  ignore: !isRoot,
  async fn() {
    await withBed({}, async ({ fake, driver, dir, byId }) => {
      const paged = new DigitalOceanDriver({
        apiBase: fake.url,
        token: () => TOKEN,
        region: "nyc1",
        clusterTag: "mill-cluster-test",
        perPage: 2,
        pollIntervalMs: 10,
        byIdDir: byId[101],
      });
      const data = await driver.create({
        name: "data-db",
        sizeBytes: GIB / 2, // rounded up to 1 GiB
        tags: ["mill-volume-db"],
      });
      assertEquals(data.region, "nyc1");
      assertEquals(data.sizeBytes, GIB);
      assertEquals(data.attachedTo, null);
      assertEquals([...data.tags].sort(), [
        "mill-cluster-test",
        "mill-volume-db",
      ]);
      // More than a page: four of ours, one of another cluster.
      for (const name of ["data-b", "data-c", "data-d"]) {
        await driver.create({ name, sizeBytes: GIB, tags: [] });
      }
      const other = new DigitalOceanDriver({
        apiBase: fake.url,
        token: () => TOKEN,
        region: "nyc1",
        clusterTag: "someone-else",
      });
      const foreign = await other.create({
        name: "foreign",
        sizeBytes: GIB,
        tags: [],
      });
      const listed = await paged.list();
      assertEquals(listed.map((v) => v.name).sort(), [
        "data-b",
        "data-c",
        "data-d",
        "data-db",
      ]);
      assert(
        fake.requests().some((r) => r.target.includes("page=3")),
        "the list followed links.pages.next to the third page",
      );

      const attached = await driver.attach(data.id, "101");
      assertEquals(attached.attachedTo, "101");
      const device = driver.devicePath(attached);
      assertEquals(device, `${byId[101]}/scsi-0DO_Volume_data-db`);
      assert((await Deno.stat(device)).isBlockDevice);
      // Attaching again is a no-op.
      assertEquals((await driver.attach(data.id, "101")).attachedTo, "101");

      const mnt = `${dir}/mnt`;
      await Deno.mkdir(mnt);
      await run("mkfs.ext4", "-q", "-F", device);
      await run("mount", device, mnt);
      try {
        await Deno.writeTextFile(`${mnt}/hello`, "kept in a snapshot");
      } finally {
        await run("umount", mnt);
      }
      const snap = await driver.snapshot(data.id, "data-db-before");
      assertEquals(snap.volumeId, data.id);
      assertEquals(snap.sizeBytes, GIB);
      assertEquals((await paged.listSnapshots(data.id)).map((s) => s.id), [
        snap.id,
      ]);
      // Snapshotting again under the same name is that snapshot.
      assertEquals(
        (await driver.snapshot(data.id, "data-db-before")).id,
        snap.id,
      );

      const detached = await driver.detach(data.id, "101");
      assertEquals(detached.attachedTo, null);
      await rejects(Deno.lstat(device), Deno.errors.NotFound);
      assertEquals((await driver.detach(data.id, "101")).attachedTo, null);

      const restored = await driver.create({
        name: "data-db-restored",
        sizeBytes: GIB,
        tags: [],
        fromSnapshot: snap.id,
      });
      await driver.attach(restored.id, "101");
      const restoredDevice = driver.devicePath(restored);
      await run("mount", restoredDevice, mnt);
      try {
        assertEquals(
          await Deno.readTextFile(`${mnt}/hello`),
          "kept in a snapshot",
        );
      } finally {
        await run("umount", mnt);
      }
      await rejectsWith(
        driver.destroy(restored.id),
        "storage.attached",
        "detach it first",
      );
      await driver.detach(restored.id, "101");

      for (const v of [...listed, restored, foreign]) {
        await driver.destroy(v.id);
      }
      await driver.destroy(data.id); // gone already is fine
      assertEquals(await driver.get(data.id), null);
      assertEquals(await driver.list(), []);
      // The snapshot outlives its volume, with its file, until deleted.
      assertEquals((await fake.leftovers()).files.length, 1);
      await driver.deleteSnapshot(snap.id);
      await driver.deleteSnapshot(snap.id); // gone already is fine
      assertEquals(await fake.leftovers(), {
        files: [],
        loopDevices: [],
        symlinks: [],
      });
    });
  },
});
