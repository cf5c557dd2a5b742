/** Programmer errors: a broken invariant of the deploy coordinator crashes. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`Assertion failed: ${message}`);
}
