/**
 * The API's errors: a stable `code`, an HTTP status and a message, sent as
 * JSON `{ "code", "message" }` (see node/API.md for the table).
 */

/** The statuses the API answers errors with, and what each means. */
export const API_ERROR_STATUSES = {
  400: "the request is malformed (bad JSON, bad parameter)",
  401: "no valid token was presented",
  403: "the token is valid but not allowed this endpoint",
  404: "no such endpoint or resource",
  405: "the endpoint exists but not for this method",
  409: "the request conflicts with the cluster's state",
  413: "the body is larger than the endpoint accepts",
  415: "the body's content type is not one the endpoint accepts",
  422: "the body is well-formed but invalid (e.g. a config error)",
  500: "an unexpected error; details are in the node's log",
  503: "the cluster cannot serve this now (no leader, too many streams)",
} as const;

export type ApiErrorStatus = keyof typeof API_ERROR_STATUSES;

/** An error the API reports to its client as it is. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: ApiErrorStatus,
    readonly code: string,
    message: string,
    options?: ErrorOptions & { readonly headers?: Record<string, string> },
  ) {
    super(message, options);
    this.headers = options?.headers ?? {};
  }
  readonly headers: Record<string, string>;
}

/** The JSON body of every error response. */
export interface ApiErrorBody {
  readonly code: string;
  readonly message: string;
}

/** Headers every JSON response carries. */
export const JSON_HEADERS = {
  "content-type": "application/json; charset=utf-8",
  "cache-control": "no-store",
};

/** A JSON response with `status`. */
export function jsonResponse(
  body: unknown,
  status = 200,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify(body) + "\n", {
    status,
    headers: { ...JSON_HEADERS, ...headers },
  });
}

/** The response for an `ApiError`. */
export function errorResponse(error: ApiError): Response {
  const body: ApiErrorBody = { code: error.code, message: error.message };
  return jsonResponse(body, error.status, error.headers);
}

/** The response for an error that is not an `ApiError`: no details leak. */
export function internalErrorResponse(): Response {
  return errorResponse(
    new ApiError(
      500,
      "api.internal",
      "Internal error; see the node's log for details",
    ),
  );
}
