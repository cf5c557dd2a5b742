import { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  constantTimeEqual,
  generateClusterId,
  generateToken,
  isTokenShaped,
  TOKEN_LENGTH,
} from "./tokens.ts";

Deno.test("generateToken() makes distinct URL-safe 256-bit tokens", () => {
  const tokens = new Set(Array.from({ length: 100 }, generateToken));
  assertEquals(tokens.size, 100);
  for (const token of tokens) {
    assertEquals(token.length, TOKEN_LENGTH);
    assertEquals(isTokenShaped(token), true);
    assertEquals(
      Uint8Array.fromBase64(token, { alphabet: "base64url" }).length,
      32,
    );
    assertEquals(encodeURIComponent(token), token);
  }
});

Deno.test("generateClusterId() makes 128-bit hex ids", () => {
  const id = generateClusterId();
  assertEquals(/^[0-9a-f]{32}$/.test(id), true);
  assertEquals(id === generateClusterId(), false);
});

Deno.test("isTokenShaped() accepts only 43 base64url characters", async (t) => {
  const token = generateToken();
  const rows: [string, string, boolean][] = [
    ["a generated token", token, true],
    ["a token with padding", token + "=", false],
    ["a short token", token.slice(1), false],
    ["a token with a plus", "+" + token.slice(1), false],
    ["a token with a space", " " + token.slice(1), false],
    ["the empty string", "", false],
  ];
  for (const [name, text, shaped] of rows) {
    await t.step(name, () => assertEquals(isTokenShaped(text), shaped));
  }
});

Deno.test("constantTimeEqual() is equality on strings", async (t) => {
  const token = generateToken();
  const rows: [string, string, string, boolean][] = [
    ["the same token", token, token, true],
    ["a copy built apart", token.split("").join(""), token, true],
    [
      "a different last character",
      token.slice(0, -1) + (token.endsWith("A") ? "B" : "A"),
      token,
      false,
    ],
    [
      "a different first character",
      (token.startsWith("A") ? "B" : "A") + token.slice(1),
      token,
      false,
    ],
    ["a prefix", token.slice(0, 20), token, false],
    ["a longer string", token + "x", token, false],
    ["the empty string", "", token, false],
    ["two empty strings", "", "", true],
    ["a NUL-padded prefix", "ab\0", "ab", false],
    ["multi-byte text", "ümlaut", "ümlaut", true],
  ];
  for (const [name, presented, expected, equal] of rows) {
    await t.step(
      name,
      () => assertEquals(constantTimeEqual(presented, expected), equal),
    );
  }
});
