import {
  deepStrictEqual as assertEquals,
  rejects as assertRejects,
} from "node:assert/strict";
import {
  encryptSecret,
  generateClusterKeyBytes,
  importClusterKey,
} from "./crypto.ts";
import { MissingSecretsError, SecretError } from "./errors.ts";
import { resolveEnvSecrets } from "./resolve.ts";

Deno.test("resolveEnvSecrets() decrypts the referenced secrets into the env", async () => {
  const key = await importClusterKey(generateClusterKeyBytes());
  const secrets = {
    "db.url": await encryptSecret(key, "db.url", "pg://u:pw@db/app"),
    token: await encryptSecret(key, "token", "t0k3n"),
  };
  assertEquals(
    await resolveEnvSecrets(
      {
        DATABASE_URL: "${secret(db.url)}",
        AUTH: "Bearer ${secret(token)}",
        MODE: "prod",
        LIT: "$${x}",
      },
      secrets,
      key,
    ),
    {
      DATABASE_URL: "pg://u:pw@db/app",
      AUTH: "Bearer t0k3n",
      MODE: "prod",
      LIT: "${x}",
    },
  );
});

Deno.test("resolveEnvSecrets() does not decrypt secrets the env does not reference", async () => {
  const key = await importClusterKey(generateClusterKeyBytes());
  const broken = {
    ciphertext: "AAAAAAAAAAAAAAAAAAAAAA==",
    nonce: "AAAAAAAAAAAAAAAA",
  };
  assertEquals(
    await resolveEnvSecrets({ A: "plain" }, { unused: broken }, key),
    { A: "plain" },
  );
});

Deno.test("resolveEnvSecrets() lists every missing secret and refuses another key", async () => {
  const key = await importClusterKey(generateClusterKeyBytes());
  const other = await importClusterKey(generateClusterKeyBytes());
  await assertRejects(
    () =>
      resolveEnvSecrets(
        { A: "${secret(b)}${secret(a)}", B: "${secret(c)}" },
        {},
        key,
      ),
    (err: unknown) =>
      err instanceof MissingSecretsError && err.names.join() === "a,b,c",
  );
  await assertRejects(
    () => resolveEnvSecrets({ A: "${secret(constructor)}" }, {}, key),
    (err: unknown) => err instanceof MissingSecretsError,
  );
  const secrets = { a: await encryptSecret(other, "a", "hunter2") };
  await assertRejects(
    () => resolveEnvSecrets({ A: "${secret(a)}" }, secrets, key),
    (err: unknown) =>
      err instanceof SecretError && err.code === "secret.decrypt_failed",
  );
});
