/**
 * DigitalOcean's answers turned into `StorageError`s: a code a caller can
 * act on and a message that says what to do. Pure, apart from nothing: the
 * token is scrubbed from every message whatever produced it.
 */

import { StorageError, type StorageErrorCode } from "../driver.ts";
import { DoApiError, DoTransportError, NoTokenError } from "./api_client.ts";
import { UnexpectedBodyError } from "./wire.ts";

/** What the driver was doing, for the message. */
export interface ErrorContext {
  /** e.g. `attach volume "data-db" (9f…) to droplet 123`. */
  readonly doing: string;
  /** The secret holding the token, for the fix in a 401/403 message. */
  readonly tokenSecret: string;
  /** The token in use, scrubbed from messages (never shown). */
  readonly token: string;
  /** Said on a 404. */
  readonly missing?: string;
}

/** What a 422's message says, as far as the driver needs to know. */
export type Unprocessable =
  | "already_attached"
  | "not_attached"
  | "pending_event"
  | "limit"
  | "region"
  | "other";

/**
 * The API's 422 texts for volume actions (those clients match on: "This
 * volume is already attached", "Attachment not found", "Droplet already
 * has a pending event", "cannot attach more volumes to the Droplet" and the
 * older "cannot attach more than 7 volumes to a single Droplet").
 */
export function classifyUnprocessable(message: string): Unprocessable {
  const m = message.toLowerCase();
  if (m.includes("already attached")) return "already_attached";
  if (m.includes("attachment not found")) return "not_attached";
  if (m.includes("pending event")) return "pending_event";
  if (m.includes("cannot attach more")) return "limit";
  if (m.includes("region")) return "region";
  return "other";
}

/** Replaces the token wherever it appears. */
export function redact(text: string, token: string): string {
  return token.length < 4 ? text : text.split(token).join("[redacted]");
}

function fail(
  code: StorageErrorCode,
  message: string,
  context: ErrorContext,
  retryAfterMs: number | null = null,
): StorageError {
  return new StorageError(code, redact(message, context.token), retryAfterMs);
}

function said(error: DoApiError): string {
  return error.apiMessage === ""
    ? `HTTP ${error.status}`
    : `HTTP ${error.status}: ${error.apiMessage}`;
}

function tokenFix(context: ErrorContext): string {
  return `create a token with read and write scope in DigitalOcean's control panel (API, Tokens) and set it with \`mill secret set ${context.tokenSecret}\``;
}

/** Any failure of a call to DigitalOcean as a StorageError. */
export function storageErrorOf(
  error: unknown,
  context: ErrorContext,
): StorageError {
  if (error instanceof StorageError) {
    return new StorageError(
      error.code,
      redact(error.message, context.token),
      error.retryAfterMs,
    );
  }
  if (error instanceof NoTokenError) {
    return fail(
      "storage.unauthorized",
      `cannot ${context.doing}: ${error.message}: ${tokenFix(context)}`,
      context,
    );
  }
  if (error instanceof DoTransportError) {
    return fail(
      "storage.unavailable",
      `cannot ${context.doing}: DigitalOcean's API ${
        error.timedOut ? "did not answer in time" : "could not be used"
      } (${error.message}); try again later`,
      context,
    );
  }
  if (error instanceof UnexpectedBodyError) {
    return fail(
      "storage.unavailable",
      `cannot ${context.doing}: DigitalOcean's API answered with an unexpected body (${error.message})`,
      context,
    );
  }
  if (!(error instanceof DoApiError)) {
    return fail(
      "storage.unavailable",
      `cannot ${context.doing}: ${(error as Error)?.message ?? String(error)}`,
      context,
    );
  }
  switch (error.status) {
    case 401:
      return fail(
        "storage.unauthorized",
        `cannot ${context.doing}: the DigitalOcean token is wrong or revoked: ${
          tokenFix(context)
        }`,
        context,
      );
    case 403:
      return fail(
        "storage.unauthorized",
        `cannot ${context.doing}: the DigitalOcean token lacks the scope for it (${
          said(error)
        }): ${
          tokenFix(context)
        } (or custom scopes block_storage, block_storage_action, block_storage_snapshot, droplet:read and actions:read)`,
        context,
      );
    case 404:
      return fail(
        "storage.not_found",
        `cannot ${context.doing}: ${
          context.missing ?? "it does not exist"
        } (DigitalOcean: ${said(error)})`,
        context,
      );
    case 409:
      return fail(
        "storage.invalid",
        `cannot ${context.doing}: DigitalOcean refused it as a conflict (${
          said(error)
        })`,
        context,
      );
    case 429: {
      const seconds = Math.ceil((error.retryAfterMs ?? 0) / 1000);
      return fail(
        "storage.rate_limited",
        `cannot ${context.doing}: DigitalOcean's API rate limit is reached; try again in ${seconds}s`,
        context,
        error.retryAfterMs,
      );
    }
  }
  if (error.status >= 500) {
    return fail(
      "storage.unavailable",
      `cannot ${context.doing}: DigitalOcean's API failed (${
        said(error)
      }); try again later`,
      context,
    );
  }
  return fail(
    "storage.invalid",
    `cannot ${context.doing}: DigitalOcean refused the request (${
      said(error)
    })`,
    context,
  );
}
