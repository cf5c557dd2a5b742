/**
 * The proxy: an HTTP listener (port 80) and, optionally, an HTTPS one (443)
 * serving HTTP/1.1 and HTTP/2 by ALPN, one certificate per host by SNI.
 *
 * node:http and node:http2 (allowHTTP1), not Deno.serve: under Deno 2.9.6
 * Deno.serve takes one certificate per listener and no SNI callback, and
 * it gives no hook per connection for the connection limits; node's
 * servers have `SNICallback`, the `connection` event and raw upgraded
 * sockets, and measure about the same here.
 *
 * Per request, in order: the ACME HTTP-01 challenge path (port 80, any
 * host), the HTTPS redirect (port 80, hosts with a certificate), the
 * certificate check (port 443: a host without one gets 421), then the route
 * table (404 unknown host or path, 503 no healthy endpoint), then forward.
 * The table and the certificates are each swapped whole: a request reads
 * them once, when it arrives.
 */
import http from "node:http";
import http2 from "node:http2";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type tls from "node:tls";
import { accessEntry, type AccessLogEntry } from "./access_log.ts";
import {
  Balancer,
  type EndpointSnapshot,
  type PassiveHealth,
} from "./balancer.ts";
import { type CertificateMap, CertificateSet } from "./certificates.ts";
import {
  answer,
  type ClientRequest,
  type ClientResponse,
  forward,
  type ForwardResult,
  writeHead,
} from "./forward.ts";
import {
  clientAddress,
  headerBytes,
  requestedUpgrade,
  upstreamRequestHeaders,
} from "./headers.ts";
import { ConnectionGuard, type ProxyLimits, resolveLimits } from "./limits.ts";
import {
  httpsRedirect,
  type ProxyErrorReason,
  rawErrorResponse,
} from "./pages.ts";
import {
  type BalancePolicy,
  buildRouteTable,
  EMPTY_ROUTE_TABLE,
  requestHost,
  type Route,
  type RouteTable,
} from "./route_table.ts";
import { tunnel } from "./websocket.ts";

export interface ListenAddress {
  readonly hostname: string;
  /** 0 picks a free port. */
  readonly port: number;
}

/** The key authorization for an HTTP-01 token, or undefined when unknown. */
export type ChallengeResponder = (
  token: string,
  host: string,
) => string | undefined | Promise<string | undefined>;

export type LogLevel = "debug" | "info" | "warn" | "error";

export interface ProxyOptions {
  readonly httpListen: ListenAddress;
  /** Without it the proxy serves plain HTTP only. */
  readonly httpsListen?: ListenAddress;
  readonly routes?: RouteTable | readonly Route[];
  readonly certificates?: CertificateMap;
  readonly challenges?: ChallengeResponder;
  readonly accessLog?: (entry: AccessLogEntry) => void;
  readonly log?: (level: LogLevel, message: string) => void;
  readonly limits?: Partial<ProxyLimits>;
  /** For routes that do not name one; "round-robin" unless told. */
  readonly balance?: BalancePolicy;
  readonly health?: PassiveHealth;
  /** The port HTTPS redirects name; the HTTPS listener's (omitted when 443). */
  readonly redirectHttpsPort?: number;
}

export interface ProxyStats {
  readonly requests: number;
  readonly responsesByClass: Readonly<Record<string, number>>;
  readonly proxyAnswers: Readonly<Record<string, number>>;
  readonly attempts: number;
  readonly retries: number;
  readonly upstreamFailures: number;
  readonly connectionsOpen: number;
  readonly connectionsRefused: number;
  readonly connectionsTimedOut: number;
  readonly badRequests: number;
  readonly tlsErrors: number;
  readonly websocketsOpen: number;
  readonly websockets: number;
  readonly routes: number;
  readonly certificates: number;
  readonly endpoints: readonly EndpointSnapshot[];
}

