/** A broken invariant: a programmer error, never an operating one. */
export class AssertionError extends Error {
  override name = "AssertionError";
  readonly code = "raft.invariant";
}

/** Crashes through `AssertionError` when `condition` is false. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}
