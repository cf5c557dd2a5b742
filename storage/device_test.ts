/**
 * The node's side on real loop devices, ext4 and mounts: a filesystem is
 * made only on a blank device, never on one that holds anything; release
 * flushes and unmounts, and a busy mount is refused by name.
 */
import { deepStrictEqual, rejects, strictEqual } from "node:assert/strict";
import {
  DeviceError,
  mountedVolumes,
  prepareVolume,
  releaseVolume,
  volumeMountPoint,
} from "./device.ts";
import { withBed } from "./testbed_testing.ts";

function isDeviceError(code: string, text: string) {
  return (error: unknown) =>
    error instanceof DeviceError && error.code === code &&
    error.message.includes(text);
}

Deno.test("a blank device gets ext4 once; prepared again its files are still there", async () => {
  await withBed(async (bed) => {
    const device = await bed.loopDevice("blank");
    const mountPoint = volumeMountPoint(bed.dir, "db");
    strictEqual(mountPoint, `${bed.dir}/volumes/mnt/db`);
    const first = await prepareVolume({ device, mountPoint, label: "mill-db" });
    strictEqual(first.formatted, true);
    strictEqual(
      (await bed.sh(["blkid", "-p", "-o", "value", "-s", "LABEL", device]))
        .trim(),
      "mill-db",
    );
    await Deno.writeTextFile(`${mountPoint}/kept`, "data");
    // Already mounted there: nothing to do.
    strictEqual((await prepareVolume({ device, mountPoint })).formatted, false);
    deepStrictEqual(await bed.ownMounts(), [mountPoint]);

    strictEqual((await releaseVolume({ mountPoint })).unmounted, true);
    strictEqual((await releaseVolume({ mountPoint })).unmounted, false);
    strictEqual((await prepareVolume({ device, mountPoint })).formatted, false);
    strictEqual(await Deno.readTextFile(`${mountPoint}/kept`), "data");
    deepStrictEqual(
      (await mountedVolumes(`${bed.dir}/volumes/mnt`)).map((m) => m.mountPoint),
      [mountPoint],
    );
    await releaseVolume({ mountPoint });
    deepStrictEqual(await mountedVolumes(bed.dir), []);
    await bed.sh(["losetup", "--detach", device]);
  });
});

Deno.test("an ext4 made elsewhere is mounted as it is, never formatted", async () => {
  await withBed(async (bed) => {
    const device = await bed.loopDevice("written");
    const made = `${bed.dir}/by-hand`;
    await Deno.mkdir(made);
    await bed.sh(["mkfs.ext4", "-F", "-q", "-L", "theirs", device]);
    await bed.sh(["mount", device, made]);
    await Deno.writeTextFile(`${made}/theirs`, "keep me");
    await bed.sh(["umount", made]);

    const mountPoint = `${bed.dir}/mnt`;
    strictEqual((await prepareVolume({ device, mountPoint })).formatted, false);
    strictEqual(await Deno.readTextFile(`${mountPoint}/theirs`), "keep me");
    await releaseVolume({ mountPoint });
    await bed.sh(["losetup", "--detach", device]);
  });
});

Deno.test("a device holding anything but ext4 is refused and left as it was", async () => {
  await withBed(async (bed) => {
    const swap = await bed.loopDevice("swap");
    await bed.sh(["mkswap", swap]);
    const raw = await bed.loopDevice("raw");
    {
      // Bytes no probe knows, deep inside the first MiB.
      using file = await Deno.open(`${bed.dir}/raw.img`, { write: true });
      await file.seek(300_000, Deno.SeekMode.Start);
      await file.write(new TextEncoder().encode("precious"));
    }
    await rejects(
      prepareVolume({ device: swap, mountPoint: `${bed.dir}/m1` }),
      isDeviceError("device.foreign", `${swap} holds swap, not ext4`),
    );
    await rejects(
      prepareVolume({ device: raw, mountPoint: `${bed.dir}/m2` }),
      isDeviceError("device.foreign", "data without a known signature"),
    );
    strictEqual(
      (await bed.sh(["blkid", "-p", "-o", "value", "-s", "TYPE", swap])).trim(),
      "swap",
    );
    strictEqual((await bed.try(["blkid", "-p", raw])).code, 2);
    deepStrictEqual(await bed.ownMounts(), []);
    await bed.sh(["losetup", "--detach", swap]);
    await bed.sh(["losetup", "--detach", raw]);
  });
});

Deno.test("release flushes: the bytes are in the image file once it returns", async () => {
  await withBed(async (bed) => {
    const device = await bed.loopDevice("flush");
    const mountPoint = `${bed.dir}/mnt`;
    await prepareVolume({ device, mountPoint });
    // No fsync of our own: release must flush.
    await Deno.writeTextFile(`${mountPoint}/note`, "flushed");
    await releaseVolume({ mountPoint });
    await bed.sh(["losetup", "--detach", device]);
    // Read from the file itself, with no kernel cache of the device between.
    strictEqual(
      await bed.sh([
        "debugfs",
        "-R",
        "cat /note",
        `${bed.dir}/flush.img`,
      ]),
      "flushed",
    );
  });
});

Deno.test("a busy mount is refused by name and released once let go", async () => {
  await withBed(async (bed) => {
    const device = await bed.loopDevice("busy");
    const mountPoint = `${bed.dir}/mnt`;
    await prepareVolume({ device, mountPoint });
    const held = await Deno.open(`${mountPoint}/open`, {
      write: true,
      create: true,
    });
    try {
      await rejects(
        releaseVolume({ mountPoint, busyRetryMs: 300 }),
        isDeviceError("device.busy", `${mountPoint} is busy`),
      );
      deepStrictEqual(await bed.ownMounts(), [mountPoint]);
    } finally {
      held.close();
    }
    await releaseVolume({ mountPoint });
    await bed.sh(["losetup", "--detach", device]);
  });
});

Deno.test("prepare waits for a device to appear, and refuses a missing one or a taken mount point", async () => {
  await withBed(async (bed) => {
    const device = await bed.loopDevice("late");
    const other = await bed.loopDevice("other");
    // A symlink that appears later, as a cloud volume's by-id link does.
    const link = `${bed.dir}/by-id-late`;
    const appear = new Promise<void>((resolve, reject) =>
      setTimeout(() => Deno.symlink(device, link).then(resolve, reject), 300)
    );
    const mountPoint = `${bed.dir}/mnt`;
    strictEqual(
      (await prepareVolume({ device: link, mountPoint })).formatted,
      true,
    );
    await appear;
    // The same device under another name is the same mount.
    strictEqual((await prepareVolume({ device, mountPoint })).formatted, false);
    await rejects(
      prepareVolume({ device: other, mountPoint }),
      isDeviceError("device.mount_point_taken", mountPoint),
    );
    await rejects(
      prepareVolume({
        device: `${bed.dir}/never`,
        mountPoint: `${bed.dir}/m2`,
        waitMs: 200,
      }),
      isDeviceError("device.missing", "did not appear"),
    );
    await rejects(
      prepareVolume({ device: `${bed.dir}/late.img`, mountPoint }),
      isDeviceError("device.missing", "is not a block device"),
    );
    await releaseVolume({ mountPoint });
    // The other device was never formatted.
    strictEqual((await bed.try(["blkid", "-p", other])).code, 2);
    await bed.sh(["losetup", "--detach", device]);
    await bed.sh(["losetup", "--detach", other]);
  });
});
