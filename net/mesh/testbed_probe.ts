/**
 * A TCP probe the mesh tests and bench run inside a network namespace:
 *
 *   serve ADDRESS PORT   answers every connection with the address it came
 *                        from, one line; prints "ready" once listening
 *   connect ADDRESS PORT TIMEOUT_MS
 *                        prints the server's line; exit 1 when none came
 *
 * Bounded: one line of at most 64 bytes each way, and a 5 s limit per
 * connection on the server.
 */
const [mode, address, portText, timeoutText] = Deno.args;
const port = Number(portText);
const encoder = new TextEncoder();

if (mode === "serve" && address) {
  const listener = Deno.listen({ hostname: address, port });
  console.log("ready");
  for await (const conn of listener) {
    const from = (conn.remoteAddr as Deno.NetAddr).hostname;
    const timer = setTimeout(() => conn.close(), 5_000);
    conn.write(encoder.encode(`${from}\n`.slice(0, 64)))
      .catch(() => {})
      .finally(() => {
        clearTimeout(timer);
        try {
          conn.close();
        } catch {
          // Closed by the timer.
        }
      });
  }
} else if (mode === "connect" && address) {
  const timeout = Number(timeoutText ?? 2000);
  const timer = setTimeout(() => Deno.exit(1), timeout);
  try {
    const conn = await Deno.connect({ hostname: address, port });
    const buffer = new Uint8Array(64);
    const n = await conn.read(buffer);
    if (n === null) Deno.exit(1);
    console.log(new TextDecoder().decode(buffer.subarray(0, n)).trim());
    conn.close();
  } catch {
    Deno.exit(1);
  }
  clearTimeout(timer);
} else {
  console.error("usage: serve ADDRESS PORT | connect ADDRESS PORT TIMEOUT_MS");
  Deno.exit(2);
}
