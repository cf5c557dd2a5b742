/**
 * One request through to an endpoint and its answer back, with retries:
 *
 * - a connection that could not be opened (refused, unreachable, past the
 *   connect timeout) sent nothing, so the next endpoint is tried, whatever
 *   the method; the endpoint is reported to the balancer;
 * - once the request went out, only idempotent methods (GET, HEAD,
 *   OPTIONS, PUT, DELETE, TRACE) whose body can be replayed (none, or one
 *   small enough to have been buffered) are tried again; a POST whose body
 *   was sent never is;
 * - no response headers within the response timeout: 504, never retried
 *   (the upstream may be doing the work);
 * - every endpoint tried in vain: 502.
 *
 * Bodies stream both ways with backpressure; the request body is counted
 * against the size limit and its silences against the read timeout.
 * Upstream connections come from one keep-alive pool (node:http's Agent):
 * it tells a connect failure from a failure after sending, which retries
 * need and fetch does not expose, at the same speed (measured).
 */
import http from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import type { Balancer } from "./balancer.ts";
import type { HeaderMap } from "./headers.ts";
import { clientResponseHeaders } from "./headers.ts";
import type { ProxyLimits } from "./limits.ts";
import { errorPage, type ProxyErrorReason } from "./pages.ts";
import type { TableEndpoint, TableRoute } from "./route_table.ts";

export type ClientRequest = http.IncomingMessage | Http2ServerRequest;
export type ClientResponse = http.ServerResponse | Http2ServerResponse;

/**
 * `res.writeHead(status, headers)` for either kind of response: the union's
 * two overload sets are not callable as one once several copies of the
 * Node types meet in one program.
 */
export function writeHead(
  res: ClientResponse,
  status: number,
  headers: http.OutgoingHttpHeaders,
): void {
  (res as http.ServerResponse).writeHead(status, headers);
}

const IDEMPOTENT = new Set([
  "GET",
  "HEAD",
  "OPTIONS",
  "PUT",
  "DELETE",
  "TRACE",
]);

export interface ForwardRequest {
  readonly req: ClientRequest;
  readonly res: ClientResponse;
  readonly route: TableRoute;
  readonly method: string;
  readonly path: string;
  readonly headers: HeaderMap;
  /** The body's declared length; null when chunked (or HTTP/2 without one). */
  readonly declaredLength: number | null;
  readonly hasBody: boolean;
}

export interface ForwardDeps {
  readonly limits: ProxyLimits;
  readonly balancer: Balancer;
  readonly agent: http.Agent;
  readonly counters: {
    attempts: number;
    retries: number;
    upstreamFailures: number;
  };
}

export interface ForwardResult {
  readonly status: number;
  /** Response body bytes written to the client. */
  readonly bytes: number;
  /** The endpoint that answered (or the last one tried), "address:port". */
  readonly upstream: string | null;
  readonly attempts: number;
  /** Why the proxy answered itself, for the log; null when the upstream did. */
  readonly error: string | null;
}

type Body =
  | { readonly kind: "none" }
  | { readonly kind: "buffered"; readonly bytes: Uint8Array }
  | { readonly kind: "stream" };

type Attempt =
  | {
    readonly kind: "response";
    readonly upReq: http.ClientRequest;
    readonly upRes: http.IncomingMessage;
  }
  | {
    readonly kind: "failed";
    /** "connect": nothing was sent; "sent": the request (part of it) went out. */
    readonly phase: "connect" | "sent";
    readonly reused: boolean;
    readonly timeout: boolean;
    readonly message: string;
  }
  | { readonly kind: "client"; readonly reason: ClientFault };

type ClientFault = "body-too-large" | "read-timeout" | "gone";

