/**
 * The local driver on real sparse files, loop devices, ext4 and mounts,
 * with the node's side (device.ts) between attach and detach as the agent
 * will run it. Each test ends with no loop device or mount of its own
 * (withBed fails it otherwise) and lists what the driver still keeps.
 */
import { deepStrictEqual, rejects, strictEqual } from "node:assert/strict";
import { StorageError, type VolumeSpec } from "../driver.ts";
import { prepareVolume, releaseVolume, volumeMountPoint } from "../device.ts";
import { type StorageBed, withBed } from "../testbed_testing.ts";
import { LocalVolumeDriver } from "./local_driver.ts";

const MiB = 1 << 20;

function spec(name: string, extra: Partial<VolumeSpec> = {}): VolumeSpec {
  return {
    name,
    sizeBytes: 64 * MiB,
    tags: ["mill", "mill-cluster:t"],
    ...extra,
  };
}

function isStorageError(code: string, text = "") {
  return (error: unknown) =>
    error instanceof StorageError && error.code === code &&
    error.message.includes(text);
}

function driverIn(bed: StorageBed): Promise<LocalVolumeDriver> {
  return LocalVolumeDriver.open({ dir: `${bed.dir}/volumes/local` });
}

/** The files the driver keeps, sorted (snapshots under `snapshots/`). */
async function files(bed: StorageBed): Promise<string[]> {
  const names: string[] = [];
  for (const sub of ["", "/snapshots"]) {
    for await (const entry of Deno.readDir(`${bed.dir}/volumes/local${sub}`)) {
      if (entry.isFile) names.push(`${sub.slice(1)}${sub && "/"}${entry.name}`);
    }
  }
  return names.sort();
}

Deno.test("data written through a mount survives detach and attach; destroy leaves nothing", async () => {
  await withBed(async (bed) => {
    const driver = await driverIn(bed);
    const created = await driver.create(spec("mill-t-db"));
    strictEqual(created.id, "local-mill-t-db");
    strictEqual(created.attachedTo, null);
    deepStrictEqual(await driver.list(), [created]);
    const image = await Deno.stat(
      `${bed.dir}/volumes/local/local-mill-t-db.img`,
    );
    strictEqual(image.size, 64 * MiB);
    strictEqual((image.blocks ?? 0) * 512 < MiB, true, "the image is sparse");

    const mountPoint = volumeMountPoint(bed.dir, "mill-t-db");
    const attached = await driver.attach(created.id, "node-1");
    strictEqual(attached.attachedTo, "node-1");
    const device = driver.devicePath(attached);
    strictEqual((await prepareVolume({ device, mountPoint })).formatted, true);
    await Deno.writeTextFile(`${mountPoint}/row`, "42");
    await releaseVolume({ mountPoint });
    strictEqual((await driver.detach(created.id, "node-1")).attachedTo, null);
    deepStrictEqual(await bed.ownLoops(), []);

    // Flushed by the release: readable from "another node" (another
    // machine id and mount point) right after.
    const again = await driver.attach(created.id, "node-2");
    const elsewhere = volumeMountPoint(`${bed.dir}/node-2`, "mill-t-db");
    const prepared = await prepareVolume({
      device: driver.devicePath(again),
      mountPoint: elsewhere,
    });
    strictEqual(prepared.formatted, false);
    strictEqual(await Deno.readTextFile(`${elsewhere}/row`), "42");
    await releaseVolume({ mountPoint: elsewhere });
    await driver.detach(created.id, "node-2");
    // Detached already is fine.
    await driver.detach(created.id, "node-2");

    await driver.destroy(created.id);
    await driver.destroy(created.id);
    deepStrictEqual(await driver.list(), []);
    strictEqual(await driver.get(created.id), null);
    deepStrictEqual(await files(bed), []);
  });
});

