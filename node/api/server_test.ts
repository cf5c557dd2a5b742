/** The API frame over real HTTPS on loopback, with a client trusting the cluster CA. */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import type { ClusterIdentity } from "../cluster_init/mod.ts";
import { readEvents, withClient, withIdentity, within } from "./_testing.ts";
import { Authenticator } from "./auth.ts";
import { readJsonBody } from "./body.ts";
import { ApiError, jsonResponse } from "./errors.ts";
import { Router } from "./router.ts";
import { type ApiServer, startApiServer } from "./server.ts";
import { SseHub, type SseStream } from "./sse.ts";

interface Harness {
  readonly identity: ClusterIdentity;
  readonly server: ApiServer;
  readonly client: Deno.HttpClient;
  readonly hub: SseHub;
  readonly logged: unknown[];
  readonly streams: SseStream[];
  call(
    method: string,
    path: string,
    init?: { token?: string | null; body?: BodyInit; type?: string },
  ): Promise<Response>;
}

async function withApi(run: (h: Harness) => Promise<void>): Promise<void> {
  await withIdentity(async (identity) => {
    const hub = new SseHub({ subscribersMax: 2, heartbeatMs: 60_000 });
    const logged: unknown[] = [];
    const streams: SseStream[] = [];
    const router = new Router()
      .add(
        "GET",
        "/v1/status",
        (_r, ctx) => jsonResponse({ ok: true, scope: ctx.scope }),
      )
      .add(
        "POST",
        "/v1/echo",
        async (request) =>
          jsonResponse(await readJsonBody(request, { bytesMax: 1_000 })),
      )
      .add("POST", "/v1/join", () => jsonResponse({ joined: true }), {
        scope: "join",
      })
      .add(
        "GET",
        "/v1/secrets/:name",
        (_r, ctx) => jsonResponse({ name: ctx.params.name }),
      )
      .add("POST", "/v1/invalid", () => {
        throw new ApiError(
          422,
          "config.invalid",
          'Service "web": unknown field "imag"',
        );
      })
      .add("POST", "/v1/conflict", () => {
        throw new ApiError(
          409,
          "deploy.in_progress",
          "A deploy is already running",
        );
      })
      .add("GET", "/v1/crash", () => {
        throw new Error("secret internals: hunter2");
      })
      .add(
        "GET",
        "/v1/events",
        (request) => hub.subscribe(request.signal).response,
      );
    const server = await startApiServer({
      hostname: "127.0.0.1",
      port: 0,
      tls: { certPem: identity.apiCertPem, keyPem: identity.apiKeyPem },
      router,
      authenticator: new Authenticator([
        { token: identity.adminToken, scope: "admin" },
        { token: identity.joinToken, scope: "join" },
      ]),
      onError: (error) => logged.push(error),
    });
    try {
      await withClient(identity.caCertPem, async (client) => {
        await run({
          identity,
          server,
          client,
          hub,
          logged,
          streams,
          call(method, path, init = {}) {
            const token = init.token === undefined
              ? identity.adminToken
              : init.token;
            const headers: Record<string, string> = {};
            if (token !== null) headers.authorization = `Bearer ${token}`;
            if (init.type !== undefined) headers["content-type"] = init.type;
            return fetch(`https://127.0.0.1:${server.port}${path}`, {
              method,
              headers,
              client,
              ...(init.body === undefined ? {} : { body: init.body }),
            });
          },
        });
      });
    } finally {
      hub.close();
      await server.shutdown();
    }
  });
}

async function expectError(
  response: Response,
  status: number,
  code: string,
): Promise<Record<string, unknown>> {
  const body = await response.json();
  assertEquals([response.status, body.code], [status, code]);
  assertEquals(typeof body.message, "string");
  assertEquals(
    response.headers.get("content-type"),
    "application/json; charset=utf-8",
  );
  return body;
}

Deno.test("the API answers an authenticated request with JSON", async () => {
  await withApi(async (h) => {
    const response = await h.call("GET", "/v1/status");
    assertEquals([response.status, await response.json()], [200, {
      ok: true,
      scope: "admin",
    }]);
    const echo = await h.call("POST", "/v1/echo", {
      body: '{"a":[1,2]}',
      type: "application/json",
    });
    assertEquals(await echo.json(), { a: [1, 2] });
    const param = await h.call("GET", "/v1/secrets/db.url");
    assertEquals(await param.json(), { name: "db.url" });
  });
});

