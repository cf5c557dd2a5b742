/**
 * Follower → leader forwarding: a follower's API answers a request by
 * replaying it to the leader's API and streaming the answer back unchanged
 * (status, headers, body, server-sent events included). The request body is
 * streamed too, never buffered.
 *
 * A forwarded request carries `x-mill-forwarded-by: <node>`; a node that
 * receives a forwarded request while not leader answers 503 `api.no_leader`
 * instead of forwarding again, so a stale view of the leader cannot loop.
 */
import { ApiError } from "./errors.ts";

/** Header naming the node that forwarded a request. */
export const FORWARDED_BY_HEADER = "x-mill-forwarded-by";
/** Time allowed for the leader to answer with headers (bodies may stream longer). */
export const FORWARD_HEADERS_TIMEOUT_MS = 30_000;

/** Hop-by-hop headers (RFC 9110 §7.6.1) and ones the client recomputes. */
const DROPPED_HEADERS = [
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
];

export interface ForwardOptions {
  /** This node's name, sent in `x-mill-forwarded-by`. */
  readonly nodeName: string;
  /** A client trusting the cluster's CA. */
  readonly client: Deno.HttpClient;
  readonly headersTimeoutMs?: number;
}

/** True when `request` was already forwarded by another node. */
export function isForwarded(request: Request): boolean {
  return request.headers.has(FORWARDED_BY_HEADER);
}

/**
 * Replays `request` to the leader at `leaderBaseUrl` (e.g.
 * `https://10.0.0.1:7443`) and returns its response. Answers 503 when there
 * is no leader, the request was already forwarded, or the leader cannot be
 * reached.
 */
export async function forwardToLeader(
  request: Request,
  leaderBaseUrl: string | null,
  options: ForwardOptions,
): Promise<Response> {
  if (leaderBaseUrl === null || isForwarded(request)) {
    throw new ApiError(
      503,
      "api.no_leader",
      "The cluster has no leader right now; retry in a few seconds",
      { headers: { "retry-after": "2" } },
    );
  }
  const incoming = new URL(request.url);
  // Only the origin comes from the leader's URL: a path like "//host/x"
  // must never turn into another host.
  const target = new URL(new URL(leaderBaseUrl).origin);
  target.pathname = incoming.pathname;
  target.search = incoming.search;
  const headers = new Headers(request.headers);
  for (const name of DROPPED_HEADERS) headers.delete(name);
  headers.set(FORWARDED_BY_HEADER, options.nodeName);

  // Aborts the upstream exchange when the client goes away or headers are late.
  const upstream = new AbortController();
  const onClientAbort = () => upstream.abort(request.signal.reason);
  request.signal.addEventListener("abort", onClientAbort, { once: true });
  const timer = setTimeout(
    () => upstream.abort(new Error("leader answer timed out")),
    options.headersTimeoutMs ?? FORWARD_HEADERS_TIMEOUT_MS,
  );
  let response: Response;
  try {
    response = await fetch(target, {
      method: request.method,
      headers,
      body: request.body,
      redirect: "manual",
      signal: upstream.signal,
      client: options.client,
    });
  } catch (err) {
    request.signal.removeEventListener("abort", onClientAbort);
    throw new ApiError(
      503,
      "api.leader_unreachable",
      `Cannot reach the leader at ${target.origin}; retry in a few seconds`,
      { cause: err, headers: { "retry-after": "2" } },
    );
  } finally {
    clearTimeout(timer);
  }
  return relayResponse(
    response,
    request.signal,
    () => request.signal.removeEventListener("abort", onClientAbort),
  );
}

const NULL_BODY_STATUSES = [101, 204, 205, 304];

/** The leader's response, streamed through; `done` runs when the body ends. */
function relayResponse(
  upstream: Response,
  clientSignal: AbortSignal,
  done: () => void,
): Response {
  const headers = new Headers(upstream.headers);
  for (const name of DROPPED_HEADERS) headers.delete(name);
  if (upstream.body === null || NULL_BODY_STATUSES.includes(upstream.status)) {
    done();
    upstream.body?.cancel();
    return new Response(null, { status: upstream.status, headers });
  }
  const reader = upstream.body.getReader();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done: ended, value } = await reader.read();
        if (ended) {
          controller.close();
          done();
        } else {
          controller.enqueue(value);
        }
      } catch (err) {
        done();
        // A client that left aborted the upstream read: nobody to tell.
        if (clientSignal.aborted) controller.close();
        else controller.error(err);
      }
    },
    async cancel(reason) {
      done();
      await reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  return new Response(body, { status: upstream.status, headers });
}
