/**
 * SHA-256 for the pure core: the one importer of `@noble/hashes`. Web
 * Crypto's digest is async and `node:crypto` is I/O, but Raft's shell asks
 * the FSM for snapshots synchronously; noble's SHA-256 is plain, audited
 * JavaScript with no I/O, clock or randomness.
 */
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";

/** Bytes in a SHA-256 digest. */
export const SHA256_BYTES = 32;

/** The SHA-256 digest of `bytes` (`SHA256_BYTES` long), synchronously. */
export function sha256(bytes: Uint8Array): Uint8Array {
  return nobleSha256(bytes);
}
