/**
 * Typed errors of the containerd client. Every one has a stable `code`; the
 * message names the image reference or container it is about.
 */

export type ContainerdErrorCode =
  | "containerd.unavailable"
  | "containerd.call_failed"
  | "containerd.timeout"
  | "containerd.not_found"
  | "containerd.already_exists"
  | "image.reference_invalid"
  | "image.not_found"
  | "image.registry_unreachable"
  | "image.unauthorized"
  | "image.digest_mismatch"
  | "image.manifest_invalid"
  | "image.platform_missing"
  | "image.too_large"
  | "image.no_command"
  | "image.archive_invalid"
  | "container.not_found"
  | "container.start_failed"
  | "container.stop_timeout"
  | "container.user_unknown";

export class ContainerdError extends Error {
  override name = "ContainerdError";
  constructor(
    readonly code: ContainerdErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Programmer errors: a broken invariant crashes. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`Assertion failed: ${message}`);
}
