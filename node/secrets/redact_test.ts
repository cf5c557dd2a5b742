import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { redact, REDACTED, redactEnv } from "./redact.ts";

Deno.test("redact() hides every occurrence of each value", async (t) => {
  const cases: [string, string[], string][] = [
    [
      "token=abcd1234 and abcd1234",
      ["abcd1234"],
      `token=${REDACTED} and ${REDACTED}`,
    ],
    [
      "pw=hunter2, pw2=hunter2x",
      ["hunter2", "hunter2x"],
      `pw=${REDACTED}, pw2=${REDACTED}`,
    ],
    ["nothing here", ["secretvalue"], "nothing here"],
    ["short on 1", ["on", "1", ""], "short on 1"],
    [
      "regex chars a.*b+c a.*b+c",
      ["a.*b+c"],
      `regex chars ${REDACTED} ${REDACTED}`,
    ],
  ];
  for (const [text, values, expected] of cases) {
    await t.step(`redacts ${JSON.stringify(text)}`, () => {
      assertEquals(redact(text, values), expected);
    });
  }
});

Deno.test("redactEnv() shows the template of values that referenced secrets", () => {
  assertEquals(
    redactEnv(
      { URL: "pg://u:hunter2@db", MODE: "prod" },
      { URL: "pg://u:${secret(pw)}@db", MODE: "prod" },
    ),
    { URL: "pg://u:${secret(pw)}@db", MODE: "prod" },
  );
});
