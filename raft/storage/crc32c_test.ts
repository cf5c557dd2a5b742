import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { crc32c } from "./crc32c.ts";

function bitwiseCrc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

Deno.test("crc32c() matches the published check values", async (t) => {
  const cases: [string, number][] = [
    ["", 0],
    ["a", 0xc1d04330],
    ["123456789", 0xe3069283],
    ["The quick brown fox jumps over the lazy dog", 0x22620404],
  ];
  for (const [input, expected] of cases) {
    await t.step(JSON.stringify(input), () => {
      assertEquals(crc32c(new TextEncoder().encode(input)), expected);
    });
  }
});

Deno.test("crc32c() agrees with a bitwise reference at every length and when extended", () => {
  const bytes = new Uint8Array(300);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 131 + 7) & 0xff;
  for (let n = 0; n <= bytes.length; n += 7) {
    const slice = bytes.subarray(0, n);
    assertEquals(crc32c(slice), bitwiseCrc32c(slice));
    const split = n >> 1;
    assertEquals(
      crc32c(slice.subarray(split), crc32c(slice.subarray(0, split))),
      bitwiseCrc32c(slice),
    );
  }
});
