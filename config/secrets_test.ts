import { deepStrictEqual } from "node:assert/strict";
import { findInterpolations, resolveSecretRefs, secretRefs } from "./mod.ts";

const REFS: readonly [string, string[]][] = [
  ["${secret(db.url)}", ["db.url"]],
  ['postgres://${secret(db.user)}:${secret("db.pass")}@db', [
    "db.user",
    "db.pass",
  ]],
  ["${secret(a)}${secret(a)}", ["a"]],
  ["${ secret( spaced ) }", ["spaced"]],
  ["$${secret(escaped)}", []],
  ["$$${secret(after_escaped_dollar)}", ["after_escaped_dollar"]],
  ["${var.x}", []],
  ["${secret(bad name)}", []],
  ["${secret(x)", []],
  ["plain", []],
];

Deno.test("secretRefs() lists the secrets an env value references", async (t) => {
  for (const [value, names] of REFS) {
    await t.step(value, () => deepStrictEqual(secretRefs(value), names));
  }
});

Deno.test("findInterpolations() marks unterminated and non-secret references", () => {
  deepStrictEqual(findInterpolations("a${x}b${secret(y)}c${"), [
    { text: "${x}", offset: 1, unterminated: false },
    { text: "${secret(y)}", offset: 6, secret: "y", unterminated: false },
    { text: "${", offset: 19, unterminated: true },
  ]);
});

Deno.test("resolveSecretRefs() substitutes secrets and unescapes $${", () => {
  const lookup = (name: string) => ({ user: "ann", pass: "p$w" })[name];
  deepStrictEqual(
    resolveSecretRefs("u=${secret(user)} p=${secret(pass)} $${HOME}", lookup),
    { ok: true, value: "u=ann p=p$w ${HOME}" },
  );
  deepStrictEqual(
    resolveSecretRefs("${secret(user)} ${secret(nope)}", lookup),
    { ok: false, missing: ["nope"] },
  );
});
