/**
 * Scratch volumes against a real containerd 1.6 and runc: a container of a
 * non-root user writes to its ephemeral volume (given to that user, 0700,
 * behind a 0700 directory of root's), a sized volume stops a write past
 * its size with ENOSPC while a smaller one fits, and a volume keeps its
 * content for the next container of the same id.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import {
  ContainerdClient,
  ContainerRunner,
  detectHostFacts,
  ImageService,
} from "../../containerd/mod.ts";
import {
  mountPoints,
  ScratchVolumes,
} from "../../node/secondary/scratch_volumes.ts";
import { startTestBed } from "./testbed.ts";

const MIB = 1024 * 1024;

Deno.test("a non-root container writes its scratch volume, bounded by its size", async (t) => {
  const bed = await startTestBed();
  const client = new ContainerdClient(bed.containerd.socketPath);
  const work = await Deno.makeTempDir({ prefix: "mill-scratch-" });
  const images = new ImageService(client, { insecure: [bed.registry.host] });
  const runner = new ContainerRunner(client, images, {
    fifoDir: `${work}/fifo`,
    runcRoot: bed.containerd.runcRoot,
    host: detectHostFacts(bed.containerd.cgroupParent),
  });
  const volumes = new ScratchVolumes(`${work}/volumes`);
  await volumes.open();
  await images.pull(bed.images.sleeper);
  const errors: { line: string }[] = [];
  /** Runs `script` in a container of uid 1000; its stdout lines. */
  const run = async (id: string, script: string): Promise<string[]> => {
    const mounts = await volumes.prepare(id, [
      { name: "cache", path: "/cache", sizeBytes: 4 * MIB },
      { name: "tmp", path: "/tmp/scratch" },
    ]);
    await runner.create({
      id,
      image: bed.images.sleeper,
      command: ["/bin/sh", "-c", script],
      user: "1000:1000",
      mounts,
    });
    await runner.start(id);
    await runner.wait(id, 20_000);
    const entries = await runner.remove(id);
    errors.push(...entries.filter((l) => l.stream === "stderr"));
    return entries.filter((l) => l.stream === "stdout").map((l) => l.line);
  };
  try {
    await t.step("the container's user owns and writes it", async () => {
      const lines = await run(
        "writer",
        "id -u; echo hi > /cache/a && echo cache-ok; echo hi > /tmp/scratch/b && echo tmp-ok; " +
          "head -c 2097152 /dev/zero > /cache/fits; echo fits $?; " +
          "head -c 8388608 /dev/zero > /cache/big; echo big $?; wc -c < /cache/big",
      );
      assertEquals(lines.slice(0, 5), [
        "1000",
        "cache-ok",
        "tmp-ok",
        "fits 0",
        "big 1",
      ]);
      // What fits beside the 2 MiB already there: the 4 MiB less ext4's own.
      const used = Number(lines[5]) + 2 * MIB;
      assertTrue(used < 4 * MIB && used > 3 * MIB, `${used}`);
      // busybox's word for ENOSPC on its standard output.
      assertEquals(errors.map((e) => e.line), [
        "head: standard output: I/O error",
      ]);
      const dir = volumes.hostPath("writer", "cache");
      const info = await Deno.stat(dir);
      assertEquals([info.uid, info.gid, info.mode! & 0o777], [
        1000,
        1000,
        0o700,
      ]);
      assertEquals(
        (await Deno.stat(`${work}/volumes/writer`)).mode! & 0o777,
        0o700,
      );
      assertEquals((await Deno.stat(`${work}/volumes`)).mode! & 0o777, 0o700);
      assertTrue((await mountPoints()).has(dir));
    });

    await t.step(
      "the next container of the same id finds the content",
      async () => {
        const lines = await run("writer", "cat /cache/a /tmp/scratch/b");
        assertEquals(lines, ["hi", "hi"]);
      },
    );

    await t.step("removal unmounts and deletes it", async () => {
      const dir = volumes.hostPath("writer", "cache");
      await volumes.remove("writer");
      assertTrue(!(await mountPoints()).has(dir));
      assertEquals([...Deno.readDirSync(`${work}/volumes`)], []);
    });
  } finally {
    await volumes.sweep(new Set(), () => {});
    client.close();
    await bed.stop();
    await Deno.remove(work, { recursive: true });
  }
});
