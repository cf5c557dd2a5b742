/**
 * HTTP-01 (RFC 8555 §8.3) as the proxy answers it: the CA fetches
 * `http://HOST/.well-known/acme-challenge/TOKEN` on port 80 and expects the
 * key authorization as the body. The tokens live in the cluster state, so
 * whichever node the CA reaches answers. Pure.
 */

export const HTTP01_PATH_PREFIX = "/.well-known/acme-challenge/";

/** Tokens are base64url (RFC 8555 §8.1), at least 128 bits; 256 chars is ample. */
const TOKEN = /^[A-Za-z0-9_-]{16,256}$/;

/** The token a request path asks for, or null when it is not an HTTP-01 path. */
export function challengeTokenOfPath(path: string): string | null {
  if (!path.startsWith(HTTP01_PATH_PREFIX)) return null;
  const token = path.slice(HTTP01_PATH_PREFIX.length);
  return TOKEN.test(token) ? token : null;
}

export function isChallengeToken(token: string): boolean {
  return TOKEN.test(token);
}

/**
 * The response to an HTTP-01 request: the key authorization as text/plain
 * (200), or 404 for a token nobody published. `lookup` reads the published
 * tokens (the caller's copy of the cluster state).
 */
export function challengeResponse(
  path: string,
  lookup: (token: string) => string | undefined,
): { readonly status: 200 | 404; readonly body: string } {
  const token = challengeTokenOfPath(path);
  const keyAuthorization = token === null ? undefined : lookup(token);
  return keyAuthorization === undefined
    ? { status: 404, body: "no such challenge\n" }
    : { status: 200, body: keyAuthorization };
}
