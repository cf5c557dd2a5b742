/**
 * A node's WireGuard key pair (X25519). The private key is made here with
 * WebCrypto, written once to `DIR/wireguard.key` (mode 0600, the base64 line
 * `wg genkey` would print) and read back on every start; it never leaves the
 * node: `wg` reads it from that file (`wg set ... private-key PATH`), so it is
 * in no argv, log or error message. Only the public key is shared.
 */

export const KEY_FILE_NAME = "wireguard.key";

const KEY_BYTES = 32;
const BASE64_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/**
 * A WireGuard key as `wg` prints it: 44 characters of standard base64 of 32
 * bytes (the last character before `=` carries no stray bits).
 */
export function isWireguardKey(text: unknown): text is string {
  return typeof text === "string" && BASE64_KEY.test(text);
}

function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function base64UrlToBase64(text: string): string {
  const standard = text.replaceAll("-", "+").replaceAll("_", "/");
  return standard + "=".repeat((4 - standard.length % 4) % 4);
}

function base64ToBase64Url(text: string): string {
  return text.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** RFC 7748 clamping, as `wg genkey` does (wg clamps again on use). */
function clamp(key: Uint8Array): Uint8Array {
  const out = key.slice();
  out[0] = out[0]! & 248;
  out[31] = (out[31]! & 127) | 64;
  return out;
}

/** A fresh private key, base64 as `wg genkey` prints it. */
export async function generatePrivateKey(): Promise<string> {
  const pair = await crypto.subtle.generateKey(
    { name: "X25519" },
    true,
    ["deriveBits"],
  ) as CryptoKeyPair;
  const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
  if (typeof jwk.d !== "string") throw new Error("X25519 key without d");
  const raw = fromBase64(base64UrlToBase64(jwk.d));
  if (raw.length !== KEY_BYTES) throw new Error("X25519 key of a wrong size");
  return toBase64(clamp(raw));
}

/** The public key of a private one, base64 as `wg pubkey` prints it. */
export async function publicKeyOf(privateKey: string): Promise<string> {
  if (!isWireguardKey(privateKey)) {
    throw new Error("not a WireGuard private key (44 base64 characters)");
  }
  const key = await crypto.subtle.importKey(
    "jwk",
    {
      kty: "OKP",
      crv: "X25519",
      d: base64ToBase64Url(privateKey),
      ext: true,
    },
    { name: "X25519" },
    true,
    ["deriveBits"],
  );
  const jwk = await crypto.subtle.exportKey("jwk", key);
  if (typeof jwk.x !== "string") throw new Error("X25519 key without x");
  return base64UrlToBase64(jwk.x);
}

export interface MeshKey {
  /** Base64, as `wg` prints it: what the other nodes are told. */
  readonly publicKey: string;
  /** The private key's file, for `wg set ... private-key`. */
  readonly keyPath: string;
}

export class MeshKeyError extends Error {
  override name = "MeshKeyError";
}

/**
 * Reads the private key at `path` and returns its public key. Refuses a file
 * that is not a regular file (a symlink included), that its group or others
 * may read or write, or that does not hold one WireGuard key.
 */
export async function readMeshKey(path: string): Promise<MeshKey> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new MeshKeyError(`no WireGuard key at ${path}`);
    }
    throw error;
  }
  if (!info.isFile) {
    throw new MeshKeyError(
      `${path} is not a regular file; remove it and a new key is made`,
    );
  }
  const mode = (info.mode ?? 0) & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new MeshKeyError(
      `${path} has mode ${
        mode.toString(8).padStart(4, "0")
      }: a private key must be readable by its owner only; run chmod 600 ${path} (and consider the key exposed: remove it so that a new one is made)`,
    );
  }
  const text = await Deno.readTextFile(path);
  const line = text.endsWith("\n") ? text.slice(0, -1) : text;
  // The message never echoes the content: it may be a key.
  if (!isWireguardKey(line)) {
    throw new MeshKeyError(
      `${path} does not hold a WireGuard private key (one line of 44 base64 characters); remove it so that a new one is made`,
    );
  }
  return { publicKey: await publicKeyOf(line), keyPath: path };
}

/**
 * The node's key in `dataDir`: made on the first call, read after. Creation
 * is atomic and never overwrites: a temp file (0600, fsynced) is hard-linked
 * to the final name, so that two racing calls end with one key.
 */
export async function ensureMeshKey(dataDir: string): Promise<MeshKey> {
  const path = `${dataDir}/${KEY_FILE_NAME}`;
  try {
    return await readMeshKey(path);
  } catch (error) {
    if (!(error instanceof MeshKeyError && !(await exists(path)))) throw error;
  }
  const temp = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    const file = await Deno.open(temp, {
      write: true,
      createNew: true,
      mode: 0o600,
    });
    try {
      let bytes = new TextEncoder().encode(`${await generatePrivateKey()}\n`);
      while (bytes.length > 0) bytes = bytes.subarray(await file.write(bytes));
      await file.sync();
    } finally {
      file.close();
    }
    // The umask can only narrow 0600; chmod makes it exact.
    await Deno.chmod(temp, 0o600);
    await Deno.link(temp, path);
  } catch (error) {
    // AlreadyExists: another call made it first, and theirs is the key.
    if (!(error instanceof Deno.errors.AlreadyExists)) {
      await Deno.remove(temp).catch(() => {});
      throw error;
    }
  }
  await Deno.remove(temp).catch(() => {});
  await syncDirectory(dataDir);
  return await readMeshKey(path);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await Deno.open(dir, { read: true });
  try {
    await handle.sync();
  } finally {
    handle.close();
  }
}
