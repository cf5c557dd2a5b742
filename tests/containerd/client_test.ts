/**
 * The containerd client against a private containerd and registries (see
 * testbed.ts): pull, import, lifecycle, events, metrics, bad input,
 * reconnection, and a final check that nothing of ours is left.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import {
  ContainerdClient,
  ContainerRunner,
  detectHostFacts,
  ImageService,
  type PullProgress,
  watchTaskEvents,
} from "../../containerd/mod.ts";
import {
  freePort,
  packLayoutArchive,
  startTestBed,
  type TestBed,
} from "./testbed.ts";
import {
  EventLog,
  expectCode,
  leftovers,
  NOTHING,
  WAIT_MS,
  waitUntil,
} from "./_helpers.ts";

Deno.test("the containerd client pulls, runs, watches and cleans up against a real containerd", async (t) => {
  const bed: TestBed = await startTestBed();
  const client = new ContainerdClient(bed.containerd.socketPath);
  const fifoDir = await Deno.makeTempDir({ prefix: "mill-fifo-" });
  const events = new EventLog();
  let resubscribed = 0;
  const watch = watchTaskEvents(client, (e) => events.push(e), {
    onResubscribe: () => resubscribed++,
  });
  const images = new ImageService(client, { insecure: [bed.registry.host] });
  const runner = new ContainerRunner(client, images, {
    fifoDir,
    logLinesMax: 100,
    runcRoot: bed.containerd.runcRoot,
    host: detectHostFacts(bed.containerd.cgroupParent),
  });
  try {
    await t.step("it talks to containerd over the unix socket", async () => {
      const version = await client.version();
      assertTrue(version.version.length > 0);
    });

    await t.step(
      "an index resolves to this node's platform, with progress, beside pulls sharing its layer",
      async () => {
        const progress: PullProgress[] = [];
        // Images sharing busybox's layer, pulled at once: it is written once.
        const [image] = await Promise.all([
          images.pull(bed.images.multi, {
            onProgress: (p) => progress.push(p),
          }),
          images.pull(bed.images.crash),
          images.pull(bed.images.stubborn),
        ]);
        assertEquals(image.config.architecture, "amd64");
        assertEquals(
          image.target.mediaType,
          "application/vnd.oci.image.index.v1+json",
        );
        const layer = progress.filter((p) => p.kind === "layer");
        assertTrue(layer.length > 0);
        assertEquals(layer[layer.length - 1]!.doneBytes, layer[0]!.totalBytes);
        const record = await client.getImage(image.name);
        assertEquals(record?.target.digest, image.target.digest);
      },
    );

    await t.step(
      "an image already present is not pulled again; concurrent pulls share one",
      async () => {
        const progress: PullProgress[] = [];
        await images.pull(bed.images.multi, {
          onProgress: (p) => progress.push(p),
        });
        assertEquals(progress, []);
        const first = images.pull(bed.images.layers);
        const second = images.pull(bed.images.layers);
        assertTrue(first === second, "the second pull joins the first");
        const image = await first;
        assertEquals(image.config.diffIds.length, 3);
        assertTrue(await client.statSnapshot(image.chainId) !== undefined);
      },
    );

    await t.step(
      "layers and whiteouts unpack in order; logs keep stdout lines",
      async () => {
        await runner.create({ id: "layers", image: bed.images.layers });
        await runner.start("layers");
        assertEquals(await runner.wait("layers", WAIT_MS), 0);
        await waitUntil(
          "layers logs",
          () => Promise.resolve(runner.logs("layers").length >= 4),
        );
        assertEquals(
          runner.logs("layers").map((l) => l.line),
          ["b.txt", "c.txt", "two", "three"],
        );
        await runner.remove("layers");
      },
    );

    await t.step(
      "a crash is seen at once with its exit code; stdout and stderr are captured",
      async () => {
        await images.pull(bed.images.crash);
        await runner.create({ id: "crash", image: bed.images.crash });
        await runner.start("crash");
        const exit = await events.waitFor(
          "crash exit",
          (e) => e.type === "exit" && e.containerId === "crash",
        );
        assertEquals(exit.type === "exit" && exit.exitStatus, 3);
        assertEquals(exit.type === "exit" && exit.oom, false);
        await waitUntil(
          "crash logs",
          () => Promise.resolve(runner.logs("crash").length >= 2),
        );
        const logs = runner.logs("crash");
        assertTrue(
          logs.some((l) =>
            l.stream === "stdout" && l.line === "about to crash"
          ),
        );
        assertTrue(
          logs.some((l) => l.stream === "stderr" && l.line === "oops"),
        );
        await runner.remove("crash");
      },
    );

    await t.step(
      "an HTTP service answers its health check, reports metrics and stops on SIGTERM",
      async () => {
        await images.pull(bed.images.http);
        const port = freePort();
        await runner.create({
          id: "http",
          image: bed.images.http,
          env: { PORT: String(port) },
          cpu: 0.5,
          memoryBytes: 64 * 1024 * 1024,
        });
        await runner.start("http");
        await waitUntil("health", async () => {
          try {
            const response = await fetch(`http://127.0.0.1:${port}/health`);
            return (await response.text()) === "ok\n";
          } catch {
            return false;
          }
        });
        const [metrics] = await runner.metrics(["http"]);
        assertEquals(metrics?.containerId, "http");
        assertTrue((metrics?.memoryUsageBytes ?? 0) > 0, "memory is used");
        assertTrue((metrics?.cpuUsageNs ?? 0) > 0, "cpu is used");
        assertEquals(metrics?.memoryLimitBytes, 64 * 1024 * 1024);
        assertEquals(
          await runner.stop("http", {
            signal: "SIGTERM",
            gracePeriodMs: 10_000,
          }),
          {
            exitStatus: 0,
            killed: false,
          },
        );
        await runner.remove("http");
      },
    );

    await t.step(
      "a container that ignores SIGTERM is killed after the grace period",
      async () => {
        await images.pull(bed.images.stubborn);
        await runner.create({ id: "stubborn", image: bed.images.stubborn });
        await runner.start("stubborn");
        await waitUntil(
          "ready",
          () =>
            Promise.resolve(
              runner.logs("stubborn").some((l) => l.line === "ready"),
            ),
        );
        assertEquals(await runner.stop("stubborn", { gracePeriodMs: 300 }), {
          exitStatus: 137,
          killed: true,
        });
        await runner.remove("stubborn");
      },
    );

    await t.step(
      "a container past its memory limit is OOM-killed and the exit says so",
      async () => {
        await images.pull(bed.images.hog);
        await runner.create({
          id: "hog",
          image: bed.images.hog,
          memoryBytes: 16 * 1024 * 1024,
        });
        await runner.start("hog");
        await events.waitFor(
          "hog oom",
          (e) => e.type === "oom" && e.containerId === "hog",
        );
        const exit = await events.waitFor(
          "hog exit",
          (e) => e.type === "exit" && e.containerId === "hog",
        );
        assertEquals(exit.type === "exit" && exit.oom, true);
        assertEquals(exit.type === "exit" && exit.exitStatus, 137);
        await runner.remove("hog");
      },
    );

    await t.step(
      "an image with no command is refused before anything is created",
      async () => {
        const image = await images.pull(bed.images.nocmd);
        await expectCode(
          "image.no_command",
          bed.images.nocmd,
          () => runner.create({ id: "nocmd", image: image.name }),
        );
        assertEquals(await client.getContainer("nocmd"), undefined);
        assertEquals(await client.statSnapshot("nocmd"), undefined);
        // With a command it runs.
        await runner.create({
          id: "nocmd",
          image: image.name,
          command: ["/bin/sh", "-c", "exit 7"],
        });
        await runner.start("nocmd");
        assertEquals(await runner.wait("nocmd", WAIT_MS), 7);
        await expectCode(
          "image.not_found",
          "absent:1",
          () => runner.create({ id: "absent", image: "absent:1" }),
        );
        await runner.remove("nocmd");
        // A user named in the image's /etc/passwd; an unknown one is refused.
        await runner.create({
          id: "whoami",
          image: image.name,
          command: ["/bin/sh", "-c", "id -u; id -g"],
          user: "nobody",
        });
        await runner.start("whoami");
        assertEquals(await runner.wait("whoami", WAIT_MS), 0);
        await waitUntil(
          "id output",
          () => Promise.resolve(runner.logs("whoami").length >= 2),
        );
        assertEquals(runner.logs("whoami").map((l) => l.line), [
          "65534",
          "65534",
        ]);
        await runner.remove("whoami");
        await expectCode(
          "container.user_unknown",
          bed.images.nocmd,
          () =>
            runner.create({
              id: "ghost",
              image: image.name,
              command: ["/bin/true"],
              user: "ghost",
            }),
        );
        assertEquals(await leftovers(client), NOTHING);
      },
    );

    await t.step(
      "stop of an exited container reports its status; remove of a running one kills it",
      async () => {
        await runner.create({ id: "done", image: bed.images.crash });
        await runner.start("done");
        assertEquals(await runner.wait("done", WAIT_MS), 3);
        assertEquals(
          await runner.stop("done", { gracePeriodMs: 1_000 }),
          { exitStatus: 3, killed: false },
        );
        await runner.remove("done");
        await runner.create({ id: "busy", image: bed.images.stubborn });
        await runner.start("busy");
        await runner.remove("busy");
        await runner.remove("busy");
        assertEquals(await leftovers(client), NOTHING);
      },
    );

    await t.step(
      "an OCI image archive imports without a registry",
      async () => {
        const path = `${fifoDir}/sleeper.tar`;
        await Deno.writeFile(
          path,
          await packLayoutArchive(bed.layoutDir, {
            only: "sleeper",
            name: "air.example/sleeper:1",
          }),
        );
        const [image] = await images.importArchive(path);
        assertEquals(image?.name, "air.example/sleeper:1");
        await runner.create({ id: "air", image: "air.example/sleeper:1" });
        await runner.start("air");
        await waitUntil("ready", () =>
          Promise.resolve(
            runner.logs("air").some((l) => l.line === "ready"),
          ));
        assertEquals(
          (await runner.stop("air", { gracePeriodMs: 10_000 })).killed,
          false,
        );
        await runner.remove("air");
        await Deno.remove(path);
        await Deno.writeFile(path, new TextEncoder().encode("not a tar"));
        await expectCode(
          "image.archive_invalid",
          path,
          () => images.importArchive(path),
        );
        await Deno.remove(path);
      },
    );

    await t.step(
      "the client and the event watch survive a containerd restart",
      async () => {
        await bed.containerd.restart();
        assertTrue((await client.version()).version.length > 0);
        await waitUntil(
          "resubscription",
          () => Promise.resolve(resubscribed > 0),
        );
        await runner.create({ id: "after", image: bed.images.crash });
        await runner.start("after");
        const exit = await events.waitFor(
          "exit after restart",
          (e) => e.type === "exit" && e.containerId === "after",
        );
        assertEquals(exit.type === "exit" && exit.exitStatus, 3);
        await runner.remove("after");
      },
    );

    await t.step(
      "afterwards containerd holds no container, task, lease or snapshot of ours",
      async () => {
        assertEquals(await leftovers(client), NOTHING);
        for (const image of await client.listImages()) {
          await client.deleteImage(image.name);
        }
        assertEquals(await client.listSnapshots(), []);
        assertEquals(await client.listContent(), []);
      },
    );
  } finally {
    // A failed step may leave its container: remove it so the bed stops clean.
    for (const container of await client.listContainers().catch(() => [])) {
      await runner.remove(container.id).catch(() => {});
    }
    await watch.close();
    client.close();
    await bed.stop();
    await Deno.remove(fifoDir, { recursive: true });
  }
});
