/**
 * The start path of a container: decrypt only the secrets its env
 * references and resolve the references. Runs on the node that starts the
 * container, just before the start, so plaintext exists nowhere else.
 */
import {
  type ClusterKey,
  decryptSecret,
  type EncryptedSecret,
} from "./crypto.ts";
import { MissingSecretsError } from "./errors.ts";
import { referencedSecretNames, resolveSecretRefs } from "./refs.ts";

/**
 * Returns `env` with every `${secret(name)}` replaced by the decrypted value
 * of `secrets[name]`. Unreferenced secrets are not decrypted; referenced
 * ones that are absent raise one `secret.missing` error listing them all;
 * a secret that fails to decrypt raises `secret.decrypt_failed`.
 */
export async function resolveEnvSecrets(
  env: Readonly<Record<string, string>>,
  secrets: Readonly<Record<string, EncryptedSecret>>,
  key: ClusterKey,
): Promise<Record<string, string>> {
  const names = referencedSecretNames(env);
  const missing = names.filter((name) => !Object.hasOwn(secrets, name));
  if (missing.length > 0) throw new MissingSecretsError(missing);
  const values = new Map<string, string>();
  for (const name of names) {
    const encrypted = secrets[name];
    if (encrypted === undefined) continue; // unreachable: checked above
    values.set(name, await decryptSecret(key, name, encrypted));
  }
  return resolveSecretRefs(env, (name) => values.get(name));
}
