/**
 * The API's HTTPS server: Deno.serve with the node's certificate, bearer
 * authentication on every request (unknown paths included, so an anonymous
 * client learns nothing), routing, and errors as JSON. A handler throws
 * `ApiError` for expected failures; anything else becomes a 500 whose details
 * go to `onError` (the node's log), never to the client.
 */
import { type Authenticator, type TokenScope } from "./auth.ts";
import { ApiError, errorResponse, internalErrorResponse } from "./errors.ts";
import type { RouteMatch, Router } from "./router.ts";

export interface ApiServerOptions {
  readonly hostname: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** The server's certificate and key; without them it serves plain HTTP. */
  readonly tls?: { readonly certPem: string; readonly keyPem: string };
  readonly router: Router;
  readonly authenticator: Authenticator;
  /**
   * Unexpected errors, for the node's log; `request` is null for errors
   * outside a handler (e.g. a response body that failed mid-stream). Must
   * not throw.
   */
  readonly onError: (error: unknown, request: Request | null) => void;
}

export interface ApiServer {
  readonly hostname: string;
  readonly port: number;
  /** Stops accepting, waits for requests in flight (streams end with their clients). */
  shutdown(): Promise<void>;
  readonly finished: Promise<void>;
}

/** Starts the API server; resolves once it listens. */
export async function startApiServer(
  options: ApiServerOptions,
): Promise<ApiServer> {
  const listening = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: options.hostname,
    port: options.port,
    ...(options.tls === undefined
      ? {}
      : { cert: options.tls.certPem, key: options.tls.keyPem }),
    onListen: (addr) => listening.resolve(addr),
    onError: (error) => {
      // Only reached for errors outside handleApiRequest (which catches its own).
      options.onError(error, null);
      return internalErrorResponse();
    },
  }, (request) => handleApiRequest(request, options));
  const addr = await listening.promise;
  return {
    hostname: addr.hostname,
    port: addr.port,
    shutdown: () => server.shutdown(),
    finished: server.finished,
  };
}

/** One request through auth, routing and the handler; never rejects. */
export async function handleApiRequest(
  request: Request,
  options: Pick<ApiServerOptions, "router" | "authenticator" | "onError">,
): Promise<Response> {
  try {
    const scope: TokenScope | null = options.authenticator.identify(request);
    const url = new URL(request.url);
    const match = options.router.match(request.method, url.pathname);
    // An anonymous caller learns nothing of what exists beyond public routes.
    if (scope === null && !isPublic(match)) {
      options.authenticator.authenticate(request);
    }
    switch (match.kind) {
      case "not-found":
        throw new ApiError(
          404,
          "api.not_found",
          `No endpoint at ${url.pathname}`,
        );
      case "method-not-allowed":
        throw new ApiError(
          405,
          "api.method_not_allowed",
          `${url.pathname} does not accept ${request.method}; use ${
            match.allow.join(" or ")
          }`,
          { headers: { allow: match.allow.join(", ") } },
        );
      case "found":
        if (scope !== null) {
          options.authenticator.authorize(scope, match.route.scope);
        }
        return await match.route.handler(request, {
          params: match.params,
          url,
          scope,
        });
      default: {
        const _exhaustive: never = match;
        throw new Error(`unknown match ${String(_exhaustive)}`);
      }
    }
  } catch (error) {
    if (error instanceof ApiError) return errorResponse(error);
    // The shell boundary: log the details, answer without them.
    options.onError(error, request);
    return internalErrorResponse();
  }
}

function isPublic(match: RouteMatch): boolean {
  return match.kind === "found" && match.route.scope === "public";
}
