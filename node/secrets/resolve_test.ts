import {
  deepStrictEqual as assertEquals,
  rejects as assertRejects,
  throws as assertThrows,
} from "node:assert/strict";
import {
  encryptSecret,
  generateClusterKeyBytes,
  importClusterKey,
} from "./crypto.ts";
import { MissingSecretsError, SecretError } from "./errors.ts";
import { decryptReferencedSecrets, resolveSecretEnv } from "./resolve.ts";

Deno.test("decryptReferencedSecrets() decrypts exactly the secrets the env references", async () => {
  const key = await importClusterKey(generateClusterKeyBytes());
  const stored = new Map([
    ["db.url", await encryptSecret(key, "db.url", "pg://u:pw@db/app")],
    ["token", await encryptSecret(key, "token", "t0k3n")],
    ["unused", { ciphertext: "AAAAAAAAAAAAAAAAAAAAAA==", nonce: "AAAA" }],
  ]);
  const values = await decryptReferencedSecrets(
    {
      DATABASE_URL: "${secret(db.url)}",
      AUTH: "Bearer ${secret(token)} ${secret(token)}",
      LIT: "$${secret(unused)}",
    },
    (name) => stored.get(name),
    key,
  );
  assertEquals(values, { "db.url": "pg://u:pw@db/app", token: "t0k3n" });
});

Deno.test("decryptReferencedSecrets() lists every missing secret and refuses another key", async () => {
  const key = await importClusterKey(generateClusterKeyBytes());
  const other = await importClusterKey(generateClusterKeyBytes());
  await assertRejects(
    () =>
      decryptReferencedSecrets(
        { A: "${secret(b)}${secret(a)}", B: "${secret(c)}" },
        () => undefined,
        key,
      ),
    (err: unknown) =>
      err instanceof MissingSecretsError && err.names.join() === "a,b,c",
  );
  const sealed = await encryptSecret(other, "a", "hunter2");
  await assertRejects(
    () => decryptReferencedSecrets({ A: "${secret(a)}" }, () => sealed, key),
    (err: unknown) =>
      err instanceof SecretError && err.code === "secret.decrypt_failed" &&
      !err.message.includes("hunter2"),
  );
});

Deno.test("resolveSecretEnv() resolves references and keeps secret variables apart", () => {
  assertEquals(
    resolveSecretEnv(
      {
        DATABASE_URL: "pg://u:${secret(pw)}@db/app",
        TOKEN: "${secret(token)}",
        MODE: "prod",
        LIT: "$${secret(pw)}",
      },
      { pw: "hunter2", token: "t0k3n", extra: "never used" },
    ),
    {
      plain: { MODE: "prod", LIT: "${secret(pw)}" },
      secret: { DATABASE_URL: "pg://u:hunter2@db/app", TOKEN: "t0k3n" },
    },
  );
  assertEquals(resolveSecretEnv({}, {}), { plain: {}, secret: {} });
});

Deno.test("resolveSecretEnv() names every secret the request does not carry", () => {
  assertThrows(
    () =>
      resolveSecretEnv(
        { A: "${secret(b)}${secret(constructor)}", B: "${secret(a)}" },
        { a: "x" },
      ),
    (err: unknown) =>
      err instanceof MissingSecretsError &&
      err.names.join() === "b,constructor",
  );
});
