/** Follower → leader forwarding between two real HTTPS API servers on loopback. */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import type { ClusterIdentity } from "../cluster_init/mod.ts";
import { readEvents, withClient, withIdentity, within } from "./_testing.ts";
import { Authenticator } from "./auth.ts";
import { readBodyBytes } from "./body.ts";
import { ApiError, jsonResponse } from "./errors.ts";
import { FORWARDED_BY_HEADER, forwardToLeader } from "./forward.ts";
import { Router } from "./router.ts";
import { type ApiServer, startApiServer } from "./server.ts";
import { SseHub, type SseStream } from "./sse.ts";

/** Errors the servers reported; every test expects none. */
const reported: unknown[] = [];

function serve(identity: ClusterIdentity, router: Router): Promise<ApiServer> {
  return startApiServer({
    hostname: "127.0.0.1",
    port: 0,
    tls: { certPem: identity.apiCertPem, keyPem: identity.apiKeyPem },
    router,
    authenticator: new Authenticator([{
      token: identity.adminToken,
      scope: "admin",
    }]),
    onError: (error) => reported.push(error),
  });
}

interface Pair {
  readonly identity: ClusterIdentity;
  readonly client: Deno.HttpClient;
  readonly hub: SseHub;
  readonly leaderStreams: SseStream[];
  call(path: string, init?: RequestInit): Promise<Response>;
}

/** A leader and a follower that forwards every route to `leaderUrl(leader)`. */
async function withPair(
  leaderUrl: (leader: ApiServer) => string | null,
  run: (pair: Pair) => Promise<void>,
): Promise<void> {
  await withIdentity(async (identity) => {
    const hub = new SseHub({ heartbeatMs: 60_000 });
    const leaderStreams: SseStream[] = [];
    const leaderRouter = new Router()
      .add("GET", "/v1/status", (request, ctx) =>
        jsonResponse(
          {
            leader: true,
            forwardedBy: request.headers.get(FORWARDED_BY_HEADER),
            query: ctx.url.search,
          },
          200,
          { "x-leader-node": "node-1" },
        ))
      .add("POST", "/v1/deploy", async (request) => {
        const bytes = await readBodyBytes(request, {
          bytesMax: 1 << 20,
          contentTypes: ["application/octet-stream"],
        });
        return jsonResponse({
          bytes: bytes.length,
          last: bytes[bytes.length - 1],
        }, 202);
      })
      .add(
        "DELETE",
        "/v1/secrets/:name",
        () => new Response(null, { status: 204 }),
      )
      .add("GET", "/v1/conflict", () => {
        throw new ApiError(
          409,
          "deploy.in_progress",
          "A deploy is already running",
        );
      })
      .add("GET", "/v1/events", (request) => {
        const stream = hub.subscribe(request.signal);
        leaderStreams.push(stream);
        return stream.response;
      });
    const leader = await serve(identity, leaderRouter);
    await withClient(identity.caCertPem, async (client) => {
      const forward = (request: Request) =>
        forwardToLeader(request, leaderUrl(leader), {
          nodeName: "node-2",
          client,
        });
      const followerRouter = new Router()
        .add("GET", "/v1/status", forward)
        .add("POST", "/v1/deploy", forward)
        .add("DELETE", "/v1/secrets/:name", forward)
        .add("GET", "/v1/conflict", forward)
        .add("GET", "/v1/events", forward);
      const follower = await serve(identity, followerRouter);
      try {
        await run({
          identity,
          client,
          hub,
          leaderStreams,
          call: (path, init = {}) =>
            fetch(`https://127.0.0.1:${follower.port}${path}`, {
              ...init,
              client,
              headers: {
                authorization: `Bearer ${identity.adminToken}`,
                ...init.headers,
              },
            }),
        });
      } finally {
        hub.close();
        await follower.shutdown();
      }
    });
    await leader.shutdown();
  });
  assertEquals(reported.splice(0), []);
}

const toLeader = (leader: ApiServer) => `https://127.0.0.1:${leader.port}`;

