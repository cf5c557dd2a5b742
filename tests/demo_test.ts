/**
 * `scripts/demo` as the README's first command, then `scripts/demo --stop`,
 * in a network namespace of its own with a temporary HOME and demo dir: the
 * app answers, what the demo prints is true of a `mill up` in the
 * background (no Ctrl-C to press), and the stop leaves no process behind.
 */
import { assertEquals, assertTrue } from "../containerd/_assert_test.ts";

const ROOT = new URL("../", import.meta.url).pathname;

async function run(args: string[], env: Record<string, string> = {}) {
  const result = await new Deno.Command(args[0]!, {
    args: args.slice(1),
    cwd: ROOT,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return {
    code: result.code,
    out: text.decode(result.stdout) + text.decode(result.stderr),
  };
}

async function pidsIn(name: string): Promise<number[]> {
  const { out } = await run(["ip", "netns", "pids", name]);
  return out.split(/\s+/).filter((p) => /^\d+$/.test(p)).map(Number);
}

Deno.test("scripts/demo runs the app in the background and says so; --stop stops it", async () => {
  const name = `mill-demo-${crypto.randomUUID().slice(0, 8)}`;
  const home = await Deno.makeTempDir({ prefix: "mill-demo-home-" });
  const env = {
    HOME: home,
    MILL_DEMO_DIR: `${home}/demo`,
    NO_COLOR: "1",
    DENO_DIR: Deno.env.get("DENO_DIR") ||
      `${Deno.env.get("HOME")}/.cache/deno`,
  };
  assertEquals((await run(["ip", "netns", "add", name])).code, 0);
  const inNs = (...args: string[]) =>
    run(["nsenter", `--net=/var/run/netns/${name}`, ...args], env);
  try {
    await run(["ip", "-n", name, "link", "set", "lo", "up"]);
    // The demo leaves mill up and the registry running: their output goes
    // to files, so the pipes close when the script ends.
    const demo = await inNs(`${ROOT}scripts/demo`);
    assertEquals(demo.code, 0, demo.out);
    assertTrue(demo.out.includes("curl http://127.0.0.1:"), demo.out);
    assertTrue(!/Ctrl-C/i.test(demo.out), demo.out);
    assertTrue(demo.out.includes("in the background"), demo.out);
    assertTrue(demo.out.includes("scripts/demo --stop"), demo.out);
    assertTrue((await pidsIn(name)).length > 0, "the demo runs");

    const stop = await inNs(`${ROOT}scripts/demo`, "--stop");
    assertEquals(stop.code, 0, stop.out);
    assertTrue(stop.out.includes("demo stopped"), stop.out);
    let left: number[] = [];
    for (let i = 0; i < 100; i++) {
      left = await pidsIn(name);
      if (left.length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assertEquals(left, [], "processes left after --stop");
  } finally {
    for (const pid of await pidsIn(name)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Exited meanwhile.
      }
    }
    const mounts = (await Deno.readTextFile("/proc/self/mounts")).split("\n")
      .map((line) => line.split(" ")[1] ?? "")
      .filter((target) => target.startsWith(`${home}/`))
      .sort((a, b) => b.length - a.length);
    for (const target of mounts) await run(["umount", "-l", target]);
    await run(["ip", "netns", "delete", name]);
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
});
