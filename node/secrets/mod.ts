/**
 * Secrets: AES-256-GCM under the cluster key, `${secret(name)}` references,
 * decryption on the leader and resolution on the node, redaction. Values
 * never appear in errors; see node/README.md.
 */
export {
  CLUSTER_KEY_BYTES,
  type ClusterKey,
  decryptSecret,
  type EncryptedSecret,
  encryptSecret,
  generateClusterKeyBytes,
  importClusterKey,
  SECRET_CIPHERTEXT_BASE64_MAX,
  SECRET_NONCE_BYTES,
  SECRET_VALUE_BYTES_MAX,
} from "./crypto.ts";
export {
  MissingSecretsError,
  SecretError,
  type SecretErrorCode,
} from "./errors.ts";
export { CLUSTER_KEY_FILE, readClusterKeyFile } from "./key_file.ts";
export {
  isValidSecretName,
  SECRET_NAME_LENGTH_MAX,
  validateSecretName,
} from "./names.ts";
export {
  checkSecretRefs,
  type EnvPart,
  parseEnvValue,
  referencedSecretNames,
  resolveSecretRefs,
} from "./refs.ts";
export {
  decryptReferencedSecrets,
  resolveSecretEnv,
  type SecretSplitEnv,
} from "./resolve.ts";
export {
  describeSecretUsers,
  type SecretUsers,
  secretUsers,
  type SecretUsingConfig,
  type SecretUsingWorkload,
} from "./usage.ts";
export {
  redact,
  REDACT_VALUE_LENGTH_MIN,
  REDACTED,
  redactEnv,
} from "./redact.ts";
