import {
  deepStrictEqual as assertEquals,
  throws as assertThrows,
} from "node:assert/strict";
import fc from "fast-check";
import { MissingSecretsError, SecretError } from "./errors.ts";
import {
  checkSecretRefs,
  type EnvPart,
  parseEnvValue,
  referencedSecretNames,
  resolveSecretRefs,
} from "./refs.ts";

Deno.test("parseEnvValue() splits values into text and references", async (t) => {
  const cases: [string, EnvPart[]][] = [
    ["plain", [{ kind: "text", text: "plain" }]],
    ["", []],
    ["${secret(db.url)}", [{ kind: "secret", name: "db.url" }]],
    ['${secret("db.url")}', [{ kind: "secret", name: "db.url" }]],
    ["${ secret ( db.url ) }", [{ kind: "secret", name: "db.url" }]],
    ["pg://u:${secret(pw)}@${secret(host)}:5432", [
      { kind: "text", text: "pg://u:" },
      { kind: "secret", name: "pw" },
      { kind: "text", text: "@" },
      { kind: "secret", name: "host" },
      { kind: "text", text: ":5432" },
    ]],
    ["$${secret(x)}", [{ kind: "text", text: "${secret(x)}" }]],
    ["$$${secret(x)}", [{ kind: "text", text: "$${secret(x)}" }]],
    ["cost $5 {braces}", [{ kind: "text", text: "cost $5 {braces}" }]],
    ["$", [{ kind: "text", text: "$" }]],
    ["a$${b}${secret(c)}", [
      { kind: "text", text: "a${b}" },
      { kind: "secret", name: "c" },
    ]],
  ];
  for (const [value, parts] of cases) {
    await t.step(`parses ${JSON.stringify(value)}`, () => {
      assertEquals(parseEnvValue("K", value), parts);
    });
  }
});

Deno.test("parseEnvValue() rejects malformed references", async (t) => {
  const cases = [
    "${secret(db.url)",
    "${HOME}",
    "${secrets(db)}",
    "${secret()}",
    "${secret(bad name)}",
    '${secret("unclosed)}',
    "${secret(a)(b)}",
    "${secret(.x)}",
    "tail ${",
  ];
  for (const value of cases) {
    await t.step(`rejects ${JSON.stringify(value)}`, () => {
      assertThrows(
        () => parseEnvValue("DATABASE_URL", value),
        (err: unknown) => {
          return err instanceof SecretError &&
            err.code === "secret.invalid_reference" &&
            err.message.includes('"DATABASE_URL"');
        },
      );
    });
  }
});

Deno.test("resolveSecretRefs() replaces every reference and unescapes $${", () => {
  const values = new Map([["pw", "s3cr3t"], ["host", "db.internal"]]);
  const env = {
    URL: "pg://u:${secret(pw)}@${secret(host)}/${secret(pw)}",
    LITERAL: "$${secret(pw)} stays",
    PLAIN: "x",
  };
  assertEquals(resolveSecretRefs(env, (n) => values.get(n)), {
    URL: "pg://u:s3cr3t@db.internal/s3cr3t",
    LITERAL: "${secret(pw)} stays",
    PLAIN: "x",
  });
});

Deno.test("resolveSecretRefs() does not re-expand references inside values", () => {
  const values = new Map([["a", "${secret(b)}"], ["b", "never"]]);
  assertEquals(
    resolveSecretRefs({ X: "${secret(a)}" }, (n) => values.get(n)),
    { X: "${secret(b)}" },
  );
});

Deno.test("resolveSecretRefs() lists every missing name once and no value", () => {
  const values = new Map([["known", "hunter2"]]);
  const env = {
    A: "${secret(zeta)}${secret(known)}",
    B: "${secret(alpha)}-${secret(zeta)}",
  };
  assertThrows(
    () => resolveSecretRefs(env, (n) => values.get(n)),
    (err: unknown) => {
      assertEquals(err instanceof MissingSecretsError, true);
      const missing = err as MissingSecretsError;
      assertEquals(missing.code, "secret.missing");
      assertEquals(missing.names, ["alpha", "zeta"]);
      assertEquals(missing.message.includes("hunter2"), false);
      assertEquals(missing.message.includes('"alpha", "zeta"'), true);
      return true;
    },
  );
});

Deno.test("checkSecretRefs() and referencedSecretNames() agree on the names", () => {
  const env = {
    A: "${secret(b)}${secret(a)}",
    B: "${secret(a)}",
    C: "$${secret(c)}",
  };
  assertEquals(referencedSecretNames(env), ["a", "b"]);
  checkSecretRefs(env, (n) => n === "a" || n === "b");
  assertThrows(
    () => checkSecretRefs(env, (n) => n === "a"),
    (err: unknown) =>
      err instanceof MissingSecretsError && err.names.join() === "b",
  );
});

function escapeLiteral(text: string): string {
  return text.replaceAll("${", () => "$${");
}

Deno.test("parseEnvValue() of escaped literal text gives the text back (property)", () => {
  const seed = Number(Deno.env.get("MILL_SEED") ?? Date.now() % 1_000_000);
  const alphabet = fc.constantFrom("$", "{", "}", "a", "(", ")", "secret", " ");
  try {
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 30 }), (pieces) => {
        const text = pieces.join("");
        const parts = parseEnvValue("K", escapeLiteral(text));
        const joined = parts.map((p) => p.kind === "text" ? p.text : "").join(
          "",
        );
        return parts.every((p) => p.kind === "text") && joined === text;
      }),
      { seed, numRuns: 300 },
    );
  } catch (err) {
    console.error(`reproduce with MILL_SEED=${seed}`);
    throw err;
  }
});
