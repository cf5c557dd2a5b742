import { ok, strictEqual } from "node:assert/strict";
import http from "node:http";
import {
  endpointOf,
  LOOPBACK,
  request,
  startUpstream,
  withProxy,
} from "./proxy_testing.ts";

const MB = 1024 * 1024;

/** A body whose bytes depend on their offset, so a reordering shows. */
function pattern(size: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + (i >> 12)) & 0xff;
  return out;
}

async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    bytes as Uint8Array<ArrayBuffer>,
  );
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

Deno.test("20 MB bodies both ways arrive whole", async () => {
  const big = pattern(20 * MB);
  const upstream = startUpstream("files", async (req) => {
    if (req.method === "GET") return new Response(big);
    const body = new Uint8Array(await req.arrayBuffer());
    return new Response(`${body.length} ${await sha256(body)}`);
  });
  try {
    await withProxy(
      [
        {
          host: "files.test",
          pathPrefix: "/",
          service: "files",
          endpoints: [endpointOf(upstream)],
        },
      ],
      {},
      async ({ proxy, log }) => {
        const down = await request(proxy.httpPort, "files.test", "/big");
        strictEqual(down.status, 200);
        strictEqual(down.body.length, big.length);
        strictEqual(await sha256(down.body), await sha256(big));
        strictEqual(log[0]!.bytes, big.length);
        const up = await request(proxy.httpPort, "files.test", "/upload", {
          method: "POST",
          body: big,
        });
        strictEqual(up.text, `${big.length} ${await sha256(big)}`);
      },
    );
  } finally {
    await upstream.stop();
  }
});

Deno.test("bodies stream both ways: each chunk crosses before the next is sent", async () => {
  // The upstream echoes each chunk as it arrives; the client sends the next
  // chunk only once the previous one came back through the proxy, so
  // neither direction may wait for the whole body.
  const upstream = startUpstream("echo", (req) => new Response(req.body));
  try {
    await withProxy(
      [
        {
          host: "echo.test",
          pathPrefix: "/",
          service: "echo",
          endpoints: [endpointOf(upstream)],
        },
      ],
      {},
      async ({ proxy }) => {
        const answer = Promise.withResolvers<http.IncomingMessage>();
        const req = http.request({
          host: LOOPBACK,
          port: proxy.httpPort,
          method: "POST",
          path: "/stream",
          headers: { host: "echo.test", "transfer-encoding": "chunked" },
          agent: false,
        }, answer.resolve);
        req.on("error", answer.reject);
        req.flushHeaders();
        req.write("chunk-0;");
        const res = await answer.promise;
        strictEqual(res.statusCode, 200);
        let received = "";
        const arrived = (text: string) =>
          new Promise<void>((resolve) => {
            const check = () => {
              if (received.includes(text)) {
                res.off("data", onData);
                resolve();
              }
            };
            const onData = (chunk: Uint8Array) => {
              received += new TextDecoder().decode(chunk);
              check();
            };
            res.on("data", onData);
            check();
          });
        for (let i = 0; i < 5; i++) {
          await arrived(`chunk-${i};`);
          if (i < 4) req.write(`chunk-${i + 1};`);
        }
        req.end();
        await new Promise<void>((resolve) => {
          res.on(
            "data",
            (
              chunk: Uint8Array,
            ) => (received += new TextDecoder().decode(chunk)),
          );
          res.once("end", resolve);
        });
        strictEqual(received, "chunk-0;chunk-1;chunk-2;chunk-3;chunk-4;");
      },
    );
  } finally {
    await upstream.stop();
  }
});

Deno.test("a streamed response reaches the client before the upstream ends it", async () => {
  const gate = Promise.withResolvers<void>();
  const upstream = startUpstream("events", () => {
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(new TextEncoder().encode("first\n"));
        await gate.promise;
        controller.enqueue(new TextEncoder().encode("second\n"));
        controller.close();
      },
    });
    return new Response(body, {
      headers: { "content-type": "text/event-stream" },
    });
  });
  try {
    await withProxy(
      [
        {
          host: "events.test",
          pathPrefix: "/",
          service: "events",
          endpoints: [endpointOf(upstream)],
        },
      ],
      {},
      async ({ proxy }) => {
        const res = await new Promise<http.IncomingMessage>(
          (resolve, reject) => {
            http.get({
              host: LOOPBACK,
              port: proxy.httpPort,
              path: "/",
              headers: { host: "events.test" },
              agent: false,
            }, resolve)
              .on("error", reject);
          },
        );
        const first = await new Promise<string>((resolve) =>
          res.once(
            "data",
            (c: Uint8Array) => resolve(new TextDecoder().decode(c)),
          )
        );
        strictEqual(first, "first\n");
        gate.resolve();
        let rest = "";
        res.on(
          "data",
          (c: Uint8Array) => (rest += new TextDecoder().decode(c)),
        );
        await new Promise((resolve) => res.once("end", resolve));
        strictEqual(rest, "second\n");
      },
    );
  } finally {
    gate.resolve();
    await upstream.stop();
  }
});

Deno.test("a client that goes away mid-response stops the upstream read", async () => {
  const cancelled = Promise.withResolvers<void>();
  const upstream = startUpstream("endless", () => {
    const chunk = new Uint8Array(64 * 1024);
    return new Response(
      new ReadableStream<Uint8Array>({
        pull(controller) {
          controller.enqueue(chunk);
        },
        cancel() {
          cancelled.resolve();
        },
      }),
    );
  });
  try {
    await withProxy(
      [
        {
          host: "e.test",
          pathPrefix: "/",
          service: "e",
          endpoints: [endpointOf(upstream)],
        },
      ],
      {},
      async ({ proxy }) => {
        const res = await new Promise<http.IncomingMessage>(
          (resolve, reject) => {
            http.get({
              host: LOOPBACK,
              port: proxy.httpPort,
              path: "/",
              headers: { host: "e.test" },
              agent: false,
            }, resolve)
              .on("error", reject);
          },
        );
        await new Promise((resolve) => res.once("data", resolve));
        res.destroy();
        await cancelled.promise;
        ok(true);
      },
    );
  } finally {
    await upstream.stop();
  }
});
