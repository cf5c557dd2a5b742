/**
 * The node's DNS server: names under the zone's domain answered from the
 * zone (authoritative), every other name forwarded to the upstreams. UDP
 * through node:dgram (Deno.listenDatagram needs --unstable-net, which the
 * shipped binary lacks) and TCP through Deno.listen, on the same port.
 * Bounded everywhere: per-source rate limit, TCP connections, idle time,
 * message size, queries in flight upstream.
 */

import { type DnsZone, DOMAIN_DEFAULT } from "./zone.ts";
import { respond, ResponderState } from "./respond.ts";
import { Forwarder, type Upstream } from "./_forwarder.ts";
import {
  RATE_LIMIT_DEFAULT,
  type RateLimit,
  RateLimiter,
} from "./rate_limit.ts";
import { defaultUpstreams, parseUpstream } from "./resolv_conf.ts";
import {
  emptyResponse,
  isTruncated,
  type ParsedQuery,
  RCODE,
} from "./_wire.ts";
import { TcpListener } from "./_tcp.ts";
import {
  bindUdp,
  type UdpKind,
  type UdpPreference,
  type UdpSocket,
} from "./_udp.ts";
import {
  type DnsStats,
  emptyStats,
  type StatsCounters,
  statsSnapshot,
} from "./stats.ts";

export type { DnsStats } from "./stats.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";

export interface DnsServerOptions {
  readonly listen: { readonly hostname: string; readonly port: number };
  /**
   * "ip:port" resolvers for names outside the zone. Default: the
   * nameservers of /etc/resolv.conf that do not point back at this server.
   */
  readonly upstreams?: readonly string[];
  /** Per upstream query, all upstreams tried included; 2000 unless told. */
  readonly forwardTimeoutMs?: number;
  /** Forwarded queries waiting for an upstream at once; 1024 unless told. */
  readonly maxForwardsInFlight?: number;
  /** Per source IP; RATE_LIMIT_DEFAULT unless told, null: no limit. */
  readonly rateLimit?: RateLimit | null;
  /** 128 unless told. */
  readonly maxTcpConnections?: number;
  /** A TCP connection with no complete query for this long is closed; 10000. */
  readonly tcpIdleTimeoutMs?: number;
  /** The domain answered (SERVFAIL) before the first setZone; "mill". */
  readonly domain?: string;
  readonly log?: (level: LogLevel, message: string) => void;
  /**
   * "auto": recvmmsg and sendmmsg through libc when FFI may load it, else
   * Deno.listenDatagram when the runtime has it (--unstable-net), else
   * node:dgram; "node:dgram": always that one; "ffi": the libc batches or
   * an error.
   */
  readonly udp?: UdpPreference;
}

/** The largest DNS message accepted over TCP; longer ones close the connection. */
export const TCP_MESSAGE_MAX = 4096;

function udpKindOf(socket: UdpSocket | null): string {
  return socket?.kind ?? "none";
}

export class DnsServer {
  readonly #options: DnsServerOptions;
  readonly #upstreams: Upstream[];
  readonly #forwarder: Forwarder;
  readonly #limiter: RateLimiter | null;
  readonly #stats: StatsCounters = emptyStats();
  readonly #state: ResponderState;
  #udp: UdpSocket | null = null;
  #tcp: TcpListener | null = null;
  #port = 0;

