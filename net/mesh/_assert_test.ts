/**
 * The few assertions the mesh tests use, on node:assert. Named `_test.ts`
 * so that it never ships in the binary.
 */
import assert from "node:assert/strict";

export function assertEquals<T>(
  actual: T,
  expected: T,
  message?: string,
): void {
  assert.deepStrictEqual(actual, expected, message ?? "values differ");
}

export function assertNotEquals<T>(
  actual: T,
  expected: T,
  message?: string,
): void {
  assert.notDeepStrictEqual(actual, expected, message ?? "values are equal");
}

export function assertTrue(
  condition: unknown,
  message?: string,
): asserts condition {
  assert.ok(condition, message ?? "condition is false");
}

/** The error `fn` throws or rejects with; fails when it does neither. */
export async function rejection(fn: () => unknown): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    assert.ok(error instanceof Error, `not an Error: ${String(error)}`);
    return error;
  }
  throw new assert.AssertionError({ message: "expected an error" });
}
