/**
 * A listener in a process with few file descriptors, flooded with
 * connections: it sheds what it cannot hold and serves again afterwards,
 * never crashes or stalls (the process runs with `ulimit -n 200`).
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";

const SERVER = `
import { listen } from ${
  JSON.stringify(new URL("./listener.ts", import.meta.url).href)
};
const l = await listen({
  hostname: "127.0.0.1",
  port: 0,
  limits: { connectionsPerSourceMax: 100000 },
  handler: () => Promise.resolve(new Response("ok")),
  onError: () => {},
});
console.log(l.port);
await new Promise((resolve) => Deno.addSignalListener("SIGTERM", resolve));
await l.shutdown();
`;

Deno.test("a listener short of file descriptors sheds connections and keeps serving", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mill-fd-" });
  const script = `${dir}/server.ts`;
  await Deno.writeTextFile(script, SERVER);
  const child = new Deno.Command("bash", {
    args: [
      "-c",
      `ulimit -n 200; exec "${Deno.execPath()}" run -A --no-check "${script}"`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const conns: Deno.Conn[] = [];
  try {
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    reader.releaseLock();
    const port = Number(new TextDecoder().decode(value).trim());
    assertTrue(port > 0);
    // Far more connections than the process has descriptors for.
    for (let i = 0; i < 400; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port }).catch(
        () => null,
      );
      if (conn !== null) conns.push(conn);
    }
    for (const conn of conns.splice(0)) conn.close();
    let answer = "";
    for (let attempt = 0; attempt < 100 && answer !== "ok"; attempt++) {
      answer = await fetch(`http://127.0.0.1:${port}/`, {
        signal: AbortSignal.timeout(2_000),
      }).then((r) => r.text()).catch(() => "");
    }
    assertEquals(answer, "ok");
  } finally {
    for (const conn of conns) conn.close();
    child.kill("SIGTERM");
    const status = await child.status;
    await child.stdout.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
    // It shut down on our signal, cleanly: it had not crashed before.
    assertEquals(status.code, 0);
  }
});
