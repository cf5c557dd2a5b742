/**
 * The one adapter to `@grpc/grpc-js` and `@grpc/proto-loader`: loads our
 * `.proto` files, talks to containerd's unix socket, and hands the rest of
 * mill plain objects. Every call carries the namespace header and a deadline.
 * (Messages packed into `google.protobuf.Any` are `_protobuf.ts`'s work.)
 *
 * Reconnection: grpc-js keeps one channel per socket and reconnects it by
 * itself; we shorten its backoff so that a restarted containerd is found
 * within a second, mark unary calls wait-for-ready (so they wait for the
 * channel under their deadline instead of failing at once), and retry a call
 * that failed with UNAVAILABLE while attempts and deadline last.
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";

/** The services we use, by short name. */
export const SERVICE_NAMES = {
  version: "containerd.services.version.v1.Version",
  containers: "containerd.services.containers.v1.Containers",
  content: "containerd.services.content.v1.Content",
  diff: "containerd.services.diff.v1.Diff",
  events: "containerd.services.events.v1.Events",
  images: "containerd.services.images.v1.Images",
  leases: "containerd.services.leases.v1.Leases",
  snapshots: "containerd.services.snapshots.v1.Snapshots",
  tasks: "containerd.services.tasks.v1.Tasks",
} as const;
export type ServiceName = keyof typeof SERVICE_NAMES;

const PROTO_FILES = [
  "services/version.proto",
  "services/containers.proto",
  "services/content.proto",
  "services/diff.proto",
  "services/events.proto",
  "services/images.proto",
  "services/leases.proto",
  "services/snapshots.proto",
  "services/tasks.proto",
];

/** Attempts of a unary call that failed with UNAVAILABLE. */
const UNAVAILABLE_ATTEMPTS_MAX = 20;
const RETRY_DELAY_MS = 50;

/** A failed call: the gRPC status code (numeric and named) and details. */
export class GrpcCallError extends Error {
  override name = "GrpcCallError";
  constructor(
    readonly status: number,
    readonly statusName: string,
    readonly details: string,
    readonly method: string,
    options?: ErrorOptions,
  ) {
    super(`${method}: ${statusName}: ${details}`, options);
  }
}

export interface CallOptions {
  readonly timeoutMs: number;
  /** Lease the call runs under (header `containerd-lease`). */
  readonly leaseId?: string;
  readonly signal?: AbortSignal;
}

/** A server stream: messages arrive through `onMessage`; `done` settles at its end. */
export interface ServerStream {
  readonly done: Promise<void>;
  cancel(): void;
}

/** A bidirectional stream with request/response turns. */
export interface DuplexStream {
  /** Sends one message and waits for the next response. */
  exchange(message: unknown): Promise<unknown>;
  end(): void;
  cancel(): void;
}

type MethodDefinition = protoLoader.MethodDefinition<object, object>;
type ServiceDefinition = Record<string, MethodDefinition>;

let packageCache: protoLoader.PackageDefinition | undefined;

function loadPackage(): protoLoader.PackageDefinition {
  if (packageCache === undefined) {
    const dir = fileURLToPath(new URL("./proto/", import.meta.url));
    packageCache = protoLoader.loadSync(PROTO_FILES, {
      includeDirs: [dir],
      keepCase: false,
      longs: Number,
      enums: String,
      defaults: true,
      oneofs: true,
    });
  }
  return packageCache;
}

function serviceDefinition(name: ServiceName): ServiceDefinition {
  const definition = loadPackage()[SERVICE_NAMES[name]];
  if (definition === undefined || "format" in definition) {
    throw new Error(`Service "${SERVICE_NAMES[name]}" missing from the protos`);
  }
  return definition as unknown as ServiceDefinition;
}

function methodDefinition(
  service: ServiceName,
  method: string,
): MethodDefinition {
  const definition = serviceDefinition(service)[method];
  if (definition === undefined) {
    throw new Error(`Method "${method}" missing from "${service}"`);
  }
  return definition;
}

