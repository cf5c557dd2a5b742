/**
 * The Registry HTTP API v2 client: manifests and blobs, with bearer-token and
 * basic auth and per-registry credentials. HTTPS always, plain HTTP only for
 * hosts the operator marks insecure.
 */
import { ContainerdError } from "./errors.ts";
import { apiHost, type ImageReference } from "./reference.ts";
import { MANIFEST_ACCEPT } from "./oci.ts";

export interface RegistryCredentials {
  readonly username: string;
  readonly password: string;
}

export interface RegistryOptions {
  /** Credentials by registry host, e.g. `{ "ghcr.io": { username, password } }`. */
  readonly credentials?: Readonly<Record<string, RegistryCredentials>>;
  /** Hosts reached over plain HTTP (test registries on loopback). */
  readonly insecure?: readonly string[];
  readonly requestTimeoutMs?: number;
}

/** Bytes of a manifest we accept. */
export const MANIFEST_BYTES_MAX = 4 * 1024 * 1024;
export const REQUEST_TIMEOUT_MS_DEFAULT = 30_000;
/** Cached bearer tokens kept before the oldest is dropped. */
const TOKENS_MAX = 256;

export interface FetchedManifest {
  readonly mediaType: string;
  readonly bytes: Uint8Array;
}

interface Challenge {
  readonly scheme: "bearer" | "basic";
  readonly params: Readonly<Record<string, string>>;
}

/** Parses `WWW-Authenticate: Bearer realm="…",service="…",scope="…"`. */
export function parseChallenge(header: string): Challenge | undefined {
  const match = /^\s*(\w+)\s*(.*)$/.exec(header);
  if (!match) return undefined;
  const scheme = match[1]!.toLowerCase();
  if (scheme !== "bearer" && scheme !== "basic") return undefined;
  const params: Record<string, string> = {};
  const re = /(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))/g;
  for (const m of (match[2] ?? "").matchAll(re)) {
    params[m[1]!.toLowerCase()] = (m[2] ?? m[3] ?? "").replace(/\\(.)/g, "$1");
  }
  return { scheme, params };
}

function basicHeader(credentials: RegistryCredentials): string {
  return `Basic ${btoa(`${credentials.username}:${credentials.password}`)}`;
}

export class RegistryClient {
  readonly #credentials: Readonly<Record<string, RegistryCredentials>>;
  readonly #insecure: ReadonlySet<string>;
  readonly #timeoutMs: number;
  /** Authorization header by `host repository`. */
  readonly #auth = new Map<string, string>();

  constructor(options: RegistryOptions = {}) {
    this.#credentials = options.credentials ?? {};
    this.#insecure = new Set(options.insecure ?? []);
    this.#timeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT;
  }

