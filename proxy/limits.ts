/**
 * The proxy's bounds, and the guard that keeps them per listener at the
 * connection level: how many connections at once and from one address
 * (more are closed at once, never queued), and the time a connection may
 * take to send its request headers (slowloris) or stay idle between
 * requests. node's own `headersTimeout`/`requestTimeout` are not enforced
 * under Deno, so the guard keeps these deadlines itself.
 */
import type { Socket } from "node:net";

export interface ProxyLimits {
  /** Connections one listener holds at once. */
  readonly connectionsMax: number;
  /** Connections from one client address at once, per listener. */
  readonly connectionsPerSourceMax: number;
  /** From accept (TLS handshake included) to a request's complete headers. */
  readonly headersTimeoutMs: number;
  /** The longest silence while a request body is read (then 408 or cut). */
  readonly readTimeoutMs: number;
  /** A keep-alive connection with no request in flight is closed after this. */
  readonly idleTimeoutMs: number;
  /** The request line and headers together; 431 past it. */
  readonly headerBytesMax: number;
  /** A request body; 413 past it. */
  readonly bodyBytesMax: number;
  /** To open a connection to an endpoint; past it the next one is tried. */
  readonly upstreamConnectTimeoutMs: number;
  /** From the request sent to the response headers; past it 504. */
  readonly upstreamResponseTimeoutMs: number;
  /** A pooled upstream connection unused this long is closed (below the upstreams' own keep-alive). */
  readonly upstreamIdleTimeoutMs: number;
  /** Connections to one endpoint at once (more requests wait in the pool). */
  readonly upstreamSocketsPerEndpointMax: number;
  /** Endpoints tried for one request. */
  readonly attemptsMax: number;
  /** Bodies up to this size of idempotent requests are buffered so a failed attempt can be replayed. */
  readonly replayBodyBytesMax: number;
  /** A WebSocket with no traffic either way this long is closed. */
  readonly websocketIdleTimeoutMs: number;
  /** Concurrent HTTP/2 streams per connection. */
  readonly http2StreamsMax: number;
}

export const PROXY_LIMITS_DEFAULT: ProxyLimits = {
  connectionsMax: 4_096,
  connectionsPerSourceMax: 256,
  headersTimeoutMs: 10_000,
  readTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
  headerBytesMax: 32 * 1024,
  bodyBytesMax: 64 * 1024 * 1024,
  upstreamConnectTimeoutMs: 3_000,
  upstreamResponseTimeoutMs: 60_000,
  // Node's servers close idle keep-alive connections after 5 s.
  upstreamIdleTimeoutMs: 4_000,
  upstreamSocketsPerEndpointMax: 256,
  attemptsMax: 3,
  replayBodyBytesMax: 64 * 1024,
  websocketIdleTimeoutMs: 300_000,
  http2StreamsMax: 128,
};

/** The limits with the caller's overrides, each checked. */
export function resolveLimits(
  overrides: Partial<ProxyLimits> = {},
): ProxyLimits {
  const limits = { ...PROXY_LIMITS_DEFAULT, ...overrides };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(
        `proxy limit ${name} must be a positive integer, not ${String(value)}`,
      );
    }
  }
  return limits;
}

interface SocketAddress {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
}

/** A connection's key, the same for its raw socket and its TLS socket. */
export function connectionKey(
  socket: SocketAddress,
): string {
  return `${socket.remoteAddress ?? ""}:${socket.remotePort ?? 0}`;
}

interface Tracked {
  readonly socket: Socket;
  inFlight: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

export class ConnectionGuard {
  readonly #limits: ProxyLimits;
  readonly #perSource = new Map<string, number>();
  readonly #connections = new Map<string, Tracked>();
  refused = 0;
  timedOut = 0;

  constructor(limits: ProxyLimits) {
    this.#limits = limits;
  }

  get open(): number {
    return this.#connections.size;
  }

  /** A new connection: tracked with its header deadline, or destroyed. */
  admit(socket: Socket): boolean {
    const source = socket.remoteAddress ?? "unknown";
    const count = (this.#perSource.get(source) ?? 0) + 1;
    if (
      count > this.#limits.connectionsPerSourceMax ||
      this.#connections.size >= this.#limits.connectionsMax
    ) {
      this.refused++;
      socket.destroy();
      return false;
    }
    this.#perSource.set(source, count);
    const key = connectionKey(socket);
    const tracked: Tracked = { socket, inFlight: 0, timer: undefined };
    this.#connections.set(key, tracked);
    this.#arm(tracked, this.#limits.headersTimeoutMs);
    socket.once("close", () => {
      clearTimeout(tracked.timer);
      if (this.#connections.get(key) === tracked) this.#connections.delete(key);
      const left = (this.#perSource.get(source) ?? 1) - 1;
      if (left <= 0) this.#perSource.delete(source);
      else this.#perSource.set(source, left);
    });
    return true;
  }

  /** Headers of a request arrived on this connection: no deadline while it runs. */
  requestStarted(socket: SocketAddress) {
    const tracked = this.#connections.get(connectionKey(socket));
    if (tracked === undefined) return;
    tracked.inFlight++;
    clearTimeout(tracked.timer);
    tracked.timer = undefined;
  }

  /** A request ended: with none left, the idle deadline starts. */
  requestEnded(socket: SocketAddress) {
    const tracked = this.#connections.get(connectionKey(socket));
    if (tracked === undefined) return;
    tracked.inFlight = Math.max(0, tracked.inFlight - 1);
    if (tracked.inFlight === 0) this.#arm(tracked, this.#limits.idleTimeoutMs);
  }

  /** The connection became a tunnel (WebSocket): its own idle rule applies. */
  upgraded(socket: SocketAddress) {
    const tracked = this.#connections.get(connectionKey(socket));
    if (tracked === undefined) return;
    tracked.inFlight = 1;
    clearTimeout(tracked.timer);
    tracked.timer = undefined;
  }

  /** Closes idle connections now; the rest once their request ends. */
  closeIdle(): void {
    for (const tracked of this.#connections.values()) {
      if (tracked.inFlight === 0) tracked.socket.destroy();
    }
  }

  destroyAll(): void {
    for (const tracked of this.#connections.values()) {
      clearTimeout(tracked.timer);
      tracked.socket.destroy();
    }
    this.#connections.clear();
  }

  #arm(tracked: Tracked, ms: number): void {
    clearTimeout(tracked.timer);
    tracked.timer = setTimeout(() => {
      this.timedOut++;
      tracked.socket.destroy();
    }, ms);
    Deno.unrefTimer(tracked.timer as unknown as number);
  }
}
