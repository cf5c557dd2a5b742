/**
 * The one module that imports acme-client: an ACME account's requests
 * (RFC 8555) as a few typed calls. acme-client signs and sequences the
 * requests; the HTTP underneath is ours, per client, through an axios adapter
 * on Deno's fetch:
 *
 * - the CA bundle for the directory's TLS goes to this client's own
 *   Deno.HttpClient, never to the process (no NODE_TLS_REJECT_UNAUTHORIZED,
 *   no global agent);
 * - every request has a timeout, a bounded body and the caller's signal;
 * - an error status becomes an AcmeHttpError carrying the problem document
 *   and Retry-After, which acme-client's own errors (plain messages) lose;
 * - acme-client's built-in retries (sleeping up to Retry-After on a 429, five
 *   times on a 5xx) never run: the error passes straight through, and the
 *   renewal scheduler decides when to try again. Only badNonce answers reach
 *   acme-client, which re-signs with the fresh nonce as RFC 8555 §6.5 says.
 *
 * acme-client's default axios adapter (node:http) is not used at all, so
 * nothing here depends on Deno's node:http/https emulation. Its key and
 * signature code (node:crypto createSign, JWK export) works under Deno.
 *
 * The hook is acme-client 5.4's HttpClient.request(url, method, opts), which
 * hands opts to axios: the pinned version is checked below, so a bump fails
 * loudly here rather than silently falling back to node:http.
 */

import * as acme from "acme-client";
import {
  AcmeDirectoryError,
  AcmeHttpError,
  AcmeNetworkError,
  parseProblem,
  parseRetryAfter,
} from "./failure.ts";

const BAD_NONCE = "urn:ietf:params:acme:error:badNonce";

/** Where the CA is and how to talk to it. */
export interface AcmeEndpoint {
  readonly directoryUrl: string;
  /** PEM certificates trusted for the directory's TLS, besides the system's. */
  readonly caBundle?: string;
  /** Per HTTP request; 15000 unless told. */
  readonly requestTimeoutMs?: number;
  /** The largest response body accepted; 1 MiB unless told. */
  readonly maxBodyBytes?: number;
  readonly signal?: AbortSignal;
}

export type AcmeStatus =
  | "pending"
  | "ready"
  | "processing"
  | "valid"
  | "invalid"
  | "deactivated"
  | "expired"
  | "revoked";

export interface AcmeChallenge {
  readonly type: string;
  readonly url: string;
  readonly token: string;
  readonly status: AcmeStatus;
  /** The CA's validation error, once it has one. */
  readonly error?: { readonly type?: string; readonly detail?: string };
}

export interface AcmeAuthorization {
  readonly url: string;
  readonly status: AcmeStatus;
  readonly identifier: { readonly type: string; readonly value: string };
  readonly challenges: readonly AcmeChallenge[];
}

export interface AcmeOrder {
  readonly url: string;
  readonly status: AcmeStatus;
  readonly authorizations: readonly string[];
  readonly finalize: string;
  readonly certificate?: string;
  readonly error?: { readonly type?: string; readonly detail?: string };
}

/** A new account key: ECDSA P-256 (JWS ES256), PKCS#8 PEM. */
export async function createAccountKeyPem(): Promise<string> {
  return (await acme.crypto.createPrivateEcdsaKey("P-256")).toString();
}

/** A fresh ECDSA P-256 certificate key and a CSR naming `host` (CN and SAN). */
export async function createCertificateRequest(
  host: string,
): Promise<{ readonly keyPem: string; readonly csrPem: string }> {
  const key = await acme.crypto.createPrivateEcdsaKey("P-256");
  const [, csr] = await acme.crypto.createCsr(
    { commonName: host, altNames: [host] },
    key,
  );
  return { keyPem: key.toString(), csrPem: csr.toString() };
}

interface AxiosLikeConfig {
  url?: string;
  method?: string;
  headers?:
    & { toJSON?: () => Record<string, unknown> }
    & Record<
      string,
      unknown
    >;
  data?: unknown;
}

interface AxiosLikeResponse {
  data: string;
  status: number;
  statusText: string;
  headers: Record<string, string>;
  config: AxiosLikeConfig;
  request: Record<string, never>;
}

type HttpRequest = (
  url: string,
  method: string,
  opts?: Record<string, unknown>,
) => Promise<unknown>;

/** What of acme-client's HttpClient the hook relies on. */
interface InternalHttpClient {
  request: HttpRequest;
  getDirectory(): Promise<unknown>;
}

function headersOf(config: AxiosLikeConfig): Headers {
  const raw = config.headers?.toJSON?.() ?? config.headers ?? {};
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (typeof value === "string") headers.set(name, value);
    else if (typeof value === "number") headers.set(name, String(value));
  }
  return headers;
}

