/**
 * What can go wrong talking to an ACME server, as data: the errors the
 * adapter throws (an HTTP answer with a problem document, or no answer at
 * all) and the typed failure an order ends with, each with a message a user
 * can act on. Pure: no I/O, the clock is an argument.
 */

const PROBLEM_PREFIX = "urn:ietf:params:acme:error:";

/** An RFC 7807 problem document as an ACME server sends it (RFC 8555 §6.7). */
export interface AcmeProblem {
  /** The full type, e.g. "urn:ietf:params:acme:error:rateLimited"; "" if absent. */
  readonly type: string;
  readonly detail: string;
  readonly subproblems: readonly {
    readonly type: string;
    readonly detail: string;
  }[];
}

/** The server answered with an error status (other than a bad nonce, retried inside). */
export class AcmeHttpError extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
    readonly problem: AcmeProblem | null,
    /** From the Retry-After header, relative to when the answer came; null if none. */
    readonly retryAfterMs: number | null,
  ) {
    super(
      `${status} from ${url}` +
        (problem === null ? "" : `: ${problem.type} ${problem.detail}`),
    );
    this.name = "AcmeHttpError";
  }
}

/** No answer: DNS, refused connection, TLS (an untrusted CA), a timeout, a body too large. */
export class AcmeNetworkError extends Error {
  constructor(readonly url: string, readonly reason: string) {
    super(`${url}: ${reason}`);
    this.name = "AcmeNetworkError";
  }
}

/** The directory URL answered, but not with an ACME directory. */
export class AcmeDirectoryError extends Error {
  constructor(readonly url: string, reason: string) {
    super(`${url} is not an ACME directory: ${reason}`);
    this.name = "AcmeDirectoryError";
  }
}

/** Why an order did not end with a certificate. */
export type OrderFailure =
  /** The CA's rate limit; retryAfterMs from its Retry-After, null if it gave none. */
  | {
    readonly kind: "rateLimited";
    readonly retryAfterMs: number | null;
    readonly message: string;
  }
  /** The CA could not validate the HTTP-01 challenge; detail is its own text. */
  | {
    readonly kind: "challengeFailed";
    readonly detail: string;
    readonly message: string;
  }
  /** The directory URL does not lead to an ACME directory. */
  | { readonly kind: "badDirectory"; readonly message: string }
  /** The CA could not be reached (or its TLS certificate is not trusted). */
  | { readonly kind: "network"; readonly message: string }
  /** Validation or issuance did not finish within the time allowed. */
  | { readonly kind: "timeout"; readonly message: string }
  /** The caller's signal aborted the order. */
  | { readonly kind: "aborted"; readonly message: string }
  /** The CA failed or is down (5xx); retryAfterMs from its Retry-After, null if none. */
  | {
    readonly kind: "serverError";
    readonly status: number;
    readonly retryAfterMs: number | null;
    readonly message: string;
  }
  /** The host name cannot be validated over HTTP-01 (an IP, a wildcard, not a name). */
  | { readonly kind: "badHost"; readonly message: string }
  /** publish() of the challenge token failed: the CA was not asked to validate. */
  | { readonly kind: "publishFailed"; readonly message: string }
  /** The CA refused the request (unauthorized, rejectedIdentifier, ...). */
  | {
    readonly kind: "rejected";
    readonly problemType: string;
    readonly status: number;
    readonly message: string;
  }
  | { readonly kind: "other"; readonly message: string };

export type OrderFailureKind = OrderFailure["kind"];

/** Parses a problem document from a response body; null when it is not one. */
export function parseProblem(body: unknown): AcmeProblem | null {
  if (typeof body !== "object" || body === null) return null;
  const record = body as Record<string, unknown>;
  if (typeof record.type !== "string" && typeof record.detail !== "string") {
    return null;
  }
  const subproblems = Array.isArray(record.subproblems)
    ? record.subproblems.flatMap((sub) => {
      if (typeof sub !== "object" || sub === null) return [];
      const s = sub as Record<string, unknown>;
      return [{
        type: typeof s.type === "string" ? s.type : "",
        detail: typeof s.detail === "string" ? s.detail : "",
      }];
    })
    : [];
  return {
    type: typeof record.type === "string" ? record.type : "",
    detail: typeof record.detail === "string" ? record.detail : "",
    subproblems,
  };
}

