/**
 * Secret env against a real containerd 1.6 and runc: the container sees the
 * value in its environment, and no file that containerd, runc or mill
 * writes and that group or others may read holds its bytes. containerd
 * itself (meta.db, the bundle's config.json, both 0644) never gets it.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import {
  ContainerdClient,
  ContainerRunner,
  detectHostFacts,
  ImageService,
} from "../../containerd/mod.ts";
import type { StartRequest } from "../../node/rpc/mod.ts";
import { containerIdOf } from "../../node/secondary/exits.ts";
import { ContainerdRuntime } from "../../node/secondary/runtime.ts";
import { startTestBed } from "./testbed.ts";
import { waitUntil } from "./_helpers.ts";

const SECRET = "hunter2-9f3a1c7e-secret-bytes";
const SCRIPT =
  `trap 'exit 0' TERM; echo "db=$DB_URL mode=$MODE"; while true; do sleep 1 & wait $!; done`;

interface Hit {
  readonly path: string;
  readonly mode: number;
}

/** Every regular file under `dirs` whose bytes hold `needle`, with its mode. */
async function filesHolding(
  dirs: readonly string[],
  needle: string,
): Promise<{ hits: Hit[]; scanned: string[] }> {
  const bytes = new TextEncoder().encode(needle);
  const hits: Hit[] = [];
  const scanned: string[] = [];
  const pending = [...dirs];
  for (let step = 0; pending.length > 0; step++) {
    assertTrue(step < 100_000, "the scan ends");
    const dir = pending.pop()!;
    // containerd removes snapshots while we scan: what vanished holds nothing.
    const entries = await entriesOf(dir);
    for (const entry of entries) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) pending.push(path);
      if (!entry.isFile) continue; // FIFOs, sockets, symlinks: no content
      const content = await Deno.readFile(path).catch(gone);
      if (content === null) continue;
      scanned.push(path);
      if (indexOf(content, bytes) >= 0) {
        hits.push({ path, mode: (await Deno.stat(path)).mode! & 0o7777 });
      }
    }
  }
  return { hits, scanned };
}

/** Null for a file or directory removed meanwhile; other errors are thrown. */
function gone(error: unknown): null {
  if (error instanceof Deno.errors.NotFound) return null;
  throw error;
}

async function entriesOf(dir: string): Promise<Deno.DirEntry[]> {
  const entries: Deno.DirEntry[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) entries.push(entry);
  } catch (error) {
    gone(error);
  }
  return entries;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}