Deno.test("forwardToLeader() relays status, headers, query and body from the leader", async () => {
  await withPair(toLeader, async (pair) => {
    const status = await pair.call("/v1/status?verbose=1");
    assertEquals(status.status, 200);
    assertEquals(status.headers.get("x-leader-node"), "node-1");
    assertEquals(await status.json(), {
      leader: true,
      forwardedBy: "node-2",
      query: "?verbose=1",
    });

    const conflict = await pair.call("/v1/conflict");
    assertEquals([conflict.status, (await conflict.json()).code], [
      409,
      "deploy.in_progress",
    ]);

    const deleted = await pair.call("/v1/secrets/db.url", { method: "DELETE" });
    assertEquals([deleted.status, await deleted.text()], [204, ""]);
  });
});

Deno.test("forwardToLeader() streams a request body to the leader", async () => {
  await withPair(toLeader, async (pair) => {
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 50) return controller.close();
        sent += 1;
        controller.enqueue(new Uint8Array(4096).fill(sent));
      },
    });
    const response = await pair.call("/v1/deploy", {
      method: "POST",
      body,
      headers: { "content-type": "application/octet-stream" },
    });
    assertEquals([response.status, await response.json()], [202, {
      bytes: 50 * 4096,
      last: 50,
    }]);
  });
});

Deno.test("forwardToLeader() streams server-sent events as they happen and frees the leader's stream", async () => {
  await withPair(toLeader, async (pair) => {
    const response = await pair.call("/v1/events");
    assertEquals(
      response.headers.get("content-type"),
      "text/event-stream; charset=utf-8",
    );
    const reader = response.body!.getReader();
    await within(
      (async () => {
        while (pair.leaderStreams.length === 0) {
          await new Promise((r) => queueMicrotask(() => r(null)));
        }
      })(),
      5_000,
      "leader stream",
    ).catch(() => {});
    pair.hub.publish({ event: "phase", data: { n: 1 } });
    assertEquals(await within(readEvents(reader, 1), 5_000, "first event"), [{
      event: "phase",
      data: { n: 1 },
    }]);
    pair.hub.publish({ event: "phase", data: { n: 2 } });
    assertEquals(await within(readEvents(reader, 1), 5_000, "second event"), [{
      event: "phase",
      data: { n: 2 },
    }]);
    await reader.cancel();
    await within(
      Promise.all(pair.leaderStreams.map((s) => s.done)),
      5_000,
      "leader stream closed",
    );
    assertEquals(pair.hub.size, 0);
  });
});

Deno.test("forwardToLeader() answers 503 when the leader cannot be reached", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const closedPort = listener.addr.port;
  listener.close();
  await withPair(() => `https://127.0.0.1:${closedPort}`, async (pair) => {
    const response = await pair.call("/v1/status");
    assertEquals([response.status, (await response.json()).code], [
      503,
      "api.leader_unreachable",
    ]);
  });
});

Deno.test("forwardToLeader() answers 503 without a leader or for an already forwarded request", async () => {
  await withPair(() => null, async (pair) => {
    const response = await pair.call("/v1/status");
    assertEquals([response.status, (await response.json()).code], [
      503,
      "api.no_leader",
    ]);
    assertEquals(response.headers.get("retry-after"), "2");
  });
  await withPair(toLeader, async (pair) => {
    const response = await pair.call("/v1/status", {
      headers: { [FORWARDED_BY_HEADER]: "node-3" },
    });
    assertEquals([response.status, (await response.json()).code], [
      503,
      "api.no_leader",
    ]);
  });
});

Deno.test("forwardToLeader() keeps a path that looks like another host on the leader", async () => {
  await withIdentity(async (identity) => {
    const leader = await serve(identity, new Router());
    try {
      await withClient(identity.caCertPem, async (client) => {
        const request = new Request(
          "https://127.0.0.1:7443//127.0.0.2:9/v1/status?x=1",
          {
            headers: { authorization: `Bearer ${identity.adminToken}` },
          },
        );
        const response = await forwardToLeader(
          request,
          `https://127.0.0.1:${leader.port}/ignored/path`,
          {
            nodeName: "node-2",
            client,
          },
        );
        const body = await response.json();
        assertEquals([response.status, body.code, body.message], [
          404,
          "api.not_found",
          "No endpoint at //127.0.0.2:9/v1/status",
        ]);
      });
    } finally {
      await leader.shutdown();
    }
  });
  assertEquals(reported.splice(0), []);
});
