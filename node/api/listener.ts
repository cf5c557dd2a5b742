/**
 * The listener under every server of the frame (the API, the peer port):
 * node's HTTP(S) server, which Deno runs and which, unlike `Deno.serve`, can
 * ask for and verify a client certificate, plus the door's limits:
 *
 * - connections: at most `connectionsMax` at once, `connectionsPerSourceMax`
 *   from one address; past that a new connection is closed at once (and
 *   counted), never queued;
 * - time: headers within `headersTimeoutMs` (slowloris), a whole request body
 *   within `requestTimeoutMs`, an idle keep-alive connection closed after
 *   `idleTimeoutMs`;
 * - size: request headers up to `headerBytesMax` (431 past it, as JSON);
 *   bodies are bounded by the frame's body readers (body.ts);
 * - failures: a malformed request is answered 400 as JSON; an accept error
 *   (out of file descriptors, say) sheds the connection and is logged, never
 *   crashes the process.
 *
 * Each request is handed to the frame as a web `Request`, with the
 * connection's verified client certificate (common name) when there is one.
 */
import http from "node:http";
import https from "node:https";
import type { Socket } from "node:net";
import { Readable } from "node:stream";
import type { TLSSocket } from "node:tls";

export interface ListenerLimits {
  readonly connectionsMax: number;
  readonly connectionsPerSourceMax: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly headerBytesMax: number;
}

export const LISTENER_LIMITS_DEFAULT: ListenerLimits = {
  connectionsMax: 1_024,
  connectionsPerSourceMax: 128,
  headersTimeoutMs: 10_000,
  // A Raft snapshot may take up to two minutes to arrive.
  requestTimeoutMs: 120_000,
  idleTimeoutMs: 30_000,
  headerBytesMax: 16 * 1024,
};

/** Descriptors kept back for everything but this listener's connections. */
const DESCRIPTORS_RESERVED = 64;
/** Listeners of one process (the API, the peer port…) share the descriptors. */
const LISTENERS_PER_PROCESS = 4;

/** The connections one listener may hold given the process's open-files limit. */
export function connectionBudget(openFilesMax: number | null): number {
  if (openFilesMax === null) return Number.MAX_SAFE_INTEGER;
  return Math.max(
    1,
    Math.floor((openFilesMax - DESCRIPTORS_RESERVED) / LISTENERS_PER_PROCESS),
  );
}

/** The soft open-files limit of this process, or null when it cannot be read. */
async function openFilesLimit(): Promise<number | null> {
  const text = await Deno.readTextFile("/proc/self/limits").catch(() => "");
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(text);
  if (match === null || match[1] === "unlimited") return null;
  return Number(match[1]);
}

/** What the listener knows of the connection a request came on. */
export interface Connection {
  readonly remoteAddress: string;
  /** The common name of a client certificate the CA verified; else null. */
  readonly clientCommonName: string | null;
}

export interface ListenerTls {
  readonly certPem: string;
  readonly keyPem: string;
  /** When set, clients are asked for a certificate, verified against this CA. */
  readonly clientCaPem?: string;
}

export interface ListenerOptions {
  readonly hostname: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Without it the listener serves plain HTTP. */
  readonly tls?: ListenerTls;
  readonly limits?: Partial<ListenerLimits>;
  handler(request: Request, connection: Connection): Promise<Response>;
  /** Errors outside a handler (a failed accept, a broken write). Must not throw. */
  onError(error: unknown): void;
}

export interface Listener {
  readonly hostname: string;
  readonly port: number;
  /** Connections closed at the door because of the limits. */
  readonly refusedConnections: number;
  /** Stops accepting, ends idle connections, waits for requests in flight. */
  shutdown(): Promise<void>;
  /** New connections get this certificate (a TLS listener only; a renewed one). */
  setTls(tls: ListenerTls): void;
}

const JSON_HEADERS = "content-type: application/json\r\nconnection: close";

function rawJsonResponse(status: number, reason: string, body: object) {
  const text = JSON.stringify(body) + "\n";
  return `HTTP/1.1 ${status} ${reason}\r\n${JSON_HEADERS}\r\ncontent-length: ${
    new TextEncoder().encode(text).length
  }\r\n\r\n${text}`;
}