Deno.test("a container gets its secret env while no file others can read holds it", async (t) => {
  const bed = await startTestBed();
  const client = new ContainerdClient(bed.containerd.socketPath);
  const work = await Deno.makeTempDir({ prefix: "mill-secret-env-" });
  const fifoDir = `${work}/fifo`;
  const stateDir = `${work}/allocs`;
  const secretsDir = `${work}/secrets`;
  const images = new ImageService(client, { insecure: [bed.registry.host] });
  const runner = new ContainerRunner(client, images, {
    fifoDir,
    runcRoot: bed.containerd.runcRoot,
    host: detectHostFacts(bed.containerd.cgroupParent),
  });
  const logs: string[] = [];
  const runtime = await ContainerdRuntime.open({
    client,
    images,
    runner,
    fifoDir,
    stateDir,
    secretsDir,
    onReport: () => {},
    log: (line) => logs.push(line),
    restartDelayScale: 0.01,
  });
  const request: StartRequest = {
    allocId: "web:d1:0",
    name: "web",
    kind: "service",
    image: bed.images.sleeper,
    command: ["/bin/sh", "-c", SCRIPT],
    env: { DB_URL: "pg://app:${secret(db.pass)}@db/app", MODE: "prod" },
    secretValues: { "db.pass": SECRET },
    cpu: 0.1,
    memoryBytes: 64 * 1024 * 1024,
    labels: { "mill.restart": "always" },
    stopSignal: "SIGTERM",
    stopGracePeriodMs: 5_000,
  };
  const containerId = containerIdOf(request.allocId);
  const greeting = `db=pg://app:${SECRET}@db/app mode=prod`;
  const greetings = async () =>
    (await runtime.logs({ allocId: request.allocId, tailLines: 100 }, signal()))
      .lines.filter((l) => l.line === greeting).length;
  const everyDir = [bed.containerd.dir, work];
  try {
    await t.step(
      "the container's environment has the resolved value",
      async () => {
        await runtime.pull({ image: bed.images.sleeper }, signal());
        await runtime.start(request, signal());
        await waitUntil("the greeting", async () => await greetings() === 1);
      },
    );

    await t.step(
      "containerd's meta.db and config.json never hold it; mill's files are closed",
      async () => {
        const { hits, scanned } = await filesHolding(everyDir, SECRET);
        // The scan saw the files the secret used to land in.
        const bundle = scanned.find((p) =>
          p.endsWith(`/${containerId}/config.json`)
        );
        assertTrue(
          bundle !== undefined,
          "the bundle's config.json was scanned",
        );
        assertTrue(scanned.some((p) => p.endsWith("/meta.db")));
        const config = await Deno.readTextFile(bundle!);
        assertTrue(config.includes("/run/mill/env-exec"));
        assertEquals(
          hits.filter((h) => (h.mode & 0o044) !== 0),
          [],
          "no file group or others may read holds the secret",
        );
        assertEquals(hits.sort((a, b) => a.path < b.path ? -1 : 1), [
          {
            path: `${stateDir}/${encodeURIComponent(request.allocId)}.json`,
            mode: 0o600,
          },
          { path: `${secretsDir}/${containerId}.env`, mode: 0o400 },
        ]);
        assertEquals((await Deno.stat(secretsDir)).mode! & 0o777, 0o700);
        assertEquals((await Deno.stat(stateDir)).mode! & 0o777, 0o700);
      },
    );

    await t.step("a restarted container gets it again", async () => {
      await client.killTask(containerId, 9);
      await waitUntil(
        "the second greeting",
        async () => await greetings() === 2,
      );
    });

    await t.step(
      "a container of a non-root user reads its own env file",
      async () => {
        const id = "nobody-secret";
        const filePath = `${secretsDir}/${id}.env`;
        await runner.create({
          id,
          image: bed.images.sleeper,
          command: [
            "/bin/sh",
            "-c",
            'echo "uid=$(id -u) db=$DB_URL"; cat /run/mill/secret-env >/dev/null && echo readable',
          ],
          user: "nobody",
          secretEnv: {
            values: { DB_URL: SECRET },
            execPath: `${secretsDir}/env-exec`,
            filePath,
          },
        });
        const info = await Deno.stat(filePath);
        assertEquals([info.uid, info.gid, info.mode! & 0o777], [
          65534,
          65534,
          0o400,
        ]);
        await runner.start(id);
        assertEquals(await runner.wait(id, 20_000), 0);
        await waitUntil(
          "both lines",
          () => Promise.resolve(runner.logs(id).length >= 2),
        );
        assertEquals(
          runner.logs(id).map((l) => l.line),
          [
            `uid=65534 db=${SECRET}`,
            "readable",
          ],
        );
        await runner.remove(id);
        await Deno.remove(filePath);
      },
    );

    await t.step("once stopped, no file holds it at all", async () => {
      await runtime.stop(
        { allocId: request.allocId, signal: "SIGTERM", gracePeriodMs: 5_000 },
        signal(),
      );
      assertEquals((await filesHolding(everyDir, SECRET)).hits, []);
      assertTrue(logs.every((line) => !line.includes(SECRET)));
    });
  } finally {
    await runtime.close();
    client.close();
    await bed.stop();
    await Deno.remove(work, { recursive: true });
  }
});

function signal(): AbortSignal {
  return AbortSignal.timeout(30_000);
}