/**
 * Retry-After (RFC 9110 §10.2.3) in milliseconds from `nowMs`: delay-seconds
 * or an HTTP date. Null when absent or unreadable; 0 for a date in the past.
 */
export function parseRetryAfter(
  header: string | null | undefined,
  nowMs: number,
): number | null {
  if (header === null || header === undefined) return null;
  const text = header.trim();
  if (/^\d+$/.test(text)) {
    const seconds = Number(text);
    return Number.isSafeInteger(seconds) ? seconds * 1000 : null;
  }
  // The three HTTP date forms all start with the day's name; Date.parse
  // alone would take "-5" or "1.5" for dates.
  if (!/^[A-Za-z]{3}/.test(text)) return null;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - nowMs);
}

/** The short name of a problem type: "rateLimited" for the ACME URN, else the type itself. */
export function problemName(type: string): string {
  return type.startsWith(PROBLEM_PREFIX)
    ? type.slice(PROBLEM_PREFIX.length)
    : type;
}

function formatRetryAfter(ms: number): string {
  const seconds = Math.ceil(ms / 1000);
  if (seconds < 120) return `${seconds} s`;
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 120) return `${minutes} min`;
  return `${Math.ceil(minutes / 60)} h`;
}

/** A 4xx/5xx answer from the CA as a failure of the order. */
export function failureFromHttpError(error: AcmeHttpError): OrderFailure {
  const type = error.problem?.type ?? "";
  const detail = error.problem?.detail ?? "";
  const name = problemName(type);
  if (error.status === 429 || name === "rateLimited") {
    const wait = error.retryAfterMs === null
      ? "it did not say for how long; mill backs off"
      : `it asks to wait ${formatRetryAfter(error.retryAfterMs)}`;
    return {
      kind: "rateLimited",
      retryAfterMs: error.retryAfterMs,
      message: `the ACME server's rate limit was hit (${
        detail || `HTTP ${error.status}`
      }); ${wait}`,
    };
  }
  if (name === "connection" || name === "incorrectResponse" || name === "dns") {
    // Validation errors reported on the request itself (some CAs do).
    return challengeFailure(detail || error.message);
  }
  if (name === "externalAccountRequired") {
    return {
      kind: "rejected",
      problemType: type,
      status: error.status,
      message:
        `the ACME server requires external account binding, which mill does not support: ${detail}`,
    };
  }
  if (error.status >= 500) {
    return {
      kind: "serverError",
      status: error.status,
      retryAfterMs: error.retryAfterMs,
      message: `the ACME server failed (HTTP ${error.status}${
        detail ? `: ${detail}` : ""
      }); mill retries later${
        error.retryAfterMs === null
          ? ""
          : `, not before the ${formatRetryAfter(error.retryAfterMs)} it asks`
      }`,
    };
  }
  return {
    kind: "rejected",
    problemType: type,
    status: error.status,
    message: `the ACME server refused the request (HTTP ${error.status}${
      type ? ` ${name}` : ""
    }${detail ? `: ${detail}` : ""})`,
  };
}

/** The CA's own validation error text as a failure. */
export function challengeFailure(detail: string): OrderFailure {
  return {
    kind: "challengeFailed",
    detail,
    message:
      `the ACME server could not fetch the HTTP-01 challenge: ${detail}` +
      " (is port 80 of this host name reaching a mill node?)",
  };
}

/** Whatever was thrown during an order, as a typed failure. */
export function failureFromError(error: unknown): OrderFailure {
  if (error instanceof AcmeHttpError) return failureFromHttpError(error);
  if (error instanceof AcmeDirectoryError) {
    return {
      kind: "badDirectory",
      message:
        `${error.message}; check the cluster's ACME directory URL (for Let's Encrypt: https://acme-v02.api.letsencrypt.org/directory)`,
    };
  }
  if (error instanceof AcmeNetworkError) {
    return {
      kind: "network",
      message:
        `the ACME server could not be reached at ${error.url}: ${error.reason}`,
    };
  }
  if (error instanceof DOMException && error.name === "AbortError") {
    return { kind: "aborted", message: "the order was cancelled" };
  }
  return {
    kind: "other",
    message: error instanceof Error ? error.message : String(error),
  };
}
