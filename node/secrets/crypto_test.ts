import {
  deepStrictEqual as assertEquals,
  notDeepStrictEqual as assertNotEquals,
  rejects as assertRejects,
} from "node:assert/strict";
import {
  decryptSecret,
  encryptSecret,
  generateClusterKeyBytes,
  importClusterKey,
  SECRET_CIPHERTEXT_BASE64_MAX,
  SECRET_VALUE_BYTES_MAX,
} from "./crypto.ts";
import { SecretError } from "./errors.ts";

const VALUE = "pg://user:hunter2-very-secret@db:5432/app";

async function rejectsWith(
  run: () => Promise<unknown>,
  code: string,
): Promise<void> {
  await assertRejects(run, (err: unknown) => {
    if (!(err instanceof SecretError)) return false;
    assertEquals(err.code, code);
    // An error never carries the value, even in part.
    assertEquals(err.message.includes("hunter2"), false);
    return true;
  });
}

Deno.test("encryptSecret() then decryptSecret() returns the value", async () => {
  const key = await importClusterKey(generateClusterKeyBytes());
  const sealed = await encryptSecret(key, "db.url", VALUE);
  assertEquals(await decryptSecret(key, "db.url", sealed), VALUE);
  assertEquals(sealed.ciphertext.includes("hunter2"), false);
  assertEquals(Uint8Array.fromBase64(sealed.nonce).length, 12);
});

Deno.test("encryptSecret() handles the empty value and multi-byte text", async () => {
  const key = await importClusterKey(generateClusterKeyBytes());
  for (const value of ["", "é🔑 ünïcode", "x".repeat(SECRET_VALUE_BYTES_MAX)]) {
    const sealed = await encryptSecret(key, "s", value);
    assertEquals(await decryptSecret(key, "s", sealed), value);
  }
});

Deno.test("encryptSecret() of the largest value fits the FSM's ciphertext bound", async () => {
  const key = await importClusterKey(generateClusterKeyBytes());
  const sealed = await encryptSecret(
    key,
    "big",
    "x".repeat(SECRET_VALUE_BYTES_MAX),
  );
  assertEquals(sealed.ciphertext.length, SECRET_CIPHERTEXT_BASE64_MAX);
  assertEquals(sealed.ciphertext.length % 4, 0);
  assertEquals(sealed.nonce.length, 16);
});

Deno.test("encryptSecret() draws a fresh nonce on every call", async () => {
  const key = await importClusterKey(generateClusterKeyBytes());
  const a = await encryptSecret(key, "db.url", VALUE);
  const b = await encryptSecret(key, "db.url", VALUE);
  assertNotEquals(a.nonce, b.nonce);
  assertNotEquals(a.ciphertext, b.ciphertext);
});

Deno.test("decryptSecret() refuses a ciphertext replayed under another name", async () => {
  const key = await importClusterKey(generateClusterKeyBytes());
  const sealed = await encryptSecret(key, "db.url", VALUE);
  await rejectsWith(
    () => decryptSecret(key, "db.url2", sealed),
    "secret.decrypt_failed",
  );
});

Deno.test("decryptSecret() refuses another cluster's key", async () => {
  const key = await importClusterKey(generateClusterKeyBytes());
  const other = await importClusterKey(generateClusterKeyBytes());
  const sealed = await encryptSecret(key, "db.url", VALUE);
  await rejectsWith(
    () => decryptSecret(other, "db.url", sealed),
    "secret.decrypt_failed",
  );
});

Deno.test("decryptSecret() refuses altered data", async (t) => {
  const key = await importClusterKey(generateClusterKeyBytes());
  const sealed = await encryptSecret(key, "db.url", VALUE);
  const flip = (b64: string, at: number) => {
    const bytes = Uint8Array.fromBase64(b64);
    bytes[at] = (bytes[at] ?? 0) ^ 1;
    return bytes.toBase64();
  };
  const cases: [string, { ciphertext: string; nonce: string }, string][] = [
    ["a flipped ciphertext bit", {
      ...sealed,
      ciphertext: flip(sealed.ciphertext, 0),
    }, "secret.decrypt_failed"],
    ["a flipped tag bit", {
      ...sealed,
      ciphertext: flip(
        sealed.ciphertext,
        Uint8Array.fromBase64(sealed.ciphertext).length - 1,
      ),
    }, "secret.decrypt_failed"],
    [
      "a flipped nonce bit",
      { ...sealed, nonce: flip(sealed.nonce, 3) },
      "secret.decrypt_failed",
    ],
    ["a truncated ciphertext", {
      ...sealed,
      ciphertext: sealed.ciphertext.slice(0, 8),
    }, "secret.malformed"],
    [
      "a short nonce",
      { ...sealed, nonce: new Uint8Array(8).toBase64() },
      "secret.malformed",
    ],
    [
      "a nonce that is not base64",
      { ...sealed, nonce: "!!!!" },
      "secret.malformed",
    ],
    [
      "a ciphertext that is not base64",
      { ...sealed, ciphertext: "@@@" },
      "secret.malformed",
    ],
    [
      "a huge ciphertext",
      { ...sealed, ciphertext: "A".repeat(200_000) },
      "secret.malformed",
    ],
  ];
  for (const [name, altered, code] of cases) {
    await t.step(
      `rejects ${name}`,
      () => rejectsWith(() => decryptSecret(key, "db.url", altered), code),
    );
  }
});

Deno.test("encryptSecret() refuses a value over the size limit and bad names", async () => {
  const key = await importClusterKey(generateClusterKeyBytes());
  await rejectsWith(
    () => encryptSecret(key, "big", "hunter2".repeat(SECRET_VALUE_BYTES_MAX)),
    "secret.too_large",
  );
  await rejectsWith(
    () => encryptSecret(key, "bad name", VALUE),
    "secret.invalid_name",
  );
  await rejectsWith(
    () => decryptSecret(key, "../etc", { ciphertext: "", nonce: "" }),
    "secret.invalid_name",
  );
});

Deno.test("importClusterKey() refuses keys that are not 32 bytes", async (t) => {
  for (const length of [0, 16, 31, 33, 64]) {
    await t.step(
      `rejects ${length} bytes`,
      () =>
        rejectsWith(
          () => importClusterKey(new Uint8Array(length)),
          "secret.invalid_key",
        ),
    );
  }
});
