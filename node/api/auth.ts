/**
 * Bearer-token authentication: `Authorization: Bearer <token>` on every
 * request. Each token carries a scope; each route names the scope it needs.
 *
 * - missing, malformed or unknown token: 401 `api.unauthenticated`, with
 *   `WWW-Authenticate: Bearer realm="mill"`;
 * - a known token whose scope is not enough: 403 `api.forbidden`.
 *
 * Every presented token is compared with every known token in constant time,
 * with no early exit, so timing reveals neither which token nor how much of
 * one matched.
 */
import { createHash } from "node:crypto";
import { constantTimeEqual } from "../cluster_init/mod.ts";
import { ApiError } from "./errors.ts";
import type { Connection } from "./listener.ts";

/** SHA-256 of a token, lowercase hex: what the cluster state keeps of a rotated one. */
export function sha256Hex(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/**
 * What a token grants. `admin` may call every API route; `join` may only
 * join a node; `peer` is a member node's: Raft, RPC and node messages on the
 * peer port, nothing on the API.
 */
export type TokenScope = "admin" | "join" | "peer";

/**
 * What a route needs: one of the grants' route families, or `public` for
 * the few routes anyone may call (the peer port's CA bootstrap).
 */
export type RouteScope = "admin" | "join" | "raft" | "rpc" | "node" | "public";

const GRANTS: Readonly<Record<TokenScope, readonly RouteScope[]>> = {
  admin: ["admin", "join"],
  join: ["join"],
  peer: ["raft", "rpc", "node"],
};

export interface ScopedToken {
  readonly token: string;
  readonly scope: TokenScope;
}

/** Longest Authorization header considered. */
export const AUTHORIZATION_LENGTH_MAX = 512;

const CHALLENGE = { "www-authenticate": 'Bearer realm="mill"' };

/** Who called, as the frame established it. */
export interface Caller {
  readonly scope: TokenScope;
  /** A peer's node id, from its verified certificate; null for a token. */
  readonly nodeId: string | null;
}

/** The frame's one place where a caller is established. */
export interface CallerAuthenticator {
  /** The caller of `request`, or null when it presented nothing valid. */
  identify(request: Request, connection: Connection): Caller | null;
  /** Throws the 401 for `request`, whose caller is unknown. */
  refuse(request: Request): never;
}

/** Throws 403 unless `scope` may call a route that needs `required`. */
export function authorize(scope: TokenScope, required: RouteScope): void {
  if (GRANTS[scope].includes(required)) return;
  throw new ApiError(
    403,
    "api.forbidden",
    `This credential may not call this endpoint`,
  );
}

/** Node ids as certificates carry them (the common name). */
const NODE_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Peers by certificate: a client certificate the listener verified against
 * the cluster CA makes its common name (the node id) a `peer` caller,
 * unless `revoked` names it (a node removed from the cluster): 403.
 */
export class CertificateAuthenticator implements CallerAuthenticator {
  readonly #revoked: (nodeId: string) => boolean;

  constructor(revoked: (nodeId: string) => boolean = () => false) {
    this.#revoked = revoked;
  }

  identify(_request: Request, connection: Connection): Caller | null {
    const name = connection.clientCommonName;
    if (name === null || !NODE_ID.test(name)) return null;
    if (this.#revoked(name)) {
      throw new ApiError(
        403,
        "peer.node_removed",
        `Node ${name} was removed from the cluster; its certificate is no longer accepted`,
      );
    }
    return { scope: "peer", nodeId: name };
  }

  refuse(_request: Request): never {
    throw new ApiError(
      401,
      "api.unauthenticated",
      "This endpoint needs a client certificate signed by the cluster CA",
    );
  }
}

/** SHA-256 (hex) of the tokens rotated since `mill init`, by scope. */
export type RotatedTokens = () => Partial<Record<TokenScope, string | null>>;

/**
 * Checks requests' bearer tokens against the cluster's tokens. A scope whose
 * token was rotated (its hash in the cluster state) accepts only the token
 * with that hash; the file token it replaced no longer counts.
 */
export class Authenticator implements CallerAuthenticator {
  readonly #tokens: readonly ScopedToken[];
  readonly #rotated: RotatedTokens;

  constructor(
    tokens: readonly ScopedToken[],
    rotated: RotatedTokens = () => ({}),
  ) {
    this.#rotated = rotated;
    if (tokens.some((t) => t.token.length === 0)) {
      throw new Error("Authenticator: an empty token would accept anyone");
    }
    this.#tokens = tokens;
  }

  /** The scope of `request`'s token; throws 401 when there is none. */
  authenticate(request: Request): TokenScope {
    const scope = this.scopeOf(request);
    if (scope === null) {
      const presented = bearerToken(request.headers.get("authorization"));
      throw new ApiError(
        401,
        "api.unauthenticated",
        presented === ""
          ? 'Missing bearer token; send "Authorization: Bearer <token>"'
          : "Invalid bearer token; check the token in your mill context",
        { headers: CHALLENGE },
      );
    }
    return scope;
  }

  identify(request: Request): Caller | null {
    const scope = this.scopeOf(request);
    return scope === null ? null : { scope, nodeId: null };
  }

  refuse(request: Request): never {
    this.authenticate(request);
    throw new Error("unreachable: a known token was refused");
  }

  /** The scope of `request`'s token, or null when it has no known one. */
  scopeOf(request: Request): TokenScope | null {
    const presented = bearerToken(request.headers.get("authorization"));
    const rotated = this.#rotated();
    const presentedSha256 = sha256Hex(presented);
    let scope: TokenScope | null = null;
    for (const known of this.#tokens) {
      const hash = rotated[known.scope] ?? null;
      // No early exit: every token is compared every time.
      const matches = hash === null
        ? constantTimeEqual(presented, known.token)
        : constantTimeEqual(presentedSha256, hash);
      if (matches && presented !== "" && scope === null) scope = known.scope;
    }
    return scope;
  }

  /** Throws 403 unless `scope` may call a route that needs `required`. */
  authorize(scope: TokenScope, required: RouteScope): void {
    authorize(scope, required);
  }
}

/** The token of a `Bearer` header, or "" when absent or malformed. */
export function bearerToken(header: string | null): string {
  if (header === null || header.length > AUTHORIZATION_LENGTH_MAX) return "";
  const match = /^Bearer ([A-Za-z0-9._~+/=-]+)$/i.exec(header.trim());
  return match?.[1] ?? "";
}
