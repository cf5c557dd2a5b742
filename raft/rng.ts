import type { Rng } from "./types.ts";

/**
 * A small, fast, seeded generator (splitmix32): the same seed gives the same
 * sequence on every machine, which the simulation relies on.
 *
 * @example
 * const rng = new SeededRng(42);
 * rng.nextInt(10); // always the same first value for seed 42
 */
export class SeededRng implements Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    this.#state = (this.#state + 0x9e3779b9) >>> 0;
    let z = this.#state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }

  nextInt(maxExclusive: number): number {
    if (!(maxExclusive >= 1)) {
      throw new RangeError(`maxExclusive must be >= 1, got ${maxExclusive}`);
    }
    return this.nextU32() % maxExclusive;
  }

  /** A uniform float in [0, 1). */
  nextFloat(): number {
    return this.nextU32() / 0x1_0000_0000;
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.nextFloat() < p;
  }
}
