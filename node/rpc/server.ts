/**
 * The secondary's RPC server: `POST /rpc/v1/<method>` with a JSON body,
 * answered by the node's `SecondaryRuntime`, mounted on the peer port
 * (rpc scope): the caller is authenticated by the frame, not here.
 *
 * Every call has a deadline: the caller's `x-mill-deadline-ms` budget
 * (capped), or `RPC_DEADLINE_MS_DEFAULT`. The runtime gets a signal that
 * aborts at the deadline or when the caller goes away; the answer at the
 * deadline is 504 even if the runtime ignores its signal. At most
 * `inFlightMax` runtime calls run at once; past that, 503 at once.
 */
import {
  ApiError,
  Authenticator,
  readJsonBody,
  Router,
  startApiServer,
} from "../api/mod.ts";
import { SchemaError } from "../../config/mod.ts";
import { RpcError } from "./errors.ts";
import {
  REQUEST_PARSERS,
  RESULT_PARSERS,
  RPC_METHODS,
  type RpcMethod,
  type SecondaryRuntime,
} from "./types.ts";

export const RPC_PATH_PREFIX = "/rpc/v1/";
export const RPC_DEADLINE_HEADER = "x-mill-deadline-ms";
export const RPC_DEADLINE_MS_DEFAULT = 30_000;
/** Longest deadline a caller may ask for (a large pull). */
export const RPC_DEADLINE_MS_MAX = 30 * 60_000;
export const RPC_IN_FLIGHT_MAX = 64;
/** Largest request body (a start with its env and secrets). */
export const RPC_BODY_BYTES_MAX = 4 * 1024 * 1024;

export interface RpcServerOptions {
  readonly hostname: string;
  readonly port: number;
  /** The cluster's peer token, which the frame checks. */
  readonly token: string;
  readonly runtime: SecondaryRuntime;
  readonly inFlightMax?: number;
  /** Unexpected errors, for the node's log. Must not throw. */
  readonly onError: (error: unknown) => void;
}

export interface RpcServer {
  readonly port: number;
  /** Runtime calls running now. */
  readonly inFlight: number;
  shutdown(): Promise<void>;
}

/**
 * Starts a server for the RPC alone, on the same frame as the peer port
 * (router, peer-token authentication, JSON errors); resolves once it listens.
 */
export async function startRpcServer(
  options: RpcServerOptions,
): Promise<RpcServer> {
  const handler = createRpcHandler(options);
  const router = new Router().add(
    "POST",
    `${RPC_PATH_PREFIX}:method`,
    handler,
    {
      scope: "rpc",
    },
  );
  const server = await startApiServer({
    hostname: options.hostname,
    port: options.port,
    router,
    authenticator: new Authenticator([{ token: options.token, scope: "peer" }]),
    onError: (error) => options.onError(error),
  });
  return {
    port: server.port,
    get inFlight() {
      return handler.inFlight;
    },
    shutdown: () => server.shutdown(),
  };
}

/**
 * The RPC handler alone, to mount on a router whose frame authenticated
 * the caller (the peer port, rpc scope).
 */
export function createRpcHandler(
  options: Omit<RpcServerOptions, "hostname" | "port" | "token">,
): ((request: Request) => Promise<Response>) & { readonly inFlight: number } {
  const state = { inFlight: 0 };
  const handler = (request: Request) => handleRpc(request, options, state);
  Object.defineProperty(handler, "inFlight", { get: () => state.inFlight });
  return handler as typeof handler & { readonly inFlight: number };
}

