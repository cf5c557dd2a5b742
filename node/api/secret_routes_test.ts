/** The secrets endpoints over real HTTPS, with an in-memory store. */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import {
  decryptSecret,
  type EncryptedSecret,
  readClusterKeyFile,
  SECRET_NAME_LENGTH_MAX,
  SECRET_VALUE_BYTES_MAX,
  type SecretUsers,
} from "../secrets/mod.ts";
import { withClient, withIdentity } from "./_testing.ts";
import { Authenticator } from "./auth.ts";
import { Router } from "./router.ts";
import {
  addSecretRoutes,
  type SecretEntry,
  type SecretStore,
} from "./secret_routes.ts";
import { startApiServer } from "./server.ts";

class MemorySecretStore implements SecretStore {
  readonly entries = new Map<
    string,
    { encrypted: EncryptedSecret; atMs: number }
  >();
  set(name: string, encrypted: EncryptedSecret, atMs: number): Promise<void> {
    this.entries.set(name, { encrypted, atMs });
    return Promise.resolve();
  }
  list(): Promise<readonly SecretEntry[]> {
    return Promise.resolve(
      [...this.entries].map(([name, e]) => ({ name, updatedAtMs: e.atMs })),
    );
  }
  delete(name: string): Promise<boolean> {
    return Promise.resolve(this.entries.delete(name));
  }
  has(name: string): Promise<boolean> {
    return Promise.resolve(this.entries.has(name));
  }
  /** What the deployed config references, by secret name. */
  readonly usage = new Map<string, SecretUsers>();
  users(name: string): Promise<SecretUsers> {
    return Promise.resolve(
      this.usage.get(name) ?? { services: [], tasks: [] },
    );
  }
}

const VALUE = "pg://app:hunter2@db:5432/app";

async function withSecretsApi(
  run: (
    call: (
      method: string,
      path: string,
      init?: { body?: BodyInit; type?: string; token?: string },
    ) => Promise<Response>,
    store: MemorySecretStore,
    check: (name: string, encrypted: EncryptedSecret) => Promise<string>,
    joinToken: string,
  ) => Promise<void>,
): Promise<void> {
  await withIdentity(async (identity) => {
    const key = await readClusterKeyFile(identity.clusterKeyPath);
    const store = new MemorySecretStore();
    const errors: unknown[] = [];
    const server = await startApiServer({
      hostname: "127.0.0.1",
      port: 0,
      tls: { certPem: identity.apiCertPem, keyPem: identity.apiKeyPem },
      router: addSecretRoutes(new Router(), {
        store,
        key,
        nowMs: () => Date.UTC(2026, 10, 23, 12),
      }),
      authenticator: new Authenticator([
        { token: identity.adminToken, scope: "admin" },
        { token: identity.joinToken, scope: "join" },
      ]),
      onError: (error) => errors.push(error),
    });
    try {
      await withClient(identity.caCertPem, async (client) => {
        await run(
          (method, path, init = {}) =>
            fetch(`https://127.0.0.1:${server.port}${path}`, {
              method,
              client,
              headers: {
                authorization: `Bearer ${init.token ?? identity.adminToken}`,
                ...(init.type === undefined
                  ? {}
                  : { "content-type": init.type }),
              },
              ...(init.body === undefined ? {} : { body: init.body }),
            }),
          store,
          (name, encrypted) => decryptSecret(key, name, encrypted),
          identity.joinToken,
        );
      });
    } finally {
      await server.shutdown();
    }
    assertEquals(errors, []);
  });
}

Deno.test("PUT /v1/secrets/{name} stores only ciphertext that decrypts to the value", async () => {
  await withSecretsApi(async (call, store, check) => {
    const response = await call("PUT", "/v1/secrets/db.url", {
      body: VALUE,
      type: "text/plain",
    });
    assertEquals([response.status, await response.text()], [204, ""]);
    const stored = store.entries.get("db.url");
    if (stored === undefined) throw new Error("secret not stored");
    assertEquals(JSON.stringify(stored).includes("hunter2"), false);
    assertEquals(await check("db.url", stored.encrypted), VALUE);
  });
});

Deno.test("GET /v1/secrets lists names and dates, never values", async () => {
  await withSecretsApi(async (call) => {
    for (const name of ["zeta", "alpha"]) {
      const put = await call("PUT", `/v1/secrets/${name}`, {
        body: VALUE,
        type: "application/octet-stream",
      });
      await put.body?.cancel();
    }
    const response = await call("GET", "/v1/secrets");
    const text = await response.text();
    assertEquals(response.status, 200);
    assertEquals(text.includes("hunter2"), false);
    assertEquals(JSON.parse(text), {
      secrets: [
        { name: "alpha", updatedAt: "2026-11-23T12:00:00.000Z" },
        { name: "zeta", updatedAt: "2026-11-23T12:00:00.000Z" },
      ],
    });
  });
});

Deno.test("DELETE /v1/secrets/{name} removes a secret, then answers 404", async () => {
  await withSecretsApi(async (call, store) => {
    await (await call("PUT", "/v1/secrets/a", {
      body: "v",
      type: "text/plain",
    })).body?.cancel();
    const first = await call("DELETE", "/v1/secrets/a");
    assertEquals([first.status, store.entries.size], [204, 0]);
    await first.body?.cancel();
    const second = await call("DELETE", "/v1/secrets/a");
    assertEquals([second.status, (await second.json()).code], [
      404,
      "secret.not_found",
    ]);
  });
});

