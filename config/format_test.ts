import { deepStrictEqual, ok } from "node:assert/strict";
import { formatConfig, parseConfig } from "./mod.ts";
import { lex } from "./_lexer.ts";

const FIXTURES = new URL("../tests/fixtures/config/", import.meta.url);
const FIXTURE_NAMES = [
  "seed_000_volume.mill",
  "seed_002_first_deploy.mill",
  "full.mill",
];

function format(source: string): string {
  const result = formatConfig(source, "t.mill");
  if (!result.ok) {
    throw new Error(result.diagnostics.map((d) => d.message).join("\n"));
  }
  return result.text;
}

/** Every comment's text, in order. */
export function comments(source: string): string[] {
  return lex(source).tokens.filter((t) => t.kind === "comment").map((t) =>
    t.text.trim()
  );
}

const CASES: readonly { name: string; input: string; output: string }[] = [
  {
    name: "indentation and spacing around = are normalised",
    input: 'service "web" {\nimage="a:v1"\n      port    =   80\n}\n',
    output: 'service "web" {\n  image = "a:v1"\n  port  = 80\n}\n',
  },
  {
    name: "attributes joined with ; stay on their line, normalised",
    input: 'service "web" {\n  image = "a:v1"\n  port=80;replicas=2;\n}\n',
    output: 'service "web" {\n  image = "a:v1"\n  port = 80; replicas = 2\n}\n',
  },
  {
    name: "one-line blocks stay on one line",
    input:
      'service "web" {\n  image = "a:v1"; port = 80\n  health {path="/h";interval="5s"}\n}\n',
    output:
      'service "web" {\n  image = "a:v1"; port = 80\n  health { path = "/h"; interval = "5s" }\n}\n',
  },
  {
    name: "a one-line block longer than the limit is spread over lines",
    input: `service "web" { image = "${
      "a".repeat(60)
    }:v1"; port = 80; replicas = 2 }\n`,
    output: `service "web" {\n  image = "${
      "a".repeat(60)
    }:v1"; port = 80; replicas = 2\n}\n`,
  },
  {
    name: "runs of blank lines shrink to one, none at block edges",
    input: 'service "web" {\n\n\n  image = "a:v1"\n\n\n\n  port = 80\n\n}\n',
    output: 'service "web" {\n  image = "a:v1"\n\n  port = 80\n}\n',
  },
  {
    name: "top-level blocks are separated by one blank line",
    input: 'service "a" { image = "a:v1" }\nservice "b" { image = "b:v1" }\n',
    output:
      'service "a" { image = "a:v1" }\n\nservice "b" { image = "b:v1" }\n',
  },
  {
    name: "comments keep their place and text",
    input:
      '# top\nservice "web" { # header\n  image = "a:v1"   # trailing\n  // own line\n  /* block */\n  port = 80\n}\n',
    output:
      '# top\nservice "web" {\n  # header\n  image = "a:v1" # trailing\n  // own line\n  /* block */\n  port = 80\n}\n',
  },
  {
    name: "lists and maps are printed inline or one item per line as written",
    input:
      'service "web" {\n  image = "a:v1"\n  args = [ "a" ,"b" ]\n  labels = {\n  a="1",\n  bb:"2"\n  }\n}\n',
    output:
      'service "web" {\n  image  = "a:v1"\n  args   = ["a", "b"]\n  labels = {\n    a  = "1"\n    bb = "2"\n  }\n}\n',
  },
  {
    name: "bare labels are quoted and empty blocks closed on one line",
    input: 'service web {\n  image = "a:v1"\n  env {\n  }\n}\n',
    output: 'service "web" {\n  image = "a:v1"\n  env {}\n}\n',
  },
  {
    name: "heredocs are kept byte for byte",
    input:
      'service "web" {\n  image = "a:v1"\n  env {\n    A = <<-EOT\n        x\n      EOT\n  }\n}\n',
    output:
      'service "web" {\n  image = "a:v1"\n  env {\n    A = <<-EOT\n        x\n      EOT\n  }\n}\n',
  },
];

Deno.test("formatConfig() prints the canonical form", async (t) => {
  for (const c of CASES) {
    await t.step(c.name, () => {
      deepStrictEqual(format(c.input), c.output);
      deepStrictEqual(format(c.output), c.output, "not idempotent");
    });
  }
});

Deno.test("formatConfig() leaves the seed examples and the reference file unchanged", () => {
  for (const name of FIXTURE_NAMES) {
    const source = Deno.readTextFileSync(new URL(name, FIXTURES));
    const result = formatConfig(source, name);
    ok(result.ok && !result.changed, name);
  }
});

Deno.test("formatConfig() keeps every comment and the meaning of the file", () => {
  const source = Deno.readTextFileSync(new URL("messy.mill", FIXTURES));
  const text = format(source);
  deepStrictEqual(comments(text), comments(source));
  deepStrictEqual(format(text), text, "not idempotent");
  const before = parseConfig(source, "messy.mill");
  const after = parseConfig(text, "messy.mill");
  ok(before.ok && after.ok);
  deepStrictEqual(after.config, before.config);
});

Deno.test("formatConfig() refuses a file with syntax errors and says where", () => {
  const result = formatConfig('service "web" {\n  port 80\n}\n', "bad.mill");
  ok(!result.ok);
  deepStrictEqual(
    result.diagnostics.map((d) => [d.file, d.line, d.column]),
    [["bad.mill", 2, 8]],
  );
});
