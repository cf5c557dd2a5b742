/**
 * What the proxy's tests share: real upstream servers on loopback, a proxy
 * started on free ports, and a plain HTTP client that sets any Host.
 * Everything started here is closed by the `with…` helpers.
 */
import http from "node:http";
import type { AccessLogEntry } from "./access_log.ts";
import type { Route } from "./route_table.ts";
import { type Proxy, type ProxyOptions, startProxy } from "./server.ts";

export const LOOPBACK = "127.0.0.1";

export interface Upstream {
  readonly name: string;
  readonly port: number;
  /** Requests it has seen (method and path). */
  readonly seen: string[];
  stop(): Promise<void>;
}

export type UpstreamHandler = (
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

/** A Deno.serve upstream; by default it answers "NAME METHOD PATH". */
export function startUpstream(
  name: string,
  handler?: UpstreamHandler,
  port = 0,
): Upstream {
  const seen: string[] = [];
  const server = Deno.serve(
    { hostname: LOOPBACK, port, onListen() {} },
    (request, info) => {
      const url = new URL(request.url);
      seen.push(`${request.method} ${url.pathname}`);
      if (handler !== undefined) return handler(request, info);
      return new Response(`${name} ${request.method} ${url.pathname}`);
    },
  );
  let stopped: Promise<void> | null = null;
  return {
    name,
    port: server.addr.port,
    seen,
    stop: () => (stopped ??= server.shutdown()),
  };
}

export function endpointOf(upstream: { port: number; name: string }) {
  return { address: LOOPBACK, port: upstream.port, allocId: upstream.name };
}

/** A port nothing listens on (bound, then released). */
export function refusedPort(): number {
  const listener = Deno.listen({ hostname: LOOPBACK, port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

export interface Started {
  readonly proxy: Proxy;
  readonly log: AccessLogEntry[];
}

export async function withProxy(
  routes: readonly Route[],
  options: Partial<ProxyOptions>,
  body: (started: Started) => Promise<void>,
): Promise<void> {
  const log: AccessLogEntry[] = [];
  const proxy = await startProxy({
    httpListen: { hostname: LOOPBACK, port: 0 },
    routes,
    accessLog: (entry) => log.push(entry),
    ...options,
  });
  try {
    await body({ proxy, log });
  } finally {
    await proxy.close(1_000);
  }
}

export interface Answer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Uint8Array;
  readonly text: string;
}

export interface RequestOptions {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: Uint8Array | string;
  readonly agent?: http.Agent | false;
}

/** One request to the proxy's HTTP port, with the Host given. */
export function request(
  port: number,
  host: string,
  path: string,
  options: RequestOptions = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: LOOPBACK,
      port,
      path,
      method: options.method ?? "GET",
      headers: { host, ...options.headers },
      agent: options.agent ?? false,
    }, (res) => {
      const chunks: Uint8Array[] = [];
      res.on("data", (chunk: Uint8Array) => chunks.push(chunk));
      res.on("end", () => {
        const body = concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          text: new TextDecoder().decode(body),
        });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** Raw bytes to the port; resolves with what came back until it closed. */
export async function rawExchange(
  port: number,
  text: string,
  timeoutMs = 5_000,
): Promise<string> {
  const conn = await Deno.connect({ hostname: LOOPBACK, port });
  const timer = setTimeout(() => conn.close(), timeoutMs);
  try {
    await conn.write(new TextEncoder().encode(text));
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(16 * 1024);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    return new TextDecoder().decode(concat(chunks));
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer or the peer */ }
  }
}