Deno.test("a snapshot, even of a mounted volume, restores into a new volume with the data it had", async () => {
  await withBed(async (bed) => {
    const driver = await driverIn(bed);
    const source = await driver.create(spec("src"));
    const mountPoint = volumeMountPoint(bed.dir, "src");
    await driver.attach(source.id, "node-1");
    await prepareVolume({ device: driver.devicePath(source), mountPoint });
    await Deno.writeTextFile(`${mountPoint}/v`, "before");
    // Taken while mounted, the write not flushed: the driver freezes the
    // filesystem for the copy.
    const snapshot = await driver.snapshot(source.id, "src-1");
    await Deno.writeTextFile(`${mountPoint}/v`, "after");
    await releaseVolume({ mountPoint });
    await driver.detach(source.id, "node-1");

    deepStrictEqual(
      {
        id: snapshot.id,
        volumeId: snapshot.volumeId,
        size: snapshot.sizeBytes,
      },
      { id: "local-snap-src-1", volumeId: source.id, size: 64 * MiB },
    );
    deepStrictEqual(await driver.listSnapshots(), [snapshot]);
    await rejects(
      driver.snapshot(source.id, "src-1"),
      isStorageError("storage.invalid", "exists already"),
    );
    await rejects(
      driver.create(
        spec("small", { sizeBytes: 8 * MiB, fromSnapshot: snapshot.id }),
      ),
      isStorageError("storage.invalid", "smaller than snapshot"),
    );
    await rejects(
      driver.create(spec("none", { fromSnapshot: "local-snap-nope" })),
      isStorageError("storage.not_found"),
    );

    const copy = await driver.create(
      spec("copy", { sizeBytes: 96 * MiB, fromSnapshot: snapshot.id }),
    );
    strictEqual(copy.sizeBytes, 96 * MiB);
    const copyMount = volumeMountPoint(bed.dir, "copy");
    await driver.attach(copy.id, "node-1");
    const prepared = await prepareVolume({
      device: driver.devicePath(copy),
      mountPoint: copyMount,
    });
    strictEqual(prepared.formatted, false);
    strictEqual(await Deno.readTextFile(`${copyMount}/v`), "before");
    await releaseVolume({ mountPoint: copyMount });
    await driver.detach(copy.id, "node-1");

    await driver.destroy(source.id);
    await driver.destroy(copy.id);
    deepStrictEqual(await files(bed), [
      "snapshots/local-snap-src-1.img",
      "snapshots/local-snap-src-1.json",
    ]);
    await driver.deleteSnapshot(snapshot.id);
    deepStrictEqual(await files(bed), []);
  });
});

Deno.test("attach is idempotent; another machine, a destroy and a mounted detach are refused", async () => {
  await withBed(async (bed) => {
    const driver = await driverIn(bed);
    const volume = await driver.create(spec("one"));
    const first = await driver.attach(volume.id, "node-1");
    const device = driver.devicePath(first);
    deepStrictEqual(await driver.attach(volume.id, "node-1"), first);
    strictEqual(driver.devicePath(first), device);
    strictEqual((await bed.ownLoops()).length, 1);

    await rejects(
      driver.attach(volume.id, "node-2"),
      isStorageError("storage.attached_elsewhere", "attached to node-1"),
    );
    await rejects(
      driver.detach(volume.id, "node-2"),
      isStorageError("storage.attached_elsewhere"),
    );
    await rejects(
      driver.destroy(volume.id),
      isStorageError("storage.attached", "detach it first"),
    );
    const mountPoint = volumeMountPoint(bed.dir, "one");
    await prepareVolume({ device, mountPoint });
    await rejects(
      driver.detach(volume.id, "node-1"),
      isStorageError("storage.busy", `mounted at ${mountPoint}`),
    );
    strictEqual((await driver.get(volume.id))?.attachedTo, "node-1");

    await releaseVolume({ mountPoint });
    await driver.detach(volume.id, "node-1");
    // Free now: another machine may have it.
    strictEqual(
      (await driver.attach(volume.id, "node-2")).attachedTo,
      "node-2",
    );
    await driver.detach(volume.id, "node-2");
    await driver.destroy(volume.id);
    deepStrictEqual(await files(bed), []);
  });
});

