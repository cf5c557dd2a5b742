/**
 * Tokens and scopes, after the reference's "Scopes for API Tokens": a
 * full-access token has `read` and `write`, a read-only one `read`; a
 * custom-scoped token lists scopes such as `block_storage:read`. Each
 * endpoint needs one scope; `read` grants every `…:read`, `write` all.
 */

export interface FakeToken {
  readonly token: string;
  /** `["read", "write"]` unless told. */
  readonly scopes?: readonly string[];
}

export function granted(scopes: readonly string[], needed: string): boolean {
  if (scopes.includes(needed) || scopes.includes("write")) return true;
  return needed.endsWith(":read") && scopes.includes("read");
}

/** The scope an endpoint needs, or null for a path the fake does not serve. */
export function scopeFor(method: string, path: string): string | null {
  const parts = path.split("/").filter((p) => p !== "");
  if (parts[0] !== "v2") return null;
  const [, root, id, sub, subId] = parts;
  if (root === "actions" && id !== undefined && sub === undefined) {
    return method === "GET" ? "actions:read" : null;
  }
  if (root === "droplets" && id !== undefined && sub === undefined) {
    return method === "GET" ? "droplet:read" : null;
  }
  if (root === "snapshots" && id !== undefined && sub === undefined) {
    if (method === "GET") return "block_storage_snapshot:read";
    if (method === "DELETE") return "block_storage_snapshot:delete";
    return null;
  }
  if (root !== "volumes") return null;
  if (id === undefined) {
    if (method === "GET") return "block_storage:read";
    if (method === "POST") return "block_storage:create";
    if (method === "DELETE") return "block_storage:delete";
    return null;
  }
  if (id === "snapshots" && sub !== undefined && subId === undefined) {
    if (method === "GET") return "block_storage_snapshot:read";
    if (method === "DELETE") return "block_storage_snapshot:delete";
    return null;
  }
  if (sub === undefined) {
    if (method === "GET") return "block_storage:read";
    if (method === "DELETE") return "block_storage:delete";
    return null;
  }
  if (sub === "actions") {
    if (subId === undefined && method === "POST") {
      return "block_storage_action:create";
    }
    if (method === "GET") return "block_storage_action:read";
    return null;
  }
  if (sub === "snapshots" && subId === undefined) {
    if (method === "POST") return "block_storage_snapshot:create";
    if (method === "GET") return "block_storage_snapshot:read";
  }
  return null;
}