  constructor(options: DnsServerOptions) {
    this.#options = options;
    const texts = options.upstreams ?? defaultUpstreams(options.listen);
    this.#upstreams = texts.map((text) => {
      const upstream = parseUpstream(text);
      if (upstream === null) {
        throw new RangeError(
          `DNS upstream ${
            JSON.stringify(text)
          } is not "IPv4:port" (e.g. "10.0.0.2:53")`,
        );
      }
      return upstream;
    });
    this.#forwarder = new Forwarder(
      this.#upstreams,
      options.forwardTimeoutMs ?? 2000,
      options.maxForwardsInFlight ?? 1024,
    );
    const limit = options.rateLimit === undefined
      ? RATE_LIMIT_DEFAULT
      : options.rateLimit;
    this.#limiter = limit === null ? null : new RateLimiter(limit);
    this.#state = new ResponderState(options.domain ?? DOMAIN_DEFAULT);
    this.#state.recursionAvailable = this.#upstreams.length > 0;
  }

  /** The port both transports listen on (the one picked when 0 was asked). */
  get port(): number {
    return this.#port;
  }

  /** Which UDP implementation is in use, once started. */
  get udpKind(): UdpKind | null {
    return this.#udp?.kind ?? null;
  }

  /** The upstreams in use, "ip:port". */
  get upstreams(): string[] {
    return this.#upstreams.map((u) => `${u.address}:${u.port}`);
  }

  /** Swaps the zone in whole: every query after this call sees it. */
  setZone(zone: DnsZone): void {
    this.#state.setZone(zone);
  }

  /** The counters so far (a copy). */
  stats(): DnsStats {
    return statsSnapshot(this.#stats, this.#forwarder, this.#limiter);
  }

  async start(): Promise<void> {
    if (this.#udp !== null) {
      throw new Error("the DNS server is already started");
    }
    const { hostname, port } = this.#options.listen;
    await this.#forwarder.start();
    // Port 0: the UDP socket picks a port and TCP must get the same one;
    // another process may hold it for TCP, so try a few times.
    for (let attempt = 0;; attempt++) {
      const udp = await this.#bindUdp(hostname, port);
      const chosen = udp.port;
      try {
        this.#tcp = new TcpListener({
          hostname,
          port: chosen,
          maxConnections: this.#options.maxTcpConnections ?? 128,
          idleTimeoutMs: this.#options.tcpIdleTimeoutMs ?? 10_000,
          messageMax: TCP_MESSAGE_MAX,
          stats: this.#stats,
          handle: (message, source, reply) =>
            this.#handle(message, source, false, reply),
          log: (level, text) => this.#log(level, text),
        });
      } catch (error) {
        await udp.close();
        if (
          port !== 0 || attempt >= 4 ||
          !(error instanceof Deno.errors.AddrInUse)
        ) {
          this.#forwarder.stop();
          throw new Error(
            `DNS server cannot listen on TCP ${hostname}:${chosen}: ${
              (error as Error).message
            }`,
          );
        }
        continue;
      }
      this.#udp = udp;
      this.#port = chosen;
      break;
    }
    this.#log(
      "info",
      `DNS server listening on ${hostname}:${this.#port}` +
        ` (udp via ${udpKindOf(this.#udp)}, tcp)`,
    );
  }

  async stop(): Promise<void> {
    const udp = this.#udp;
    this.#udp = null;
    await udp?.close();
    await this.#tcp?.close();
    this.#tcp = null;
    this.#forwarder.stop();
  }

  async #bindUdp(hostname: string, port: number): Promise<UdpSocket> {
    try {
      return await bindUdp(
        hostname,
        port,
        (message, source, reply) => {
          this.#handle(message, source, true, reply);
        },
        (text) => this.#log("warn", text),
        this.#options.udp ?? "auto",
      );
    } catch (error) {
      throw new Error(
        `DNS server cannot listen on UDP ${hostname}:${port}: ${
          (error as Error).message
        }` +
          " (is another DNS server running there?)",
      );
    }
  }

  #log(level: LogLevel, message: string): void {
    this.#options.log?.(level, message);
  }

  /**
   * One message from `source`: true when `reply` is called (once, now or
   * when the upstream answers), false when the message is dropped. Never
   * throws: a bug in here must not take the socket down, so it is logged
   * and the query dropped.
   */
  #handle(
    message: Uint8Array,
    source: string,
    udp: boolean,
    reply: (out: Uint8Array) => void,
  ): boolean {
    const stats = this.#stats;
    try {
      if (
        this.#limiter !== null &&
        !this.#limiter.allow(source, performance.now())
      ) {
        stats.rateLimited++;
        return false;
      }
      const state = this.#state;
      const out = respond(message, udp, state);
      if (out === "drop") {
        stats.dropped++;
        return false;
      }
      if (out === "forward") {
        this.#forward(message, state.parsed, udp, reply);
        return true;
      }
      this.#count(state.parsed.type, state.rcode);
      if (isTruncated(out)) stats.truncated++;
      reply(out);
      return true;
    } catch (error) {
      stats.dropped++;
      this.#log(
        "error",
        `DNS query from ${source} dropped: ${(error as Error).stack}`,
      );
      return false;
    }
  }

  #forward(
    message: Uint8Array,
    parsed: ParsedQuery,
    udp: boolean,
    reply: (out: Uint8Array) => void,
  ): void {
    const type = parsed.type;
    const udpLimit = parsed.udpLimit;
    // The parsed query is reused by the next packet: keep what is needed.
    const servfail = emptyResponse(
      message,
      parsed,
      RCODE.SERVFAIL,
      false,
      true,
    );
    this.#stats.forwarded++;
    this.#forwarder.forward(message, parsed.questionEnd, (answer) => {
      if (answer === null) {
        this.#count(type, RCODE.SERVFAIL);
        reply(servfail);
        return;
      }
      this.#count(type, answer[3]! & 0xf);
      // We offer recursion, whatever the upstream says of itself.
      answer[3]! |= 0x80;
      if (udp && answer.length > udpLimit) {
        // The upstream sent more than the client can take over UDP.
        const cut = servfail.slice(0, Math.min(servfail.length, answer.length));
        cut[2] = answer[2]! | 0x02;
        cut[3] = answer[3]!;
        this.#stats.truncated++;
        reply(cut);
        return;
      }
      reply(answer);
    }, !udp);
  }

  #count(type: number, rcode: number): void {
    this.#stats.byType[type & 0xffff]!++;
    this.#stats.byRcode[rcode & 0x1f]!++;
  }
}
