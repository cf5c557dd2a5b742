/**
 * One access log entry per request, handed to the caller's callback as
 * data; `formatAccessLog` makes the usual one-line form. The path is logged
 * without its query (queries carry tokens more often than not).
 */

export interface AccessLogEntry {
  /** When the request arrived, ISO 8601. */
  readonly time: string;
  readonly client: string;
  readonly method: string;
  /** The Host the client sent, as it sent it ("" when none). */
  readonly host: string;
  readonly path: string;
  /** "HTTP/1.1", "HTTP/2"… */
  readonly protocol: string;
  readonly tls: boolean;
  readonly status: number;
  /** Response body bytes sent (both directions for a WebSocket). */
  readonly bytes: number;
  readonly durationMs: number;
  readonly service: string | null;
  /** The endpoint that answered, "address:port"; null when none did. */
  readonly upstream: string | null;
  readonly attempts: number;
  /** Why the proxy answered itself (e.g. "upstream-timeout"); null when the upstream did. */
  readonly error: string | null;
}

export function formatAccessLog(entry: AccessLogEntry): string {
  const dash = (value: string | null) =>
    value === null || value === "" ? "-" : value;
  return [
    entry.time,
    entry.client,
    `"${entry.method} ${dash(entry.host)}${entry.path} ${entry.protocol}"`,
    entry.status,
    entry.bytes,
    `${entry.durationMs.toFixed(1)}ms`,
    dash(entry.service),
    dash(entry.upstream),
    entry.attempts > 1 ? `attempts=${entry.attempts}` : "",
    entry.error === null ? "" : `error=${entry.error}`,
  ].filter((part) => part !== "").join(" ");
}

/** An access log line's entry: the request's facts and what came of it. */
export function accessEntry(
  request: Omit<
    AccessLogEntry,
    "status" | "bytes" | "durationMs" | "upstream" | "attempts" | "error"
  >,
  result: Pick<
    AccessLogEntry,
    "status" | "bytes" | "upstream" | "attempts" | "error"
  >,
  startedAt: number,
): AccessLogEntry {
  return {
    ...request,
    status: result.status,
    bytes: result.bytes,
    durationMs: performance.now() - startedAt,
    upstream: result.upstream,
    attempts: result.attempts,
    error: result.error,
  };
}
