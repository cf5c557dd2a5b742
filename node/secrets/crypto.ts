/**
 * Secret values encrypted under the cluster key with AES-256-GCM (WebCrypto).
 *
 * The secret's name is bound as additional authenticated data, so a
 * ciphertext stored under one name cannot be replayed under another: it fails
 * to decrypt. Each encryption draws a fresh random 96-bit nonce (at the
 * cluster's scale of secrets, far below the 2^32 encryptions per key where
 * random nonces become a concern).
 *
 * `EncryptedSecret` carries standard base64 strings (with padding) so that it
 * travels unchanged in the JSON of a `SecretSet` Raft command.
 */
import assert from "node:assert";
import { SecretError } from "./errors.ts";
import { validateSecretName } from "./names.ts";

/** Length of the cluster key: AES-256. */
export const CLUSTER_KEY_BYTES = 32;
/** GCM nonce length. */
export const SECRET_NONCE_BYTES = 12;
/** GCM authentication tag length, appended to the ciphertext. */
export const SECRET_TAG_BYTES = 16;
/**
 * Largest secret value, in UTF-8 bytes: 64 KiB less the tag, so that the
 * ciphertext (value + tag) is at most 64 KiB and its base64 at most
 * `SECRET_CIPHERTEXT_BASE64_MAX` characters, the FSM's bound for `SecretSet`.
 */
export const SECRET_VALUE_BYTES_MAX = 64 * 1024 - SECRET_TAG_BYTES;
/** Longest base64 ciphertext: that of 64 KiB. */
export const SECRET_CIPHERTEXT_BASE64_MAX = 87_384;

/** Versioned prefix of the additional data: a format change gets a new one. */
const AAD_PREFIX = "mill/secret/v1\0";

/** A secret value as stored in the Raft log: base64 ciphertext+tag and nonce. */
export interface EncryptedSecret {
  readonly ciphertext: string;
  readonly nonce: string;
}

/** The cluster key, imported once for WebCrypto; not extractable. */
export interface ClusterKey {
  readonly cryptoKey: CryptoKey;
}

/** 32 fresh random bytes for a new cluster key (`mill init`). */
export function generateClusterKeyBytes(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(CLUSTER_KEY_BYTES));
}

/** Imports raw key bytes; throws `secret.invalid_key` unless 32 bytes. */
export async function importClusterKey(raw: Uint8Array): Promise<ClusterKey> {
  if (raw.length !== CLUSTER_KEY_BYTES) {
    throw new SecretError(
      "secret.invalid_key",
      `Cluster key has ${raw.length} bytes, expected ${CLUSTER_KEY_BYTES}; ` +
        `restore the data dir's cluster.key from a backup`,
    );
  }
  const cryptoKey = await crypto.subtle.importKey(
    "raw",
    new Uint8Array(raw),
    { name: "AES-GCM" },
    false,
    ["encrypt", "decrypt"],
  );
  return { cryptoKey };
}

/** Encrypts `plaintext` (UTF-8) for the secret called `name`. */
export async function encryptSecret(
  key: ClusterKey,
  name: string,
  plaintext: string,
): Promise<EncryptedSecret> {
  validateSecretName(name);
  const data = new TextEncoder().encode(plaintext);
  if (data.length > SECRET_VALUE_BYTES_MAX) {
    throw new SecretError(
      "secret.too_large",
      `Secret "${name}" has ${data.length} bytes, more than the ` +
        `${SECRET_VALUE_BYTES_MAX} allowed; store large material elsewhere`,
    );
  }
  const nonce = crypto.getRandomValues(new Uint8Array(SECRET_NONCE_BYTES));
  const sealed = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv: nonce, additionalData: secretAad(name) },
    key.cryptoKey,
    data,
  );
  assert(
    sealed.byteLength === data.length + SECRET_TAG_BYTES,
    "AES-GCM output is plaintext plus tag",
  );
  return {
    ciphertext: new Uint8Array(sealed).toBase64(),
    nonce: nonce.toBase64(),
  };
}

/**
 * Decrypts the secret called `name`. Throws `secret.decrypt_failed` when the
 * key or name differ from encryption or the data was altered, and
 * `secret.malformed` when the fields are not valid base64 of a sane length.
 */
export async function decryptSecret(
  key: ClusterKey,
  name: string,
  encrypted: EncryptedSecret,
): Promise<string> {
  validateSecretName(name);
  const nonce = decodeField(name, "nonce", encrypted.nonce);
  const sealed = decodeField(name, "ciphertext", encrypted.ciphertext);
  if (nonce.length !== SECRET_NONCE_BYTES) {
    throw new SecretError(
      "secret.malformed",
      `Secret "${name}" has a ${nonce.length}-byte nonce, expected ${SECRET_NONCE_BYTES}`,
    );
  }
  if (sealed.length < SECRET_TAG_BYTES) {
    throw new SecretError(
      "secret.malformed",
      `Secret "${name}" has a ciphertext shorter than its authentication tag`,
    );
  }
  if (sealed.length > SECRET_VALUE_BYTES_MAX + SECRET_TAG_BYTES) {
    throw new SecretError(
      "secret.too_large",
      `Secret "${name}" has a ciphertext of ${sealed.length} bytes, more than allowed`,
    );
  }
  let opened: ArrayBuffer;
  try {
    opened = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: nonce, additionalData: secretAad(name) },
      key.cryptoKey,
      sealed,
    );
  } catch (err) {
    throw new SecretError(
      "secret.decrypt_failed",
      `Cannot decrypt secret "${name}": wrong cluster key or altered data; ` +
        `set the secret again`,
      { cause: err },
    );
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(opened);
  } catch (err) {
    throw new SecretError(
      "secret.malformed",
      `Secret "${name}" is not valid UTF-8 text`,
      { cause: err },
    );
  }
}

function secretAad(name: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(AAD_PREFIX + name);
}

function decodeField(
  name: string,
  field: string,
  text: string,
): Uint8Array<ArrayBuffer> {
  // Bound the decode work before touching the string.
  const lengthMax = Math.ceil((SECRET_VALUE_BYTES_MAX + SECRET_TAG_BYTES) / 3) *
      4 + 4;
  if (typeof text !== "string" || text.length > lengthMax) {
    throw new SecretError(
      "secret.malformed",
      `Secret "${name}" has a ${field} that is not a base64 string of a sane length`,
    );
  }
  try {
    return Uint8Array.fromBase64(text);
  } catch (err) {
    throw new SecretError(
      "secret.malformed",
      `Secret "${name}" has a ${field} that is not valid base64`,
      { cause: err },
    );
  }
}
