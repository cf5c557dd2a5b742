/**
 * Errors of the secret store. Messages name secrets, never their values:
 * anything here may reach a log, an API response or the CLI.
 */

export type SecretErrorCode =
  /** A secret name breaks the naming rule (see `validateSecretName`). */
  | "secret.invalid_name"
  /** A value (or a ciphertext) is larger than its named bound. */
  | "secret.too_large"
  /** A cluster key is not 32 bytes, or its file is unreadable or unsafe. */
  | "secret.invalid_key"
  /** Authentication failed: wrong key, wrong name, or tampered data. */
  | "secret.decrypt_failed"
  /** Ciphertext or nonce is not valid base64 of the expected length. */
  | "secret.malformed"
  /** One or more `${secret(name)}` references name unknown secrets. */
  | "secret.missing"
  /** A `${…}` in an env value that is not a valid secret reference. */
  | "secret.invalid_reference";

/** An expected failure of the secret store, with a stable `code`. */
export class SecretError extends Error {
  override name = "SecretError";
  constructor(
    readonly code: SecretErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * Raised when env values reference secrets that do not exist. `names` lists
 * every missing name once, sorted, so one deploy attempt reports all of them.
 */
export class MissingSecretsError extends SecretError {
  override name = "MissingSecretsError";
  constructor(readonly names: readonly string[]) {
    super(
      "secret.missing",
      `Unknown secret${names.length === 1 ? "" : "s"} ${
        names.map((n) => `"${n}"`).join(", ")
      }; set ${
        names.length === 1 ? "it" : "them"
      } with "mill secret set NAME" before deploying`,
    );
  }
}