async function handleRpc(
  request: Request,
  options: Omit<RpcServerOptions, "hostname" | "port" | "token">,
  state: { inFlight: number },
): Promise<Response> {
  try {
    const method = rpcMethodOf(new URL(request.url).pathname);
    if (method === null) {
      return errorResponse(404, "rpc.not_found", "No such RPC method");
    }
    if (request.method !== "POST") {
      return errorResponse(
        405,
        "rpc.method_not_allowed",
        "RPC calls are POST",
        { allow: "POST" },
      );
    }
    if (state.inFlight >= (options.inFlightMax ?? RPC_IN_FLIGHT_MAX)) {
      await request.body?.cancel();
      return errorResponse(
        503,
        "rpc.overloaded",
        "Too many RPC calls in flight; retry later",
        {
          "retry-after": "1",
        },
      );
    }
    // The slot is taken now, so bodies are read under the bound too; it is
    // handed to callRuntime, which frees it when the runtime settles.
    state.inFlight += 1;
    let handedOver = false;
    try {
      const deadlineMs = parseDeadline(
        request.headers.get(RPC_DEADLINE_HEADER),
      );
      const body = await readJsonBody(request, {
        bytesMax: RPC_BODY_BYTES_MAX,
      });
      const parsed = REQUEST_PARSERS[method](body, "request");
      handedOver = true;
      return await callRuntime(method, parsed, {
        options,
        state,
        deadlineMs,
        request,
      });
    } finally {
      if (!handedOver) state.inFlight -= 1;
    }
  } catch (error) {
    if (error instanceof SchemaError) {
      return errorResponse(400, "rpc.bad_request", error.message);
    }
    if (error instanceof ApiError) {
      return errorResponse(error.status, error.code, error.message);
    }
    if (error instanceof RpcError) {
      return errorResponse(422, error.code, error.message);
    }
    options.onError(error);
    return errorResponse(
      500,
      "rpc.internal",
      "Internal error on the node; see its log",
    );
  }
}

const DEADLINE: unique symbol = Symbol("deadline");

async function callRuntime(
  method: RpcMethod,
  parsed: unknown,
  context: {
    options: Omit<RpcServerOptions, "hostname" | "port" | "token">;
    state: { inFlight: number };
    deadlineMs: number;
    request: Request;
  },
): Promise<Response> {
  const controller = new AbortController();
  const onGone = () => controller.abort(new Error("caller went away"));
  context.request.signal.addEventListener("abort", onGone, { once: true });
  const deadline = Promise.withResolvers<typeof DEADLINE>();
  const timer = setTimeout(() => {
    controller.abort(new Error("deadline exceeded"));
    deadline.resolve(DEADLINE);
  }, context.deadlineMs);
  // An async wrapper turns a synchronous throw into a rejection too.
  const runtimeCall = (async () =>
    // deno-lint-ignore no-explicit-any -- `parsed` was parsed by REQUEST_PARSERS[method]
    await (context.options.runtime[method] as any).call(
      context.options.runtime,
      parsed,
      controller.signal,
    ))() as Promise<unknown>;
  // The slot is held until the runtime settles, even past the deadline.
  // Its rejection is handled through the race below; this copy only counts.
  runtimeCall.finally(() => context.state.inFlight -= 1).catch(() => {});
  try {
    const outcome = await Promise.race([runtimeCall, deadline.promise]);
    if (outcome === DEADLINE) {
      return errorResponse(
        504,
        "rpc.deadline_exceeded",
        `The ${method} call exceeded its ${context.deadlineMs} ms deadline`,
      );
    }
    // Check our own runtime's answer before it goes out.
    let result;
    try {
      result = RESULT_PARSERS[method](outcome, "result");
    } catch (error) {
      throw new Error(`The runtime's ${method} result is invalid`, {
        cause: error,
      });
    }
    return new Response(JSON.stringify(result), {
      status: 200,
      headers: { "content-type": "application/json" },
    });
  } finally {
    clearTimeout(timer);
    context.request.signal.removeEventListener("abort", onGone);
  }
}

function rpcMethodOf(pathname: string): RpcMethod | null {
  if (!pathname.startsWith(RPC_PATH_PREFIX)) return null;
  const name = pathname.slice(RPC_PATH_PREFIX.length);
  return RPC_METHODS.find((m) => m === name) ?? null;
}

function parseDeadline(header: string | null): number {
  if (header === null) return RPC_DEADLINE_MS_DEFAULT;
  const value = Number(header);
  if (!/^\d{1,10}$/.test(header) || value < 1) {
    throw new SchemaError(
      RPC_DEADLINE_HEADER,
      "expected a positive integer of milliseconds",
    );
  }
  return Math.min(value, RPC_DEADLINE_MS_MAX);
}

function errorResponse(
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify({ code, message }), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}
