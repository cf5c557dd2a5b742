/**
 * HTTP to DigitalOcean's API v2: the bearer token on every request (never
 * anywhere else: not in a URL, a log line or an error), a timeout per
 * request, bounded response bodies, and the retries that are safe:
 *
 * - 429: the request was refused before anything happened, so it is sent
 *   again after `Retry-After` (or `ratelimit-reset` when the hourly quota is
 *   spent), unless that wait is longer than `maxRateLimitWaitMs`: then a
 *   `DoApiError` with `retryAfterMs` for the caller to surface;
 * - 5xx, a timeout or a broken connection: sent again with backoff only when
 *   the request is idempotent; a POST that may have succeeded is the
 *   caller's to check (see the driver's create).
 */

import { errorBodyFrom } from "./wire.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";

export interface ApiClientOptions {
  /** e.g. `https://api.digitalocean.com`. */
  readonly apiBase: string;
  readonly token: () => string;
  readonly requestTimeoutMs: number;
  readonly maxRateLimitWaitMs: number;
  /** 429s waited out for one call before giving up. */
  readonly rateLimitRetries: number;
  /** Further attempts of an idempotent request after a 5xx or transport error. */
  readonly serverErrorRetries: number;
  readonly backoffBaseMs: number;
  readonly client?: Deno.HttpClient;
  readonly log?: (level: LogLevel, message: string) => void;
}

/** The API answered with an error status. */
export class DoApiError extends Error {
  override name = "DoApiError";
  constructor(
    readonly status: number,
    /** The body's `id` (`not_found`, `unprocessable_entity`, …) or "". */
    readonly apiId: string,
    /** The body's `message`, or "". */
    readonly apiMessage: string,
    /** For a 429: how long the API asked to wait. */
    readonly retryAfterMs: number | null = null,
  ) {
    super(`HTTP ${status}${apiMessage === "" ? "" : `: ${apiMessage}`}`);
  }
}

/** `token()` threw or gave nothing: no request was sent. */
export class NoTokenError extends Error {
  override name = "NoTokenError";
}

/** The API could not be reached or did not answer in time. */
export class DoTransportError extends Error {
  override name = "DoTransportError";
  constructor(message: string, readonly timedOut: boolean) {
    super(message);
  }
}

export interface ApiResponse {
  readonly status: number;
  /** Parsed JSON; null for an empty body (a 204). */
  readonly body: unknown;
}

export interface RequestOptions {
  readonly body?: unknown;
  /** GET, DELETE: yes; POST: no unless told. */
  readonly idempotent?: boolean;
  readonly signal?: AbortSignal | undefined;
}

/** Responses larger than this are refused (a page of 200 volumes is far less). */
export const RESPONSE_BYTES_MAX = 8 * 1024 * 1024;

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * How long a 429 asks to wait: `Retry-After` (seconds, or an HTTP date),
 * else the `ratelimit-reset` epoch, else one second.
 */
export function retryAfterMsOf(headers: Headers, nowMs: number): number {
  const retryAfter = headers.get("retry-after");
  if (retryAfter !== null) {
    const seconds = Number(retryAfter.trim());
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.max(0, date - nowMs);
  }
  const reset = Number(headers.get("ratelimit-reset"));
  if (Number.isFinite(reset) && reset > 0) {
    return Math.max(0, reset * 1000 - nowMs);
  }
  return 1000;
}

async function readBounded(response: Response): Promise<string> {
  const reader = response.body?.getReader();
  if (reader === undefined) return "";
  const chunks: Uint8Array[] = [];
  let length = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.length;
    if (length > RESPONSE_BYTES_MAX) {
      await reader.cancel();
      throw new DoTransportError(
        `the response is larger than ${RESPONSE_BYTES_MAX} bytes`,
        false,
      );
    }
    chunks.push(value);
  }
  const all = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  return new TextDecoder().decode(all);
}

export class ApiClient {
  readonly #options: ApiClientOptions;
  readonly #base: URL;

  constructor(options: ApiClientOptions) {
    this.#options = options;
    this.#base = new URL(options.apiBase);
    if (this.#base.protocol !== "https:" && this.#base.protocol !== "http:") {
      throw new RangeError(
        `the DigitalOcean API base ${
          JSON.stringify(options.apiBase)
        } is not an http(s) URL`,
      );
    }
  }

