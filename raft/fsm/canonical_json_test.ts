import { strictEqual, throws } from "node:assert/strict";
import fc from "fast-check";
import { canonicalJson } from "./canonical_json.ts";
import { testSeeds, withSeed } from "./seed_testing.ts";

/** The plain definition the fast writer must match, byte for byte. */
function reference(value: unknown): string {
  if (value === null || typeof value !== "object") {
    const text = JSON.stringify(value);
    return text === undefined ? "null" : text;
  }
  if (Array.isArray(value)) {
    const parts: string[] = [];
    // forEach skips holes, as the writer does.
    value.forEach((item, index) => {
      parts.push((index > 0 ? "," : "") + reference(item));
    });
    return `[${parts.join("")}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).filter((key) => record[key] !== undefined)
    .sort();
  const members = keys.map((key) =>
    `${JSON.stringify(key)}:${reference(record[key])}`
  );
  return `{${members.join(",")}}`;
}

/** Any UTF-16 unit, lone surrogates and control characters included. */
const unit = fc.integer({ min: 0, max: 0xffff }).map((code) =>
  String.fromCharCode(code)
);
const text = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit, maxLength: 12 }),
  // Past the length where quoting goes to JSON.stringify.
  fc.string({ unit: "grapheme-ascii", minLength: 120, maxLength: 200 }),
  fc.string({ unit, minLength: 120, maxLength: 200 }),
);
const key = fc.oneof(
  fc.constantFrom("a", "b", "id", "type", "atMs", "1", "10", "2", "__proto__"),
  text,
);
const number = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(0, -0, NaN, Infinity, -Infinity, 1e21, 5e-324),
);
const leaf = fc.oneof(
  text,
  number,
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.constant(() => 1),
  fc.constant(Symbol("s")),
);

/** JSON-like trees with the values the writer treats specially. */
const tree = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    fc.array(tie("value"), { maxLength: 6 }),
    fc.sparseArray(tie("value"), { maxLength: 6 }),
    fc.dictionary(key, tie("value"), { maxKeys: 6 }),
    // Many objects of one shape, as an entry's placements are.
    fc.array(
      fc.record({ b: tie("value"), a: leaf, id: text }, {
        requiredKeys: ["a"],
      }),
      { maxLength: 5 },
    ),
    // More keys than a remembered shape holds.
    fc.dictionary(fc.string({ minLength: 1, maxLength: 3 }), leaf, {
      minKeys: 65,
      maxKeys: 90,
    }),
  ),
})).value;

Deno.test("canonicalJson() writes what the plain definition writes", () => {
  for (const seed of testSeeds(3)) {
    withSeed(seed, () => {
      fc.assert(
        fc.property(tree, (value) => {
          strictEqual(canonicalJson(value), reference(value));
        }),
        { seed, numRuns: 500 },
      );
    });
  }
});

Deno.test("canonicalJson() gives the same text for any key order", () => {
  for (const seed of testSeeds(3)) {
    withSeed(seed, () => {
      fc.assert(
        fc.property(
          fc.uniqueArray(fc.tuple(key, leaf), {
            selector: ([name]) => name,
            maxLength: 12,
          }),
          (members) => {
            const forward = Object.fromEntries(members);
            const backward = Object.fromEntries([...members].reverse());
            strictEqual(canonicalJson(forward), canonicalJson(backward));
            strictEqual(canonicalJson(backward), reference(backward));
          },
        ),
        { seed, numRuns: 300 },
      );
    });
  }
});

Deno.test("canonicalJson() sorts by UTF-16 units and drops undefined members", () => {
  strictEqual(
    canonicalJson({
      b: 1,
      "10": 2,
      "2": 3,
      "\u{1f600}": 4,
      "\uffff": 5,
      a: [true, undefined, () => 1, { d: undefined, c: "x\n" }],
      e: undefined,
    }),
    '{"10":2,"2":3,"a":[true,null,null,{"c":"x\\n"}],"b":1,"\u{1f600}":4,"\uffff":5}',
  );
  strictEqual(
    canonicalJson({ s: "\ud800", t: '"\\' }),
    '{"s":"\\ud800","t":"\\"\\\\"}',
  );
  strictEqual(canonicalJson([NaN, -0, Infinity, 1e21]), "[null,0,null,1e+21]");
  strictEqual(canonicalJson(undefined), "null");
  strictEqual(canonicalJson(Symbol("s")), "null");
});

Deno.test("canonicalJson() writes objects by their own keys, ignoring toJSON", () => {
  const withToJson = { toJSON: () => "nope", a: 1 };
  for (
    const value of [
      new Date(0),
      new Map([["a", 1]]),
      new String("ab"),
      new Number(3),
      withToJson,
      Object.create({ inherited: 1 }),
      JSON.parse('{"__proto__":{"x":1},"a":2}'),
    ]
  ) {
    strictEqual(canonicalJson(value), reference(value));
  }
  strictEqual(canonicalJson(new Date(0)), "{}");
  strictEqual(canonicalJson(withToJson), '{"a":1,"toJSON":null}');
});

Deno.test("canonicalJson() writes array holes as it always has", () => {
  // deno-lint-ignore no-sparse-arrays
  const sparse = [, 1, , 2, ,];
  // Not JSON: a leading hole still leaves its comma. No caller builds one.
  strictEqual(canonicalJson(sparse), "[,1,2]");
  strictEqual(canonicalJson(sparse), reference(sparse));
});

Deno.test("canonicalJson() stays right when shapes share keys and overflow what it remembers", () => {
  // Same first key, many different rests; same keys in other orders; more
  // first keys than are remembered, so the memory is cleared midway.
  const values: Record<string, unknown>[] = [];
  for (let round = 0; round < 3; round++) {
    for (let index = 0; index < 40; index++) {
      values.push({ z: index, [`k${index % 12}`]: round, a: "x" });
      values.push({ a: "x", z: index, [`k${index % 12}`]: round });
    }
    for (let index = 0; index < 700; index++) {
      values.push({ [`first${index}`]: index, b: round });
    }
  }
  // A remembered longer shape must not lend its keys: `c` is inherited here.
  values.push({ a: 1, b: 2, c: 3 });
  values.push(Object.assign(Object.create({ c: 9 }), { a: 1, b: 2 }));
  for (const value of values) {
    strictEqual(canonicalJson(value), reference(value));
  }
  strictEqual(canonicalJson(values), reference(values));
});

Deno.test("canonicalJson() refuses what the plain definition refuses", async (t) => {
  await t.step("a bigint, with a TypeError", () => {
    for (const value of [1n, { a: [2n] }, [{ b: 3n }]]) {
      throws(() => reference(value), TypeError);
      throws(() => canonicalJson(value), TypeError);
    }
  });
  await t.step("a cycle, with a RangeError", () => {
    const object: Record<string, unknown> = { a: 1 };
    object.self = object;
    const array: unknown[] = [1];
    array.push({ back: array });
    for (const value of [object, array]) {
      throws(() => reference(value), RangeError);
      throws(() => canonicalJson(value), RangeError);
    }
  });
  await t.step("and still writes after a refusal", () => {
    strictEqual(canonicalJson({ b: 1, a: 2 }), '{"a":2,"b":1}');
  });
});
