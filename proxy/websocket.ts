/**
 * Upgraded connections (WebSocket) through the proxy: the handshake goes to
 * an endpoint on a fresh connection of its own (an upgraded connection
 * never returns to the pool); on its 101 the client gets the upstream's
 * handshake answer and from then on bytes are piped both ways, frames
 * untouched. An end on one side half-closes the other, a reset or close
 * closes both, and a tunnel silent both ways for the idle limit is closed.
 * A refused connection tries the next endpoint (nothing was sent); an
 * upstream that answers without upgrading has its answer relayed as is.
 */
import http from "node:http";
import type { Duplex } from "node:stream";
import type { Balancer } from "./balancer.ts";
import type { HeaderMap } from "./headers.ts";
import type { ProxyLimits } from "./limits.ts";
import { rawErrorResponse } from "./pages.ts";
import type { TableRoute } from "./route_table.ts";

export interface TunnelResult {
  readonly status: number;
  /** Bytes relayed, both directions. */
  readonly bytes: number;
  readonly upstream: string | null;
  readonly attempts: number;
  readonly error: string | null;
}

export interface TunnelDeps {
  readonly limits: ProxyLimits;
  readonly balancer: Balancer;
  /** Called once the tunnel is up, and again when it closes. */
  readonly onOpen: () => void;
  readonly onClose: () => void;
}

function rawHead(
  status: number,
  message: string,
  rawHeaders: readonly string[],
): string {
  let head = `HTTP/1.1 ${status} ${message}\r\n`;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    head += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`;
  }
  return `${head}\r\n`;
}

export async function tunnel(
  client: Duplex,
  head: Uint8Array,
  route: TableRoute,
  path: string,
  headers: HeaderMap,
  deps: TunnelDeps,
): Promise<TunnelResult> {
  const { limits, balancer } = deps;
  const tried = new Set<string>();
  let attempts = 0;
  let last: string | null = null;
  while (attempts < limits.attemptsMax) {
    const endpoint = balancer.pick(route, tried);
    if (endpoint === null) break;
    tried.add(endpoint.key);
    last = endpoint.key;
    attempts++;
    const outcome = await handshake(
      endpoint.address,
      endpoint.port,
      path,
      headers,
      limits,
    );
    if (outcome.kind === "refused") {
      balancer.reportFailure(endpoint.key);
      continue;
    }
    if (outcome.kind === "failed") break;
    balancer.reportSuccess(endpoint.key);
    if (outcome.kind === "response") {
      // No upgrade: the upstream's answer, then the connection ends.
      const { upRes } = outcome;
      client.write(
        rawHead(upRes.statusCode ?? 502, upRes.statusMessage ?? "", [
          ...withoutHopByHop(upRes.rawHeaders),
          "connection",
          "close",
        ]),
      );
      let bytes = 0;
      upRes.on("data", (chunk: Uint8Array) => {
        bytes += chunk.length;
        client.write(chunk);
      });
      await new Promise<void>((resolve) => {
        upRes.once("end", resolve);
        upRes.once("error", resolve);
        upRes.once("aborted", resolve);
      });
      client.end();
      return {
        status: upRes.statusCode ?? 502,
        bytes,
        upstream: endpoint.key,
        attempts,
        error: null,
      };
    }
    const { upRes, socket: upstream, head: upHead } = outcome;
    balancer.acquire(endpoint.key);
    deps.onOpen();
    const bytes = await pipeBoth(
      client,
      upstream,
      rawHead(
        101,
        upRes.statusMessage ?? "Switching Protocols",
        upRes.rawHeaders,
      ),
      head,
      upHead,
      limits.websocketIdleTimeoutMs,
    );
    balancer.release(endpoint.key);
    deps.onClose();
    return {
      status: 101,
      bytes,
      upstream: endpoint.key,
      attempts,
      error: null,
    };
  }
  client.end(rawErrorResponse("upstream-failed"));
  return {
    status: 502,
    bytes: 0,
    upstream: last,
    attempts,
    error: "upstream-failed",
  };
}

type Handshake =
  | { kind: "refused" }
  | { kind: "failed" }
  | { kind: "response"; upRes: http.IncomingMessage }
  | {
    kind: "upgraded";
    upRes: http.IncomingMessage;
    socket: Duplex;
    head: Uint8Array;
  };

function handshake(
  address: string,
  port: number,
  path: string,
  headers: HeaderMap,
  limits: ProxyLimits,
): Promise<Handshake> {
  return new Promise((resolve) => {
    let connected = false;
    let done = false;
    const settle = (value: Handshake) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(value);
    };
    const upReq = http.request({
      host: address,
      port,
      path,
      method: "GET",
      headers,
      agent: false,
    });
    let timer = setTimeout(() => {
      upReq.destroy();
      settle(connected ? { kind: "failed" } : { kind: "refused" });
    }, limits.upstreamConnectTimeoutMs);
    upReq.once("socket", (socket) => {
      socket.once("connect", () => {
        connected = true;
        clearTimeout(timer);
        timer = setTimeout(() => {
          upReq.destroy();
          settle({ kind: "failed" });
        }, limits.upstreamResponseTimeoutMs);
      });
    });
    upReq.once(
      "upgrade",
      (upRes, socket, head) =>
        settle({ kind: "upgraded", upRes, socket, head }),
    );
    upReq.once("response", (upRes) => settle({ kind: "response", upRes }));
    upReq.once(
      "error",
      () => settle(connected ? { kind: "failed" } : { kind: "refused" }),
    );
    upReq.end();
  });
}

function withoutHopByHop(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (
      name === "connection" || name === "keep-alive" ||
      name === "transfer-encoding" || name === "upgrade"
    ) continue;
    out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}

/** Pipes both ways until both sides are done; resolves with the bytes moved. */
function pipeBoth(
  client: Duplex,
  upstream: Duplex,
  answer: string,
  clientHead: Uint8Array,
  upstreamHead: Uint8Array,
  idleMs: number,
): Promise<number> {
  return new Promise((resolve) => {
    let bytes = 0;
    let last = performance.now();
    const idle = setInterval(() => {
      if (performance.now() - last >= idleMs) closeBoth();
    }, Math.min(idleMs, 1_000));
    Deno.unrefTimer(idle as unknown as number);
    let closed = 0;
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    const onClosed = () => {
      if (++closed < 2) return;
      clearInterval(idle);
      resolve(bytes);
    };
    client.once("close", () => {
      upstream.destroy();
      onClosed();
    });
    upstream.once("close", () => {
      client.destroy();
      onClosed();
    });
    client.on("error", closeBoth);
    upstream.on("error", closeBoth);
    const relay = (from: Duplex, to: Duplex) => {
      from.on("data", (chunk: Uint8Array) => {
        bytes += chunk.length;
        last = performance.now();
        if (!to.write(chunk)) {
          from.pause();
          to.once("drain", () => from.resume());
        }
      });
      from.once("end", () => to.end());
    };
    client.write(answer);
    if (upstreamHead.length > 0) client.write(upstreamHead);
    if (clientHead.length > 0) upstream.write(clientHead);
    relay(client, upstream);
    relay(upstream, client);
  });
}
