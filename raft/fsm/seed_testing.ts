/**
 * Seeds for randomized tests: `MILL_SEED=<n>` runs exactly that seed,
 * otherwise a few fresh ones. A failure names its seed so it reproduces.
 */

/** The seeds to run: `MILL_SEED` alone when set, else `count` fresh ones. */
export function testSeeds(count: number): number[] {
  const fixed = Deno.env.get("MILL_SEED");
  if (fixed !== undefined && fixed !== "") {
    const seed = Number(fixed);
    if (!Number.isSafeInteger(seed)) {
      throw new Error(`MILL_SEED=${fixed} is not an integer`);
    }
    return [seed];
  }
  const first = Math.floor(Math.random() * 2 ** 31);
  return Array.from({ length: count }, (_, index) => (first + index) % 2 ** 31);
}

/** Runs `body(seed)`; a failure is rethrown naming the seed that reproduces it. */
export function withSeed(seed: number, body: (seed: number) => void): void {
  try {
    body(seed);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${message}\nreproduce with MILL_SEED=${seed}`, {
      cause: error,
    });
  }
}
