import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { isUnder, parseMountInfo } from "./mountinfo.ts";

Deno.test("mountinfo lines are parsed with optional fields and escaped paths", () => {
  const text = [
    "22 27 0:21 / /proc rw,relatime - proc proc rw",
    "46 27 7:3 / /var/lib/mill/volumes/mnt/db rw,noatime shared:1 master:2 - ext4 /dev/loop3 rw,errors=remount-ro",
    "47 27 7:4 / /data/a\\040b\\134c rw - ext4 /dev/my\\040disk rw",
    "garbage line",
    "",
  ].join("\n");
  deepStrictEqual(parseMountInfo(text), [
    { device: "0:21", mountPoint: "/proc", fsType: "proc", source: "proc" },
    {
      device: "7:3",
      mountPoint: "/var/lib/mill/volumes/mnt/db",
      fsType: "ext4",
      source: "/dev/loop3",
    },
    {
      device: "7:4",
      mountPoint: "/data/a b\\c",
      fsType: "ext4",
      source: "/dev/my disk",
    },
  ]);
});

Deno.test("isUnder matches the root and what is inside it, not a sibling prefix", () => {
  strictEqual(isUnder("/a/mnt", "/a/mnt"), true);
  strictEqual(isUnder("/a/mnt/x", "/a/mnt"), true);
  strictEqual(isUnder("/a/mntx", "/a/mnt"), false);
  strictEqual(isUnder("/anything", "/"), true);
});
