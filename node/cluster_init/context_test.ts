import {
  deepStrictEqual as assertEquals,
  throws as assertThrows,
} from "node:assert/strict";
import { parseCliContextFile } from "./context.ts";
import { InitError } from "./errors.ts";

const CONTEXT = {
  apiUrl: "https://127.0.0.1:7443",
  clusterId: "c",
  caCertPem: "pem",
  token: "t",
};

Deno.test("parseCliContextFile() accepts mill's format and drops unknown fields", () => {
  assertEquals(
    parseCliContextFile("f", {
      format: 1,
      current: "a",
      contexts: { a: { ...CONTEXT, extra: 1 } },
    }),
    { format: 1, current: "a", contexts: { a: CONTEXT } },
  );
  assertEquals(
    parseCliContextFile("f", { format: 1, current: null, contexts: {} }),
    {
      format: 1,
      current: null,
      contexts: {},
    },
  );
});

Deno.test("parseCliContextFile() refuses files mill did not write", async (t) => {
  const rows: [string, unknown][] = [
    ["null", null],
    ["an array", []],
    ["format 2", { format: 2, current: null, contexts: {} }],
    ["no contexts", { format: 1, current: null }],
    ["a numeric current", { format: 1, current: 1, contexts: {} }],
    ["a missing current context", {
      format: 1,
      current: "b",
      contexts: { a: CONTEXT },
    }],
    ["a context without token", {
      format: 1,
      current: null,
      contexts: { a: { ...CONTEXT, token: 5 } },
    }],
    ["a context that is a string", {
      format: 1,
      current: null,
      contexts: { a: "x" },
    }],
  ];
  for (const [name, value] of rows) {
    await t.step(name, () => {
      assertThrows(
        () => parseCliContextFile("/home/u/.mill/config.json", value),
        (err: unknown) =>
          err instanceof InitError && err.code === "init.invalid_context",
      );
    });
  }
});