Deno.test("a loop device that vanished is made again by attach, the data intact", async () => {
  await withBed(async (bed) => {
    const driver = await driverIn(bed);
    const volume = await driver.create(spec("gone"));
    const mountPoint = volumeMountPoint(bed.dir, "gone");
    await driver.attach(volume.id, "node-1");
    await prepareVolume({ device: driver.devicePath(volume), mountPoint });
    await Deno.writeTextFile(`${mountPoint}/f`, "still here");
    await releaseVolume({ mountPoint });
    await bed.sh(["losetup", "--detach", driver.devicePath(volume)]);
    deepStrictEqual(await bed.ownLoops(), []);

    try {
      driver.devicePath(volume);
      throw new Error("devicePath answered for a vanished device");
    } catch (error) {
      strictEqual(isStorageError("storage.not_found", "is gone")(error), true);
    }
    await driver.attach(volume.id, "node-1");
    strictEqual((await bed.ownLoops()).length, 1);
    await prepareVolume({ device: driver.devicePath(volume), mountPoint });
    strictEqual(await Deno.readTextFile(`${mountPoint}/f`), "still here");
    await releaseVolume({ mountPoint });
    await driver.detach(volume.id, "node-1");
    await driver.destroy(volume.id);
  });
});

Deno.test("a restarted driver finds its volumes; a name is taken once; bad input is refused", async () => {
  await withBed(async (bed) => {
    const driver = await driverIn(bed);
    const volume = await driver.create(spec("mill-t-web", { region: "here" }));
    await driver.attach(volume.id, "node-1");
    await rejects(
      driver.create(spec("mill-t-web")),
      isStorageError("storage.invalid", "exists already (local-mill-t-web)"),
    );

    // As after a crash of the agent: a new driver on the same directory.
    const restarted = await driverIn(bed);
    const found = await restarted.list();
    deepStrictEqual(found, [{ ...volume, attachedTo: "node-1" }]);
    strictEqual(restarted.devicePath(volume), driver.devicePath(volume));
    await restarted.detach(volume.id, "node-1");
    await restarted.destroy(volume.id);

    for (const name of ["", "Upper", "-dash", "a/b", "a".repeat(64)]) {
      await rejects(
        driver.create(spec(name)),
        isStorageError("storage.invalid"),
      );
    }
    for (const sizeBytes of [0, MiB - 512, MiB + 1, MiB + 0.5, NaN]) {
      await rejects(
        driver.create(spec("size", { sizeBytes })),
        isStorageError("storage.invalid", "volume size"),
      );
    }
    await rejects(
      driver.attach("local-x", ""),
      isStorageError("storage.invalid"),
    );
    await rejects(
      driver.attach("../../etc", "node-1"),
      isStorageError("storage.not_found"),
    );
    strictEqual(await driver.get("local-../x"), null);
    await driver.destroy("not-a-local-id");
    deepStrictEqual(await driver.list(), []);
    deepStrictEqual(await files(bed), []);
  });
});

Deno.test("what a crashed create or destroy left is completed by the next call", async () => {
  await withBed(async (bed) => {
    const driver = await driverIn(bed);
    const dir = `${bed.dir}/volumes/local`;
    // A create that died before its record: an image nobody lists.
    await Deno.writeTextFile(`${dir}/local-half.img`, "stale bytes");
    deepStrictEqual(await driver.list(), []);
    const half = await driver.create(spec("half"));
    await driver.attach(half.id, "node-1");
    strictEqual(
      (await bed.try(["blkid", "-p", driver.devicePath(half)])).code,
      2,
      "made afresh, blank",
    );
    // A destroy that died after its record: a loop device and an image.
    await Deno.remove(`${dir}/local-half.json`);
    strictEqual(await driver.get(half.id), null);
    strictEqual((await bed.ownLoops()).length, 1);
    await driver.destroy(half.id);
    deepStrictEqual(await files(bed), []);
  });
});
