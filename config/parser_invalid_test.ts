/** Syntax errors: each input is refused with exactly these diagnostics. */

import {
  type InvalidCase,
  runInvalidCases,
  service,
} from "./_invalid_cases.ts";

export const PARSER_CASES: readonly InvalidCase[] = [
  {
    name: "an unterminated string is reported at its quote",
    source: service(`  port = 80\n  env { A = "abc }`),
    errors: [
      [
        4,
        13,
        "config.unterminated_string",
        "String is never closed; add the closing quote on the same line",
      ],
    ],
  },
  {
    name: "a missing value is reported",
    source: service(`  port =`),
    errors: [
      [3, 9, "config.syntax", "Expected a value, found a line break"],
    ],
  },
  {
    name: "a missing equals sign is reported",
    source: service(`  port 3000`),
    errors: [
      [
        3,
        8,
        "config.syntax",
        'Expected "=" or "{" after "port", found a number 3000',
      ],
    ],
  },
  {
    name: "an unclosed block is reported at its brace",
    source: `service "web" {\n  image = "a:v1"\n`,
    errors: [
      [
        1,
        15,
        "config.unclosed_block",
        'Block opened here is never closed; add "}"',
      ],
    ],
  },
  {
    name: "a stray closing brace is reported",
    source: `service "web" { image = "a:v1" }\n}\n`,
    errors: [
      [2, 1, "config.syntax", 'Unexpected "}" with no block open; remove it'],
    ],
  },
  {
    name: "an invalid character is reported",
    source: service(`  port = 80 @`),
    errors: [
      [
        3,
        13,
        "config.invalid_character",
        'Unexpected character "@"; remove it or put it inside a quoted string',
      ],
    ],
  },
  {
    name: "single quotes are reported",
    source: `service "web" {\n  image = 'a:v1'\n}\n`,
    errors: [
      [
        2,
        11,
        "config.invalid_character",
        'Strings use double quotes; write "a:v1"',
      ],
    ],
  },
  {
    name: "a list without commas is reported",
    source: service(`  args = ["a" "b"]`),
    errors: [
      [
        3,
        15,
        "config.syntax",
        'Expected "," or "]" in the list opened at 3:10, found a string "b"',
      ],
    ],
  },
  {
    name: "an unknown escape is reported",
    source: service(`  env { A = "a\\qb" }`),
    errors: [
      [
        3,
        15,
        "config.invalid_escape",
        'Unknown escape "\\q" in string; use \\n, \\r, \\t, \\", \\\\, \\uNNNN or \\UNNNNNNNN',
      ],
    ],
  },
  {
    name: "a colon instead of equals is reported",
    source: service(`  port: 80`),
    errors: [
      [
        3,
        7,
        "config.syntax",
        'Expected "=" after "port", found ":"; write port = …',
      ],
    ],
  },
  {
    name: "every syntax error of a file is reported",
    source: `service "web" {\n  port 80\n  replicas = \n  cpu = 1 2\n}\n`,
    errors: [
      [
        2,
        8,
        "config.syntax",
        'Expected "=" or "{" after "port", found a number 80',
      ],
      [3, 14, "config.syntax", "Expected a value, found a line break"],
      [
        4,
        11,
        "config.syntax",
        'Expected a line break or ";" after the value of "cpu", found a number 2',
      ],
    ],
  },
  {
    name: "an unterminated heredoc is reported",
    source: service(`  env {\n    A = <<EOT\n    text\n  }`),
    errors: [
      [
        4,
        9,
        "config.unterminated_heredoc",
        'Heredoc is never closed; end it with a line holding only "EOT"',
      ],
    ],
  },
  {
    name: "an unterminated block comment is reported",
    source: service(`  /* no end`),
    errors: [
      [
        3,
        3,
        "config.unterminated_comment",
        'Comment opened with "/*" is never closed; add "*/"',
      ],
    ],
  },
  {
    name: "a function call is reported",
    source: service(`  command = split(" ", "a b")`),
    errors: [
      [
        3,
        18,
        "config.syntax",
        'Function calls like "split(…)" are not supported; write a literal value',
      ],
    ],
  },
  {
    name: "nesting deeper than the limit is reported",
    source: service(`  args = ${"[".repeat(40)}${"]".repeat(40)}`),
    errors: [
      [
        3,
        41,
        "config.too_deep",
        "Nesting is deeper than 32 levels; flatten the config",
      ],
    ],
  },
  {
    name: "an unclosed secret reference is refused",
    source: service(`  env { A = "\${secret(x)" }`),
    errors: [
      [
        3,
        13,
        "config.unterminated_string",
        "String is never closed; add the closing quote on the same line",
      ],
    ],
  },
];

Deno.test("parseConfig() reports syntax errors at their position", async (t) => {
  await runInvalidCases(t, PARSER_CASES);
});