Deno.test("the secrets endpoints refuse bad names, bodies and tokens", async (t) => {
  await withSecretsApi(async (call, store, _check, joinToken) => {
    const rows: [string, () => Promise<Response>, number, string][] = [
      [
        "an invalid name",
        () =>
          call("PUT", "/v1/secrets/.hidden", { body: "v", type: "text/plain" }),
        400,
        "secret.invalid_name",
      ],
      [
        "a JSON body",
        () =>
          call("PUT", "/v1/secrets/a", {
            body: '"v"',
            type: "application/json",
          }),
        415,
        "api.unsupported_media_type",
      ],
      [
        "a value over 64 KiB",
        () =>
          call("PUT", "/v1/secrets/a", {
            body: "x".repeat(SECRET_VALUE_BYTES_MAX + 1),
            type: "text/plain",
          }),
        413,
        "api.body_too_large",
      ],
      [
        "a value that is not UTF-8",
        () =>
          call("PUT", "/v1/secrets/a", {
            body: new Uint8Array([0xff, 0xfe]),
            type: "application/octet-stream",
          }),
        400,
        "api.invalid_encoding",
      ],
      [
        "the join token",
        () => call("GET", "/v1/secrets", { token: joinToken }),
        403,
        "api.forbidden",
      ],
      [
        "deleting an invalid name",
        () => call("DELETE", "/v1/secrets/-x"),
        400,
        "secret.invalid_name",
      ],
    ];
    for (const [name, request, status, code] of rows) {
      await t.step(name, async () => {
        const response = await request();
        assertEquals([response.status, (await response.json()).code], [
          status,
          code,
        ]);
      });
    }
    assertEquals(store.entries.size, 0);
  });
});

// "." and ".." (also as %2E) are dot segments that URL parsing removes
// before a request leaves the client; the CLI checks names itself.
Deno.test("every bad name gets the secret-name rule's code and message, whatever it holds", async (t) => {
  await withSecretsApi(async (call, store) => {
    const names = [
      "a%2Fb",
      "bad%2Fname",
      "a%00b",
      "%E0%A4%A",
      "..%2F..",
      "has%20space",
      "caf%C3%A9",
      "%E2%9C%93",
      "x".repeat(SECRET_NAME_LENGTH_MAX + 1),
      "-dash",
    ];
    for (const name of names) {
      for (const method of ["PUT", "DELETE"]) {
        await t.step(`${method} ${name.slice(0, 30)}`, async () => {
          const response = await call(
            method,
            `/v1/secrets/${name}`,
            method === "PUT" ? { body: "v", type: "text/plain" } : {},
          );
          const body = await response.json();
          assertEquals([response.status, body.code], [
            400,
            "secret.invalid_name",
          ]);
          assertEquals(body.message.startsWith("Invalid secret name "), true);
          assertEquals(
            body.message.includes(
              `use 1 to ${SECRET_NAME_LENGTH_MAX} letters, digits`,
            ),
            true,
          );
        });
      }
    }
    assertEquals(store.entries.size, 0);
  });
});

Deno.test("PUT /v1/secrets/{name} refuses an empty value unless ?allow_empty=true", async () => {
  await withSecretsApi(async (call, store, check) => {
    const refused = await call("PUT", "/v1/secrets/empty", {
      body: "",
      type: "text/plain",
    });
    const body = await refused.json();
    assertEquals([refused.status, body.code], [400, "secret.empty_value"]);
    assertEquals(body.message.includes('"empty"'), true);
    assertEquals(body.message.includes("allow_empty=true"), true);
    assertEquals(store.entries.size, 0);
    const allowed = await call("PUT", "/v1/secrets/empty?allow_empty=true", {
      body: "",
      type: "text/plain",
    });
    assertEquals(allowed.status, 204);
    await allowed.body?.cancel();
    const stored = store.entries.get("empty");
    if (stored === undefined) throw new Error("empty secret not stored");
    assertEquals(await check("empty", stored.encrypted), "");
  });
});

Deno.test("DELETE /v1/secrets/{name} of a secret in use answers 409 naming its users, unless ?force=true", async () => {
  await withSecretsApi(async (call, store) => {
    await (await call("PUT", "/v1/secrets/db.pass", {
      body: VALUE,
      type: "text/plain",
    })).body?.cancel();
    store.usage.set("db.pass", {
      services: ["api", "web"],
      tasks: ["migrate"],
    });
    const refused = await call("DELETE", "/v1/secrets/db.pass");
    const body = await refused.json();
    assertEquals([refused.status, body.code], [409, "secret.in_use"]);
    assertEquals(body.usedBy, {
      services: ["api", "web"],
      tasks: ["migrate"],
    });
    assertEquals(
      body.message.includes('service "api", service "web", task "migrate"'),
      true,
    );
    assertEquals(body.message.includes("hunter2"), false);
    assertEquals(store.entries.has("db.pass"), true);

    const forced = await call("DELETE", "/v1/secrets/db.pass?force=true");
    assertEquals(forced.status, 200);
    assertEquals(await forced.json(), {
      name: "db.pass",
      deleted: true,
      usedBy: { services: ["api", "web"], tasks: ["migrate"] },
    });
    assertEquals(store.entries.has("db.pass"), false);
    const again = await call("DELETE", "/v1/secrets/db.pass?force=true");
    assertEquals([again.status, (await again.json()).code], [
      404,
      "secret.not_found",
    ]);
  });
});
