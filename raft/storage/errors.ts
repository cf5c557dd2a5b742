/** Error codes of raft storage; stable, the CLI and logs key on them. */
export type StorageErrorCode =
  /** A checksum or framing error that is not a torn tail: refuse to start. */
  | "raft.storage.corrupt"
  /** A batch with a value the WAL cannot encode: refused whole, nothing written. */
  | "raft.storage.invalid_record"
  /** A record or file beyond a named bound. */
  | "raft.storage.too_large"
  /** The WAL was used after close() or after a failed write. */
  | "raft.storage.closed";

export class StorageError extends Error {
  override name = "StorageError";
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
