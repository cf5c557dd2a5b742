import {
  deepStrictEqual as assertEquals,
  throws as assertThrows,
} from "node:assert/strict";
import { REQUEST_PARSERS, RESULT_PARSERS, SchemaError } from "./types.ts";

const START = {
  allocId: "web-1",
  name: "web",
  kind: "service",
  image: "registry.local/web:v1",
  env: { URL: "${secret(db.url)}" },
  secretValues: { "db.url": "pg://u:hunter2@db/app" },
  cpu: 0.5,
  memoryBytes: 536_870_912,
  hostPort: 20_001,
  containerPort: 3000,
  labels: {},
  stopSignal: "SIGTERM",
  stopGracePeriodMs: 10_000,
};

Deno.test("REQUEST_PARSERS accept well-formed requests and drop unknown fields", () => {
  assertEquals(REQUEST_PARSERS.pull({ image: "a:b", extra: 1 }, "request"), {
    image: "a:b",
  });
  assertEquals(REQUEST_PARSERS.start(START, "request"), START);
  assertEquals(REQUEST_PARSERS.status({}, "request"), {});
  assertEquals(
    REQUEST_PARSERS.logs(
      { allocId: "a", tailLines: 10, afterSeq: 3 },
      "request",
    ),
    {
      allocId: "a",
      tailLines: 10,
      afterSeq: 3,
    },
  );
});

Deno.test("REQUEST_PARSERS refuse malformed requests, naming the field", async (t) => {
  const rows: [string, () => unknown, string][] = [
    [
      "a missing image",
      () => REQUEST_PARSERS.pull({}, "request"),
      "request.image",
    ],
    [
      "an empty image",
      () => REQUEST_PARSERS.pull({ image: "" }, "request"),
      "request.image",
    ],
    [
      "a numeric image",
      () => REQUEST_PARSERS.pull({ image: 5 }, "request"),
      "request.image",
    ],
    ["an array body", () => REQUEST_PARSERS.pull([], "request"), "request"],
    [
      "an unknown kind",
      () => REQUEST_PARSERS.start({ ...START, kind: "daemon" }, "request"),
      "request.kind",
    ],
    [
      "a port of 0",
      () => REQUEST_PARSERS.start({ ...START, hostPort: 0 }, "request"),
      "request.hostPort",
    ],
    [
      "a fractional port",
      () => REQUEST_PARSERS.start({ ...START, hostPort: 1.5 }, "request"),
      "request.hostPort",
    ],
    [
      "a bad signal",
      () =>
        REQUEST_PARSERS.start({ ...START, stopSignal: "TERM;rm" }, "request"),
      "request.stopSignal",
    ],
    [
      "an env value that is a number",
      () => REQUEST_PARSERS.start({ ...START, env: { A: 1 } }, "request"),
      "request.env.A",
    ],
    [
      "a secret value that is not a string",
      () =>
        REQUEST_PARSERS.start({
          ...START,
          secretValues: { "db.url": { ciphertext: "AAAA", nonce: "BBBB" } },
        }, "request"),
      "request.secretValues.db.url",
    ],
    [
      "a secret value longer than a secret may be",
      () =>
        REQUEST_PARSERS.start({
          ...START,
          secretValues: { "db.url": "x".repeat(65_521) },
        }, "request"),
      "request.secretValues.db.url",
    ],
    [
      "encrypted secrets instead of their values",
      () => {
        const { secretValues: _values, ...rest } = START;
        return REQUEST_PARSERS.start({ ...rest, secrets: {} }, "request");
      },
      "request.secretValues",
    ],
    [
      "NaN cpu",
      () => REQUEST_PARSERS.start({ ...START, cpu: NaN }, "request"),
      "request.cpu",
    ],
    [
      "a negative grace period",
      () =>
        REQUEST_PARSERS.stop({
          allocId: "a",
          signal: "SIGTERM",
          gracePeriodMs: -1,
        }, "request"),
      "request.gracePeriodMs",
    ],
    [
      "an alloc id with a slash",
      () =>
        REQUEST_PARSERS.stop({
          allocId: "a/b",
          signal: "SIGTERM",
          gracePeriodMs: 1,
        }, "request"),
      "request.allocId",
    ],
    [
      "too many log lines",
      () =>
        REQUEST_PARSERS.logs({ allocId: "a", tailLines: 10_001 }, "request"),
      "request.tailLines",
    ],
    [
      "too many alloc ids",
      () =>
        REQUEST_PARSERS.status({ allocIds: Array(1_001).fill("a") }, "request"),
      "request.allocIds",
    ],
  ];
  for (const [name, parse, path] of rows) {
    await t.step(name, () => {
      assertThrows(
        parse,
        (err: unknown) => err instanceof SchemaError && err.path === path,
      );
    });
  }
});

Deno.test("REQUEST_PARSERS name a bad field of a start, never a secret value", () => {
  for (
    const bad of [
      { ...START, hostPort: 0 },
      { ...START, secretValues: { "db.url": "hunter2".repeat(10_000) } },
      { ...START, env: { URL: 5 } },
    ]
  ) {
    assertThrows(
      () => REQUEST_PARSERS.start(bad, "request"),
      (err: unknown) =>
        err instanceof SchemaError && !err.message.includes("hunter2"),
    );
  }
});

Deno.test("RESULT_PARSERS check exit causes by kind", async (t) => {
  const rows: [string, unknown, boolean][] = [
    ["an exit code", { kind: "exited", code: 1 }, true],
    ["a kill", { kind: "killed", signal: "SIGKILL" }, true],
    ["an OOM", { kind: "oom" }, true],
    ["no cause", null, true],
    ["an exit without code", { kind: "exited" }, false],
    ["an exit code of 300", { kind: "exited", code: 300 }, false],
    ["a kill without signal", { kind: "killed" }, false],
    ["an unknown kind", { kind: "vanished" }, false],
  ];
  for (const [name, exit, ok] of rows) {
    await t.step(name, () => {
      const parse = () => RESULT_PARSERS.stop({ allocId: "a", exit }, "result");
      if (ok) assertEquals(parse(), { allocId: "a", exit });
      else assertThrows(parse, SchemaError);
    });
  }
});
