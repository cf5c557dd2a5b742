/**
 * `scripts/mill up` as a user runs it (a subprocess with the binary's
 * permissions): a fresh data dir, a private containerd, the agent in the
 * foreground; `mill status` answers through the saved context; a second
 * `mill up` sees the cluster up; SIGTERM stops it and its containerd.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { freePort } from "../containerd/testbed.ts";
import { waitFor } from "./_bed.ts";
import { pidsMentioning } from "./_procs.ts";

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

Deno.test("scripts/mill up starts a one-node cluster with its own containerd and stops on SIGTERM", async () => {
  const home = await Deno.makeTempDir({ prefix: "mill-up-home-" });
  const dataDir = `${home}/.mill/local`;
  const apiPort = freePort();
  const peerPort = freePort();
  const child = mill(home, [
    "up",
    "--api-port",
    String(apiPort),
    "--peer-port",
    String(peerPort),
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
    await waitFor("mill is up", () => stdout.includes("mill is up"), 60_000);
    assertTrue(stdout.includes("created cluster"), stdout);

    const status = await mill(home, ["status", "--json"]).output();
    assertEquals(status.code, 0, new TextDecoder().decode(status.stderr));
    const body = JSON.parse(new TextDecoder().decode(status.stdout));
    assertEquals(body.nodes.ready, 1);

    const again = await mill(home, ["up", "--api-port", String(apiPort)])
      .output();
    assertEquals(again.code, 0);
    assertTrue(new TextDecoder().decode(again.stdout).includes("already up"));
    assertEquals(
      (await pidsMentioning(`${dataDir}/containerd/config.toml`)).length,
      1,
    );
  } finally {
    child.kill("SIGTERM");
    const { code } = await child.status;
    await reading;
    const log = await stderr;
    assertEquals(code, 0, log);
    assertEquals(await pidsMentioning(`${dataDir}/containerd/config.toml`), []);
    await Deno.remove(home, { recursive: true });
  }
});
