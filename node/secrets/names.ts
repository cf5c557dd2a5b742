/**
 * The naming rule for secrets, shared by `mill secret set`, the API, the FSM
 * and `${secret(name)}` references.
 *
 * A name is 1 to 128 characters of ASCII letters, digits, `.`, `_` and `-`,
 * starting with a letter or a digit. Names are case-sensitive. The rule keeps
 * names safe to print, to use as map keys in the Raft log and to write inside
 * `${secret(…)}` without quoting (the seed's `db.url` is valid).
 */
import { SecretError } from "./errors.ts";

/** Longest secret name accepted. */
export const SECRET_NAME_LENGTH_MAX = 128;

const SECRET_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** True when `name` follows the naming rule. */
export function isValidSecretName(name: string): boolean {
  return name.length >= 1 && name.length <= SECRET_NAME_LENGTH_MAX &&
    SECRET_NAME_PATTERN.test(name);
}

/** Throws `secret.invalid_name` unless `name` follows the naming rule. */
export function validateSecretName(name: string): void {
  if (isValidSecretName(name)) return;
  const shown = name.length > 40 ? `${name.slice(0, 40)}…` : name;
  throw new SecretError(
    "secret.invalid_name",
    `Invalid secret name ${
      JSON.stringify(shown)
    }; use 1 to ${SECRET_NAME_LENGTH_MAX} ` +
      `letters, digits, ".", "_" or "-", starting with a letter or digit`,
  );
}
