/**
 * The assertions the mesh tests use: the project's shared ones, and
 * `rejection`. Named `_test.ts` so that it never ships in the binary.
 */
import assert from "node:assert/strict";

export {
  assertEquals,
  assertNotEquals,
  assertTrue,
} from "../../containerd/_assert_test.ts";

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
