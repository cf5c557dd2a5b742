/**
 * Forwards queries for names outside the zone to upstream resolvers over
 * UDP: one socket on a random port, a fresh random id per query, the reply
 * accepted only from an upstream, with that id and the same question (so
 * that a spoofed reply has to guess both the id and the port). Upstreams are
 * tried in order, each for an equal share of the timeout; a bounded number
 * of queries is in flight.
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
   * upstream is set or too many queries are in flight.
   */
  forward(
    query: Uint8Array,
    questionEnd: number,
    done: (reply: Uint8Array | null) => void,
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
    const reply = new Uint8Array(msg);
    reply[0] = pending.originalId >> 8;
    reply[1] = pending.originalId & 0xff;
    pending.done(reply);
  }
}