async function readBounded(
  response: Response,
  maxBytes: number,
  url: string,
): Promise<string> {
  if (response.body === null) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw new AcmeNetworkError(url, `answer longer than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.byteLength;
  }
  return new TextDecoder().decode(body);
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function abortError(signal: AbortSignal): DOMException {
  return signal.reason instanceof DOMException &&
      signal.reason.name === "AbortError"
    ? signal.reason
    : new DOMException("the order was cancelled", "AbortError");
}

/** The message and its causes: Deno's fetch says "fetch failed" and puts why (refused, unknown issuer) in the cause. */
function reasonOf(error: unknown): string {
  const parts: string[] = [];
  for (
    let e: unknown = error, depth = 0;
    e !== undefined && depth < 4;
    depth++
  ) {
    const text = e instanceof Error ? e.message : String(e);
    if (text !== "" && !parts.some((part) => part.includes(text))) {
      parts.push(text);
    }
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(": ");
}

/** The axios adapter: one request through fetch, bounded, errors typed. */
function fetchAdapter(
  client: Deno.HttpClient | undefined,
  timeoutMs: number,
  maxBodyBytes: number,
  signal: AbortSignal | undefined,
): (config: AxiosLikeConfig) => Promise<AxiosLikeResponse> {
  return async (config) => {
    const url = config.url ?? "";
    const method = (config.method ?? "get").toUpperCase();
    if (signal?.aborted) throw abortError(signal);
    const timeout = AbortSignal.timeout(timeoutMs);
    const body = config.data === undefined || config.data === null
      ? undefined
      : typeof config.data === "string"
      ? config.data
      : JSON.stringify(config.data);
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method,
        headers: headersOf(config),
        ...(body === undefined || method === "HEAD" || method === "GET"
          ? {}
          : { body }),
        ...(client === undefined ? {} : { client }),
        signal: signal === undefined
          ? timeout
          : AbortSignal.any([signal, timeout]),
        redirect: "manual",
      });
      text = await readBounded(response, maxBodyBytes, url);
    } catch (error) {
      if (signal?.aborted) throw abortError(signal);
      if (error instanceof AcmeNetworkError) throw error;
      if (timeout.aborted) {
        throw new AcmeNetworkError(url, `no answer within ${timeoutMs} ms`);
      }
      throw new AcmeNetworkError(url, reasonOf(error));
    }
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      headers[name] = value;
    });
    if (response.status >= 400) {
      const problem = parseProblem(tryJson(text));
      if (!(response.status === 400 && problem?.type === BAD_NONCE)) {
        throw new AcmeHttpError(
          url,
          response.status,
          problem,
          parseRetryAfter(response.headers.get("retry-after"), Date.now()),
        );
      }
    }
    return {
      data: text,
      status: response.status,
      statusText: response.statusText,
      headers,
      config,
      request: {},
    };
  };
}

function hookHttp(
  client: acme.Client,
  adapter: (config: AxiosLikeConfig) => Promise<AxiosLikeResponse>,
): InternalHttpClient {
  const http = (client as unknown as { http?: InternalHttpClient }).http;
  if (
    http === undefined || typeof http.request !== "function" ||
    typeof http.getDirectory !== "function"
  ) {
    throw new Error(
      "acme-client's HttpClient is not the one this adapter was written for (5.4)",
    );
  }
  const request = http.request.bind(http);
  http.request = (url, method, opts = {}) =>
    request(url, method, { ...opts, adapter });
  return http;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

/**
 * One ACME account at one CA, registered (or found by its key) on open.
 * close() releases the TLS client.
 */
export class AcmeAccountClient {
  readonly #client: acme.Client;
  readonly #tls: Deno.HttpClient | undefined;
  readonly accountUrl: string;

  private constructor(
    client: acme.Client,
    tls: Deno.HttpClient | undefined,
    accountUrl: string,
  ) {
    this.#client = client;
    this.#tls = tls;
    this.accountUrl = accountUrl;
  }

  /**
   * Reads the directory, then registers the account with the terms agreed,
   * or finds the one this key already has (the CA answers 200 for it) and
   * updates its contact.
   */
  static async open(endpoint: AcmeEndpoint, account: {
    readonly accountKeyPem: string;
    /** Known from an earlier order: skips the lookup by key. */
    readonly accountUrl?: string;
    readonly email: string | null;
  }): Promise<AcmeAccountClient> {
    const tls = endpoint.caBundle === undefined
      ? undefined
      : Deno.createHttpClient({ caCerts: [endpoint.caBundle] });
    try {
      const client = new acme.Client({
        directoryUrl: endpoint.directoryUrl,
        accountKey: account.accountKeyPem,
        ...(account.accountUrl === undefined
          ? {}
          : { accountUrl: account.accountUrl }),
      });
      const http = hookHttp(
        client,
        fetchAdapter(
          tls,
          endpoint.requestTimeoutMs ?? 15_000,
          endpoint.maxBodyBytes ?? 1 << 20,
          endpoint.signal,
        ),
      );
      await readDirectory(http, endpoint.directoryUrl);
      await client.createAccount({
        termsOfServiceAgreed: true,
        ...(account.email === null
          ? {}
          : { contact: [`mailto:${account.email}`] }),
      });
      return new AcmeAccountClient(client, tls, client.getAccountUrl());
    } catch (error) {
      tls?.close();
      throw error;
    }
  }

  async newOrder(host: string): Promise<AcmeOrder> {
    return orderOf(
      await this.#client.createOrder({
        identifiers: [{ type: "dns", value: host }],
      }),
    );
  }

  async order(order: AcmeOrder): Promise<AcmeOrder> {
    return orderOf(
      await this.#client.getOrder(order as unknown as acme.Order),
    );
  }

  async authorization(url: string): Promise<AcmeAuthorization> {
    // getAuthorizations fetches each URL of the order it is given.
    const [authz] = await this.#client.getAuthorizations(
      { authorizations: [url] } as unknown as acme.Order,
    );
    return authorizationOf(authz, url);
  }

  keyAuthorization(challenge: AcmeChallenge): Promise<string> {
    return this.#client.getChallengeKeyAuthorization(
      challenge as unknown as Parameters<
        acme.Client["getChallengeKeyAuthorization"]
      >[0],
    );
  }

  /** Tells the CA the challenge is ready to be validated. */
  async completeChallenge(challenge: AcmeChallenge): Promise<void> {
    await this.#client.completeChallenge(
      challenge as unknown as Parameters<acme.Client["completeChallenge"]>[0],
    );
  }

  async finalize(order: AcmeOrder, csrPem: string): Promise<AcmeOrder> {
    return orderOf(
      await this.#client.finalizeOrder(
        order as unknown as acme.Order,
        csrPem,
      ),
    );
  }

  /** The PEM chain of a valid order: leaf first. */
  certificateChain(order: AcmeOrder): Promise<string> {
    if (order.status !== "valid") {
      throw new Error(`the order is ${order.status}, not valid`);
    }
    return this.#client.getCertificate(order as unknown as acme.Order);
  }

  close(): void {
    this.#tls?.close();
  }
}

async function readDirectory(
  http: InternalHttpClient,
  url: string,
): Promise<void> {
  let directory: unknown;
  try {
    directory = await http.getDirectory();
  } catch (error) {
    if (
      error instanceof AcmeHttpError && error.status !== 429 &&
      error.status < 500
    ) {
      throw new AcmeDirectoryError(url, `HTTP ${error.status}`);
    }
    throw error;
  }
  const missing = ["newNonce", "newAccount", "newOrder"].filter((name) =>
    !isObject(directory) || typeof directory[name] !== "string"
  );
  if (missing.length > 0) {
    throw new AcmeDirectoryError(url, `no ${missing.join(", ")}`);
  }
}

function statusOf(value: unknown): AcmeStatus {
  return typeof value === "string" ? value as AcmeStatus : "invalid";
}

function errorOf(value: unknown): AcmeChallenge["error"] | undefined {
  if (!isObject(value)) return undefined;
  return {
    ...(typeof value.type === "string" ? { type: value.type } : {}),
    ...(typeof value.detail === "string" ? { detail: value.detail } : {}),
  };
}

function orderOf(raw: unknown): AcmeOrder {
  if (!isObject(raw) || typeof raw.url !== "string") {
    throw new Error("the ACME server's order has no URL");
  }
  const error = errorOf(raw.error);
  return {
    url: raw.url,
    status: statusOf(raw.status),
    authorizations: Array.isArray(raw.authorizations)
      ? raw.authorizations.filter((a): a is string => typeof a === "string")
      : [],
    finalize: typeof raw.finalize === "string" ? raw.finalize : "",
    ...(typeof raw.certificate === "string"
      ? { certificate: raw.certificate }
      : {}),
    ...(error === undefined ? {} : { error }),
  };
}

function authorizationOf(raw: unknown, url: string): AcmeAuthorization {
  if (!isObject(raw)) throw new Error(`the authorization at ${url} is empty`);
  const identifier = isObject(raw.identifier) ? raw.identifier : {};
  const challenges = Array.isArray(raw.challenges) ? raw.challenges : [];
  return {
    url,
    status: statusOf(raw.status),
    identifier: {
      type: String(identifier.type ?? ""),
      value: String(identifier.value ?? ""),
    },
    challenges: challenges.filter(isObject).map((c) => {
      const error = errorOf(c.error);
      return {
        type: String(c.type ?? ""),
        url: String(c.url ?? ""),
        token: String(c.token ?? ""),
        status: statusOf(c.status),
        ...(error === undefined ? {} : { error }),
      };
    }),
  };
}
