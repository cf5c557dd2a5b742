/**
 * The containerd client against a private containerd and registries (see
 * testbed.ts): pull, import, lifecycle, events, metrics, bad input,
 * reconnection, and a final check that nothing of ours is left.
 */
import {
  assertEquals,
  assertRejects,
  assertTrue,
} from "../../containerd/_assert_test.ts";
import {
  ContainerdClient,
  ContainerdError,
  ContainerRunner,
  detectHostFacts,
  ImageService,
  type PullProgress,
  type TaskEvent,
  watchTaskEvents,
} from "../../containerd/mod.ts";
import {
  freePort,
  packLayoutArchive,
  pushTestImages,
  startRegistry,
  startTestBed,
  type TestBed,
} from "./testbed.ts";
import { startRegistryProxy } from "./_proxy.ts";

const WAIT_MS = 20_000;

/** Resolves when `predicate` holds for a pushed event, under a deadline. */
class EventLog {
  readonly events: TaskEvent[] = [];
  #waiters: {
    predicate: (e: TaskEvent) => boolean;
    resolve: (e: TaskEvent) => void;
  }[] = [];
  push(event: TaskEvent): void {
    this.events.push(event);
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.predicate(event)) return true;
      w.resolve(event);
      return false;
    });
  }
  async waitFor(
    what: string,
    predicate: (e: TaskEvent) => boolean,
  ): Promise<TaskEvent> {
    const seen = this.events.find(predicate);
    if (seen !== undefined) return seen;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        new Promise<TaskEvent>((resolve) =>
          this.#waiters.push({ predicate, resolve })
        ),
        new Promise<never>((_, reject) =>
          timer = setTimeout(
            () => reject(new Error(`no ${what} event`)),
            WAIT_MS,
          )
        ),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}

async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function expectCode(
  code: string,
  reference: string,
  fn: () => Promise<unknown>,
): Promise<void> {
  const error = await assertRejects(fn, ContainerdError);
  assertEquals(error.code, code, error.message);
  assertTrue(
    error.message.includes(reference),
    `"${error.message}" names "${reference}"`,
  );
}

async function leftovers(client: ContainerdClient) {
  return {
    containers: (await client.listContainers()).map((c) => c.id),
    tasks: (await client.listTasks()).map((t) => t.id),
    leases: (await client.listLeases()).map((l) => l.id),
    ingests: (await client.listIngests()).map((i) => i.ref),
    activeSnapshots: (await client.listSnapshots()).filter((s) =>
      s.kind !== "COMMITTED"
    ).map((s) => s.name),
  };
}

const NOTHING = {
  containers: [],
  tasks: [],
  leases: [],
  ingests: [],
  activeSnapshots: [],
};

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
      "a blob whose digest does not match fails the pull and leaves nothing",
      async () => {
        const proxy = startRegistryProxy(bed.registry.host, {
          kind: "corrupt",
          blobBytesMin: 100_000,
        });
        try {
          const corrupt = new ImageService(client, { insecure: [proxy.host] });
          const reference = `${proxy.host}/mill-test/crash:1`;
          await expectCode(
            "image.digest_mismatch",
            reference,
            () => corrupt.pull(reference),
          );
          assertEquals(await leftovers(client), NOTHING);
          assertEquals(await client.listSnapshots(), []);
          assertEquals(await client.listImages(), []);
          // Only blobs the garbage collector has not yet reached may remain; never the corrupt one.
          const content = (await client.listContent()).map((c) => c.size);
          assertTrue(
            content.every((size) => size < 100_000),
            "no layer blob was kept",
          );
        } finally {
          await proxy.stop();
        }
      },
    );

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
      "unknown images and unreachable registries fail with typed errors",
      async () => {
        const unknown = `${bed.registry.host}/mill-test/missing:1`;
        await expectCode(
          "image.not_found",
          unknown,
          () => images.pull(unknown),
        );
        const unreachable = `127.0.0.1:${freePort()}/mill-test/crash:1`;
        const far = new ImageService(client, {
          insecure: [unreachable.split("/")[0]!],
        });
        await expectCode(
          "image.registry_unreachable",
          unreachable,
          () => far.pull(unreachable),
        );
        await expectCode(
          "image.not_found",
          "absent:1",
          () => runner.create({ id: "absent", image: "absent:1" }),
        );
        // Not marked insecure: HTTPS only, which a plain-HTTP registry cannot answer.
        const strict = new ImageService(client);
        await expectCode(
          "image.registry_unreachable",
          bed.images.sleeper,
          () => strict.pull(bed.images.sleeper),
        );
        await expectCode(
          "image.reference_invalid",
          "Bad/Name",
          () => images.pull("Bad/Name"),
        );
        assertEquals(await client.getImage(bed.images.sleeper), undefined);
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
      "basic auth: the right credentials pull, wrong ones fail as unauthorized",
      async () => {
        const credentials = { username: "mill", password: "s3cret" };
        const registry = await startRegistry({ credentials });
        try {
          const pushed = await pushTestImages(bed.layoutDir, registry.host, {
            credentials,
          });
          const wrong = new ImageService(client, {
            insecure: [registry.host],
            credentials: {
              [registry.host]: { username: "mill", password: "wrong" },
            },
          });
          await expectCode(
            "image.unauthorized",
            pushed.sleeper,
            () => wrong.pull(pushed.sleeper),
          );
          const none = new ImageService(client, { insecure: [registry.host] });
          await expectCode(
            "image.unauthorized",
            pushed.sleeper,
            () => none.pull(pushed.sleeper),
          );
          const right = new ImageService(client, {
            insecure: [registry.host],
            credentials: { [registry.host]: credentials },
          });
          const image = await right.pull(pushed.sleeper);
          assertEquals(image.name, pushed.sleeper);
          assertEquals(await leftovers(client), NOTHING);
        } finally {
          await registry.stop();
        }
      },
    );

    await t.step(
      "a registry with token auth: bearer tokens for the right credentials, unauthorized for wrong ones",
      async () => {
        const credentials = { username: "tok", password: "en" };
        const registry = await startRegistry({ credentials, auth: "token" });
        try {
          const pushed = await pushTestImages(bed.layoutDir, registry.host, {
            credentials,
            only: ["sleeper"],
          });
          const wrong = new ImageService(client, {
            insecure: [registry.host],
            credentials: {
              [registry.host]: { username: "tok", password: "bad" },
            },
          });
          await expectCode(
            "image.unauthorized",
            pushed.sleeper,
            () => wrong.pull(pushed.sleeper),
          );
          const right = new ImageService(client, {
            insecure: [registry.host],
            credentials: { [registry.host]: credentials },
          });
          assertEquals((await right.pull(pushed.sleeper)).name, pushed.sleeper);
          assertEquals(await leftovers(client), NOTHING);
        } finally {
          await registry.stop();
        }
      },
    );

    await t.step(
      "bearer tokens are fetched from the realm with the configured credentials",
      async () => {
        const credentials = { username: "tok", password: "en" };
        const proxy = startRegistryProxy(bed.registry.host, {
          kind: "bearer",
          ...credentials,
        });
        try {
          const reference = `${proxy.host}/mill-test/crash:1`;
          const wrong = new ImageService(client, {
            insecure: [proxy.host],
            credentials: { [proxy.host]: { username: "tok", password: "bad" } },
          });
          await expectCode(
            "image.unauthorized",
            reference,
            () => wrong.pull(reference),
          );
          const right = new ImageService(client, {
            insecure: [proxy.host],
            credentials: { [proxy.host]: credentials },
          });
          assertEquals((await right.pull(reference)).name, reference);
        } finally {
          await proxy.stop();
        }
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
