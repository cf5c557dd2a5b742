import {
  deepStrictEqual as assertEquals,
  throws as assertThrows,
} from "node:assert/strict";
import { ApiError } from "./errors.ts";
import { Router } from "./router.ts";

const ok = () => new Response("ok");

function router(): Router {
  return new Router()
    .add("GET", "/v1/status", ok)
    .add("POST", "/v1/deploy", ok)
    .add("GET", "/v1/services/:name/logs", ok)
    .add("GET", "/v1/secrets", ok)
    .add("PUT", "/v1/secrets/:name", ok)
    .add("DELETE", "/v1/secrets/:name", ok)
    .add("POST", "/v1/join", ok, { scope: "join" });
}

Deno.test("Router.match() finds routes and captures decoded parameters", async (t) => {
  const rows: [string, string, string, Record<string, string>][] = [
    ["GET", "/v1/status", "/v1/status", {}],
    ["POST", "/v1/deploy", "/v1/deploy", {}],
    ["GET", "/v1/services/web/logs", "/v1/services/:name/logs", {
      name: "web",
    }],
    ["GET", "/v1/services/my%20app/logs", "/v1/services/:name/logs", {
      name: "my app",
    }],
    ["PUT", "/v1/secrets/db.url", "/v1/secrets/:name", { name: "db.url" }],
    ["DELETE", "/v1/secrets/db.url", "/v1/secrets/:name", { name: "db.url" }],
  ];
  for (const [method, path, pattern, params] of rows) {
    await t.step(`${method} ${path}`, () => {
      const match = router().match(method, path);
      if (match.kind !== "found") {
        throw new Error(`expected a route, got ${match.kind}`);
      }
      assertEquals(match.route.pattern, pattern);
      assertEquals(match.params, params);
    });
  }
});

Deno.test("Router.match() tells 404 from 405", async (t) => {
  const rows: [string, string, unknown][] = [
    ["GET", "/v1/nothing", { kind: "not-found" }],
    ["GET", "/v1/status/", { kind: "not-found" }],
    ["GET", "/v1/services//logs", { kind: "not-found" }],
    ["GET", "/", { kind: "not-found" }],
    ["GET", "/" + "a".repeat(5000), { kind: "not-found" }],
    ["POST", "/v1/status", { kind: "method-not-allowed", allow: ["GET"] }],
    ["GET", "/v1/deploy", { kind: "method-not-allowed", allow: ["POST"] }],
    ["POST", "/v1/secrets/x", {
      kind: "method-not-allowed",
      allow: ["PUT", "DELETE"],
    }],
  ];
  for (const [method, path, expected] of rows) {
    await t.step(
      `${method} ${path.slice(0, 30)}`,
      () => assertEquals(router().match(method, path), expected),
    );
  }
});

Deno.test("Router.match() answers 400 for malformed parameters", async (t) => {
  for (
    const path of [
      "/v1/secrets/%E0%A4%A",
      "/v1/secrets/a%2Fb",
      "/v1/secrets/a%00",
    ]
  ) {
    await t.step(path, () => {
      assertThrows(
        () => router().match("PUT", path),
        (err: unknown) =>
          err instanceof ApiError && err.status === 400 &&
          err.code === "api.bad_path",
      );
    });
  }
});

Deno.test("Router.add() refuses duplicate routes and bad patterns", () => {
  assertThrows(() => router().add("GET", "/v1/status", ok), /already routed/);
  assertThrows(
    () => router().add("PUT", "/v1/secrets/:other", ok),
    /already routed/,
  );
  assertThrows(() => new Router().add("GET", "v1/status", ok), /must start/);
  assertThrows(() => new Router().add("GET", "/v1/:", ok), /bad parameter/);
  assertThrows(() => new Router().add("GET", "/v1/:a-b", ok), /bad parameter/);
});
