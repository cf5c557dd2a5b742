/**
 * Random bytes and random mutations of valid files never crash the parser or
 * the formatter: each input parses, or fails with positioned diagnostics.
 * Inputs that parse must survive formatting with the same model and comments.
 * Honours MILL_SEED; a failure prints `reproduce with MILL_SEED=<n>`.
 */

import { deepStrictEqual, ok } from "node:assert/strict";
import { formatConfig, parseConfig } from "./mod.ts";
import { lex } from "./_lexer.ts";

const RANDOM_INPUTS = 3000;
const MUTATIONS = 8000;
const FIXTURES = new URL("../tests/fixtures/config/", import.meta.url);
const FIXTURE_NAMES = [
  "seed_000_volume.mill",
  "seed_002_first_deploy.mill",
  "full.mill",
  "messy.mill",
];

/** Pieces that push the parser into its corners. */
const PIECES = [
  "{",
  "}",
  "[",
  "]",
  "(",
  ")",
  '"',
  "'",
  "=",
  ";",
  ",",
  ":",
  "-",
  "\n",
  "\r\n",
  "\t",
  " ",
  "#",
  "//",
  "/*",
  "*/",
  "<<EOT\n",
  "<<-EOT\n",
  "EOT\n",
  "${",
  "$${",
  "\\",
  "\\u",
  "\\q",
  'service "x" {',
  'task "t" {',
  "port = 0",
  "replicas = -1",
  '"512Q"',
  '"5sec"',
  "1e999",
  "0.5",
  "true",
  "null",
  "é",
  "\u0000",
  "\uFEFF",
  "😀",
  'route "a.b" {}',
  'volume "v" { path = "/v" }',
  "env { A = 1 }",
  'health { path = "/"; interval = "1s" }',
  "${secret(x)}",
  "[".repeat(40),
];

/** mulberry32: small, seedable, good enough to pick mutations. */
function rng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function baseSeed(): number {
  const fromEnv = Deno.env.get("MILL_SEED");
  if (fromEnv !== undefined && fromEnv !== "") return Number(fromEnv);
  return crypto.getRandomValues(new Uint32Array(1))[0] ?? 1;
}

function pick<T>(random: () => number, items: readonly T[]): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error("pick() from an empty list");
  return item;
}

function randomText(random: () => number): string {
  const length = Math.floor(random() * 200);
  let text = "";
  for (let i = 0; i < length; i++) {
    const r = random();
    if (r < 0.4) text += pick(random, PIECES);
    else if (r < 0.8) {
      text += String.fromCharCode(32 + Math.floor(random() * 95));
    } else text += String.fromCharCode(Math.floor(random() * 0x3000));
  }
  return text;
}

function mutate(random: () => number, source: string): string {
  let text = source;
  const edits = 1 + Math.floor(random() * 4);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(random() * (text.length + 1));
    const span = Math.floor(random() * 12);
    const r = random();
    if (r < 0.3) text = text.slice(0, at) + text.slice(at + span);
    else if (r < 0.6) {
      text = text.slice(0, at) + pick(random, PIECES) + text.slice(at);
    } else if (r < 0.8) {
      const from = Math.floor(random() * text.length);
      text = text.slice(0, at) + text.slice(from, from + span * 4) +
        text.slice(at);
    } else {
      const c = String.fromCharCode(Math.floor(random() * 128));
      text = text.slice(0, at) + c + text.slice(at + 1);
    }
  }
  return text;
}

function comments(source: string): string[] {
  return lex(source).tokens.filter((t) => t.kind === "comment").map((t) =>
    t.text.trim()
  );
}

/** The invariants every input must keep. */
function check(source: string): void {
  const lines = source.split("\n").length;
  const result = parseConfig(source, "fuzz.mill");
  if (result.ok) {
    deepStrictEqual(JSON.parse(JSON.stringify(result.config)), result.config);
  } else {
    ok(result.diagnostics.length > 0, "a failure without diagnostics");
    for (const d of result.diagnostics) {
      ok(d.code.startsWith("config."), `bad code ${d.code}`);
      ok(d.message.length > 0, "an empty message");
      ok(d.line >= 1 && d.line <= lines, `line ${d.line} outside 1..${lines}`);
      ok(d.column >= 1, `column ${d.column}`);
    }
  }
  const formatted = formatConfig(source, "fuzz.mill");
  if (!formatted.ok) return;
  const again = formatConfig(formatted.text, "fuzz.mill");
  ok(again.ok, "the formatted text does not parse");
  deepStrictEqual(again.text, formatted.text, "formatting is not idempotent");
  deepStrictEqual(
    comments(formatted.text),
    comments(source),
    "a comment was lost",
  );
  const reparsed = parseConfig(formatted.text, "fuzz.mill");
  if (result.ok) {
    ok(reparsed.ok, "formatting broke a valid file");
    deepStrictEqual(
      reparsed.config,
      result.config,
      "formatting changed the model",
    );
  }
}

function runSeeded(
  name: string,
  count: number,
  input: (random: () => number) => string,
) {
  const seed = baseSeed();
  const fixed = Deno.env.get("MILL_SEED") !== undefined;
  for (let i = 0; i < (fixed ? 1 : count); i++) {
    const caseSeed = (seed + i) >>> 0;
    const source = input(rng(caseSeed));
    try {
      check(source);
    } catch (err) {
      throw new Error(
        `${name} failed on ${
          JSON.stringify(source)
        }\nreproduce with MILL_SEED=${caseSeed}`,
        { cause: err },
      );
    }
  }
}

Deno.test("random text never crashes the parser or the formatter", () => {
  runSeeded("random text", RANDOM_INPUTS, randomText);
});

Deno.test("random mutations of valid files parse or fail with positioned errors", () => {
  const sources = FIXTURE_NAMES.map((n) =>
    Deno.readTextFileSync(new URL(n, FIXTURES))
  );
  runSeeded(
    "mutation",
    MUTATIONS,
    (random) => mutate(random, pick(random, sources)),
  );
});