  get apiBase(): string {
    return this.#base.origin;
  }

  /**
   * Sends `method path` (a path with its query, under the API base) and
   * resolves with a 2xx answer; rejects with DoApiError, DoTransportError or
   * the signal's reason.
   */
  async request(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<ApiResponse> {
    const idempotent = options.idempotent ?? method !== "POST";
    let rateLimited = 0;
    let failures = 0;
    for (;;) {
      try {
        return await this.#once(method, path, options);
      } catch (error) {
        if (options.signal?.aborted) throw options.signal.reason;
        if (error instanceof DoApiError && error.status === 429) {
          const wait = error.retryAfterMs ?? 1000;
          if (
            wait > this.#options.maxRateLimitWaitMs ||
            rateLimited >= this.#options.rateLimitRetries
          ) {
            throw error;
          }
          rateLimited++;
          this.#log(
            "info",
            `DigitalOcean rate limit on ${method} ${pathOnly(path)}: waiting ${
              Math.ceil(wait / 1000)
            }s as asked`,
          );
          await sleep(wait, options.signal);
          continue;
        }
        const retriable = error instanceof DoTransportError ||
          (error instanceof DoApiError && error.status >= 500);
        if (
          !retriable || !idempotent ||
          failures >= this.#options.serverErrorRetries
        ) {
          throw error;
        }
        const wait = this.#options.backoffBaseMs * 2 ** failures;
        failures++;
        this.#log(
          "warn",
          `DigitalOcean ${method} ${pathOnly(path)} failed (${
            (error as Error).message
          }); attempt ${failures + 1} in ${wait} ms`,
        );
        await sleep(wait, options.signal);
      }
    }
  }

  async #once(
    method: string,
    path: string,
    options: RequestOptions,
  ): Promise<ApiResponse> {
    const url = new URL(path, this.#base);
    const timeout = AbortSignal.timeout(this.#options.requestTimeoutMs);
    const signal = options.signal === undefined
      ? timeout
      : AbortSignal.any([options.signal, timeout]);
    let token: string;
    try {
      token = this.#options.token();
    } catch {
      throw new NoTokenError("no DigitalOcean token could be read");
    }
    // A header cannot carry control characters; the fetch would fail with a
    // message quoting the header, so it is refused here instead.
    if (token.trim() === "" || !/^[\x21-\x7e]+$/.test(token.trim())) {
      throw new NoTokenError("the DigitalOcean token is empty or malformed");
    }
    const headers = new Headers({
      accept: "application/json",
      authorization: `Bearer ${token.trim()}`,
    });
    if (options.body !== undefined) {
      headers.set("content-type", "application/json");
    }
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method,
        headers,
        signal,
        ...(options.body === undefined
          ? {}
          : { body: JSON.stringify(options.body) }),
        ...(this.#options.client === undefined
          ? {}
          : { client: this.#options.client }),
      });
      text = await readBounded(response);
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason;
      if (error instanceof DoTransportError) throw error;
      if (timeout.aborted) {
        throw new DoTransportError(
          `no answer within ${this.#options.requestTimeoutMs} ms`,
          true,
        );
      }
      throw new DoTransportError(
        `cannot reach ${this.#base.origin}: ${(error as Error).message}`,
        false,
      );
    }
    let body: unknown = null;
    if (text.trim() !== "") {
      try {
        body = JSON.parse(text);
      } catch {
        if (response.ok) {
          throw new DoTransportError(
            `the answer to ${method} ${pathOnly(path)} is not JSON`,
            false,
          );
        }
      }
    }
    if (response.ok) return { status: response.status, body };
    const error = errorBodyFrom(body);
    throw new DoApiError(
      response.status,
      error?.id ?? "",
      error?.message ?? "",
      response.status === 429
        ? retryAfterMsOf(response.headers, Date.now())
        : null,
    );
  }

  #log(level: LogLevel, message: string): void {
    this.#options.log?.(level, message);
  }
}

/** A path without its query, for log lines. */
function pathOnly(path: string): string {
  const query = path.indexOf("?");
  return query === -1 ? path : path.slice(0, query);
}
