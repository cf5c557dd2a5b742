import {
  deepStrictEqual as assertEquals,
  throws as assertThrows,
} from "node:assert/strict";
import { generateToken } from "../cluster_init/mod.ts";
import { Authenticator, bearerToken } from "./auth.ts";
import { ApiError } from "./errors.ts";

const ADMIN = generateToken();
const JOIN = generateToken();
const auth = new Authenticator([{ token: ADMIN, scope: "admin" }, {
  token: JOIN,
  scope: "join",
}]);

function request(authorization?: string): Request {
  return new Request("https://127.0.0.1/v1/status", {
    headers: authorization === undefined ? {} : { authorization },
  });
}

Deno.test("bearerToken() extracts the token of a Bearer header only", async (t) => {
  const rows: [string | null, string][] = [
    [`Bearer ${ADMIN}`, ADMIN],
    [`bearer ${ADMIN}`, ADMIN],
    [`  Bearer ${ADMIN}  `, ADMIN],
    [null, ""],
    ["", ""],
    ["Bearer", ""],
    ["Bearer ", ""],
    [`Basic ${ADMIN}`, ""],
    [`Bearer ${ADMIN} extra`, ""],
    [`Bearer  ${ADMIN}`, ""],
    [`Bearer ${"a".repeat(600)}`, ""],
  ];
  for (const [header, token] of rows) {
    await t.step(
      JSON.stringify(header?.slice(0, 30) ?? null),
      () => assertEquals(bearerToken(header), token),
    );
  }
});

Deno.test("Authenticator.authenticate() returns the scope of a known token", () => {
  assertEquals(auth.authenticate(request(`Bearer ${ADMIN}`)), "admin");
  assertEquals(auth.authenticate(request(`Bearer ${JOIN}`)), "join");
});

Deno.test("Authenticator.authenticate() answers 401 with a challenge for bad tokens", async (t) => {
  const rows: [string, string | undefined][] = [
    ["no header", undefined],
    ["an unknown token", `Bearer ${generateToken()}`],
    [
      "a token one character off",
      `Bearer ${ADMIN.slice(0, -1)}${ADMIN.endsWith("x") ? "y" : "x"}`,
    ],
    ["a prefix of the token", `Bearer ${ADMIN.slice(0, 10)}`],
    ["the token as Basic", `Basic ${ADMIN}`],
  ];
  for (const [name, header] of rows) {
    await t.step(name, () => {
      assertThrows(() => auth.authenticate(request(header)), (err: unknown) => {
        return err instanceof ApiError && err.status === 401 &&
          err.code === "api.unauthenticated" &&
          err.headers["www-authenticate"] === 'Bearer realm="mill"' &&
          !err.message.includes(ADMIN);
      });
    });
  }
});

Deno.test("Authenticator.authorize() answers 403 for a join token on an admin route", () => {
  auth.authorize("admin", "admin");
  auth.authorize("admin", "join");
  auth.authorize("join", "join");
  assertThrows(
    () => auth.authorize("join", "admin"),
    (err: unknown) =>
      err instanceof ApiError && err.status === 403 &&
      err.code === "api.forbidden",
  );
});

Deno.test("Authenticator refuses an empty token that would accept anyone", () => {
  assertThrows(
    () => new Authenticator([{ token: "", scope: "admin" }]),
    /empty token/,
  );
});
