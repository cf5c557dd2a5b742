/**
 * `scripts/mill up --clean` as a user runs it: `mill up` with a private
 * containerd deploys two services, Ctrl-C (SIGTERM) leaves their containers
 * and shims running (by design: the next `mill up` re-attaches), and
 * `mill up --clean --yes` stops them, the shims and containerd, unmounts and
 * removes the data dir, so that the next `mill up` creates a new cluster.
 * Refused while `mill up` runs, and without a terminal unless --yes. Run by
 * up_clean_test.ts in a network namespace of its own.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import {
  buildTestImages,
  freePort,
  pushTestImages,
  startRegistry,
} from "../containerd/testbed.ts";
import { waitFor } from "./_bed.ts";
import { pidsMentioning } from "./_procs.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
/** Deno's module cache: the user's, not the test HOME's (that one is empty, and this netns has no network). */
const DENO_DIR = Deno.env.get("DENO_DIR") ??
  `${Deno.env.get("HOME")}/.cache/deno`;

function mill(home: string, args: string[]) {
  return new Deno.Command(`${ROOT}scripts/mill`, {
    args,
    cwd: ROOT,
    env: { HOME: home, NO_COLOR: "1", DENO_DIR },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

async function run(home: string, args: string[]) {
  const out = await mill(home, args).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** `mill up` in the background, until `stop()` sends SIGTERM. */
function startUp(home: string, args: string[]) {
  const child = mill(home, ["up", ...args]).spawn();
  let stdout = "";
  const reading = (async () => {
    for await (
      const chunk of child.stdout.pipeThrough(new TextDecoderStream())
    ) {
      stdout += chunk;
    }
  })();
  const stderr = new Response(child.stderr).text();
  return {
    get stdout() {
      return stdout;
    },
    async stop() {
      child.kill("SIGTERM");
      const { code } = await child.status;
      await reading;
      return { code, stderr: await stderr };
    },
  };
}

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** The pids of the containers' init processes, as their shims recorded them. */
async function containerPids(dataDir: string): Promise<number[]> {
  const tasks =
    `${dataDir}/containerd/state/io.containerd.runtime.v2.task/mill`;
  const pids: number[] = [];
  for await (const entry of Deno.readDir(tasks)) {
    pids.push(
      Number(await Deno.readTextFile(`${tasks}/${entry.name}/init.pid`)),
    );
  }
  return pids;
}

async function mountsUnder(dir: string): Promise<string[]> {
  return (await Deno.readTextFile("/proc/self/mounts")).split("\n")
    .map((line) => line.split(" ")[1] ?? "")
    .filter((target) => target.startsWith(`${dir}/`));
}

Deno.test("mill up --clean stops what mill up left running and removes its state", async (t) => {
  const home = await Deno.makeTempDir({ prefix: "mill-clean-home-" });
  const dataDir = `${home}/.mill/local`;
  const built = await buildTestImages();
  const registry = await startRegistry();
  const ports = [
    "--api-port",
    String(freePort()),
    "--peer-port",
    String(freePort()),
  ];
  try {
    const images = await pushTestImages(built.layoutDir, registry.host);
    const up = startUp(home, [...ports, "--insecure-registry", registry.host]);
    await waitFor("mill is up", () => up.stdout.includes("mill is up"), 60_000)
      .catch(async (error) => {
        throw new Error(`${error.message}:\n${(await up.stop()).stderr}`);
      });
    const clusterId = /created cluster (\S+)/.exec(up.stdout)?.[1];
    assertTrue(clusterId !== undefined, up.stdout);
    const service = (name: string, image: string) =>
      `service "${name}" {\n  image = "${image}"\n  cpu = 0.1\n  memory = "64M"\n}\n`;
    await Deno.writeTextFile(
      `${home}/app.mill`,
      service("one", images.sleeper) + service("two", images.sleeper),
    );
    const deployed = await run(home, ["deploy", "-f", `${home}/app.mill`]);
    assertEquals(deployed.code, 0, deployed.stdout + deployed.stderr);

    await t.step("refused while mill up runs", async () => {
      const refused = await run(home, ["up", "--clean", "--yes"]);
      assertEquals(refused.code, 1, refused.stderr);
      assertTrue(
        refused.stderr.includes("agent.data_dir_locked"),
        refused.stderr,
      );
      assertTrue(refused.stderr.includes("Ctrl-C"), refused.stderr);
      assertEquals((await containerPids(dataDir)).filter(alive).length, 2);
    });

    const stopped = await up.stop();
    assertEquals(stopped.code, 0, stopped.stderr);
    const shims = await pidsMentioning(`${dataDir}/containerd/containerd.sock`);
    const containers = await containerPids(dataDir);
    // What users reported: Ctrl-C leaves the containers and their shims.
    assertEquals(containers.filter(alive).length, 2);
    assertTrue(shims.length >= 1, "shims outlive mill up");

    await t.step(
      "without a terminal and without --yes, nothing is removed",
      async () => {
        const refused = await run(home, ["up", "--clean"]);
        assertEquals(refused.code, 2, refused.stderr);
        assertTrue(refused.stderr.includes("--yes"), refused.stderr);
        assertTrue((await Deno.stat(`${dataDir}/cluster.json`)).isFile);
        assertEquals(containers.filter(alive).length, 2);
      },
    );

    await t.step(
      "--clean --yes stops containers, shims and containerd and removes the data dir",
      async () => {
        const cleaned = await run(home, ["up", "--clean", "--yes"]);
        assertEquals(cleaned.code, 0, cleaned.stdout + cleaned.stderr);
        assertTrue(
          cleaned.stdout.includes("stopped 2 containers"),
          cleaned.stdout,
        );
        assertTrue(
          cleaned.stdout.includes(`removed ${dataDir}`),
          cleaned.stdout,
        );
        assertEquals(containers.filter(alive), []);
        assertEquals(shims.filter(alive), []);
        assertEquals(await pidsMentioning(dataDir), []);
        assertEquals(await mountsUnder(dataDir), []);
        assertEquals(await Deno.stat(dataDir).catch(() => null), null);
        const again = await run(home, ["up", "--clean", "--yes"]);
        assertEquals(again.code, 0, again.stderr);
        assertTrue(again.stdout.includes("nothing to clean"), again.stdout);
      },
    );

    await t.step("the next mill up creates a new cluster", async () => {
      const fresh = startUp(home, ports);
      await waitFor(
        "mill is up again",
        () => fresh.stdout.includes("mill is up"),
        60_000,
      );
      const newId = /created cluster (\S+)/.exec(fresh.stdout)?.[1];
      assertTrue(newId !== undefined && newId !== clusterId, fresh.stdout);
      const status = await run(home, ["status", "--json"]);
      assertEquals(status.code, 0, status.stderr);
      assertEquals(JSON.parse(status.stdout).services, []);
      assertEquals((await fresh.stop()).code, 0);
    });
  } finally {
    // Whatever happened above: leave no process, mount or directory behind.
    await run(home, ["up", "--clean", "--yes"]);
    await registry.stop();
    await built.cleanup();
    await Deno.remove(home, { recursive: true });
  }
});