export async function forward(
  request: ForwardRequest,
  deps: ForwardDeps,
): Promise<ForwardResult> {
  const { req, res, method, route } = request;
  const { limits, balancer, counters } = deps;
  if (
    request.declaredLength !== null &&
    request.declaredLength > limits.bodyBytesMax
  ) {
    return answer(res, "body-too-large", null, 0, true);
  }
  const idempotent = IDEMPOTENT.has(method);
  let body: Body = request.hasBody ? { kind: "stream" } : { kind: "none" };
  if (
    request.hasBody && idempotent && request.declaredLength !== null &&
    request.declaredLength <= limits.replayBodyBytesMax
  ) {
    const read = await readBody(req, limits.replayBodyBytesMax, limits);
    if (typeof read === "string") {
      return answerClientFault(res, read, null, 0);
    }
    body = { kind: "buffered", bytes: read };
  }
  const replayable = body.kind !== "stream";
  const tried = new Set<string>();
  let attempts = 0;
  let last: TableEndpoint | null = null;
  let staleRetried = false;
  while (attempts < limits.attemptsMax) {
    const endpoint = balancer.pick(route, tried);
    if (endpoint === null) break;
    last = endpoint;
    attempts++;
    counters.attempts++;
    if (attempts > 1) counters.retries++;
    balancer.acquire(endpoint.key);
    const outcome = await attempt(request, endpoint, body, deps);
    if (outcome.kind === "response") {
      balancer.reportSuccess(endpoint.key);
      const bytes = await relayResponse(res, outcome.upReq, outcome.upRes)
        .finally(() => balancer.release(endpoint.key));
      return {
        status: outcome.upRes.statusCode ?? 502,
        bytes,
        upstream: endpoint.key,
        attempts,
        error: null,
      };
    }
    balancer.release(endpoint.key);
    if (outcome.kind === "client") {
      return answerClientFault(res, outcome.reason, endpoint.key, attempts);
    }
    counters.upstreamFailures++;
    if (outcome.phase === "connect") {
      balancer.reportFailure(endpoint.key);
      tried.add(endpoint.key);
      continue;
    }
    if (outcome.timeout) {
      return answer(res, "upstream-timeout", endpoint.key, attempts, false);
    }
    if (!(idempotent && replayable)) break;
    // A pooled connection the upstream had just closed says nothing of
    // the endpoint: the same one gets one more go on a fresh connection.
    if (outcome.reused && !staleRetried) {
      staleRetried = true;
      continue;
    }
    balancer.reportFailure(endpoint.key);
    tried.add(endpoint.key);
  }
  return answer(res, "upstream-failed", last?.key ?? null, attempts, false);
}

function attempt(
  request: ForwardRequest,
  endpoint: TableEndpoint,
  body: Body,
  deps: ForwardDeps,
): Promise<Attempt> {
  const { limits, agent } = deps;
  const { req, res } = request;
  return new Promise<Attempt>((resolve) => {
    // settled: the attempt's outcome is known (a response, or why not);
    // aborted: the upstream request is over. A body keeps streaming after
    // the response headers arrived (an echo, an upload with progress).
    let settled = false;
    let aborted = false;
    let connected = false;
    let reused = false;
    let responseTimer: ReturnType<typeof setTimeout> | undefined;
    let readTimer: ReturnType<typeof setTimeout> | undefined;
    const settle = (outcome: Attempt) => {
      if (settled) return;
      settled = true;
      clearTimeout(connectTimer);
      clearTimeout(responseTimer);
      res.off("close", onClientGone);
      if (outcome.kind !== "response") {
        aborted = true;
        clearTimeout(readTimer);
        upReq.destroy();
      }
      resolve(outcome);
    };
    /** The client's body broke a limit: an answer if still possible, else a cut. */
    const bodyFault = (reason: ClientFault) => {
      if (!settled) return settle({ kind: "client", reason });
      aborted = true;
      clearTimeout(readTimer);
      upReq.destroy();
      res.destroy();
    };
    const fail = (timeout: boolean, message: string) =>
      settle({
        kind: "failed",
        phase: connected ? "sent" : "connect",
        reused,
        timeout,
        message,
      });
    const onClientGone = () => settle({ kind: "client", reason: "gone" });
    res.once("close", onClientGone);

    // A body of unknown length goes out chunked: said explicitly, as the
    // client's transfer-encoding was dropped with the other hop-by-hop headers.
    const headers = body.kind === "stream" && request.declaredLength === null
      ? { ...request.headers, "transfer-encoding": "chunked" }
      : request.headers;
    const upReq = http.request({
      host: endpoint.address,
      port: endpoint.port,
      method: request.method,
      path: request.path,
      headers,
      agent,
    });
    const connectTimer = setTimeout(
      () => fail(true, "connect timeout"),
      limits.upstreamConnectTimeoutMs,
    );
    const onConnected = () => {
      if (settled) return;
      connected = true;
      clearTimeout(connectTimer);
      responseTimer = setTimeout(
        () => fail(true, "response timeout"),
        limits.upstreamResponseTimeoutMs,
      );
      if (body.kind === "none") upReq.end();
      else if (body.kind === "buffered") upReq.end(body.bytes);
      else streamBody();
    };
    const streamBody = () => {
      let bytes = 0;
      const armRead = () => {
        clearTimeout(readTimer);
        readTimer = setTimeout(
          () => bodyFault("read-timeout"),
          limits.readTimeoutMs,
        );
      };
      armRead();
      req.on("data", (chunk: Uint8Array) => {
        if (aborted) return;
        bytes += chunk.length;
        if (bytes > limits.bodyBytesMax) return bodyFault("body-too-large");
        armRead();
        if (!upReq.write(chunk)) {
          req.pause();
          upReq.once("drain", () => req.resume());
        }
      });
      req.once("end", () => {
        clearTimeout(readTimer);
        if (!aborted) upReq.end();
      });
      req.once("aborted", () => bodyFault("gone"));
    };
    upReq.once("socket", (socket) => {
      reused = (upReq as http.ClientRequest & { reusedSocket?: boolean })
        .reusedSocket === true;
      if (socket.connecting) socket.once("connect", onConnected);
      else onConnected();
    });
    upReq.once("response", (upRes) => {
      if (settled) {
        upRes.destroy();
        return;
      }
      settle({ kind: "response", upReq, upRes });
    });
    upReq.on(
      "error",
      (error: Error & { code?: string }) =>
        fail(false, error.code ?? error.message),
    );
  });
}

