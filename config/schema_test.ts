import { deepStrictEqual, fail, strictEqual } from "node:assert/strict";
import {
  array,
  bool,
  count,
  literal,
  nullable,
  num,
  object,
  optional,
  type Parser,
  record,
  SchemaError,
  str,
  STRING_LENGTH_MAX_DEFAULT,
} from "./schema.ts";

/** A case: the parser's result, or the path and expectation of its error. */
type Row = readonly [
  name: string,
  parser: Parser<unknown>,
  input: unknown,
  outcome: { readonly ok: unknown } | { readonly error: string },
];

async function runRows(t: Deno.TestContext, rows: readonly Row[]) {
  for (const [name, parser, input, outcome] of rows) {
    await t.step(name, () => {
      if ("ok" in outcome) {
        deepStrictEqual(parser(input, "x"), outcome.ok);
        return;
      }
      try {
        parser(input, "x");
      } catch (error) {
        if (!(error instanceof SchemaError)) throw error;
        strictEqual(error.message, outcome.error);
        strictEqual(error.code, "schema.invalid");
        strictEqual(error.message, `${error.path}: ${error.expected}`);
        return;
      }
      fail(`accepted ${JSON.stringify(input)}`);
    });
  }
}

Deno.test("scalar parsers accept their type within bounds and name what they expected", async (t) => {
  const id = str({ lengthMin: 1, lengthMax: 3, pattern: /^[a-z]+$/ });
  const port = num({ min: 1, max: 65535, integer: true });
  await runRows(t, [
    ["str() takes a string", str(), "abc", { ok: "abc" }],
    ["str() refuses a number", str(), 7, { error: "x: expected a string" }],
    [
      "str() bounds length by default",
      str(),
      "a".repeat(STRING_LENGTH_MAX_DEFAULT + 1),
      { error: `x: longer than ${STRING_LENGTH_MAX_DEFAULT}` },
    ],
    ["str() takes its longest", id, "abc", { ok: "abc" }],
    ["str() refuses past lengthMax", id, "abcd", {
      error: "x: longer than 3",
    }],
    ["str() refuses below lengthMin", id, "", { error: "x: shorter than 1" }],
    ["str() refuses a pattern miss", id, "a1", {
      error: "x: has an invalid format",
    }],
    ["num() takes a finite number", num(), -2.5, { ok: -2.5 }],
    ["num() refuses NaN", num(), NaN, { error: "x: expected a finite number" }],
    ["num() refuses Infinity", num(), Infinity, {
      error: "x: expected a finite number",
    }],
    ["num() refuses a numeric string", num(), "1", {
      error: "x: expected a finite number",
    }],
    ["num() refuses a fraction when integer", port, 1.5, {
      error: "x: expected an integer",
    }],
    ["num() refuses below min", port, 0, {
      error: "x: out of range [1, 65535]",
    }],
    ["num() takes max", port, 65535, { ok: 65535 }],
    ["count() takes zero", count(), 0, { ok: 0 }],
    ["count() takes the largest safe integer", count(), 2 ** 53 - 1, {
      ok: 2 ** 53 - 1,
    }],
    ["count() refuses a negative", count(), -1, {
      error: "x: expected a non-negative integer",
    }],
    ["count() refuses a fraction", count(), 0.5, {
      error: "x: expected a non-negative integer",
    }],
    ["count() refuses an unsafe integer", count(), 2 ** 53, {
      error: "x: expected a non-negative integer",
    }],
    ["bool() takes false", bool(), false, { ok: false }],
    ["bool() refuses 0", bool(), 0, { error: "x: expected a boolean" }],
    ["literal() takes a member", literal("a", "b"), "b", { ok: "b" }],
    ["literal() refuses another string", literal("a", "b"), "c", {
      error: "x: expected one of a, b",
    }],
    ["literal() refuses a non-string", literal("1"), 1, {
      error: "x: expected one of 1",
    }],
    ["nullable() takes null", nullable(str()), null, { ok: null }],
    ["nullable() checks the rest", nullable(str()), 1, {
      error: "x: expected a string",
    }],
  ]);
});

Deno.test("array() and record() bound their size and name the bad member", async (t) => {
  const pair = array(count(), 2);
  const map = record(str(), 2);
  await runRows(t, [
    ["array() takes items up to its bound", pair, [1, 2], { ok: [1, 2] }],
    ["array() refuses past its bound", pair, [1, 2, 3], {
      error: "x: more than 2 items",
    }],
    ["array() names the bad item", pair, [1, "2"], {
      error: "x[1]: expected a non-negative integer",
    }],
    ["array() refuses an object", pair, { 0: 1 }, {
      error: "x: expected an array",
    }],
    ["record() takes string keys", map, { a: "1", b: "2" }, {
      ok: { a: "1", b: "2" },
    }],
    ["record() refuses past its bound", map, { a: "1", b: "2", c: "3" }, {
      error: "x: more than 2 entries",
    }],
    ["record() names the bad member", map, { a: "1", b: 2 }, {
      error: "x.b: expected a string",
    }],
    ["record() refuses an array", map, [], { error: "x: expected an object" }],
    ["record() refuses null", map, null, { error: "x: expected an object" }],
  ]);
  await t.step("record() keeps a __proto__ key as a member", () => {
    const parsed = map(JSON.parse('{"__proto__":"p"}'), "x");
    deepStrictEqual(Object.keys(parsed), ["__proto__"]);
    strictEqual(Object.getPrototypeOf(parsed), Object.prototype);
  });
});

Deno.test("object() checks its shape and strips, keeps or refuses other members", async (t) => {
  const shape = { name: str(), size: optional(count()) };
  const stripped = object(shape);
  const kept = object(shape, { unknownKeys: "keep" });
  const refused = object(shape, { unknownKeys: "refuse" });
  const nested = object({ inner: object({ id: str() }) });
  await runRows(t, [
    ["a required field", stripped, { name: "a" }, { ok: { name: "a" } }],
    ["an optional field", stripped, { name: "a", size: 1 }, {
      ok: { name: "a", size: 1 },
    }],
    ["an undefined optional field", refused, { name: "a", size: undefined }, {
      ok: { name: "a" },
    }],
    ["a missing field", stripped, { size: 1 }, {
      error: "x.name: is required",
    }],
    ["a bad optional field", stripped, { name: "a", size: -1 }, {
      error: "x.size: expected a non-negative integer",
    }],
    ["strip drops others", stripped, { name: "a", extra: 1 }, {
      ok: { name: "a" },
    }],
    ["keep passes others through", kept, { name: "a", extra: [1] }, {
      ok: { name: "a", extra: [1] },
    }],
    ["refuse names the other member", refused, { name: "a", extra: 1 }, {
      error: "x.extra: unknown field",
    }],
    ["a bad field is named before an unknown one", refused, {
      name: 1,
      extra: 1,
    }, { error: "x.name: expected a string" }],
    ["an array is not an object", stripped, [], {
      error: "x: expected an object",
    }],
    ["null is not an object", stripped, null, {
      error: "x: expected an object",
    }],
    ["a nested field is named by its path", nested, { inner: { id: 2 } }, {
      error: "x.inner.id: expected a string",
    }],
  ]);
});
