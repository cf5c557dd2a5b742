import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import {
  endpointOf,
  rawExchange,
  refusedPort,
  request,
  startUpstream,
  withProxy,
} from "./proxy_testing.ts";
import { formatAccessLog } from "./access_log.ts";

Deno.test("routes by host, then longest prefix; 404 for unknown hosts and paths, 503 without endpoints", async () => {
  const web = startUpstream("web");
  const api = startUpstream("api");
  try {
    await withProxy(
      [
        {
          host: "shop.test",
          pathPrefix: "/",
          service: "web",
          endpoints: [endpointOf(web)],
        },
        {
          host: "shop.test",
          pathPrefix: "/api",
          service: "api",
          endpoints: [endpointOf(api)],
        },
        {
          host: "other.test",
          pathPrefix: "/only",
          service: "web",
          endpoints: [endpointOf(web)],
        },
        { host: "idle.test", pathPrefix: "/", service: "idle", endpoints: [] },
      ],
      {},
      async ({ proxy, log }) => {
        const port = proxy.httpPort;
        strictEqual((await request(port, "shop.test", "/")).text, "web GET /");
        strictEqual(
          (await request(port, "SHOP.test:80", "/apix")).text,
          "web GET /apix",
        );
        strictEqual(
          (await request(port, "shop.test", "/api/orders?x=1")).text,
          "api GET /api/orders",
        );
        strictEqual(
          (await request(port, "other.test", "/only/x")).text,
          "web GET /only/x",
        );
        const unknown = await request(port, "nope.test", "/");
        strictEqual(unknown.status, 404);
        ok(unknown.text.includes("No site is served under this host name"));
        strictEqual((await request(port, "other.test", "/")).status, 404);
        const idle = await request(port, "idle.test", "/");
        strictEqual(idle.status, 503);
        strictEqual(idle.headers["retry-after"], "5");
        // Never an internal address in an error page.
        ok(!idle.text.includes("127.0.0.1") && !idle.text.includes("idle"));
        const entry = log.find((e) => e.path === "/api/orders")!;
        strictEqual(entry.status, 200);
        strictEqual(entry.service, "api");
        strictEqual(entry.upstream, `127.0.0.1:${api.port}`);
        strictEqual(entry.method, "GET");
        ok(
          formatAccessLog(entry).includes(
            '"GET shop.test/api/orders HTTP/1.1" 200',
          ),
        );
        deepStrictEqual(log.map((e) => e.status), [
          200,
          200,
          200,
          200,
          404,
          404,
          503,
        ]);
        strictEqual(proxy.stats().responsesByClass["2xx"], 4);
      },
    );
  } finally {
    await web.stop();
    await api.stop();
  }
});

Deno.test("a refused endpoint is retried on another, then skipped; all refused is 502", async () => {
  const live = startUpstream("live");
  const dead = { port: refusedPort(), name: "dead" };
  try {
    await withProxy(
      [
        {
          host: "a.test",
          pathPrefix: "/",
          service: "a",
          endpoints: [endpointOf(dead), endpointOf(live)],
        },
        {
          host: "b.test",
          pathPrefix: "/",
          service: "b",
          endpoints: [endpointOf(dead)],
        },
      ],
      {},
      async ({ proxy, log }) => {
        for (let i = 0; i < 4; i++) {
          // POST too: nothing was sent to the refused endpoint.
          const answer = await request(proxy.httpPort, "a.test", "/x", {
            method: "POST",
            body: "hello",
          });
          strictEqual(answer.status, 200);
          strictEqual(answer.text, "live POST /x");
        }
        // Refused once, then skipped: one retry in all.
        strictEqual(proxy.stats().retries, 1);
        strictEqual(log[0]!.attempts, 2);
        const failed = await request(proxy.httpPort, "b.test", "/");
        strictEqual(failed.status, 502);
        ok(!failed.text.includes(String(dead.port)));
        strictEqual(log.at(-1)!.error, "upstream-failed");
      },
    );
  } finally {
    await live.stop();
  }
});

