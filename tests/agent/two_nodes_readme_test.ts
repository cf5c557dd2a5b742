/**
 * The README's "Two nodes on one machine", word for word: its first shell
 * block (two network namespaces joined by a veth pair, a containerd per
 * node, a registry, `mill init --start` on node a, `mill join` on node b,
 * a deploy), then checks through the API that both nodes are ready and the
 * service is healthy, then runs its second block (the stop) and checks that
 * nothing is left in the namespaces. The test only sets HOME (so `~` is a
 * temporary directory) and, when unset, DENO_DIR (the cache stays warm).
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const SECTION = "## Two nodes on one machine";
const NAMESPACES = ["mill-a", "mill-b"];
const RUN_TIMEOUT_MS = 300_000;

/** The fenced `sh` blocks of the README section titled `title`, in order. */
export function shellBlocks(markdown: string, title: string): string[] {
  const start = markdown.indexOf(`\n${title}\n`);
  if (start < 0) throw new Error(`README.md has no "${title}" section`);
  const rest = markdown.slice(start + title.length + 2);
  const end = rest.search(/\n## /);
  const section = end < 0 ? rest : rest.slice(0, end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/**
 * Runs `program`; its output is what it wrote until it exited (a process
 * it left in the background may hold the pipes: they are not waited for).
 */
async function run(
  program: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<{ code: number; out: string }> {
  const child = new Deno.Command(program, {
    args,
    cwd: ROOT,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  const readers = [child.stdout, child.stderr].map((stream) =>
    stream.pipeThrough(new TextDecoderStream()).getReader()
  );
  const reading = readers.map(async (reader) => {
    for (;;) {
      const { done, value } = await reader.read().catch(() => ({
        done: true,
        value: undefined,
      }));
      if (done) return;
      out += value;
    }
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const status = await child.status;
  clearTimeout(timer);
  await Promise.race([
    Promise.all(reading),
    new Promise((resolve) => setTimeout(resolve, 1_000)),
  ]);
  for (const reader of readers) await reader.cancel().catch(() => {});
  return { code: status.code, out };
}

async function namespaceExists(name: string): Promise<boolean> {
  try {
    await Deno.stat(`/var/run/netns/${name}`);
    return true;
  } catch {
    return false;
  }
}

/** Pids of the processes in a namespace (`ip netns pids`), none when it is gone. */
async function pidsIn(name: string): Promise<number[]> {
  if (!await namespaceExists(name)) return [];
  const { out } = await run("ip", ["netns", "pids", name], {});
  return out.split(/\s+/).filter((p) => /^\d+$/.test(p)).map(Number);
}

/** What the block left when it failed half-way: the processes it started (by pid), mounts, namespaces. */
async function cleanUp(home: string): Promise<void> {
  for (const name of NAMESPACES) {
    for (const pid of await pidsIn(name)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Exited meanwhile.
      }
    }
  }
  const mounts = (await Deno.readTextFile("/proc/self/mounts")).split("\n")
    .map((line) => line.split(" ")[1] ?? "")
    .filter((target) => target.startsWith(`${home}/`))
    .sort((a, b) => b.length - a.length);
  for (const target of mounts) {
    await run("umount", ["-l", target], {});
  }
  for (const name of NAMESPACES) {
    if (await namespaceExists(name)) {
      await run("ip", ["netns", "delete", name], {});
    }
  }
  await Deno.remove(home, { recursive: true }).catch(() => {});
}

Deno.test("the README's two nodes on one machine: init, join, a deploy, both nodes ready, then the stop", async () => {
  const [start, stop, ...more] = shellBlocks(
    await Deno.readTextFile(`${ROOT}README.md`),
    SECTION,
  );
  assertTrue(start !== undefined && stop !== undefined, "two sh blocks");
  assertEquals(more.length, 0);
  for (const name of NAMESPACES) {
    assertTrue(
      !await namespaceExists(name),
      `network namespace ${name} exists already (a run of the README in progress?)`,
    );
  }
  const home = await Deno.makeTempDir({ prefix: "mill-2n-" });
  const env = {
    HOME: home,
    NO_COLOR: "1",
    DENO_DIR: Deno.env.get("DENO_DIR") ||
      `${Deno.env.get("HOME")}/.cache/deno`,
  };
  const d = `${home}/.mill/two-nodes`;
  const log = async (file: string) =>
    `--- ${file}\n${await Deno.readTextFile(`${d}/${file}`).catch(() => "")}`;
  const logs = async () =>
    (await Promise.all(
      ["a/init.json", "a/agent.log", "b/join.out", "b/agent.log"].map(log),
    )).join("\n");
  try {
    const started = await run("bash", ["-e", "-c", start], env, RUN_TIMEOUT_MS);
    assertEquals(
      started.code,
      0,
      `the first block failed:\n${started.out}\n${await logs()}`,
    );
    const mill = (ns: string, args: string[]) =>
      run("nsenter", [
        `--net=/var/run/netns/${ns}`,
        `${ROOT}scripts/mill`,
        ...args,
      ], env);
    const nodes = await mill("mill-b", ["nodes", "--json"]);
    assertEquals(nodes.code, 0, nodes.out);
    const listed = JSON.parse(nodes.out).nodes as {
      name: string;
      status: string;
    }[];
    assertEquals(
      listed.map((n) => `${n.name} ${n.status}`).sort(),
      ["a ready", "b ready"],
    );
    const status = await mill("mill-a", ["status", "--json"]);
    assertEquals(status.code, 0, status.out);
    const web = (JSON.parse(status.out).services as {
      name: string;
      healthy: number;
      replicas: number;
    }[]).find((s) => s.name === "web");
    assertEquals(web?.healthy, 2, status.out);

    const stopped = await run("bash", ["-e", "-c", stop], env);
    assertEquals(stopped.code, 0, `the stop block failed:\n${stopped.out}`);
    for (const name of NAMESPACES) {
      assertTrue(!await namespaceExists(name), `${name} is still there`);
    }
  } finally {
    await cleanUp(home);
  }
});
