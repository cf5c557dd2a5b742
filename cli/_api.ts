/**
 * The CLI's client of the leader's API: the current context of the context
 * file (`~/.mill/config.json`, or the path in `MILL_CONFIG`), HTTPS trusting
 * only the cluster's CA, the admin token, JSON calls and SSE streams (read
 * by `sse.ts`), and the mapping of failures to exit statuses.
 */
import {
  type CliContext,
  defaultCliContextPath,
  readCliContextFile,
} from "../node/cluster_init/mod.ts";
import { EXIT } from "./exit_codes.ts";
import type { Output } from "./output.ts";
import { parseEventJson, readEvents } from "./sse.ts";

/** Env variable naming another context file. */
export const CONTEXT_PATH_ENV = "MILL_CONFIG";
/** Largest JSON answer read. */
export const API_ANSWER_BYTES_MAX = 64 * 1024 * 1024;

/** A failed API call: the API's `{ code, message }`, or a transport failure. */
export class ApiCallError extends Error {
  override name = "ApiCallError";
  constructor(
    /** HTTP status; 0 when the API could not be reached. */
    readonly status: number,
    readonly code: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export function contextPath(): string {
  const fromEnv = Deno.env.get(CONTEXT_PATH_ENV);
  return fromEnv !== undefined && fromEnv !== ""
    ? fromEnv
    : defaultCliContextPath();
}

/** The current context, or an `ApiCallError` saying how to get one. */
export async function loadApiContext(): Promise<CliContext> {
  const path = contextPath();
  const file = await readCliContextFile(path);
  const context = file.current === null
    ? undefined
    : file.contexts[file.current];
  if (context === undefined) {
    throw new ApiCallError(
      0,
      "cli.no_context",
      `No cluster context in "${path}"; run "mill up" or "mill init" first`,
    );
  }
  return context;
}

/** One SSE event as received, its data parsed from JSON. */
export interface ReceivedEvent {
  readonly event: string;
  readonly data: unknown;
}

export class ApiClient {
  readonly #context: CliContext;
  readonly #http: Deno.HttpClient;

  constructor(context: CliContext) {
    this.#context = context;
    this.#http = Deno.createHttpClient({ caCerts: [context.caCertPem] });
  }

  static async fromContextFile(): Promise<ApiClient> {
    return new ApiClient(await loadApiContext());
  }

  get apiUrl(): string {
    return this.#context.apiUrl;
  }

  close(): void {
    this.#http.close();
  }

  /** A raw request; throws `ApiCallError` for transport failures and error statuses. */
  async request(
    method: string,
    path: string,
    init: { body?: BodyInit; contentType?: string; signal?: AbortSignal } = {},
  ): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(`${this.#context.apiUrl}${path}`, {
        method,
        client: this.#http,
        headers: {
          authorization: `Bearer ${this.#context.token}`,
          ...(init.contentType === undefined
            ? {}
            : { "content-type": init.contentType }),
        },
        ...(init.body === undefined ? {} : { body: init.body }),
        ...(init.signal === undefined ? {} : { signal: init.signal }),
      });
    } catch (error) {
      throw new ApiCallError(
        0,
        "cli.unreachable",
        `Cannot reach the mill API at ${this.#context.apiUrl}: ${
          (error as Error).message
        }; is the agent running ("mill up" starts one here)?`,
        { cause: error },
      );
    }
    if (response.ok) return response;
    const text = await response.text();
    let code = "api.error";
    let message = `The API answered ${response.status}`;
    try {
      const body = JSON.parse(text);
      if (typeof body?.code === "string") code = body.code;
      if (typeof body?.message === "string") message = body.message;
    } catch {
      // Not our JSON error shape: keep the status line.
    }
    throw new ApiCallError(response.status, code, message);
  }

  /** A JSON call; `body` is sent as JSON when given. */
  async json(method: string, path: string, body?: unknown): Promise<unknown> {
    const response = await this.request(
      method,
      path,
      body === undefined
        ? {}
        : { body: JSON.stringify(body), contentType: "application/json" },
    );
    if (response.status === 204) {
      await response.body?.cancel();
      return null;
    }
    const text = await response.text();
    if (text.length > API_ANSWER_BYTES_MAX) {
      throw new ApiCallError(
        0,
        "cli.answer_too_large",
        "The API answer is too large",
      );
    }
    return JSON.parse(text);
  }

  /**
   * Reads an SSE answer, calling `onEvent` per event until the stream ends.
   * Throws an `SseError` for an event past `SSE_EVENT_BYTES_MAX` or whose
   * data is not JSON (the API sends JSON only).
   */
  async events(
    method: string,
    path: string,
    init: { body?: BodyInit; contentType?: string; signal?: AbortSignal },
    onEvent: (event: ReceivedEvent) => void,
  ): Promise<void> {
    const response = await this.request(method, path, init);
    for await (const event of readEvents(response)) {
      onEvent({ event: event.event, data: parseEventJson(event) });
    }
  }
}

/** Reports `error` and returns the exit status (3 when no cluster is reachable). */
export function cliFailure(
  error: unknown,
  output: Output,
  json: boolean,
): number {
  if (!(error instanceof ApiCallError)) {
    const code = (error as { code?: unknown })?.code;
    const message = error instanceof Error ? error.message : String(error);
    if (json) {
      output.line(
        JSON.stringify({
          code: typeof code === "string" ? code : "cli.failed",
          message,
        }),
      );
    } else output.error(`error: ${message}`);
    return EXIT.failure;
  }
  if (json) {
    output.line(JSON.stringify({ code: error.code, message: error.message }));
  } else {
    output.error(`error[${error.code}]: ${error.message}`);
  }
  return error.status === 0 && error.code !== "cli.answer_too_large"
    ? EXIT.unavailable
    : EXIT.failure;
}

/** Runs `work` with a client of the current context; failures become exit statuses. */
export async function withApi(
  output: Output,
  json: boolean,
  work: (client: ApiClient) => Promise<number>,
): Promise<number> {
  let client: ApiClient;
  try {
    client = await ApiClient.fromContextFile();
  } catch (error) {
    return cliFailure(error, output, json);
  }
  try {
    return await work(client);
  } catch (error) {
    // Stdout closed under a streaming command: nobody reads any more.
    if (output.closed?.aborted === true) return EXIT.ok;
    return cliFailure(error, output, json);
  } finally {
    client.close();
  }
}
