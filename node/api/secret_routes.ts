/**
 * The secrets endpoints: set, list and delete. Values go in, are encrypted
 * under the cluster key here on the leader, and only ciphertext reaches the
 * store (which commits `SecretSet` / `SecretDelete` through Raft). No
 * endpoint ever returns a value.
 *
 * - `PUT /v1/secrets/{name}`: the body is the value (`text/plain` or
 *   `application/octet-stream`, UTF-8, at most 65,520 bytes); 204. An empty
 *   value is 400 `secret.empty_value` unless `?allow_empty=true`.
 * - `GET /v1/secrets`: `{ "secrets": [{ "name", "updatedAt" }] }`, by name.
 * - `DELETE /v1/secrets/{name}`: 204, or 404 `secret.not_found`; 409
 *   `secret.in_use` (with `usedBy`) when a deployed service or task
 *   references it, unless `?force=true`: then 200 `{ name, deleted, usedBy }`.
 *
 * Every name, whatever it holds (a `/`, a NUL, bad percent-encoding), is
 * judged by the secret-name rule: 400 `secret.invalid_name`.
 */
import {
  type ClusterKey,
  describeSecretUsers,
  type EncryptedSecret,
  encryptSecret,
  SECRET_VALUE_BYTES_MAX,
  SecretError,
  type SecretUsers,
  validateSecretName,
} from "../secrets/mod.ts";
import { readTextBody } from "./body.ts";
import { ApiError, jsonResponse } from "./errors.ts";
import type { Router } from "./router.ts";

/** A secret as listed: its name and when it was last set. */
export interface SecretEntry {
  readonly name: string;
  readonly updatedAtMs: number;
}

/** Where secrets live: the FSM, through Raft. */
export interface SecretStore {
  /** Commits `SecretSet(name, ciphertext, nonce)`; settles once applied. */
  set(name: string, encrypted: EncryptedSecret, atMs: number): Promise<void>;
  list(): Promise<readonly SecretEntry[]>;
  /** Commits `SecretDelete(name)`; false when there was no such secret. */
  delete(name: string): Promise<boolean>;
  /** True when a secret of that name is stored. */
  has(name: string): Promise<boolean>;
  /**
   * The services and tasks whose env references `name`: of the deployed
   * config, and of the config a running deploy may roll back to.
   */
  users(name: string): Promise<SecretUsers>;
}

export interface SecretRoutesOptions {
  readonly store: SecretStore;
  readonly key: ClusterKey;
  readonly nowMs: () => number;
}

/** Media types a secret value may be sent as. */
export const SECRET_VALUE_CONTENT_TYPES = [
  "text/plain",
  "application/octet-stream",
];

/** Adds the secrets endpoints to `router`. */
export function addSecretRoutes(
  router: Router,
  options: SecretRoutesOptions,
): Router {
  return router
    .add("GET", "/v1/secrets", async () => {
      const entries = [...await options.store.list()]
        .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
      return jsonResponse({
        secrets: entries.map((e) => ({
          name: e.name,
          updatedAt: new Date(e.updatedAtMs).toISOString(),
        })),
      });
    })
    .add("PUT", "/v1/secrets/:name", async (request, context) => {
      const name = secretName(context.params.name);
      const value = await readTextBody(request, {
        bytesMax: SECRET_VALUE_BYTES_MAX,
        contentTypes: SECRET_VALUE_CONTENT_TYPES,
      });
      if (value === "" && !queryFlag(context.url, "allow_empty")) {
        throw new ApiError(
          400,
          "secret.empty_value",
          `The value of secret "${name}" is empty; send a value, or add ?allow_empty=true ("mill secret set --allow-empty") to store an empty one`,
        );
      }
      const encrypted = await encryptSecret(options.key, name, value);
      await options.store.set(name, encrypted, options.nowMs());
      return new Response(null, { status: 204 });
    }, { rawParams: true })
    .add("DELETE", "/v1/secrets/:name", async (_request, context) => {
      const name = secretName(context.params.name);
      if (!await options.store.has(name)) throw notFound(name);
      const users = await options.store.users(name);
      const used = users.services.length + users.tasks.length > 0;
      const force = queryFlag(context.url, "force");
      if (used && !force) {
        return jsonResponse({
          code: "secret.in_use",
          message: `Secret "${name}" is used by ${
            describeSecretUsers(users)
          }; deploy a config without it first, or add ?force=true ("mill secret delete --force") to delete it anyway (the leader cannot start them again until it is set)`,
          usedBy: users,
        }, 409);
      }
      if (!await options.store.delete(name)) throw notFound(name);
      if (!used) return new Response(null, { status: 204 });
      return jsonResponse({ name, deleted: true, usedBy: users });
    }, { rawParams: true });
}

function notFound(name: string): ApiError {
  return new ApiError(
    404,
    "secret.not_found",
    `No secret "${name}"; "mill secret list" shows the names`,
  );
}

/** A boolean query parameter: `true` or `1` turn it on. */
function queryFlag(url: URL, name: string): boolean {
  const value = url.searchParams.get(name);
  return value === "true" || value === "1";
}

function secretName(raw: string | undefined): string {
  try {
    validateSecretName(raw ?? "");
  } catch (error) {
    if (!(error instanceof SecretError)) throw error;
    throw new ApiError(400, error.code, error.message, { cause: error });
  }
  return raw ?? "";
}
