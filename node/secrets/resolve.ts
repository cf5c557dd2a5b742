/**
 * The start path of a container, in two halves so that the cluster key
 * stays on primaries:
 *
 * - on the leader, `decryptReferencedSecrets` decrypts only the secrets a
 *   workload's env references; their values go in the start request to the
 *   one node the alloc is placed on, and nowhere else;
 * - on that node, `resolveSecretEnv` resolves the `${secret(name)}`
 *   references with those values and splits the env in two: variables that
 *   came from a secret, which must never reach a file others can read (the
 *   OCI spec), and the rest.
 */
import {
  type ClusterKey,
  decryptSecret,
  type EncryptedSecret,
} from "./crypto.ts";
import { MissingSecretsError } from "./errors.ts";
import {
  parseEnvValue,
  referencedSecretNames,
  resolveSecretRefs,
} from "./refs.ts";

/**
 * The plaintext of every secret `env` references, by name. Unreferenced
 * secrets are not decrypted; referenced ones that `lookup` does not know
 * raise one `secret.missing` error listing them all; a secret that fails to
 * decrypt raises `secret.decrypt_failed`. Runs on the leader only.
 */
export async function decryptReferencedSecrets(
  env: Readonly<Record<string, string>>,
  lookup: (name: string) => EncryptedSecret | undefined,
  key: ClusterKey,
): Promise<Record<string, string>> {
  const names = referencedSecretNames(env);
  const found = new Map<string, EncryptedSecret>();
  const missing: string[] = [];
  for (const name of names) {
    const encrypted = lookup(name);
    if (encrypted === undefined) missing.push(name);
    else found.set(name, encrypted);
  }
  if (missing.length > 0) throw new MissingSecretsError(missing);
  const values: Record<string, string> = {};
  for (const [name, encrypted] of found) {
    values[name] = await decryptSecret(key, name, encrypted);
  }
  return values;
}

/** A container's env, split by whether a variable's value used a secret. */
export interface SecretSplitEnv {
  /** Variables without a secret reference: fit for the OCI spec. */
  readonly plain: Record<string, string>;
  /** Variables whose value used at least one secret: never in a spec. */
  readonly secret: Record<string, string>;
}

/**
 * Resolves every `${secret(name)}` of `env` with `values` (the start
 * request's) and splits the result. Referenced names absent from `values`
 * raise one `secret.missing` error listing them all.
 */
export function resolveSecretEnv(
  env: Readonly<Record<string, string>>,
  values: Readonly<Record<string, string>>,
): SecretSplitEnv {
  const resolved = resolveSecretRefs(
    env,
    (name) => Object.hasOwn(values, name) ? values[name] : undefined,
  );
  const plain: Record<string, string> = {};
  const secret: Record<string, string> = {};
  for (const [key, value] of Object.entries(resolved)) {
    const template = env[key] ?? "";
    const fromSecret = parseEnvValue(key, template).some((part) =>
      part.kind === "secret"
    );
    (fromSecret ? secret : plain)[key] = value;
  }
  return { plain, secret };
}
