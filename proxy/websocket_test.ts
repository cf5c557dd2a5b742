import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import {
  endpointOf,
  rawExchange,
  refusedPort,
  startUpstream,
  withProxy,
} from "./proxy_testing.ts";

/** An upstream that echoes WebSocket messages and closes when told "bye". */
function echoUpstream(name: string) {
  const closed: number[] = [];
  const upstream = startUpstream(name, (request) => {
    if (request.headers.get("upgrade") !== "websocket") {
      return new Response("not a websocket", { status: 426 });
    }
    const client = request.headers.get("x-forwarded-for");
    const { socket, response } = Deno.upgradeWebSocket(request);
    socket.onmessage = (event) => {
      if (event.data === "bye") socket.close(4000, "bye");
      else {socket.send(
          `${name}: ${event.data} (${client})`,
        );}
    };
    socket.onclose = (event) => closed.push(event.code);
    return response;
  });
  return { upstream, closed };
}

/** A client WebSocket to the proxy; its Host is "localhost:PORT" (the client sets it from the URL). */
function open(port: number): Promise<WebSocket> {
  const socket = new WebSocket(`ws://localhost:${port}/ws`);
  return new Promise((resolve, reject) => {
    socket.onopen = () => resolve(socket);
    socket.onerror = (event) =>
      reject(new Error(`websocket failed: ${(event as ErrorEvent).message}`));
  });
}

function next(socket: WebSocket): Promise<string> {
  return new Promise((
    resolve,
  ) => (socket.onmessage = (event) => resolve(String(event.data))));
}

Deno.test("WebSocket echo through the proxy; a close travels both ways", async () => {
  const { upstream, closed } = echoUpstream("echo");
  const dead = { port: refusedPort(), name: "dead" };
  try {
    await withProxy(
      [
        // The refused endpoint first: the handshake is retried on the live one.
        {
          host: "localhost",
          pathPrefix: "/",
          service: "ws",
          endpoints: [endpointOf(dead), endpointOf(upstream)],
        },
      ],
      {},
      async ({ proxy, log }) => {
        const socket = await open(proxy.httpPort);
        for (const text of ["one", "two", "x".repeat(100_000)]) {
          const reply = next(socket);
          socket.send(text);
          strictEqual(await reply, `echo: ${text} (127.0.0.1)`);
        }
        strictEqual(proxy.stats().websocketsOpen, 1);
        // The upstream closes: the client sees its code.
        const clientClosed = new Promise<number>((
          resolve,
        ) => (socket.onclose = (e) => resolve(e.code)));
        socket.send("bye");
        strictEqual(await clientClosed, 4000);

        // The client closes: the upstream sees it.
        const second = await open(proxy.httpPort);
        const upstreamClosed = new Promise<void>((resolve) => {
          const poll = setInterval(() => {
            if (closed.length >= 2) {
              clearInterval(poll);
              resolve();
            }
          }, 20);
        });
        second.close(1000, "done");
        await upstreamClosed;
        deepStrictEqual(closed, [4000, 1000]);
        await new Promise((r) => setTimeout(r, 50));
        strictEqual(proxy.stats().websocketsOpen, 0);
        const entry = log.find((e) => e.status === 101)!;
        ok(entry.bytes > 100_000);
        strictEqual(entry.upstream, `127.0.0.1:${upstream.port}`);
      },
    );
  } finally {
    await upstream.stop();
  }
});

Deno.test("a WebSocket handshake for an unknown host is 404, one the upstream refuses is relayed", async () => {
  const plain = startUpstream(
    "plain",
    () => new Response("no upgrade here", { status: 400 }),
  );
  try {
    await withProxy(
      [
        {
          host: "plain.test",
          pathPrefix: "/",
          service: "plain",
          endpoints: [endpointOf(plain)],
        },
      ],
      {},
      async ({ proxy }) => {
        const handshake = (host: string) =>
          rawExchange(
            proxy.httpPort,
            `GET /ws HTTP/1.1\r\nhost: ${host}\r\nconnection: upgrade\r\nupgrade: websocket\r\n` +
              "sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
          );
        const unknown = await handshake("nope.test");
        ok(unknown.startsWith("HTTP/1.1 404"), unknown.slice(0, 40));
        const refused = await handshake("plain.test");
        ok(refused.startsWith("HTTP/1.1 400"), refused.slice(0, 40));
        ok(refused.endsWith("no upgrade here"), refused);
      },
    );
  } finally {
    await plain.stop();
  }
});