/** Streams the upstream's answer to the client; resolves with the body bytes. */
function relayResponse(
  res: ClientResponse,
  upReq: http.ClientRequest,
  upRes: http.IncomingMessage,
): Promise<number> {
  return new Promise<number>((resolve) => {
    let bytes = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      resolve(bytes);
    };
    const headers = clientResponseHeaders(upRes.rawHeaders);
    try {
      if ("statusMessage" in res && typeof upRes.statusMessage === "string") {
        (res as http.ServerResponse).writeHead(
          upRes.statusCode ?? 502,
          upRes.statusMessage,
          headers,
        );
      } else {
        writeHead(res, upRes.statusCode ?? 502, headers);
      }
    } catch {
      // Headers the client side refuses (an invalid name for HTTP/2).
      upReq.destroy();
      res.destroy();
      finish();
      return;
    }
    res.once("close", () => {
      // The client went away before the end: stop reading the upstream.
      if (!upRes.complete) upReq.destroy();
      finish();
    });
    upRes.on("data", (chunk: Uint8Array) => {
      bytes += chunk.length;
      if (!(res as http.ServerResponse).write(chunk)) {
        upRes.pause();
        res.once("drain", () => upRes.resume());
      }
    });
    upRes.once("end", () => {
      res.end();
      finish();
    });
    upRes.once("aborted", () => {
      res.destroy();
      finish();
    });
    upRes.once("error", () => {
      res.destroy();
      finish();
    });
  });
}

/** Reads a whole body up to `max` bytes, or says why it could not. */
function readBody(
  req: ClientRequest,
  max: number,
  limits: ProxyLimits,
): Promise<Uint8Array | ClientFault> {
  return new Promise((resolve) => {
    const chunks: Uint8Array[] = [];
    let bytes = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const done = (value: Uint8Array | ClientFault) => {
      clearTimeout(timer);
      req.off("data", onData);
      resolve(value);
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => done("read-timeout"), limits.readTimeoutMs);
    };
    const onData = (chunk: Uint8Array) => {
      bytes += chunk.length;
      if (bytes > max) return done("body-too-large");
      chunks.push(chunk);
      arm();
    };
    arm();
    req.on("data", onData);
    req.once("end", () => {
      const out = new Uint8Array(bytes);
      let at = 0;
      for (const chunk of chunks) {
        out.set(chunk, at);
        at += chunk.length;
      }
      done(out);
    });
    req.once("aborted", () => done("gone"));
    req.once("error", () => done("gone"));
  });
}

function answerClientFault(
  res: ClientResponse,
  fault: ClientFault,
  upstream: string | null,
  attempts: number,
): ForwardResult {
  if (fault === "gone") {
    return { status: 499, bytes: 0, upstream, attempts, error: "client gone" };
  }
  if (fault === "read-timeout") {
    // The client stopped sending its body: it gets a 408 if it still listens.
    const result = writeRaw(res, 408, "request body read timeout");
    return { ...result, upstream, attempts };
  }
  return answer(res, "body-too-large", upstream, attempts, true);
}

/** The proxy's own error page; `close` ends an HTTP/1.1 connection after it. */
export function answer(
  res: ClientResponse,
  reason: ProxyErrorReason,
  upstream: string | null,
  attempts: number,
  close: boolean,
): ForwardResult {
  const page = errorPage(reason);
  if (res.headersSent) {
    res.destroy();
    return { status: page.status, bytes: 0, upstream, attempts, error: reason };
  }
  const headers: Record<string, string> = { ...page.headers };
  if (close && !isHttp2(res)) headers["connection"] = "close";
  writeHead(res, page.status, headers);
  res.end(page.body);
  return {
    status: page.status,
    bytes: page.body.length,
    upstream,
    attempts,
    error: reason,
  };
}

function writeRaw(
  res: ClientResponse,
  status: number,
  error: string,
): Omit<ForwardResult, "upstream" | "attempts"> {
  if (!res.headersSent) {
    const headers: Record<string, string> = { "content-length": "0" };
    if (!isHttp2(res)) headers["connection"] = "close";
    writeHead(res, status, headers);
    res.end();
  } else {
    res.destroy();
  }
  return { status, bytes: 0, error };
}

export function isHttp2(res: ClientResponse): boolean {
  return "stream" in res && res.stream !== undefined;
}