function callError(method: string, error: unknown): GrpcCallError {
  if (error instanceof Error && "code" in error) {
    const status = typeof error.code === "number" ? error.code : 2;
    const details = "details" in error && typeof error.details === "string"
      ? error.details
      : error.message;
    return new GrpcCallError(
      status,
      grpc.status[status] ?? "UNKNOWN",
      details,
      method,
      { cause: error },
    );
  }
  return new GrpcCallError(2, "UNKNOWN", String(error), method, {
    cause: error,
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A connection to one containerd socket, in one namespace. */
export class GrpcConnection {
  readonly #client: grpc.Client;
  readonly #namespace: string;
  #closed = false;

  constructor(socketPath: string, namespace: string) {
    this.#namespace = namespace;
    this.#client = new grpc.Client(
      `unix://${socketPath}`,
      grpc.credentials.createInsecure(),
      {
        "grpc.initial_reconnect_backoff_ms": 50,
        "grpc.min_reconnect_backoff_ms": 50,
        "grpc.max_reconnect_backoff_ms": 500,
        "grpc.max_receive_message_length": 64 * 1024 * 1024,
        "grpc.max_send_message_length": 64 * 1024 * 1024,
        // grpc-js pools subchannels across clients by default; a private pool
        // makes close() release the socket at once.
        "grpc.use_local_subchannel_pool": 1,
      },
    );
  }

  #metadata(leaseId: string | undefined): grpc.Metadata {
    const metadata = new grpc.Metadata();
    metadata.set("containerd-namespace", this.#namespace);
    if (leaseId !== undefined) metadata.set("containerd-lease", leaseId);
    return metadata;
  }

  /** One request, one response; retried while containerd is unavailable. */
  async unary(
    service: ServiceName,
    method: string,
    request: object,
    options: CallOptions,
  ): Promise<unknown> {
    const definition = methodDefinition(service, method);
    const deadlineMs = Date.now() + options.timeoutMs;
    let lastError: GrpcCallError | undefined;
    for (let attempt = 0; attempt < UNAVAILABLE_ATTEMPTS_MAX; attempt++) {
      try {
        return await this.#unaryOnce(definition, request, options, deadlineMs);
      } catch (error) {
        if (!(error instanceof GrpcCallError)) throw error;
        lastError = error;
        const retryable = error.status === grpc.status.UNAVAILABLE &&
          !this.#closed && Date.now() + RETRY_DELAY_MS < deadlineMs &&
          options.signal?.aborted !== true;
        if (!retryable) throw error;
        await delay(RETRY_DELAY_MS);
      }
    }
    throw lastError ?? new Error("unreachable");
  }

  #unaryOnce(
    definition: MethodDefinition,
    request: object,
    options: CallOptions,
    deadlineMs: number,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const call = this.#client.makeUnaryRequest(
        definition.path,
        definition.requestSerialize,
        definition.responseDeserialize,
        request,
        this.#metadata(options.leaseId),
        { deadline: deadlineMs, waitForReady: true } as grpc.CallOptions,
        (error, response) => {
          options.signal?.removeEventListener("abort", onAbort);
          if (error) reject(callError(definition.path, error));
          else resolve(response);
        },
      );
      const onAbort = () => call.cancel();
      options.signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** A server-streaming call; `onMessage` sees each message in order. */
  serverStream(
    service: ServiceName,
    method: string,
    request: object,
    onMessage: (message: unknown) => void,
    options: { readonly timeoutMs?: number; readonly waitForReady?: boolean },
  ): ServerStream {
    const definition = methodDefinition(service, method);
    const callOptions: grpc.CallOptions = {
      deadline: options.timeoutMs === undefined
        ? Infinity
        : Date.now() + options.timeoutMs,
    };
    if (options.waitForReady === true) {
      (callOptions as { waitForReady?: boolean }).waitForReady = true;
    }
    const call = this.#client.makeServerStreamRequest(
      definition.path,
      definition.requestSerialize,
      definition.responseDeserialize,
      request,
      this.#metadata(undefined),
      callOptions,
    );
    let cancelled = false;
    const done = new Promise<void>((resolve, reject) => {
      call.on("data", (message: unknown) => onMessage(message));
      call.on("error", (error: unknown) => {
        if (cancelled) resolve();
        else reject(callError(definition.path, error));
      });
      call.on("end", () => resolve());
    });
    return {
      done,
      cancel() {
        cancelled = true;
        call.cancel();
      },
    };
  }

  /** A bidirectional call used in turns (Content.Write). */
  duplex(
    service: ServiceName,
    method: string,
    options: CallOptions,
  ): DuplexStream {
    const definition = methodDefinition(service, method);
    const call = this.#client.makeBidiStreamRequest(
      definition.path,
      definition.requestSerialize,
      definition.responseDeserialize,
      this.#metadata(options.leaseId),
      { deadline: Date.now() + options.timeoutMs },
    );
    const queued: unknown[] = [];
    let waiting:
      | { resolve: (m: unknown) => void; reject: (e: unknown) => void }
      | undefined;
    let failure: GrpcCallError | undefined;
    call.on("data", (message: unknown) => {
      if (waiting) {
        const w = waiting;
        waiting = undefined;
        w.resolve(message);
      } else queued.push(message);
    });
    const fail = (error: GrpcCallError) => {
      failure = error;
      if (waiting) {
        const w = waiting;
        waiting = undefined;
        w.reject(error);
      }
    };
    call.on(
      "error",
      (error: unknown) => fail(callError(definition.path, error)),
    );
    call.on("end", () =>
      fail(
        new GrpcCallError(2, "UNKNOWN", "stream ended", definition.path),
      ));
    return {
      exchange(message: unknown): Promise<unknown> {
        if (failure) return Promise.reject(failure);
        call.write(message as object);
        const next = queued.shift();
        if (next !== undefined) return Promise.resolve(next);
        return new Promise((resolve, reject) => {
          waiting = { resolve, reject };
        });
      },
      end() {
        call.end();
      },
      cancel() {
        call.cancel();
      },
    };
  }

  close(): void {
    this.#closed = true;
    this.#client.close();
  }
}
