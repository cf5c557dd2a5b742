/**
 * The leader's side of the secondary RPC: `RpcClient` implements
 * `SecondaryRuntime` over HTTP, so the deploy coordinator calls a remote
 * node exactly as it would call the local runtime. Each call has a deadline
 * (sent to the server as its budget), at most `inFlightMax` calls run at
 * once per node (past that the call fails at once with `rpc.overloaded`),
 * and every answer is parsed before it is returned.
 */
import { type Parser, SchemaError } from "../../config/mod.ts";
import { RpcError } from "./errors.ts";
import {
  RPC_DEADLINE_HEADER,
  RPC_DEADLINE_MS_DEFAULT,
  RPC_IN_FLIGHT_MAX,
  RPC_PATH_PREFIX,
} from "./server.ts";
import {
  type LogsRequest,
  type LogsResult,
  type MetricsRequest,
  type MetricsResult,
  type PullRequest,
  type PullResult,
  RESULT_PARSERS,
  type RpcMethod,
  type SecondaryRuntime,
  type StartRequest,
  type StartResult,
  type StatusRequest,
  type StatusResult,
  type StopRequest,
  type StopResult,
} from "./types.ts";

/** Largest response body read (a logs answer at its line bound). */
export const RPC_RESPONSE_BYTES_MAX = 16 * 1024 * 1024;

export interface RpcClientOptions {
  /** A bearer token for a server that authenticates by token (a standalone RPC server). */
  readonly token?: string;
  /** The HTTP client to call through (the node's peer client, with its certificate); owned by the caller. */
  readonly client?: Deno.HttpClient;
  readonly deadlineMs?: number;
  readonly inFlightMax?: number;
}

export interface RpcCallOptions {
  readonly signal?: AbortSignal;
  readonly deadlineMs?: number;
}

/** A node's runtime, reached over RPC at `baseUrl` (e.g. `http://10.99.0.2:7946`). */
export class RpcClient implements SecondaryRuntime {
  readonly #baseUrl: string;
  readonly #options: RpcClientOptions;
  readonly #http: Deno.HttpClient;
  readonly #ownsHttp: boolean;
  #inFlight = 0;

  constructor(baseUrl: string, options: RpcClientOptions) {
    this.#baseUrl = baseUrl.replace(/\/+$/, "");
    this.#ownsHttp = options.client === undefined;
    this.#http = options.client ?? Deno.createHttpClient({});
    this.#options = options;
  }

