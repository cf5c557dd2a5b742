/**
 * A small router: method + path pattern (`/v1/services/:name/logs`) to a
 * handler. Patterns match whole paths, segment by segment; `:param`
 * segments capture one URL-decoded segment. A path that matches no pattern is
 * 404, one that matches only for other methods is 405 with `Allow`. A
 * parameter that does not decode to one plain segment (bad percent-encoding,
 * an encoded `/` or NUL) is 400 `api.bad_path`, unless the route takes
 * `rawParams`: then its handler gets the text as sent (decoded where it
 * decodes) and applies its own rule.
 */
import type { Caller, RouteScope, TokenScope } from "./auth.ts";
import { ApiError } from "./errors.ts";

export type Method = "GET" | "POST" | "PUT" | "DELETE" | "PATCH";

/** What a handler gets besides the request. */
export interface RouteContext {
  readonly params: Readonly<Record<string, string>>;
  readonly url: URL;
  /** The scope of the token that authenticated the request; null on a public route called without one. */
  readonly scope: TokenScope | null;
  /** Who called; null on a public route called anonymously. */
  readonly caller: Caller | null;
}

export type Handler = (
  request: Request,
  context: RouteContext,
) => Response | Promise<Response>;

export interface Route {
  readonly method: Method;
  readonly pattern: string;
  readonly scope: RouteScope;
  readonly handler: Handler;
}

export type RouteMatch =
  | {
    readonly kind: "found";
    readonly route: Route;
    readonly params: Record<string, string>;
  }
  | { readonly kind: "method-not-allowed"; readonly allow: readonly Method[] }
  | { readonly kind: "not-found" };

/** Longest path routed; longer ones are 404 without being split. */
export const PATH_LENGTH_MAX = 2048;

type Segment = { kind: "literal"; text: string } | {
  kind: "param";
  name: string;
};

interface CompiledRoute {
  readonly route: Route;
  readonly segments: readonly Segment[];
  readonly rawParams: boolean;
}

/** How a route is added. */
export interface RouteOptions {
  /** Who may call it; `admin` by default. */
  readonly scope?: RouteScope;
  /** Parameters reach the handler even when they are not a plain segment (it validates them). */
  readonly rawParams?: boolean;
}

export class Router {
  readonly #routes: CompiledRoute[] = [];

  /** Adds a route; `scope` defaults to `admin`. */
  add(
    method: Method,
    pattern: string,
    handler: Handler,
    options: RouteOptions = {},
  ): this {
    const segments = compilePattern(pattern);
    for (const existing of this.#routes) {
      if (
        existing.route.method === method &&
        sameShape(existing.segments, segments)
      ) {
        throw new Error(`Router: ${method} ${pattern} is already routed`);
      }
    }
    this.#routes.push({
      route: { method, pattern, scope: options.scope ?? "admin", handler },
      segments,
      rawParams: options.rawParams === true,
    });
    return this;
  }

  /**
   * Adds a route for as long as its owner serves; the returned function
   * removes it (a part of a node mounts its routes when it starts).
   */
  mount(
    method: Method,
    pattern: string,
    handler: Handler,
    options: RouteOptions = {},
  ): () => void {
    this.add(method, pattern, handler, options);
    const compiled = this.#routes[this.#routes.length - 1];
    return () => {
      const index = this.#routes.indexOf(compiled!);
      if (index !== -1) this.#routes.splice(index, 1);
    };
  }

  /** Finds the route for `method` and `pathname`. */
  match(method: string, pathname: string): RouteMatch {
    if (pathname.length > PATH_LENGTH_MAX) return { kind: "not-found" };
    const parts = pathname.split("/").slice(1);
    const allow: Method[] = [];
    for (const compiled of this.#routes) {
      const params = matchSegments(
        compiled.segments,
        parts,
        compiled.rawParams,
      );
      if (params === null) continue;
      if (compiled.route.method === method) {
        return { kind: "found", route: compiled.route, params };
      }
      if (!allow.includes(compiled.route.method)) {
        allow.push(compiled.route.method);
      }
    }
    if (allow.length > 0) return { kind: "method-not-allowed", allow };
    return { kind: "not-found" };
  }
}

function compilePattern(pattern: string): Segment[] {
  if (!pattern.startsWith("/")) {
    throw new Error(`Router: pattern "${pattern}" must start with "/"`);
  }
  return pattern.split("/").slice(1).map((text) => {
    if (!text.startsWith(":")) return { kind: "literal", text };
    const name = text.slice(1);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new Error(`Router: bad parameter "${text}" in "${pattern}"`);
    }
    return { kind: "param", name };
  });
}

function sameShape(a: readonly Segment[], b: readonly Segment[]): boolean {
  return a.length === b.length && a.every((segment, i) => {
    const other = b[i];
    if (other === undefined || segment.kind !== other.kind) return false;
    return segment.kind === "param" ||
      (other.kind === "literal" && segment.text === other.text);
  });
}

function matchSegments(
  segments: readonly Segment[],
  parts: readonly string[],
  raw: boolean,
): Record<string, string> | null {
  if (segments.length !== parts.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    const part = parts[i];
    if (segment === undefined || part === undefined) return null;
    if (segment.kind === "literal") {
      if (segment.text !== part) return null;
      continue;
    }
    if (part === "") return null;
    params[segment.name] = raw ? decodeLoosely(part) : decodeSegment(part);
  }
  return params;
}

function decodeLoosely(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

function decodeSegment(part: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(part);
  } catch (err) {
    throw new ApiError(
      400,
      "api.bad_path",
      "Malformed percent-encoding in the URL path",
      {
        cause: err,
      },
    );
  }
  if (decoded.includes("/") || decoded.includes("\0")) {
    throw new ApiError(
      400,
      "api.bad_path",
      'A path parameter may not contain "/" or NUL',
    );
  }
  return decoded;
}