export interface Proxy {
  readonly httpPort: number;
  /** null without an HTTPS listener. */
  readonly httpsPort: number | null;
  /** Swaps the route table whole; throws RouteTableError and keeps the old one on bad input. */
  setRoutes(routes: RouteTable | readonly Route[]): void;
  /** Swaps the certificates whole; throws CertificateError and keeps the old ones on bad input. */
  setCertificates(certificates: CertificateMap): void;
  stats(): ProxyStats;
  /** Stops accepting, lets requests in flight finish (up to `graceMs`), then closes everything. */
  close(graceMs?: number): Promise<void>;
}

const CHALLENGE_PREFIX = "/.well-known/acme-challenge/";
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

export async function startProxy(options: ProxyOptions): Promise<Proxy> {
  const limits = resolveLimits(options.limits);
  const log = options.log ?? (() => {});
  const balancer = new Balancer({
    ...(options.balance === undefined ? {} : { policy: options.balance }),
    ...(options.health === undefined ? {} : { health: options.health }),
  });
  const agent = new http.Agent({
    keepAlive: true,
    maxSockets: limits.upstreamSocketsPerEndpointMax,
    maxFreeSockets: 64,
    timeout: limits.upstreamIdleTimeoutMs,
  });
  let table = toTable(options.routes ?? EMPTY_ROUTE_TABLE);
  let certificates = CertificateSet.build(options.certificates ?? {});
  const counters = {
    requests: 0,
    attempts: 0,
    retries: 0,
    upstreamFailures: 0,
    badRequests: 0,
    tlsErrors: 0,
    websocketsOpen: 0,
    websockets: 0,
  };
  const responsesByClass: Record<string, number> = {};
  const proxyAnswers: Record<string, number> = {};
  let inFlight = 0;
  let drained: (() => void) | null = null;

  const record = (entry: AccessLogEntry) => {
    const klass = `${Math.floor(entry.status / 100)}xx`;
    responsesByClass[klass] = (responsesByClass[klass] ?? 0) + 1;
    if (entry.error !== null) {
      proxyAnswers[entry.error] = (proxyAnswers[entry.error] ?? 0) + 1;
    }
    try {
      options.accessLog?.(entry);
    } catch (error) {
      log("warn", `proxy access log callback failed: ${String(error)}`);
    }
  };

  const ownAnswer = (
    res: ClientResponse,
    reason: ProxyErrorReason,
    close: boolean,
  ): ForwardResult => answer(res, reason, null, 0, close);

  async function handle(
    tlsListener: boolean,
    req: ClientRequest,
    res: ClientResponse,
  ): Promise<void> {
    const started = performance.now();
    const time = new Date().toISOString();
    const socket = req.socket;
    guard(tlsListener).requestStarted(socket);
    res.once("close", () => guard(tlsListener).requestEnded(socket));
    counters.requests++;
    inFlight++;
    const method = req.method ?? "GET";
    const isHttp2 = req.httpVersionMajor === 2;
    const raw = req.rawHeaders;
    const authority = isHttp2 ? req.headers[":authority"] : undefined;
    const hostHeader =
      (typeof authority === "string" ? authority : undefined) ??
        req.headers.host ?? "";
    const url = req.url ?? "/";
    const query = url.indexOf("?");
    const path = query < 0 ? url : url.slice(0, query);
    const client = clientAddress(socket?.remoteAddress);
    const lengthHeader = req.headers["content-length"];
    const declaredLength = lengthHeader === undefined
      ? null
      : /^\d{1,15}$/.test(lengthHeader)
      ? Number(lengthHeader)
      : NaN;
    const hasBody = isHttp2
      ? (declaredLength !== null
        ? declaredLength > 0
        : !(req as { stream?: { endAfterHeaders?: boolean } }).stream
          ?.endAfterHeaders)
      : (declaredLength !== null && declaredLength > 0) ||
        req.headers["transfer-encoding"] !== undefined;
    let service: string | null = null;
    let result: ForwardResult;
    try {
      result = await route();
    } catch (error) {
      log("error", `proxy request failed: ${String(error)}`);
      result = res.headersSent
        ? (res.destroy(), {
          status: 502,
          bytes: 0,
          upstream: null,
          attempts: 0,
          error: "internal",
        })
        : ownAnswer(res, "upstream-failed", true);
    } finally {
      inFlight--;
      if (inFlight === 0) drained?.();
    }
    record(accessEntry(
      {
        time,
        client,
        method,
        host: hostHeader,
        path,
        protocol: `HTTP/${req.httpVersion}`,
        tls: tlsListener,
        service,
      },
      result,
      started,
    ));

    async function route(): Promise<ForwardResult> {
      if (isHttp2 && headerBytes(raw) > limits.headerBytesMax) {
        return ownAnswer(res, "headers-too-large", true);
      }
      if (
        hostHeader === "" || !url.startsWith("/") ||
        Number.isNaN(declaredLength)
      ) {
        counters.badRequests++;
        return ownAnswer(res, "bad-request", true);
      }
      const host = requestHost(hostHeader);
      if (!tlsListener) {
        if (path.startsWith(CHALLENGE_PREFIX)) {
          return await challenge(
            res,
            path.slice(CHALLENGE_PREFIX.length),
            host,
            hasBody,
          );
        }
        if (httpsPort !== null && certificates.has(host)) {
          const page = httpsRedirect(
            host,
            options.redirectHttpsPort ?? httpsPort,
            url,
          );
          if (hasBody) page.headers["connection"] = "close";
          writeHead(res, page.status, page.headers);
          res.end(page.body);
          return {
            status: page.status,
            bytes: page.body.length,
            upstream: null,
            attempts: 0,
            error: null,
          };
        }
      } else if (!certificates.has(host)) {
        return ownAnswer(res, "misdirected", hasBody);
      }
      const found = table.lookup(hostHeader, path);
      if (found.kind === "unknown-host") {
        return ownAnswer(res, "unknown-host", hasBody);
      }
      if (found.kind === "no-path-match") {
        return ownAnswer(res, "no-route", hasBody);
      }
      service = found.route.service;
      if (found.kind === "no-endpoint") {
        return ownAnswer(res, "no-endpoint", hasBody);
      }
      return await forward({
        req,
        res,
        route: found.route,
        method,
        path: url,
        headers: upstreamRequestHeaders(raw, {
          client,
          proto: tlsListener ? "https" : "http",
          host: hostHeader,
        }),
        declaredLength,
        hasBody,
      }, { limits, balancer, agent, counters });
    }
  }

  async function challenge(
    res: ClientResponse,
    token: string,
    host: string,
    hasBody: boolean,
  ): Promise<ForwardResult> {
    let keyAuthorization: string | undefined;
    if (TOKEN.test(token) && options.challenges !== undefined) {
      try {
        keyAuthorization = await options.challenges(token, host);
      } catch (error) {
        log("warn", `proxy ACME challenge callback failed: ${String(error)}`);
      }
    }
    if (keyAuthorization === undefined) {
      return ownAnswer(res, "no-route", hasBody);
    }
    const body = new TextEncoder().encode(keyAuthorization);
    writeHead(res, 200, {
      "content-type": "application/octet-stream",
      "content-length": String(body.length),
      "cache-control": "no-store",
    });
    res.end(body);
    return {
      status: 200,
      bytes: body.length,
      upstream: null,
      attempts: 0,
      error: null,
    };
  }

  async function upgrade(
    tlsListener: boolean,
    req: http.IncomingMessage,
    socket: Duplex,
    head: Uint8Array,
  ): Promise<void> {
    const started = performance.now();
    const time = new Date().toISOString();
    const client = clientAddress(req.socket.remoteAddress);
    const hostHeader = req.headers.host ?? "";
    const url = req.url ?? "/";
    const query = url.indexOf("?");
    const path = query < 0 ? url : url.slice(0, query);
    const host = requestHost(hostHeader);
    const protocol = requestedUpgrade(req.rawHeaders);
    guard(tlsListener).upgraded(req.socket);
    counters.requests++;
    socket.on("error", () => socket.destroy());
    const refuse = (reason: ProxyErrorReason): ForwardResult => {
      socket.end(rawErrorResponse(reason));
      return {
        status: statusOf(reason),
        bytes: 0,
        upstream: null,
        attempts: 0,
        error: reason,
      };
    };
    let service: string | null = null;
    let result: ForwardResult;
    const found = table.lookup(hostHeader, path);
    if (hostHeader === "" || !url.startsWith("/") || protocol === undefined) {
      result = refuse("bad-request");
    } else if (tlsListener && !certificates.has(host)) {
      result = refuse("misdirected");
    } else if (!tlsListener && httpsPort !== null && certificates.has(host)) {
      const page = httpsRedirect(
        host,
        options.redirectHttpsPort ?? httpsPort,
        url,
      );
      socket.end(
        `HTTP/1.1 308 Permanent Redirect\r\nlocation: ${page.headers.location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`,
      );
      result = {
        status: 308,
        bytes: 0,
        upstream: null,
        attempts: 0,
        error: null,
      };
    } else if (found.kind === "unknown-host") {
      result = refuse("unknown-host");
    } else if (found.kind === "no-path-match") {
      result = refuse("no-route");
    } else if (found.kind === "no-endpoint") {
      service = found.route.service;
      result = refuse("no-endpoint");
    } else {
      service = found.route.service;
      const headers = upstreamRequestHeaders(req.rawHeaders, {
        client,
        proto: tlsListener ? "https" : "http",
        host: hostHeader,
        upgrade: protocol,
      });
      result = await tunnel(socket, head, found.route, url, headers, {
        limits,
        balancer,
        onOpen: () => {
          counters.websockets++;
          counters.websocketsOpen++;
        },
        onClose: () => counters.websocketsOpen--,
      });
    }
    record(accessEntry(
      {
        time,
        client,
        method: req.method ?? "GET",
        host: hostHeader,
        path,
        protocol: `HTTP/${req.httpVersion}`,
        tls: tlsListener,
        service,
      },
      result,
      started,
    ));
  }

  // The HTTP listener.
  const httpGuard = new ConnectionGuard(limits);
  const httpServer = http.createServer(
    { maxHeaderSize: limits.headerBytesMax },
    (req, res) => void handle(false, req, res),
  );
  configure(httpServer, httpGuard, false);

  // The HTTPS listener, when asked for.
  const httpsGuard = new ConnectionGuard(limits);
  let httpsServer: http2.Http2SecureServer | null = null;
  if (options.httpsListen !== undefined) {
    httpsServer = http2.createSecureServer(
      {
        allowHTTP1: true,
        maxHeaderSize: limits.headerBytesMax,
        settings: {
          maxConcurrentStreams: limits.http2StreamsMax,
          maxHeaderListSize: limits.headerBytesMax,
        },
        SNICallback: (
          name: string,
          done: (error: Error | null, context?: tls.SecureContext) => void,
        ) => {
          const context = certificates.context(name);
          if (context === undefined) {
            done(new Error(`no certificate for ${JSON.stringify(name)}`));
          } else done(null, context);
        },
      } as http2.SecureServerOptions,
      (req, res) => void handle(true, req, res),
    );
    httpsServer.on("tlsClientError", () => counters.tlsErrors++);
    configure(httpsServer, httpsGuard, true);
  }

  function guard(tlsListener: boolean): ConnectionGuard {
    return tlsListener ? httpsGuard : httpGuard;
  }

  function configure(
    server: http.Server | http2.Http2SecureServer,
    connectionGuard: ConnectionGuard,
    tlsListener: boolean,
  ) {
    const s = server as http.Server;
    // Kept by the guard instead (node's are not enforced under Deno).
    if ("headersTimeout" in s) {
      s.headersTimeout = 0;
      s.requestTimeout = 0;
      s.keepAliveTimeout = limits.idleTimeoutMs;
    }
    server.on("connection", (socket: Socket) => {
      socket.on("error", () => {});
      connectionGuard.admit(socket);
    });
    server.on(
      "clientError",
      (error: Error & { code?: string }, socket: Duplex) => {
        counters.badRequests++;
        if (!socket.writable) return socket.destroy();
        socket.end(
          rawErrorResponse(
            error.code === "HPE_HEADER_OVERFLOW"
              ? "headers-too-large"
              : "bad-request",
          ),
        );
      },
    );
    server.on(
      "upgrade",
      (req: http.IncomingMessage, socket: Duplex, head: Uint8Array) =>
        void upgrade(tlsListener, req, socket, head).catch((error) => {
          log("error", `proxy upgrade failed: ${String(error)}`);
          socket.destroy();
        }),
    );
    server.on(
      "error",
      (error: Error) => log("error", `proxy listener: ${error.message}`),
    );
  }

  const httpPort = await listenOn(httpServer, options.httpListen);
  let httpsPort: number | null = null;
  if (httpsServer !== null && options.httpsListen !== undefined) {
    try {
      httpsPort = await listenOn(httpsServer, options.httpsListen);
    } catch (error) {
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      agent.destroy();
      throw error;
    }
  }
  log(
    "info",
    `proxy listening on ${options.httpListen.hostname}:${httpPort} (http)` +
      (httpsPort === null
        ? ""
        : ` and ${options.httpsListen!.hostname}:${httpsPort} (https, h2)`),
  );

  return {
    httpPort,
    httpsPort,
    setRoutes(routes) {
      const next = toTable(routes);
      table = next;
      const endpoints = new Set<string>();
      for (const route of next.routes) {
        for (const endpoint of route.endpoints) endpoints.add(endpoint.key);
      }
      balancer.retain(endpoints, new Set(next.routes.map((r) => r.key)));
      dropIdleSockets(agent, endpoints);
    },
    setCertificates(map) {
      certificates = CertificateSet.build(map, certificates);
    },
    stats() {
      return {
        requests: counters.requests,
        responsesByClass: { ...responsesByClass },
        proxyAnswers: { ...proxyAnswers },
        attempts: counters.attempts,
        retries: counters.retries,
        upstreamFailures: counters.upstreamFailures,
        connectionsOpen: httpGuard.open + httpsGuard.open,
        connectionsRefused: httpGuard.refused + httpsGuard.refused,
        connectionsTimedOut: httpGuard.timedOut + httpsGuard.timedOut,
        badRequests: counters.badRequests,
        tlsErrors: counters.tlsErrors,
        websocketsOpen: counters.websocketsOpen,
        websockets: counters.websockets,
        routes: table.routes.length,
        certificates: certificates.size,
        endpoints: balancer.snapshot(),
      };
    },
    async close(graceMs = 10_000) {
      const closed = [closeServer(httpServer)];
      if (httpsServer !== null) closed.push(closeServer(httpsServer));
      httpGuard.closeIdle();
      httpsGuard.closeIdle();
      if (inFlight > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, graceMs);
          drained = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      httpGuard.destroyAll();
      httpsGuard.destroyAll();
      agent.destroy();
      await Promise.all(closed);
    },
  };

  function toTable(routes: RouteTable | readonly Route[]): RouteTable {
    return Array.isArray(routes)
      ? buildRouteTable(routes as readonly Route[])
      : routes as RouteTable;
  }
}

