/**
 * DNS over TCP (RFC 7766): messages framed by a 2-byte length, several per
 * connection, answered in order. Bounded: connections at once, message size
 * (a longer one closes the connection), and idle time (no complete query
 * for that long, a stalled write included, closes it).
 */

import type { StatsCounters } from "./stats.ts";

export interface TcpListenerOptions {
  readonly hostname: string;
  readonly port: number;
  readonly maxConnections: number;
  readonly idleTimeoutMs: number;
  readonly messageMax: number;
  readonly stats: StatsCounters;
  /**
   * Answers one message: calls `reply` once, now or later, and returns
   * true; or returns false when the message is dropped unanswered.
   */
  readonly handle: (
    message: Uint8Array,
    source: string,
    reply: (out: Uint8Array) => void,
  ) => boolean;
  readonly log: (level: "warn", message: string) => void;
}

export class TcpListener {
  readonly #options: TcpListenerOptions;
  readonly #listener: Deno.TcpListener;
  readonly #connections = new Set<Deno.TcpConn>();
  readonly #served: Promise<void>;

  /** Listens at once; throws Deno.errors.AddrInUse when the port is taken. */
  constructor(options: TcpListenerOptions) {
    this.#options = options;
    this.#listener = Deno.listen({
      hostname: options.hostname,
      port: options.port,
      transport: "tcp",
    });
    this.#served = this.#acceptLoop();
  }

  async close(): Promise<void> {
    try {
      this.#listener.close();
    } catch { /* already closed */ }
    for (const conn of this.#connections) closeQuietly(conn);
    this.#connections.clear();
    await this.#served;
  }

  async #acceptLoop(): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch {
        return; // closed
      }
      if (this.#connections.size >= this.#options.maxConnections) {
        this.#options.stats.tcpRejected++;
        closeQuietly(conn);
        continue;
      }
      this.#options.stats.tcpAccepted++;
      this.#connections.add(conn);
      this.#serve(conn).catch(() => {}).finally(() => {
        this.#connections.delete(conn);
        closeQuietly(conn);
      });
    }
  }

  async #serve(conn: Deno.TcpConn): Promise<void> {
    const { idleTimeoutMs, messageMax, stats } = this.#options;
    const source = conn.remoteAddr.hostname;
    let idle = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        idle = true;
        stats.tcpIdleClosed++;
        closeQuietly(conn);
      }, idleTimeoutMs);
    };
    arm();
    const buf = new Uint8Array(2 + messageMax);
    let filled = 0;
    try {
      for (;;) {
        // Every complete message in the buffer, in order.
        while (filled >= 2) {
          const length = (buf[0]! << 8) | buf[1]!;
          if (length > messageMax) {
            stats.tcpOversized++;
            return;
          }
          if (filled < 2 + length) break;
          const message = buf.slice(2, 2 + length);
          buf.copyWithin(0, 2 + length, filled);
          filled -= 2 + length;
          const answer = await new Promise<Uint8Array | null>((resolve) => {
            // Dropped (rate limit, unreadable): no reply will come.
            if (!this.#options.handle(message, source, resolve)) resolve(null);
          });
          if (answer === null || idle) continue;
          const framed = new Uint8Array(2 + answer.length);
          framed[0] = answer.length >> 8;
          framed[1] = answer.length & 0xff;
          framed.set(answer, 2);
          await writeAll(conn, framed);
          arm();
        }
        const n = await conn.read(buf.subarray(filled));
        if (n === null) return;
        filled += n;
      }
    } finally {
      clearTimeout(timer);
    }
  }
}

async function writeAll(conn: Deno.TcpConn, data: Uint8Array): Promise<void> {
  let at = 0;
  while (at < data.length) at += await conn.write(data.subarray(at));
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}
