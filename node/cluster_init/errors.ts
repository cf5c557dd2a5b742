export type InitErrorCode =
  /** The data dir already holds a cluster (`cluster.json`). */
  | "init.already_initialized"
  /** The data dir holds some of mill's files but no `cluster.json`. */
  | "init.partial_data_dir"
  /** A data dir file is missing, malformed or has unsafe permissions. */
  | "init.invalid_data_dir"
  /** The CLI context file exists but is not one mill wrote. */
  | "init.invalid_context"
  /** Options given to init are invalid (node name, addresses, URL). */
  | "init.invalid_options";

/** An expected failure of `mill init` or of loading its files. */
export class InitError extends Error {
  override name = "InitError";
  constructor(
    readonly code: InitErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