function statusOf(reason: ProxyErrorReason): number {
  return {
    "bad-request": 400,
    "unknown-host": 404,
    "no-route": 404,
    "misdirected": 421,
    "headers-too-large": 431,
    "body-too-large": 413,
    "no-endpoint": 503,
    "upstream-failed": 502,
    "upstream-timeout": 504,
  }[reason];
}

function listenOn(
  server: http.Server | http2.Http2SecureServer,
  address: ListenAddress,
): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(address.port, address.hostname, () => {
      server.off("error", reject);
      const bound = server.address();
      if (bound === null || typeof bound === "string") {
        reject(new Error("the proxy listener has no TCP address"));
      } else resolve(bound.port);
    });
  });
}

function closeServer(
  server: http.Server | http2.Http2SecureServer,
): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Pooled upstream connections to endpoints no longer in the table. */
function dropIdleSockets(agent: http.Agent, endpoints: ReadonlySet<string>) {
  const free = (agent as unknown as { freeSockets?: Record<string, Socket[]> })
    .freeSockets;
  if (free === undefined) return;
  for (const [name, sockets] of Object.entries(free)) {
    // Pool names are "host:port:" (plus options node adds).
    const [host, port] = name.split(":");
    const key = host?.includes(".") ? `${host}:${port}` : null;
    if (key !== null && !endpoints.has(key)) {
      for (const socket of sockets) socket.destroy();
    }
  }
}