/** A raw upstream that reads a request and then drops the connection. */
function droppingUpstream(): {
  port: number;
  requests: () => number;
  close: () => void;
} {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let requests = 0;
  (async () => {
    for await (const conn of listener) {
      (async () => {
        const buf = new Uint8Array(65536);
        const n = await conn.read(buf).catch(() => null);
        if (n !== null) requests++;
        conn.close();
      })();
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    requests: () => requests,
    close: () => listener.close(),
  };
}

Deno.test("a POST whose body was sent is never retried; a GET is", async () => {
  const dropper = droppingUpstream();
  const live = startUpstream("live");
  try {
    await withProxy(
      [
        {
          host: "a.test",
          pathPrefix: "/",
          service: "a",
          endpoints: [
            endpointOf({ ...dropper, name: "drop" }),
            endpointOf(live),
          ],
          balance: "round-robin",
        },
      ],
      {},
      async ({ proxy }) => {
        // Round-robin starts at the dropper.
        const post = await request(proxy.httpPort, "a.test", "/pay", {
          method: "POST",
          body: "card",
        });
        strictEqual(post.status, 502);
        strictEqual(dropper.requests(), 1);
        strictEqual(live.seen.length, 0);
        const get = await request(proxy.httpPort, "a.test", "/read");
        strictEqual(get.status, 200);
        strictEqual(get.text, "live GET /read");
        const put = await request(proxy.httpPort, "a.test", "/doc", {
          method: "PUT",
          body: "small body",
        });
        strictEqual(put.status, 200);
      },
    );
  } finally {
    dropper.close();
    await live.stop();
  }
});

Deno.test("a GET is retried after the upstream dropped it, a small PUT body replayed", async () => {
  const dropper = droppingUpstream();
  const echo = startUpstream(
    "echo",
    async (request) => new Response(`echo ${await request.text()}`),
  );
  try {
    await withProxy(
      [
        {
          host: "a.test",
          pathPrefix: "/",
          service: "a",
          endpoints: [
            endpointOf({ ...dropper, name: "drop" }),
            endpointOf(echo),
          ],
        },
      ],
      {},
      async ({ proxy }) => {
        const put = await request(proxy.httpPort, "a.test", "/doc", {
          method: "PUT",
          body: "replayed",
        });
        strictEqual(put.status, 200);
        strictEqual(put.text, "echo replayed");
        strictEqual(dropper.requests(), 1);
      },
    );
  } finally {
    dropper.close();
    await echo.stop();
  }
});

Deno.test("a slow upstream is 504, not retried", async () => {
  const gate = Promise.withResolvers<void>();
  const slow = startUpstream("slow", async () => {
    await gate.promise;
    return new Response("late");
  });
  try {
    await withProxy(
      [
        {
          host: "a.test",
          pathPrefix: "/",
          service: "a",
          endpoints: [endpointOf(slow)],
        },
      ],
      { limits: { upstreamResponseTimeoutMs: 300 } },
      async ({ proxy, log }) => {
        const answer = await request(proxy.httpPort, "a.test", "/");
        strictEqual(answer.status, 504);
        strictEqual(log[0]!.error, "upstream-timeout");
        strictEqual(log[0]!.attempts, 1);
      },
    );
  } finally {
    gate.resolve();
    await slow.stop();
  }
});

Deno.test("forwarded headers are added and hop-by-hop ones dropped, both ways", async () => {
  const mirror = startUpstream("mirror", (request) => {
    const headers: Record<string, string> = {};
    request.headers.forEach((v, k) => (headers[k] = v));
    return new Response(JSON.stringify(headers), {
      headers: {
        "x-custom": "kept",
        "keep-alive": "timeout=5",
        "set-cookie": "a=1",
      },
    });
  });
  try {
    await withProxy(
      [
        {
          host: "a.test",
          pathPrefix: "/",
          service: "a",
          endpoints: [endpointOf(mirror)],
        },
      ],
      {},
      async ({ proxy }) => {
        const answer = await request(proxy.httpPort, "a.test:8080", "/", {
          headers: {
            "x-forwarded-for": "203.0.113.9",
            "x-forwarded-proto": "https",
            "forwarded": "for=203.0.113.9",
            "connection": "keep-alive, x-secret",
            "x-secret": "hop",
            "proxy-authorization": "Basic abc",
            "te": "trailers",
            "x-app": "end-to-end",
          },
        });
        const seen = JSON.parse(answer.text) as Record<string, string>;
        strictEqual(seen["host"], "a.test:8080");
        strictEqual(seen["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
        strictEqual(seen["x-forwarded-proto"], "http");
        strictEqual(seen["x-forwarded-host"], "a.test:8080");
        strictEqual(
          seen["forwarded"],
          'for=203.0.113.9, for=127.0.0.1;proto=http;host="a.test:8080"',
        );
        strictEqual(seen["x-app"], "end-to-end");
        for (const gone of ["x-secret", "proxy-authorization", "te"]) {
          strictEqual(seen[gone], undefined, gone);
        }
        strictEqual(answer.headers["x-custom"], "kept");
        deepStrictEqual(answer.headers["set-cookie"], ["a=1"]);
        strictEqual(answer.headers["keep-alive"] === "timeout=5", false);
      },
    );
  } finally {
    await mirror.stop();
  }
});

Deno.test("limits: 431 for large headers, 413 for large bodies (declared or streamed)", async () => {
  const echo = startUpstream("echo", async (request) => {
    // The proxy cuts a body past the limit: reading it fails here.
    const body = await request.arrayBuffer().catch(() => null);
    return new Response(`got ${body?.byteLength ?? "a cut body"}`);
  });
  try {
    await withProxy(
      [
        {
          host: "a.test",
          pathPrefix: "/",
          service: "a",
          endpoints: [endpointOf(echo)],
        },
      ],
      { limits: { headerBytesMax: 2048, bodyBytesMax: 100_000 } },
      async ({ proxy }) => {
        const big = await request(proxy.httpPort, "a.test", "/", {
          headers: { "x-big": "a".repeat(4000) },
        });
        strictEqual(big.status, 431);
        const declared = await request(proxy.httpPort, "a.test", "/", {
          method: "POST",
          body: new Uint8Array(200_000),
        });
        strictEqual(declared.status, 413);
        const fits = await request(proxy.httpPort, "a.test", "/", {
          method: "POST",
          body: new Uint8Array(90_000),
        });
        strictEqual(fits.text, "got 90000");
        // Chunked, no length declared: cut once past the limit.
        const chunked = await rawExchange(
          proxy.httpPort,
          "POST / HTTP/1.1\r\nhost: a.test\r\ntransfer-encoding: chunked\r\n\r\n" +
            `30d40\r\n${"x".repeat(200_000)}\r\n0\r\n\r\n`,
        );
        ok(chunked.startsWith("HTTP/1.1 413"), chunked.slice(0, 80));
      },
    );
  } finally {
    await echo.stop();
  }
});

Deno.test("attackers: garbage gets 400 and serving goes on; slowloris is cut; one source is bounded", async () => {
  const web = startUpstream("web");
  try {
    await withProxy(
      [
        {
          host: "a.test",
          pathPrefix: "/",
          service: "a",
          endpoints: [endpointOf(web)],
        },
      ],
      { limits: { headersTimeoutMs: 400, connectionsPerSourceMax: 4 } },
      async ({ proxy }) => {
        const garbage = await rawExchange(
          proxy.httpPort,
          "\x16\x03\x01 NOT HTTP AT ALL\r\n\r\n",
        );
        ok(garbage.startsWith("HTTP/1.1 400"), garbage.slice(0, 40));
        const noHost = await rawExchange(
          proxy.httpPort,
          "GET / HTTP/1.1\r\n\r\n",
        );
        ok(noHost.startsWith("HTTP/1.1 400"), noHost.slice(0, 40));
        strictEqual((await request(proxy.httpPort, "a.test", "/")).status, 200);

        // Slowloris: headers trickled in, never finished; the deadline cuts it.
        const slow = await Deno.connect({
          hostname: "127.0.0.1",
          port: proxy.httpPort,
        });
        await slow.write(
          new TextEncoder().encode("GET / HTTP/1.1\r\nhost: a.test\r\n"),
        );
        let cut = false;
        for (let i = 0; i < 40 && !cut; i++) {
          await new Promise((r) => setTimeout(r, 100));
          cut = await slow.write(new TextEncoder().encode("x-a: b\r\n")).then(
            () => false,
            () => true,
          );
        }
        if (!cut) {
          // Written into a closed socket's buffer: the read says it closed.
          const n = await slow.read(new Uint8Array(10)).catch(() => null);
          cut = n === null;
        }
        try {
          slow.close();
        } catch { /* closed */ }
        ok(cut, "the slow connection was never closed");
        ok(proxy.stats().connectionsTimedOut >= 1);

        // Four connections from one address at most; the fifth is closed.
        const held = await Promise.all(
          Array.from(
            { length: 4 },
            () => Deno.connect({ hostname: "127.0.0.1", port: proxy.httpPort }),
          ),
        );
        await new Promise((r) => setTimeout(r, 100));
        const fifth = await rawExchange(
          proxy.httpPort,
          "GET / HTTP/1.1\r\nhost: a.test\r\n\r\n",
          2_000,
        );
        strictEqual(fifth, "");
        ok(proxy.stats().connectionsRefused >= 1);
        for (const conn of held) conn.close();
        await new Promise((r) => setTimeout(r, 100));
        strictEqual((await request(proxy.httpPort, "a.test", "/")).status, 200);
      },
    );
  } finally {
    await web.stop();
  }
});
