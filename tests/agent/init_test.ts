/**
 * `scripts/mill init --start` as an operator runs it on a cluster's first
 * machine (a subprocess with the binary's permissions): the cluster identity
 * is created and the first primary runs in the foreground, reachable through
 * the saved CLI context; a second init on the same data dir is refused;
 * SIGTERM stops the agent cleanly.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { freePort, startContainerd } from "../containerd/testbed.ts";
import { waitFor } from "./_bed.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

function mill(home: string, args: string[]) {
  return new Deno.Command(`${ROOT}scripts/mill`, {
    args,
    cwd: ROOT,
    env: { HOME: home, NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

Deno.test("mill init --start creates a cluster and runs its first primary until SIGTERM", async () => {
  const home = await Deno.makeTempDir({ prefix: "mill-init-home-" });
  const dataDir = `${home}/data`;
  const containerd = await startContainerd();
  const child = mill(home, [
    "init",
    "--start",
    "--network",
    "host",
    "--ingress",
    "off",
    "--data-dir",
    dataDir,
    "--name",
    "first",
    "--api-port",
    String(freePort()),
    "--listen",
    `127.0.0.1:${freePort()}`,
    "--containerd-socket",
    containerd.socketPath,
    "--runc-root",
    containerd.runcRoot,
    "--cgroup-parent",
    containerd.cgroupParent,
  ]).spawn();
  let stdout = "";
  const reading = (async () => {
    for await (
      const chunk of child.stdout.pipeThrough(new TextDecoderStream())
    ) {
      stdout += chunk;
    }
  })();
  const stderr = new Response(child.stderr).text();
  try {
    await waitFor("the cluster created", () => stdout.includes("created"));
    assertTrue(stdout.includes("starting the first primary"), stdout);
    await waitFor("the first primary ready", async () => {
      const status = await mill(home, ["status", "--json"]).output();
      if (status.code !== 0) return false;
      const body = JSON.parse(new TextDecoder().decode(status.stdout));
      return body.nodes?.ready === 1;
    }, 60_000);

    const again = await mill(home, ["init", "--data-dir", dataDir]).output();
    assertEquals(again.code, 1);
    assertTrue(
      new TextDecoder().decode(again.stderr).includes("error[init."),
      new TextDecoder().decode(again.stderr),
    );
  } finally {
    child.kill("SIGTERM");
    const { code } = await child.status;
    await reading;
    const log = await stderr;
    await containerd.stop();
    await Deno.remove(home, { recursive: true });
    assertEquals(code, 0, log);
  }
});