/** Starts listening; resolves once bound. */
export async function listen(options: ListenerOptions): Promise<Listener> {
  const limits = { ...LISTENER_LIMITS_DEFAULT, ...options.limits };
  // Accepting past the process's descriptor limit fails inside the runtime
  // and stalls the accept loop: the door closes well before that.
  limits.connectionsMax = Math.min(
    limits.connectionsMax,
    connectionBudget(await openFilesLimit()),
  );
  const deadlines = new ConnectionDeadlines(limits);
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    deadlines.requestStarted(req, res);
    void serveOne(req, res, options);
  };
  const server = options.tls === undefined
    ? http.createServer({ maxHeaderSize: limits.headerBytesMax }, onRequest)
    : https.createServer({
      key: options.tls.keyPem,
      cert: options.tls.certPem,
      maxHeaderSize: limits.headerBytesMax,
      ...(options.tls.clientCaPem === undefined ? {} : {
        ca: options.tls.clientCaPem,
        requestCert: true,
        // Verified, not required: public routes (the CA bootstrap) serve
        // callers without one; the frame refuses them everywhere else.
        rejectUnauthorized: false,
      }),
    }, onRequest);
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.idleTimeoutMs;
  server.maxConnections = limits.connectionsMax;

  let refused = 0;
  const perSource = new Map<string, number>();
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    const source = socket.remoteAddress ?? "unknown";
    const count = (perSource.get(source) ?? 0) + 1;
    if (
      count > limits.connectionsPerSourceMax ||
      sockets.size >= limits.connectionsMax
    ) {
      refused++;
      socket.destroy();
      return;
    }
    perSource.set(source, count);
    sockets.add(socket);
    deadlines.connected(socket);
    socket.once("close", () => {
      deadlines.closed(socket);
      sockets.delete(socket);
      const left = (perSource.get(source) ?? 1) - 1;
      if (left <= 0) perSource.delete(source);
      else perSource.set(source, left);
    });
  });
  server.on("drop", () => refused++);
  server.on("clientError", (error: Error & { code?: string }, socket) => {
    if (!socket.writable) return socket.destroy();
    const tooLarge = error.code === "HPE_HEADER_OVERFLOW";
    socket.end(
      tooLarge
        ? rawJsonResponse(431, "Request Header Fields Too Large", {
          code: "api.headers_too_large",
          message: `Request headers exceed ${limits.headerBytesMax} bytes`,
        })
        : rawJsonResponse(400, "Bad Request", {
          code: "api.malformed_request",
          message: "The request is not well-formed HTTP",
        }),
    );
  });
  // An accept that fails (EMFILE…) sheds that connection; the server goes on.
  server.on("error", (error) => options.onError(error));

  const bound = Promise.withResolvers<void>();
  server.once("error", bound.reject);
  server.listen(options.port, options.hostname, () => bound.resolve());
  await bound.promise;
  server.off("error", bound.reject);
  const address = server.address();
  if (address === null || typeof address === "string") {
    throw new Error("the listener has no TCP address");
  }
  return {
    hostname: address.address,
    port: address.port,
    get refusedConnections() {
      return refused;
    },
    setTls(tls) {
      if (!(server instanceof https.Server)) {
        throw new Error("a plain HTTP listener has no certificate to replace");
      }
      server.setSecureContext({
        key: tls.keyPem,
        cert: tls.certPem,
        ...(tls.clientCaPem === undefined ? {} : { ca: tls.clientCaPem }),
      });
    },
    shutdown: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Idle keep-alive connections would hold close() open.
        server.closeIdleConnections();
        for (const socket of sockets) {
          // Connections with a request in flight end with it.
          if (!(socket as Socket & { _httpMessage?: unknown })._httpMessage) {
            socket.destroy();
          }
        }
      }),
  };
}

function declaresBody(req: http.IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return (length !== undefined && length !== "0") ||
    req.headers["transfer-encoding"] !== undefined;
}

/**
 * Time limits kept by the listener itself (node's own `headersTimeout` and
 * `requestTimeout` are not enforced under Deno): a connection must complete
 * its request headers within `headersTimeoutMs` of opening, the next ones
 * within `idleTimeoutMs` of the previous answer, and each request body
 * within `requestTimeoutMs`; past that the connection is destroyed.
 */
class ConnectionDeadlines {
  readonly #limits: ListenerLimits;
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #sockets = new Map<string, Socket>();

  constructor(limits: ListenerLimits) {
    this.#limits = limits;
  }

