/**
 * Which UDP socket the server takes under a given permission set: the
 * batched FFI socket under the binary's own (scripts/permissions), the
 * runtime's where FFI is refused or granted for another library only.
 */
import { strictEqual } from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;
const PROBE = `
import { DnsServer } from "${ROOT}net/dns/server.ts";
const server = new DnsServer({
  listen: { hostname: "127.0.0.1", port: 0 },
  upstreams: [],
  log: (level, message) => console.error(level, message),
});
await server.start();
console.log(server.udpKind);
await server.stop();
`;

/** The kind the probe printed, run by Deno with `permissions` (a bash expression). */
async function udpKindUnder(permissions: string): Promise<string> {
  const script = `source "${ROOT}scripts/permissions" && ` +
    `exec "${ROOT}scripts/deno" run --quiet ${permissions} -`;
  const child = new Deno.Command("bash", {
    args: ["-c", script],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(PROBE));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const text = new TextDecoder().decode(stdout).trim();
  strictEqual(
    code,
    0,
    `probe exited ${code}: ${new TextDecoder().decode(stderr)}`,
  );
  return text;
}

Deno.test("udp: the binary's permission set gets the batched FFI socket", async () => {
  strictEqual(await udpKindUnder('"${MILL_PERMISSIONS[@]}"'), "ffi");
});

Deno.test("udp: without FFI for libc, the server falls back to node:dgram", async () => {
  strictEqual(await udpKindUnder("--allow-net"), "node:dgram");
  strictEqual(
    await udpKindUnder(
      `--allow-net --allow-ffi=/lib/${Deno.build.arch}-linux-gnu/libm.so.6`,
    ),
    "node:dgram",
  );
});
