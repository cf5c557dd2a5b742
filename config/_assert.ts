/** Invariants of the config code: a failure is a bug in mill, not bad input. */
export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(`Assertion failed: ${message}`);
}