  #base(reference: ImageReference): string {
    const host = apiHost(reference.domain);
    const scheme =
      this.#insecure.has(reference.domain) || this.#insecure.has(host)
        ? "http"
        : "https";
    return `${scheme}://${host}/v2/${reference.path}`;
  }

  /** GETs with auth: on a 401 answers the challenge once and retries. */
  async #get(
    reference: ImageReference,
    url: string,
    accept: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    const key = `${reference.domain} ${reference.path}`;
    for (let attempt = 0; attempt < 2; attempt++) {
      const headers = new Headers();
      if (accept !== undefined) headers.set("accept", accept);
      const auth = this.#auth.get(key);
      if (auth !== undefined) headers.set("authorization", auth);
      const response = await this.#fetch(reference, url, { headers }, signal);
      if (response.status !== 401 || attempt === 1) return response;
      const challenge = parseChallenge(
        response.headers.get("www-authenticate") ?? "",
      );
      await response.body?.cancel();
      if (challenge === undefined) {
        return unauthorized(reference, "the registry sent no usable challenge");
      }
      this.#remember(key, await this.#answer(reference, challenge, signal));
    }
    throw new Error("unreachable");
  }

  #remember(key: string, header: string): void {
    if (this.#auth.size >= TOKENS_MAX) {
      const oldest = this.#auth.keys().next().value;
      if (oldest !== undefined) this.#auth.delete(oldest);
    }
    this.#auth.set(key, header);
  }

  async #answer(
    reference: ImageReference,
    challenge: Challenge,
    signal: AbortSignal | undefined,
  ): Promise<string> {
    const credentials = this.#credentials[reference.domain];
    if (challenge.scheme === "basic") {
      if (credentials === undefined) {
        return unauthorized(
          reference,
          `registry "${reference.domain}" wants credentials and none are configured`,
        );
      }
      return basicHeader(credentials);
    }
    const realm = challenge.params.realm;
    if (realm === undefined) {
      return unauthorized(reference, "the bearer challenge has no realm");
    }
    const tokenUrl = new URL(realm);
    if (challenge.params.service) {
      tokenUrl.searchParams.set("service", challenge.params.service);
    }
    tokenUrl.searchParams.set(
      "scope",
      challenge.params.scope ?? `repository:${reference.path}:pull`,
    );
    const headers = new Headers();
    if (credentials !== undefined) {
      headers.set("authorization", basicHeader(credentials));
    }
    const response = await this.#fetch(
      reference,
      tokenUrl.href,
      { headers },
      signal,
    );
    if (!response.ok) {
      await response.body?.cancel();
      return unauthorized(
        reference,
        `the token server answered HTTP ${response.status}`,
      );
    }
    const body: unknown = await response.json().catch(() => undefined);
    const token = typeof body === "object" && body !== null
      ? (body as Record<string, unknown>).token ??
        (body as Record<string, unknown>).access_token
      : undefined;
    if (typeof token !== "string" || token.length === 0) {
      return unauthorized(reference, "the token server sent no token");
    }
    return `Bearer ${token}`;
  }

  async #fetch(
    reference: ImageReference,
    url: string,
    init: RequestInit,
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    try {
      return await fetch(url, {
        ...init,
        signal: signal === undefined
          ? timeout
          : AbortSignal.any([signal, timeout]),
      });
    } catch (error) {
      throw new ContainerdError(
        "image.registry_unreachable",
        `Cannot pull "${reference.canonical}": registry "${reference.domain}" is unreachable (${
          (error as Error).message
        }); check the host, the port and whether it is marked insecure`,
        { cause: error },
      );
    }
  }

  /** Fetches a manifest or index by tag or digest. */
  async manifest(
    reference: ImageReference,
    selector: string,
    signal?: AbortSignal,
  ): Promise<FetchedManifest> {
    const response = await this.#get(
      reference,
      `${this.#base(reference)}/manifests/${selector}`,
      MANIFEST_ACCEPT,
      signal,
    );
    await this.#check(reference, response, `manifest "${selector}"`);
    const length = Number(response.headers.get("content-length") ?? "0");
    if (length > MANIFEST_BYTES_MAX) {
      await response.body?.cancel();
      throw new ContainerdError(
        "image.too_large",
        `Cannot pull "${reference.canonical}": its manifest has ${length} bytes, more than ${MANIFEST_BYTES_MAX}`,
      );
    }
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (bytes.byteLength > MANIFEST_BYTES_MAX) {
      throw new ContainerdError(
        "image.too_large",
        `Cannot pull "${reference.canonical}": its manifest is larger than ${MANIFEST_BYTES_MAX} bytes`,
      );
    }
    const mediaType = (response.headers.get("content-type") ?? "").split(
      ";",
    )[0]!.trim();
    return { mediaType, bytes };
  }

  /** Opens a blob for streaming; the caller reads or cancels the body. */
  async blob(
    reference: ImageReference,
    digest: string,
    signal?: AbortSignal,
  ): Promise<ReadableStream<Uint8Array>> {
    const response = await this.#get(
      reference,
      `${this.#base(reference)}/blobs/${digest}`,
      undefined,
      signal,
    );
    await this.#check(reference, response, `blob "${digest}"`);
    if (response.body === null) {
      throw new ContainerdError(
        "image.not_found",
        `Cannot pull "${reference.canonical}": blob "${digest}" is empty`,
      );
    }
    return response.body;
  }

  async #check(
    reference: ImageReference,
    response: Response,
    what: string,
  ): Promise<void> {
    if (response.ok) return;
    const text = await response.text().catch(() => "");
    if (response.status === 401 || response.status === 403) {
      const configured = this.#credentials[reference.domain] !== undefined;
      unauthorized(
        reference,
        configured
          ? `registry "${reference.domain}" rejected the configured credentials`
          : `registry "${reference.domain}" needs credentials`,
      );
    }
    if (response.status === 404) {
      throw new ContainerdError(
        "image.not_found",
        `Cannot pull "${reference.canonical}": ${what} not found in registry "${reference.domain}"`,
      );
    }
    throw new ContainerdError(
      "image.registry_unreachable",
      `Cannot pull "${reference.canonical}": registry "${reference.domain}" answered HTTP ${response.status} for ${what}: ${
        text.slice(0, 200)
      }`,
    );
  }
}

function unauthorized(reference: ImageReference, why: string): never {
  throw new ContainerdError(
    "image.unauthorized",
    `Cannot pull "${reference.canonical}": ${why}; check the credentials for "${reference.domain}"`,
  );
}
