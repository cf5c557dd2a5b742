/** The listener's door, tried as an attacker would: raw sockets on loopback. */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { listen, type Listener, type ListenerLimits } from "./listener.ts";

async function withListener(
  limits: Partial<ListenerLimits>,
  run: (listener: Listener, errors: unknown[]) => Promise<void>,
): Promise<void> {
  const errors: unknown[] = [];
  const listener = await listen({
    hostname: "127.0.0.1",
    port: 0,
    limits,
    handler: async (request) => {
      if (request.method === "POST") {
        // Reads at most a little, like a 413 on a large body.
        return new Response("refused", { status: 413 });
      }
      await Promise.resolve();
      return new Response("ok");
    },
    onError: (error) => errors.push(error),
  });
  try {
    await run(listener, errors);
  } finally {
    await listener.shutdown();
  }
}

/** Writes `text` on a fresh connection and reads until the server closes it (under a deadline). */
async function exchange(
  port: number,
  text: string,
  deadlineMs = 10_000,
): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(text));
    return await readUntilClosed(conn, deadlineMs);
  } finally {
    try {
      conn.close();
    } catch {
      // Already closed by the server: what we waited for.
    }
  }
}

async function readUntilClosed(
  conn: Deno.Conn,
  deadlineMs: number,
): Promise<string> {
  const timer = setTimeout(() => conn.close(), deadlineMs);
  const decoder = new TextDecoder();
  let text = "";
  const buffer = new Uint8Array(4096);
  try {
    for (;;) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n));
    }
  } finally {
    clearTimeout(timer);
  }
  return text;
}

Deno.test("the listener answers oversized headers with a JSON 431 and malformed requests with a JSON 400", async (t) => {
  await withListener({ headerBytesMax: 2048 }, async (listener) => {
    await t.step("headers past the bound", async () => {
      const answer = await exchange(
        listener.port,
        `GET / HTTP/1.1\r\nhost: x\r\nx-big: ${"a".repeat(8192)}\r\n\r\n`,
      );
      assertTrue(answer.startsWith("HTTP/1.1 431"), answer.slice(0, 80));
      assertTrue(answer.includes('"code":"api.headers_too_large"'), answer);
    });
    await t.step("garbage instead of HTTP", async () => {
      const answer = await exchange(listener.port, "HELLO\x00\x01\r\n\r\n");
      assertTrue(answer.startsWith("HTTP/1.1 400"), answer.slice(0, 80));
      assertTrue(answer.includes('"code":"api.malformed_request"'), answer);
    });
    await t.step(
      "conflicting Content-Length and Transfer-Encoding",
      async () => {
        const answer = await exchange(
          listener.port,
          "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 4\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: x\r\n\r\n",
        );
        // One answer at most, never one for the smuggled request.
        assertTrue(!answer.includes("HTTP/1.1 200"), answer);
        assertTrue(answer.split("HTTP/1.1 ").length <= 2, answer);
      },
    );
  });
});

Deno.test("the listener closes a connection whose headers do not arrive in time (slowloris)", async () => {
  await withListener({ headersTimeoutMs: 300 }, async (listener) => {
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: listener.port,
    });
    await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\nhost: x\r\n"));
    // Never finishes its headers; the server must close it (deadline 10 s).
    const started = Date.now();
    await readUntilClosed(conn, 10_000);
    assertTrue(Date.now() - started < 10_000, "closed by the server");
    try {
      conn.close();
    } catch {
      // The server closed it.
    }
  });
});

Deno.test("the listener sheds connections past the per-source bound and keeps serving", async () => {
  await withListener({ connectionsPerSourceMax: 3 }, async (listener) => {
    const held: Deno.Conn[] = [];
    for (let i = 0; i < 3; i++) {
      held.push(
        await Deno.connect({ hostname: "127.0.0.1", port: listener.port }),
      );
    }
    // The fourth from the same address is closed at once, unanswered.
    const answer = await exchange(
      listener.port,
      "GET / HTTP/1.1\r\nhost: x\r\n\r\n",
    );
    assertEquals(answer, "");
    assertTrue(listener.refusedConnections >= 1);
    for (const conn of held) conn.close();
    // Once they are gone, the same source is served again.
    let served = "";
    for (let attempt = 0; attempt < 50 && !served.includes("200"); attempt++) {
      served = await exchange(
        listener.port,
        "GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
      );
    }
    assertTrue(served.startsWith("HTTP/1.1 200"), served.slice(0, 80));
  });
});

Deno.test("an answer given before a large body is read closes the connection instead of reading the rest", async () => {
  await withListener({}, async (listener) => {
    const answer = await exchange(
      listener.port,
      `POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100000000\r\n\r\n${
        "a".repeat(1000)
      }`,
    );
    assertTrue(answer.startsWith("HTTP/1.1 413"), answer.slice(0, 80));
    assertTrue(/connection: close/i.test(answer), answer);
  });
});

Deno.test("a long answer (a stream) outlives the request and idle deadlines", async () => {
  const listener = await listen({
    hostname: "127.0.0.1",
    port: 0,
    limits: {
      headersTimeoutMs: 200,
      requestTimeoutMs: 200,
      idleTimeoutMs: 200,
    },
    handler: () => {
      let n = 0;
      let timer: ReturnType<typeof setInterval> | undefined;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          timer = setInterval(() => {
            controller.enqueue(new TextEncoder().encode(`tick ${++n}\n`));
            if (n === 8) {
              clearInterval(timer);
              controller.close();
            }
          }, 100);
        },
        cancel: () => clearInterval(timer),
      });
      return Promise.resolve(new Response(body));
    },
    onError: () => {},
  });
  try {
    const response = await fetch(`http://127.0.0.1:${listener.port}/`);
    const text = await response.text();
    assertEquals(text.trim().split("\n").length, 8);
  } finally {
    await listener.shutdown();
  }
});
