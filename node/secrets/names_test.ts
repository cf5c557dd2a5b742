import {
  deepStrictEqual as assertEquals,
  throws as assertThrows,
} from "node:assert/strict";
import { SecretError } from "./errors.ts";
import { isValidSecretName, validateSecretName } from "./names.ts";

Deno.test("isValidSecretName() follows the naming rule", async (t) => {
  const cases: [string, boolean][] = [
    ["db.url", true],
    ["DB_URL", true],
    ["a", true],
    ["9lives", true],
    ["api-key.v2", true],
    ["x".repeat(128), true],
    ["", false],
    ["x".repeat(129), false],
    [".hidden", false],
    ["-flag", false],
    ["_x", false],
    ["has space", false],
    ["slash/name", false],
    ['quote"', false],
    ["paren(", false],
    ["brace}", false],
    ["dollar$", false],
    ["ünicode", false],
    ["new\nline", false],
  ];
  for (const [name, valid] of cases) {
    await t.step(
      `${
        JSON.stringify(name.length > 20 ? name.slice(0, 20) + "…" : name)
      } is ${valid ? "valid" : "invalid"}`,
      () => {
        assertEquals(isValidSecretName(name), valid);
      },
    );
  }
});

Deno.test("validateSecretName() throws secret.invalid_name with a shortened name", () => {
  assertThrows(
    () => validateSecretName("y".repeat(500) + " "),
    (err: unknown) => {
      return err instanceof SecretError && err.code === "secret.invalid_name" &&
        err.message.length < 200;
    },
  );
});
