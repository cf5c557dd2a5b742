import {
  deepStrictEqual as assertEquals,
  ok as assert,
  throws,
} from "node:assert/strict";
import { SeededRng } from "./rng.ts";

Deno.test("SeededRng repeats its sequence for a seed and differs across seeds", () => {
  const draw = (seed: number) => {
    const rng = new SeededRng(seed);
    return Array.from({ length: 8 }, () => rng.nextInt(1000));
  };
  assertEquals(draw(7), draw(7));
  assert(JSON.stringify(draw(7)) !== JSON.stringify(draw(8)));
});

Deno.test("SeededRng.nextInt() stays in range and covers it", () => {
  const rng = new SeededRng(1);
  const seen = new Set<number>();
  for (let i = 0; i < 1000; i++) {
    const value = rng.nextInt(10);
    assert(value >= 0 && value < 10);
    seen.add(value);
  }
  assertEquals(seen.size, 10);
  throws(() => rng.nextInt(0), RangeError);
});
