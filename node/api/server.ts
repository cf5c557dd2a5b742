/**
 * The frame's HTTP(S) server: the listener (listener.ts: TLS, client
 * certificates, connection and time limits) with one authenticator on every
 * request (unknown paths included, so an anonymous client learns nothing but
 * the public routes), routing, and errors as JSON. A handler throws
 * `ApiError` for expected failures; anything else becomes a 500 whose details
 * go to `onError` (the node's log), never to the client.
 */
import { authorize, type Caller, type CallerAuthenticator } from "./auth.ts";
import { ApiError, errorResponse, internalErrorResponse } from "./errors.ts";
import {
  type Connection,
  listen,
  type ListenerLimits,
  type ListenerTls,
} from "./listener.ts";
import type { RouteMatch, Router } from "./router.ts";

export interface ApiServerOptions {
  readonly hostname: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** The server's certificate and key (and the CA of client certificates); without them it serves plain HTTP. */
  readonly tls?: ListenerTls;
  readonly limits?: Partial<ListenerLimits>;
  readonly router: Router;
  readonly authenticator: CallerAuthenticator;
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
  /** Connections closed at the door because of the limits. */
  readonly refusedConnections: number;
  /** Stops accepting, waits for requests in flight (streams end with their clients). */
  shutdown(): Promise<void>;
  /** New connections get this certificate (a renewed one). */
  setTls(tls: ListenerTls): void;
}

/** Starts the server; resolves once it listens. */
export async function startApiServer(
  options: ApiServerOptions,
): Promise<ApiServer> {
  const listener = await listen({
    hostname: options.hostname,
    port: options.port,
    ...(options.tls === undefined ? {} : { tls: options.tls }),
    ...(options.limits === undefined ? {} : { limits: options.limits }),
    handler: (request, connection) =>
      handleApiRequest(request, connection, options),
    onError: (error) => options.onError(error, null),
  });
  return {
    hostname: listener.hostname,
    port: listener.port,
    get refusedConnections() {
      return listener.refusedConnections;
    },
    shutdown: () => listener.shutdown(),
    setTls: (tls) => listener.setTls(tls),
  };
}

/** One request through auth, routing and the handler; never rejects. */
export async function handleApiRequest(
  request: Request,
  connection: Connection,
  options: Pick<ApiServerOptions, "router" | "authenticator" | "onError">,
): Promise<Response> {
  try {
    const caller: Caller | null = options.authenticator.identify(
      request,
      connection,
    );
    const url = new URL(request.url);
    const match = options.router.match(request.method, url.pathname);
    // An anonymous caller learns nothing of what exists beyond public routes.
    if (caller === null && !isPublic(match)) {
      options.authenticator.refuse(request);
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
        if (caller !== null && match.route.scope !== "public") {
          authorize(caller.scope, match.route.scope);
        }
        return await match.route.handler(request, {
          params: match.params,
          url,
          scope: caller?.scope ?? null,
          caller,
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
