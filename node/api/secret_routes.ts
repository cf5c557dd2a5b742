/**
 * The secrets endpoints: set, list and delete. Values go in, are encrypted
 * under the cluster key here on the leader, and only ciphertext reaches the
 * store (which commits `SecretSet` / `SecretDelete` through Raft). No
 * endpoint ever returns a value.
 *
 * - `PUT /v1/secrets/{name}`: the body is the value (`text/plain` or
 *   `application/octet-stream`, UTF-8, at most 65,520 bytes); 204.
 * - `GET /v1/secrets`: `{ "secrets": [{ "name", "updatedAt" }] }`, by name.
 * - `DELETE /v1/secrets/{name}`: 204, or 404 `secret.not_found`.
 */
import {
  type ClusterKey,
  type EncryptedSecret,
  encryptSecret,
  SECRET_VALUE_BYTES_MAX,
  SecretError,
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
      const encrypted = await encryptSecret(options.key, name, value);
      await options.store.set(name, encrypted, options.nowMs());
      return new Response(null, { status: 204 });
    })
    .add("DELETE", "/v1/secrets/:name", async (_request, context) => {
      const name = secretName(context.params.name);
      if (!await options.store.delete(name)) {
        throw new ApiError(
          404,
          "secret.not_found",
          `No secret "${name}"; "mill secret list" shows the names`,
        );
      }
      return new Response(null, { status: 204 });
    });
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
