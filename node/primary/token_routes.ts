/**
 * `POST /v1/tokens/:kind/rotate` (admin): a fresh token for `join` or
 * `admin`, committed as `TokenRotated` (its SHA-256 only, never the token)
 * so that every primary accepts it, and only it, from the next request on.
 * The answer is the only place the token appears: `{ kind, token,
 * joinToken }`, `joinToken` being `<token>.<CA fingerprint>` as `mill join`
 * takes it.
 */
import type { Command, TokenKind } from "../../raft/mod.ts";
import { ApiError, type Handler, jsonResponse, sha256Hex } from "../api/mod.ts";
import { generateToken } from "../cluster_init/mod.ts";
import type { CommitResult } from "../deploy/mod.ts";

export interface TokenRoutesOptions {
  commit(command: Command): Promise<CommitResult>;
  /** SHA-256 (hex) of the cluster CA, for the join form of the token. */
  readonly caFingerprintSha256: string;
  readonly nowMs: () => number;
}

const KINDS: readonly TokenKind[] = ["admin", "join"];

/** The rotation handler. */
export function rotateTokenHandler(options: TokenRoutesOptions): Handler {
  return async (_request, context) => {
    const kind = KINDS.find((k) => k === context.params.kind);
    if (kind === undefined) {
      throw new ApiError(
        404,
        "token.unknown_kind",
        `No token "${context.params.kind}"; rotate "join" or "admin"`,
      );
    }
    const token = generateToken();
    const result = await options.commit({
      type: "TokenRotated",
      kind,
      tokenSha256: sha256Hex(token),
      atMs: options.nowMs(),
    });
    if (!result.ok) {
      throw new ApiError(422, result.rejection.code, result.rejection.message);
    }
    return jsonResponse({
      kind,
      token,
      joinToken: `${token}.${options.caFingerprintSha256}`,
    });
  };
}