  /** Calls running now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Releases pooled connections; calls after this fail. */
  close(): void {
    if (this.#ownsHttp) this.#http.close();
  }

  pull(request: PullRequest, signal?: AbortSignal): Promise<PullResult> {
    return this.call("pull", request, signal === undefined ? {} : { signal });
  }
  start(request: StartRequest, signal?: AbortSignal): Promise<StartResult> {
    return this.call("start", request, signal === undefined ? {} : { signal });
  }
  stop(request: StopRequest, signal?: AbortSignal): Promise<StopResult> {
    return this.call("stop", request, signal === undefined ? {} : { signal });
  }
  status(request: StatusRequest, signal?: AbortSignal): Promise<StatusResult> {
    return this.call("status", request, signal === undefined ? {} : { signal });
  }
  logs(request: LogsRequest, signal?: AbortSignal): Promise<LogsResult> {
    return this.call("logs", request, signal === undefined ? {} : { signal });
  }
  metrics(
    request: MetricsRequest,
    signal?: AbortSignal,
  ): Promise<MetricsResult> {
    return this.call(
      "metrics",
      request,
      signal === undefined ? {} : { signal },
    );
  }

  /** One call of `method` with its own deadline and signal. */
  async call<M extends RpcMethod>(
    method: M,
    request: Parameters<SecondaryRuntime[M]>[0],
    options: RpcCallOptions = {},
  ): Promise<Awaited<ReturnType<SecondaryRuntime[M]>>> {
    options.signal?.throwIfAborted();
    if (this.#inFlight >= (this.#options.inFlightMax ?? RPC_IN_FLIGHT_MAX)) {
      throw new RpcError(
        "rpc.overloaded",
        `Too many RPC calls in flight to ${this.#baseUrl}`,
      );
    }
    const deadlineMs = options.deadlineMs ?? this.#options.deadlineMs ??
      RPC_DEADLINE_MS_DEFAULT;
    const deadline = new AbortController();
    const timer = setTimeout(
      () => deadline.abort(new Error("deadline exceeded")),
      deadlineMs,
    );
    const signal = options.signal === undefined
      ? deadline.signal
      : AbortSignal.any([options.signal, deadline.signal]);
    this.#inFlight += 1;
    try {
      const response = await this.#send(method, request, {
        signal,
        deadlineMs,
      });
      const body = await readBounded(response);
      return this.#parse(method, response.status, body);
    } catch (error) {
      options.signal?.throwIfAborted();
      if (error instanceof RpcError) throw error;
      if (deadline.signal.aborted) {
        throw new RpcError(
          "rpc.deadline_exceeded",
          `The ${method} call to ${this.#baseUrl} exceeded its ${deadlineMs} ms deadline`,
          { cause: error },
        );
      }
      throw new RpcError(
        "rpc.unreachable",
        `Cannot reach ${this.#baseUrl}: ${messageOf(error)}`,
        {
          cause: error,
        },
      );
    } finally {
      clearTimeout(timer);
      this.#inFlight -= 1;
    }
  }

  #send(
    method: RpcMethod,
    request: unknown,
    context: { signal: AbortSignal; deadlineMs: number },
  ): Promise<Response> {
    return fetch(`${this.#baseUrl}${RPC_PATH_PREFIX}${method}`, {
      method: "POST",
      headers: {
        ...(this.#options.token === undefined
          ? {}
          : { authorization: `Bearer ${this.#options.token}` }),
        "content-type": "application/json",
        [RPC_DEADLINE_HEADER]: String(
          Math.max(1, Math.floor(context.deadlineMs)),
        ),
      },
      body: JSON.stringify(request),
      signal: context.signal,
      client: this.#http,
    });
  }

  #parse<M extends RpcMethod>(
    method: M,
    status: number,
    text: string,
  ): Awaited<ReturnType<SecondaryRuntime[M]>> {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (error) {
      throw new RpcError(
        "rpc.bad_response",
        `The ${method} answer is not JSON (HTTP ${status})`,
        {
          cause: error,
          status,
        },
      );
    }
    if (status !== 200) {
      const code =
        typeof body === "object" && body !== null && "code" in body &&
          typeof body.code === "string"
          ? body.code
          : "rpc.bad_response";
      const message =
        typeof body === "object" && body !== null && "message" in body &&
          typeof body.message === "string"
          ? body.message
          : `HTTP ${status}`;
      throw new RpcError(code, message, { status });
    }
    try {
      const parse: Parser<Awaited<ReturnType<SecondaryRuntime[M]>>> =
        RESULT_PARSERS[method];
      return parse(body, "result");
    } catch (error) {
      if (!(error instanceof SchemaError)) throw error;
      throw new RpcError(
        "rpc.bad_response",
        `The ${method} answer is invalid: ${error.message}`,
        {
          cause: error,
          status,
        },
      );
    }
  }
}

async function readBounded(response: Response): Promise<string> {
  if (response.body === null) return "";
  const declared = Number(response.headers.get("content-length") ?? "0");
  if (declared > RPC_RESPONSE_BYTES_MAX) {
    await response.body.cancel();
    throw new RpcError(
      "rpc.bad_response",
      `The answer is larger than ${RPC_RESPONSE_BYTES_MAX} bytes`,
    );
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  try {
    // Ends at the end of the body or past the bound.
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      length += value.length;
      if (length > RPC_RESPONSE_BYTES_MAX) {
        await reader.cancel();
        throw new RpcError(
          "rpc.bad_response",
          `The answer is larger than ${RPC_RESPONSE_BYTES_MAX} bytes`,
        );
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const decoder = new TextDecoder();
  return chunks.map((c) => decoder.decode(c, { stream: true })).join("") +
    decoder.decode();
}

function messageOf(error: unknown): string {
  let deepest = error;
  // fetch wraps the OS error a few levels down.
  for (let depth = 0; depth < 5; depth++) {
    if (!(deepest instanceof Error) || deepest.cause === undefined) break;
    deepest = deepest.cause;
  }
  return deepest instanceof Error ? deepest.message : String(deepest);
}