Deno.test("the API answers every error status as JSON { code, message }", async (t) => {
  await withApi(async (h) => {
    const json = "application/json";
    const rows: [string, () => Promise<Response>, number, string][] = [
      [
        "no token",
        () => h.call("GET", "/v1/status", { token: null }),
        401,
        "api.unauthenticated",
      ],
      [
        "a wrong token",
        () => h.call("GET", "/v1/status", { token: "nope" }),
        401,
        "api.unauthenticated",
      ],
      [
        "no token on an unknown path",
        () => h.call("GET", "/v1/nothing", { token: null }),
        401,
        "api.unauthenticated",
      ],
      [
        "the join token on an admin route",
        () => h.call("GET", "/v1/status", { token: h.identity.joinToken }),
        403,
        "api.forbidden",
      ],
      [
        "an unknown path",
        () => h.call("GET", "/v1/nothing"),
        404,
        "api.not_found",
      ],
      [
        "a wrong method",
        () => h.call("DELETE", "/v1/status"),
        405,
        "api.method_not_allowed",
      ],
      [
        "bad JSON",
        () => h.call("POST", "/v1/echo", { body: "{", type: json }),
        400,
        "api.invalid_json",
      ],
      [
        "a bad path parameter",
        () => h.call("GET", "/v1/secrets/%E0%A4%A"),
        400,
        "api.bad_path",
      ],
      [
        "a conflict",
        () => h.call("POST", "/v1/conflict"),
        409,
        "deploy.in_progress",
      ],
      [
        "a body too large",
        () =>
          h.call("POST", "/v1/echo", {
            body: JSON.stringify("x".repeat(5_000)),
            type: json,
          }),
        413,
        "api.body_too_large",
      ],
      [
        "a wrong content type",
        () => h.call("POST", "/v1/echo", { body: "{}", type: "text/plain" }),
        415,
        "api.unsupported_media_type",
      ],
      [
        "an invalid config",
        () => h.call("POST", "/v1/invalid"),
        422,
        "config.invalid",
      ],
      [
        "an unexpected error",
        () => h.call("GET", "/v1/crash"),
        500,
        "api.internal",
      ],
    ];
    for (const [name, call, status, code] of rows) {
      await t.step(`${name}: ${status}`, async () => {
        await expectError(await call(), status, code);
      });
    }
    const challenge = await h.call("GET", "/v1/status", { token: null });
    assertEquals(
      challenge.headers.get("www-authenticate"),
      'Bearer realm="mill"',
    );
    await challenge.body?.cancel();
    const wrongMethod = await h.call("PUT", "/v1/echo");
    assertEquals(wrongMethod.headers.get("allow"), "POST");
    await wrongMethod.body?.cancel();
  });
});

Deno.test("the API hides an unexpected error's details and logs them", async () => {
  await withApi(async (h) => {
    const body = await expectError(
      await h.call("GET", "/v1/crash"),
      500,
      "api.internal",
    );
    assertEquals(String(body.message).includes("hunter2"), false);
    assertEquals(h.logged.length, 1);
    assertEquals(String(h.logged[0]).includes("hunter2"), true);
  });
});

Deno.test("the join token may call a join-scoped route", async () => {
  await withApi(async (h) => {
    const response = await h.call("POST", "/v1/join", {
      token: h.identity.joinToken,
    });
    assertEquals([response.status, await response.json()], [200, {
      joined: true,
    }]);
  });
});

Deno.test("the API streams server-sent events, bounds streams and frees them when clients leave", async () => {
  await withApi(async (h) => {
    const first = await h.call("GET", "/v1/events");
    const second = await h.call("GET", "/v1/events");
    assertEquals([first.status, second.status], [200, 200]);
    await expectError(
      await h.call("GET", "/v1/events"),
      503,
      "api.too_many_streams",
    );
    assertEquals(h.hub.size, 2);
    assertEquals(
      h.hub.publish({
        event: "phase",
        data: { service: "web", phase: "healthy" },
        id: "1",
      }),
      2,
    );
    const reader = first.body!.getReader();
    assertEquals(await readEvents(reader, 1), [{
      event: "phase",
      data: { service: "web", phase: "healthy" },
      id: "1",
    }]);
    await second.body!.cancel();
    await reader.cancel();
    // Both clients left: the hub must notice, with no help from a publish.
    while (h.hub.size > 0) {
      await within(new Promise((r) => setTimeout(r, 5)), 5_000, "poll");
    }
    const third = await h.call("GET", "/v1/events");
    assertEquals(third.status, 200);
    await third.body!.cancel();
  });
});
