/**
 * A small HTTP listener for the fake's two services, bounded like every
 * listener of mill: connections at once, header bytes, body bytes (413 past
 * them), and time (headers within `headersTimeoutMs` of connecting, a whole
 * request answered within `requestTimeoutMs`, an idle keep-alive connection
 * closed after `idleTimeoutMs`). node:http, as Deno.serve offers none of
 * these bounds; its own timeouts are not enforced under Deno, so the
 * deadlines are kept here.
 */

import http from "node:http";
import type { Socket } from "node:net";

export interface ListenerLimits {
  readonly connectionsMax: number;
  readonly headerBytesMax: number;
  readonly bodyBytesMax: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly idleTimeoutMs: number;
}

export const LIMITS_DEFAULT: ListenerLimits = {
  connectionsMax: 256,
  headerBytesMax: 16 * 1024,
  bodyBytesMax: 64 * 1024,
  headersTimeoutMs: 5_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 10_000,
};

export interface IncomingCall {
  readonly method: string;
  /** Path and query, as sent. */
  readonly target: string;
  readonly headers: Headers;
  readonly body: Uint8Array;
  /** `http://host:port` as the client addressed it. */
  readonly origin: string;
}

export interface Answer {
  readonly status: number;
  readonly headers?: Record<string, string>;
  /** A string is sent as is; anything else as JSON; undefined: no body. */
  readonly body?: unknown;
}

export interface BoundedListener {
  readonly hostname: string;
  readonly port: number;
  readonly url: string;
  /** Connections closed at the door (too many) or past a deadline. */
  readonly dropped: number;
  close(): Promise<void>;
}

export async function listenBounded(options: {
  readonly hostname: string;
  readonly port: number;
  readonly limits?: Partial<ListenerLimits>;
  handle(call: IncomingCall): Promise<Answer>;
}): Promise<BoundedListener> {
  const limits = { ...LIMITS_DEFAULT, ...options.limits };
  const sockets = new Set<Socket>();
  const timers = new Map<Socket, ReturnType<typeof setTimeout>>();
  let dropped = 0;

  const arm = (socket: Socket, ms: number) => {
    clearTimeout(timers.get(socket));
    const timer = setTimeout(() => {
      dropped++;
      socket.destroy();
    }, ms);
    Deno.unrefTimer(timer);
    timers.set(socket, timer);
  };

  const server = http.createServer(
    { maxHeaderSize: limits.headerBytesMax },
    (req, res) => {
      arm(req.socket, limits.requestTimeoutMs);
      res.once("finish", () => arm(req.socket, limits.idleTimeoutMs));
      void serveOne(req, res, limits, options.handle);
    },
  );
  server.on("connection", (socket: Socket) => {
    if (sockets.size >= limits.connectionsMax) {
      dropped++;
      socket.destroy();
      return;
    }
    sockets.add(socket);
    arm(socket, limits.headersTimeoutMs);
    socket.once("close", () => {
      clearTimeout(timers.get(socket));
      timers.delete(socket);
      sockets.delete(socket);
    });
  });
  server.on("clientError", (error: Error & { code?: string }, socket) => {
    if (!socket.writable) return socket.destroy();
    const tooLarge = error.code === "HPE_HEADER_OVERFLOW";
    const text = JSON.stringify(
      tooLarge
        ? { id: "request_header_too_large", message: "Headers too large" }
        : { id: "bad_request", message: "The request is not valid HTTP" },
    );
    socket.end(
      `HTTP/1.1 ${
        tooLarge ? "431 Request Header Fields Too Large" : "400 Bad Request"
      }\r\n` +
        `content-type: application/json\r\nconnection: close\r\ncontent-length: ${text.length}\r\n\r\n${text}`,
    );
  });

  const bound = Promise.withResolvers<void>();
  server.once("error", bound.reject);
  server.listen(options.port, options.hostname, () => bound.resolve());
  await bound.promise;
  server.off("error", bound.reject);
  server.on("error", () => {}); // a failed accept sheds that connection
  const address = server.address();
  if (address === null || typeof address === "string") {
    throw new Error("the fake's listener has no TCP address");
  }
  const host = address.address.includes(":")
    ? `[${address.address}]`
    : address.address;
  return {
    hostname: address.address,
    port: address.port,
    url: `http://${host}:${address.port}`,
    get dropped() {
      return dropped;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

async function serveOne(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  limits: ListenerLimits,
  handle: (call: IncomingCall) => Promise<Answer>,
): Promise<void> {
  const declared = Number(req.headers["content-length"] ?? "0");
  let answer: Answer;
  const body = Number.isFinite(declared) && declared > limits.bodyBytesMax
    ? null
    : await readBody(req, limits.bodyBytesMax);
  if (body === null) {
    answer = {
      status: 413,
      body: {
        id: "request_entity_too_large",
        message: `The request body is larger than ${limits.bodyBytesMax} bytes`,
      },
    };
    res.setHeader("connection", "close");
  } else {
    const headers = new Headers();
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    }
    try {
      answer = await handle({
        method: req.method ?? "GET",
        target: req.url ?? "/",
        headers,
        body,
        origin: `http://${req.headers.host ?? "localhost"}`,
      });
    } catch (error) {
      answer = {
        status: 500,
        body: {
          id: "server_error",
          message: `the fake failed: ${(error as Error).message}`,
        },
      };
    }
  }
  if (res.destroyed) return;
  const text = answer.body === undefined
    ? ""
    : typeof answer.body === "string"
    ? answer.body
    : JSON.stringify(answer.body);
  const bytes = new TextEncoder().encode(text);
  res.writeHead(answer.status, {
    ...(answer.body === undefined || typeof answer.body === "string"
      ? { "content-type": "text/plain; charset=utf-8" }
      : { "content-type": "application/json; charset=utf-8" }),
    "content-length": String(bytes.length),
    ...answer.headers,
  });
  res.end(bytes);
}

/** The whole body, or null once it passes `max` bytes. */
function readBody(
  req: http.IncomingMessage,
  max: number,
): Promise<Uint8Array | null> {
  return new Promise((resolve) => {
    const chunks: Uint8Array[] = [];
    let length = 0;
    let over = false;
    req.on("data", (chunk: Uint8Array) => {
      if (over) return;
      length += chunk.length;
      if (length > max) {
        over = true;
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    req.once("end", () => {
      if (over) return;
      const all = new Uint8Array(length);
      let offset = 0;
      for (const chunk of chunks) {
        all.set(chunk, offset);
        offset += chunk.length;
      }
      resolve(all);
    });
    req.once("error", () => resolve(null));
    req.once("close", () => {
      if (!over && !req.complete) resolve(null);
    });
  });
}
