/**
 * The few assertions our tests use (jsr:@std/assert is unreachable), built
 * on node:assert. Named `_test.ts` so it never ships in the binary.
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

// deno-lint-ignore no-explicit-any
type ErrorClass<E> = new (...args: any[]) => E;

export function assertThrows<E extends Error>(
  fn: () => unknown,
  errorClass: ErrorClass<E>,
): E {
  try {
    fn();
  } catch (error) {
    assert.ok(
      error instanceof errorClass,
      `expected ${errorClass.name}, got ${String(error)}`,
    );
    return error;
  }
  throw new assert.AssertionError({ message: "expected a throw" });
}

export async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  errorClass: ErrorClass<E>,
): Promise<E> {
  try {
    await fn();
  } catch (error) {
    assert.ok(
      error instanceof errorClass,
      `expected ${errorClass.name}, got ${String(error)}`,
    );
    return error;
  }
  throw new assert.AssertionError({ message: "expected a rejection" });
}