  connected(socket: Socket): void {
    const key = keyOf(socket);
    this.#sockets.set(key, socket);
    this.#arm(key, this.#limits.headersTimeoutMs);
  }

  requestStarted(req: http.IncomingMessage, res: http.ServerResponse): void {
    const key = keyOf(req.socket);
    if (!req.complete && declaresBody(req)) {
      this.#arm(key, this.#limits.requestTimeoutMs);
      req.once("end", () => this.#clear(key));
    } else {
      this.#clear(key);
    }
    res.once("finish", () => this.#arm(key, this.#limits.idleTimeoutMs));
  }

  closed(socket: Socket): void {
    const key = keyOf(socket);
    this.#clear(key);
    this.#sockets.delete(key);
  }

  #arm(key: string, ms: number): void {
    this.#clear(key);
    const timer = setTimeout(() => this.#sockets.get(key)?.destroy(), ms);
    Deno.unrefTimer(timer);
    this.#timers.set(key, timer);
  }

  #clear(key: string): void {
    clearTimeout(this.#timers.get(key));
    this.#timers.delete(key);
  }
}

/** A connection's key, the same for its raw socket and its TLS socket. */
function keyOf(socket: Socket): string {
  return `${socket.remoteAddress ?? ""}:${socket.remotePort ?? 0}`;
}

function connectionOf(req: http.IncomingMessage): Connection {
  const socket = req.socket as TLSSocket;
  let clientCommonName: string | null = null;
  if (socket.authorized === true) {
    const name = socket.getPeerCertificate()?.subject?.CN;
    if (typeof name === "string" && name.length > 0) clientCommonName = name;
  }
  return { remoteAddress: socket.remoteAddress ?? "", clientCommonName };
}

async function serveOne(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  options: ListenerOptions,
): Promise<void> {
  const gone = new AbortController();
  res.once("close", () => gone.abort(new Error("the connection closed")));
  let response: Response;
  try {
    const method = req.method ?? "GET";
    const headers = new Headers();
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    }
    // As a web server sees it: a body only when the request declares one.
    const hasBody = method !== "GET" && method !== "HEAD" &&
      declaresBody(req);
    const request = new Request(
      `${options.tls === undefined ? "http" : "https"}://${
        options.hostname.includes(":")
          ? `[${options.hostname}]`
          : options.hostname
      }${req.url ?? "/"}`,
      {
        method,
        headers,
        signal: gone.signal,
        ...(hasBody
          ? {
            body: Readable.toWeb(req) as ReadableStream<Uint8Array>,
            duplex: "half",
          }
          : {}),
      } as RequestInit,
    );
    response = await options.handler(request, connectionOf(req));
  } catch (error) {
    // The frame's handler never throws; a request that cannot be built can.
    options.onError(error);
    response = new Response(
      JSON.stringify({
        code: "api.malformed_request",
        message: "The request could not be read",
      }),
      { status: 400, headers: { "content-type": "application/json" } },
    );
  }
  // A body the handler did not read (a 413, say) is not drained: the
  // connection closes after the answer instead of serving the next request.
  const unread = req.readableLength > 0 || (!req.complete && declaresBody(req));
  if (unread) res.setHeader("connection", "close");
  await writeResponse(res, response, options);
}

async function writeResponse(
  res: http.ServerResponse,
  response: Response,
  options: ListenerOptions,
): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, key) => {
    headers[key] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers["set-cookie"] = cookies;
  res.writeHead(response.status, headers);
  const body = response.body;
  if (body === null) {
    res.end();
    return;
  }
  // Streams (SSE, the watch stream) must reach the client as they are written.
  res.flushHeaders();
  const reader = body.getReader();
  const closed = new Promise<void>((resolve) => res.once("close", resolve));
  let finished = false;
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), closed.then(() => null)]);
      if (next === null) break; // the client went away
      if (next.done) {
        finished = true;
        break;
      }
      if (!res.write(next.value)) {
        await Promise.race([
          new Promise((resolve) => res.once("drain", resolve)),
          closed,
        ]);
      }
    }
  } catch (error) {
    options.onError(error);
  } finally {
    res.end();
    // A body left unread (the client went away) is told so; never awaited,
    // as a source may take its time to wind down.
    if (!finished) {
      reader.cancel().catch(() => {
        // The body's source already failed; nothing more to free.
      });
    }
  }
}
