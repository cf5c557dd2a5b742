/**
 * A persistent volume on a one-node cluster with the local provider (a
 * sparse file on a loop device): the first deploy creates and attaches it
 * and says so, the node makes an ext4 on the blank device, mounts it under
 * its data dir and binds it into the container; what the service wrote
 * survives a rolling redeploy and a `mill down` and `mill deploy` (the
 * volume is unmounted when its last alloc ends, and kept); the bed's stop
 * leaves no loop device behind.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { type Bed, withBed } from "./bed.ts";
import { healthyAllocs, writeConfig } from "./_web.ts";

/** Each start counts itself in /data/count and serves /data over HTTP. */
function dbConfig(image: string, version: string): string {
  const script = "n=$(cat /data/count 2>/dev/null || echo 0); " +
    "echo $((n+1)) > /data/count; echo ok > /data/health; sync; " +
    "exec httpd -f -p 8080 -h /data";
  return `service "db" {
  image   = "${image}"
  port    = 8080
  cpu     = 0.1
  memory  = "32M"
  command = ["/bin/sh", "-c", "${script}"]
  env     = { VERSION = "${version}" }
  health {
    path     = "/health"
    interval = "1s"
  }
  volume "dbdata" {
    path = "/data"
    size = "64M"
  }
}
`;
}

/** The count the service's current alloc serves. */
async function count(bed: Bed): Promise<string> {
  const [alloc] = await healthyAllocs(bed, "db");
  const ip = (alloc as unknown as { ip: string }).ip;
  const got = await bed.exec(0, [
    "curl",
    "-sS",
    "--max-time",
    "5",
    `http://${ip}:8080/count`,
  ]);
  assertEquals(got.code, 0, got.stderr);
  return got.stdout.trim();
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
      const first = await deploy("v1.mill", dbConfig(image, "1"));
      assertTrue(
        /db: volume dbdata: created local-\S+ \(64M\), attached to n1/.test(
          first,
        ),
        first,
      );
      assertEquals(await count(bed), "1");
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
      await deploy("v2.mill", dbConfig(image, "2"));
      assertEquals(await count(bed), "2");

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
      await deploy("v3.mill", dbConfig(image, "3"));
      assertEquals(await count(bed), "3");
    },
  );
});
