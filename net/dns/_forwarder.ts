/**
 * Forwards queries for names outside the zone to upstream resolvers over
 * UDP: one socket on a random port, a fresh random id per query, the reply
 * accepted only from an upstream, with that id and the same question (so
 * that a spoofed reply has to guess both the id and the port). Upstreams are
 * tried in order, each for an equal share of the timeout; a bounded number
 * of queries is in flight. A TCP client's truncated answer is asked again
 * over TCP (those are bounded by the server's TCP connections, one query at
 * a time each).
 */

import dgram from "node:dgram";
import { HEADER_BYTES } from "./_wire.ts";

export interface Upstream {
  readonly address: string;
  readonly port: number;
}

interface Pending {
  readonly originalId: number;
  readonly question: Uint8Array;
  readonly query: Uint8Array;
  readonly done: (reply: Uint8Array | null) => void;
  /** The client asked over TCP: a truncated UDP reply is asked again over TCP. */
  readonly overTcp: boolean;
  attempt: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

function sameQuestion(reply: Uint8Array, question: Uint8Array): boolean {
  if (reply.length < HEADER_BYTES + question.length) return false;
  for (let i = 0; i < question.length; i++) {
    let a = reply[HEADER_BYTES + i]!;
    let b = question[i]!;
    if (a >= 0x41 && a <= 0x5a) a |= 0x20;
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    if (a !== b) return false;
  }
  return true;
}

export class Forwarder {
  readonly #upstreams: readonly Upstream[];
  readonly #attemptMs: number;
  readonly #maxInFlight: number;
  readonly #pending = new Map<number, Pending>();
  readonly #ids = new Uint16Array(1);
  #socket: dgram.Socket | null = null;
  timeouts = 0;

  constructor(
    upstreams: readonly Upstream[],
    timeoutMs: number,
    maxInFlight: number,
  ) {
    this.#upstreams = upstreams;
    this.#attemptMs = Math.max(
      1,
      Math.floor(timeoutMs / Math.max(1, upstreams.length)),
    );
    this.#maxInFlight = maxInFlight;
  }

  get inFlight(): number {
    return this.#pending.size;
  }

  get hasUpstreams(): boolean {
    return this.#upstreams.length > 0;
  }

  async start(): Promise<void> {
    if (this.#upstreams.length === 0) return;
    const socket = dgram.createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(0, "0.0.0.0", () => {
        socket.off("error", reject);
        resolve();
      });
    });
    socket.on("error", () => {});
    socket.on(
      "message",
      (msg: Uint8Array, rinfo: dgram.RemoteInfo) => this.#onReply(msg, rinfo),
    );
    this.#socket = socket;
  }

  stop(): void {
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer);
      pending.done(null);
    }
    this.#pending.clear();
    this.#socket?.close();
    this.#socket = null;
  }

  /**
   * Sends `query` (whose question ends at `questionEnd`) upstream; `done`
   * gets the reply with the client's id, or null on timeout, when no
   * upstream is set or too many queries are in flight. With `overTcp`, a
   * truncated reply is fetched whole from the same upstream over TCP.
   */
  forward(
    query: Uint8Array,
    questionEnd: number,
    done: (reply: Uint8Array | null) => void,
    overTcp = false,
  ): void {
    const socket = this.#socket;
    if (socket === null || this.#pending.size >= this.#maxInFlight) {
      done(null);
      return;
    }
    let id: number;
    do {
      crypto.getRandomValues(this.#ids);
      id = this.#ids[0]!;
    } while (this.#pending.has(id));
    const copy = query.slice();
    const originalId = (copy[0]! << 8) | copy[1]!;
    copy[0] = id >> 8;
    copy[1] = id & 0xff;
    const pending: Pending = {
      originalId,
      question: copy.slice(HEADER_BYTES, questionEnd),
      query: copy,
      done,
      overTcp,
      attempt: 0,
      timer: undefined,
    };
    this.#pending.set(id, pending);
    this.#send(id, pending);
  }

  #send(id: number, pending: Pending): void {
    const upstream = this.#upstreams[pending.attempt]!;
    this.#socket?.send(pending.query, upstream.port, upstream.address);
    pending.timer = setTimeout(() => {
      pending.attempt++;
      if (pending.attempt < this.#upstreams.length) {
        this.#send(id, pending);
        return;
      }
      this.timeouts++;
      this.#pending.delete(id);
      pending.done(null);
    }, this.#attemptMs);
  }

  #onReply(msg: Uint8Array, rinfo: dgram.RemoteInfo): void {
    if (msg.length < HEADER_BYTES || (msg[2]! & 0x80) === 0) return;
    const id = (msg[0]! << 8) | msg[1]!;
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    const fromUpstream = this.#upstreams.some((u, i) =>
      i <= pending.attempt && u.address === rinfo.address &&
      u.port === rinfo.port
    );
    if (!fromUpstream || !sameQuestion(msg, pending.question)) return;
    clearTimeout(pending.timer);
    this.#pending.delete(id);
    if (pending.overTcp && (msg[2]! & 0x02) !== 0) {
      this.#askOverTcp(id, pending, rinfo).then((whole) => {
        this.#deliver(pending, whole ?? new Uint8Array(msg));
      });
      return;
    }
    this.#deliver(pending, new Uint8Array(msg));
  }

  #deliver(pending: Pending, reply: Uint8Array): void {
    reply[0] = pending.originalId >> 8;
    reply[1] = pending.originalId & 0xff;
    pending.done(reply);
  }

  /** The same query over TCP to `upstream`; null when that fails in time. */
  async #askOverTcp(
    id: number,
    pending: Pending,
    upstream: { address: string; port: number },
  ): Promise<Uint8Array | null> {
    // One deadline for connect, write and read: past it the socket closes
    // (or, still connecting, is closed as soon as it opens).
    let conn: Deno.TcpConn | null = null;
    let late = false;
    let expire = () => {};
    const deadline = new Promise<null>((resolve) =>
      expire = () => resolve(null)
    );
    const timer = setTimeout(() => {
      late = true;
      expire();
      try {
        conn?.close();
      } catch { /* closed */ }
    }, this.#attemptMs);
    try {
      const connecting = Deno.connect({
        hostname: upstream.address,
        port: upstream.port,
      });
      conn = await Promise.race([connecting, deadline]);
      if (conn === null || late) {
        connecting.then((c) => c.close(), () => {});
        return null;
      }
      const framed = new Uint8Array(2 + pending.query.length);
      framed[0] = pending.query.length >> 8;
      framed[1] = pending.query.length & 0xff;
      framed.set(pending.query, 2);
      for (let at = 0; at < framed.length;) {
        at += await conn.write(framed.subarray(at));
      }
      const length = await readExactly(conn, 2);
      if (length === null) return null;
      const reply = await readExactly(conn, (length[0]! << 8) | length[1]!);
      if (
        reply === null || reply.length < HEADER_BYTES ||
        ((reply[0]! << 8) | reply[1]!) !== id || (reply[2]! & 0x80) === 0 ||
        !sameQuestion(reply, pending.question)
      ) return null;
      return reply;
    } catch {
      return null;
    } finally {
      clearTimeout(timer);
      try {
        (conn as Deno.TcpConn | null)?.close();
      } catch { /* closed */ }
    }
  }
}

async function readExactly(
  conn: Deno.Conn,
  length: number,
): Promise<Uint8Array | null> {
  const out = new Uint8Array(length);
  for (let at = 0; at < length;) {
    const n = await conn.read(out.subarray(at));
    if (n === null) return null;
    at += n;
  }
  return out;
}
