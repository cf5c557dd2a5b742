/**
 * Random identifiers and bearer tokens, and their constant-time comparison.
 *
 * Tokens are 256 random bits written as unpadded base64url (43 characters):
 * safe in URLs, headers, files and shell arguments without quoting.
 */

/** Random bytes in a token. */
export const TOKEN_BYTES = 32;
/** Length of a token's text. */
export const TOKEN_LENGTH = 43;
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** A fresh 256-bit token. */
export function generateToken(): string {
  const text = crypto.getRandomValues(new Uint8Array(TOKEN_BYTES)).toBase64({
    alphabet: "base64url",
    omitPadding: true,
  });
  return text;
}

/** True when `text` has a token's shape (not whether it is a valid token). */
export function isTokenShaped(text: string): boolean {
  return TOKEN_PATTERN.test(text);
}

/** A fresh cluster id: 128 random bits, lowercase hex. */
export function generateClusterId(): string {
  return crypto.getRandomValues(new Uint8Array(16)).toHex();
}

/**
 * Compares `presented` with `expected` in time that depends only on
 * `presented`'s length, never on where they first differ.
 */
export function constantTimeEqual(
  presented: string,
  expected: string,
): boolean {
  const a = new TextEncoder().encode(presented);
  const b = new TextEncoder().encode(expected);
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) {
    // `?? 0` reads past `b` as zeros; the length difference already counts.
    diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  }
  return diff === 0;
}
