/**
 * Raft messages between nodes over HTTP: `POST /raft/messages` carries a
 * binary batch (see transport_codec.ts), `POST /raft/snapshot` one
 * InstallSnapshot whose body is streamed in chunks. Replies travel the same
 * way in the other direction; HTTP responses carry no Raft data.
 *
 * Each peer has a bounded outbound queue. Batches go as frames on one
 * long-lived streamed request (`POST /raft/stream`, transport_stream.ts), or,
 * to a peer that does not serve it, one request at a time: what queues up
 * while a frame or request is out goes in the next batch (batching under
 * load). A full queue drops messages and counts them; Raft retransmits, so
 * loss only costs time, while growth costs memory.
 *
 * Inbound, only members speak: a request is admitted whole or refused whole
 * (transport_admission.ts) before any of it reaches the core, so a forged
 * message never touches the log, the WAL or the election timers.
 */
import type { MemberId, Message } from "./types.ts";
import { DecodeError } from "./storage/bytes.ts";
import {
  type AdmissionView,
  admitBatch,
  type RaftView,
  type Refusal,
  refusalStatus,
  senderRefusal,
  type TransportRefusalCode,
} from "./transport_admission.ts";
import {
  decodeBatch,
  decodeMessage,
  OutOfBoundsError,
} from "./transport_codec.ts";
import {
  MESSAGES_PATH,
  Peer,
  type PeerOptions,
  SNAPSHOT_PATH,
} from "./_peer.ts";
import {
  receiveStream,
  STREAM_DEFAULTS,
  STREAM_PATH,
} from "./transport_stream.ts";

export { STREAM_PATH } from "./transport_stream.ts";

export { MESSAGES_PATH, SNAPSHOT_PATH } from "./_peer.ts";

export interface TransportOptions {
  readonly id: MemberId;
  /** MemberId → base URL (`http://127.0.0.1:7001`). */
  readonly peers: ReadonlyMap<MemberId, string>;
  /** Messages queued per peer before new ones are dropped. */
  readonly queueMessagesMax?: number;
  /** Messages and (approximate) bytes per request. */
  readonly batchMessagesMax?: number;
  readonly batchBytesMax?: number;
  readonly requestTimeoutMs?: number;
  readonly snapshotTimeoutMs?: number;
  /** Largest request body accepted (messages batch or snapshot). */
  readonly bodyBytesMax?: number;
  /** Pause after a failed request before the next one to that peer. */
  readonly retryDelayMs?: number;
  /** Headers sent with every request (the caller's credential, say). */
  readonly headers?: Readonly<Record<string, string>>;
  /** The HTTP client requests go through (the node's TLS identity, say). */
  readonly client?: Deno.HttpClient;
  /** Send batches on one streamed request per peer (default true). */
  readonly streaming?: boolean;
}

export const TRANSPORT_DEFAULTS = {
  queueMessagesMax: 4096,
  batchMessagesMax: 1024,
  batchBytesMax: 4 * 1024 * 1024,
  requestTimeoutMs: 2_000,
  snapshotTimeoutMs: 120_000,
  bodyBytesMax: 1024 * 1024 * 1024,
  retryDelayMs: 50,
  snapshotChunkBytes: 256 * 1024,
} as const;

/** Counters, for logs and tests. */
export interface TransportStats {
  sent: number;
  requests: number;
  dropped: number;
  failedRequests: number;
  /** Messages admitted and handed to the node. */
  received: number;
  /** Inbound requests refused, for any reason (broken down below). */
  rejected: number;
  /** 413: a body past `bodyBytesMax`. */
  rejectedTooLarge: number;
  /** 400: an unreadable body or an undecodable frame. */
  rejectedMalformed: number;
  /** 400: values beyond sane bounds (`messageBoundsViolation`, `TERM_JUMP_MAX`, …). */
  rejectedOutOfBounds: number;
  /** 403: a message not from the authenticated sender, or a sender that is no member. */
  rejectedForbidden: number;
  /** 421: a message addressed to another member. */
  rejectedMisaddressed: number;
  snapshotsSent: number;
  /** Streamed requests opened to peers (each also counts in `requests`). */
  streamsOpened: number;
  /** 429: a stream past the receiver's bound on open streams. */
  rejectedBusy: number;
}

/** Who is calling, as the peer port authenticated it. */
export interface PeerContext {
  /** The caller's node id (its client certificate's common name). */
  readonly sender: MemberId;
}

/** The node behind the transport. */
export interface TransportReceiver {
  view(): RaftView;
  /** An admitted message, in the order received. Must not throw. */
  deliver(message: Message): void;
}

const REFUSAL_COUNTER: Readonly<
  Record<TransportRefusalCode, keyof TransportStats>
> = {
  "raft.transport.too_large": "rejectedTooLarge",
  "raft.transport.malformed": "rejectedMalformed",
  "raft.transport.out_of_bounds": "rejectedOutOfBounds",
  "raft.transport.forged_sender": "rejectedForbidden",
  "raft.transport.not_member": "rejectedForbidden",
  "raft.transport.misaddressed": "rejectedMisaddressed",
  "raft.transport.busy": "rejectedBusy",
};

function refusalOfDecodeError(err: DecodeError): Refusal {
  return err instanceof OutOfBoundsError
    ? { code: "raft.transport.out_of_bounds", message: err.message }
    : {
      code: "raft.transport.malformed",
      message: `Undecodable Raft frame: ${err.message}`,
    };
}

/** Reads a request body up to `maxBytes`, chunk by chunk. */
async function readBody(
  request: Request,
  maxBytes: number,
): Promise<Uint8Array | null> {
  if (request.body === null) return new Uint8Array(0);
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (Number.isSafeInteger(declared)) {
    // A sized body (a message batch): one read, cheaper than chunk iteration.
    if (declared > maxBytes) return null;
    const bytes = new Uint8Array(await request.arrayBuffer());
    return bytes.length > maxBytes ? null : bytes;
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of request.body) {
    total += chunk.length;
    if (total > maxBytes) return null;
    chunks.push(chunk);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** HTTP transport of one node: outbound peers plus the inbound handler. */
export class HttpTransport {
  readonly stats: TransportStats = {
    sent: 0,
    requests: 0,
    dropped: 0,
    failedRequests: 0,
    received: 0,
    rejected: 0,
    rejectedTooLarge: 0,
    rejectedMalformed: 0,
    rejectedOutOfBounds: 0,
    rejectedForbidden: 0,
    rejectedMisaddressed: 0,
    snapshotsSent: 0,
    streamsOpened: 0,
    rejectedBusy: 0,
  };
  readonly #id: MemberId;
  readonly #options: PeerOptions;
  /** Inbound streams open now, oldest first, with who sent them. */
  readonly #streams = new Map<AbortController, MemberId | null>();
  readonly #peers = new Map<MemberId, Peer>();
  readonly #receiver: TransportReceiver;
  #server: Deno.HttpServer<Deno.NetAddr> | null = null;
  #closed = false;

  constructor(options: TransportOptions, receiver: TransportReceiver) {
    this.#id = options.id;
    this.#options = {
      queueMessagesMax: options.queueMessagesMax ??
        TRANSPORT_DEFAULTS.queueMessagesMax,
      batchMessagesMax: options.batchMessagesMax ??
        TRANSPORT_DEFAULTS.batchMessagesMax,
      batchBytesMax: options.batchBytesMax ?? TRANSPORT_DEFAULTS.batchBytesMax,
      requestTimeoutMs: options.requestTimeoutMs ??
        TRANSPORT_DEFAULTS.requestTimeoutMs,
      snapshotTimeoutMs: options.snapshotTimeoutMs ??
        TRANSPORT_DEFAULTS.snapshotTimeoutMs,
      bodyBytesMax: options.bodyBytesMax ?? TRANSPORT_DEFAULTS.bodyBytesMax,
      retryDelayMs: options.retryDelayMs ?? TRANSPORT_DEFAULTS.retryDelayMs,
      headers: options.headers ?? {},
      client: options.client ?? null,
      streaming: options.streaming ?? true,
      snapshotChunkBytes: TRANSPORT_DEFAULTS.snapshotChunkBytes,
    };
    this.#receiver = receiver;
    for (const [id, url] of options.peers) this.setPeer(id, url);
  }

  /** Adds or re-addresses a peer (membership change, new mesh address). */
  setPeer(id: MemberId, url: string): void {
    if (id === this.#id) return;
    const peer = this.#peers.get(id);
    if (peer !== undefined) peer.readdress(url);
    else this.#peers.set(id, new Peer(id, url, this.#options, this.stats));
  }

  removePeer(id: MemberId): void {
    this.#peers.get(id)?.close();
    this.#peers.delete(id);
  }

  /** Queues messages to their peers; never blocks (a full queue drops). */
  send(messages: readonly Message[]): void {
    for (const message of messages) {
      const peer = this.#peers.get(message.to);
      if (peer === undefined) this.stats.dropped++;
      else peer.enqueue(message);
    }
  }

  /**
   * Serves Raft requests; mount it on an existing server, or call `listen`.
   * `context.sender` is the caller as the peer port authenticated it; without
   * it (a server that authenticates nobody) the claimed `from` stands in.
   * Refusals are answered (400, 403, 413, 421 with `{ code, message }`) and
   * counted, never thrown; null for paths that are not Raft's.
   */
  async handle(
    request: Request,
    context: PeerContext | null = null,
  ): Promise<Response | null> {
    const path = new URL(request.url).pathname;
    if (
      path !== MESSAGES_PATH && path !== SNAPSHOT_PATH && path !== STREAM_PATH
    ) return null;
    if (request.method !== "POST") {
      return new Response("POST only", { status: 405 });
    }
    const sender = context?.sender ?? null;
    if (sender !== null) {
      // Before the body: a non-member may not make us buffer a snapshot.
      const refusal = senderRefusal(sender, this.#view());
      if (refusal !== null) {
        await request.body?.cancel();
        return this.#refuse(refusal);
      }
    }
    if (path === STREAM_PATH) return await this.#receiveStream(request, sender);
    const decoded = await this.#decode(request, path);
    if (!Array.isArray(decoded)) return this.#refuse(decoded);
    // Read the view again: the node may have moved on while the body arrived.
    const refusal = admitBatch(decoded, sender, this.#view());
    if (refusal !== null) return this.#refuse(refusal);
    for (const message of decoded) {
      this.stats.received++;
      this.#receiver.deliver(message);
    }
    return new Response(null, { status: 204 });
  }

  /**
   * A streamed request: each frame is admitted whole or refused whole, as a
   * `POST /raft/messages` body is; a refusal ends the stream with it.
   */
  async #receiveStream(
    request: Request,
    sender: MemberId | null,
  ): Promise<Response> {
    const malformed = (message: string) =>
      this.#refuse({ code: "raft.transport.malformed", message });
    if (request.body === null) return malformed("A stream needs a body");
    if (this.#closed || this.#streams.size >= STREAM_DEFAULTS.totalMax) {
      await request.body.cancel();
      return this.#refuse({
        code: "raft.transport.busy",
        message: this.#closed
          ? "This Raft node is stopping; retry with another member"
          : `${STREAM_DEFAULTS.totalMax} Raft streams are open already; retry later`,
      });
    }
    if (sender !== null) {
      const open = [...this.#streams].filter(([, who]) => who === sender);
      // A sender rotating its stream holds two for a moment; more end the oldest.
      for (
        const [old] of open.slice(
          0,
          1 + open.length - STREAM_DEFAULTS.perSenderMax,
        )
      ) {
        old.abort();
      }
    }
    const control = new AbortController();
    this.#streams.set(control, sender);
    try {
      return await receiveStream(
        request.body,
        {
          frameBytesMax: STREAM_DEFAULTS.frameBytesMax,
          idleMs: STREAM_DEFAULTS.receiverIdleMs,
          maxAgeMs: STREAM_DEFAULTS.receiverMaxAgeMs,
          frame: (bytes) => this.#admitFrame(bytes, sender),
        },
        control.signal,
        malformed,
      );
    } finally {
      this.#streams.delete(control);
    }
  }

  #admitFrame(bytes: Uint8Array, sender: MemberId | null): Response | null {
    let decoded: Message[];
    try {
      decoded = decodeBatch(bytes);
    } catch (err) {
      if (err instanceof DecodeError) {
        return this.#refuse(refusalOfDecodeError(err));
      }
      throw err;
    }
    const refusal = admitBatch(decoded, sender, this.#view());
    if (refusal !== null) return this.#refuse(refusal);
    for (const message of decoded) {
      this.stats.received++;
      this.#receiver.deliver(message);
    }
    return null;
  }

  async #decode(request: Request, path: string): Promise<Message[] | Refusal> {
    let body: Uint8Array | null;
    try {
      body = await readBody(request, this.#options.bodyBytesMax);
    } catch (err) {
      return {
        code: "raft.transport.malformed",
        message: `The request body could not be read: ${
          (err as Error).message
        }`,
      };
    }
    if (body === null) {
      return {
        code: "raft.transport.too_large",
        message: `Body exceeds ${this.#options.bodyBytesMax} bytes`,
      };
    }
    try {
      return path === MESSAGES_PATH ? decodeBatch(body) : [decodeMessage(body)];
    } catch (err) {
      if (err instanceof DecodeError) return refusalOfDecodeError(err);
      throw err;
    }
  }

  #view(): AdmissionView {
    return {
      ...this.#receiver.view(),
      id: this.#id,
      peers: new Set(this.#peers.keys()),
    };
  }

  #refuse(refusal: Refusal): Response {
    this.stats.rejected++;
    this.stats[REFUSAL_COUNTER[refusal.code]]++;
    return Response.json(
      { code: refusal.code, message: refusal.message },
      { status: refusalStatus(refusal.code) },
    );
  }

  /** Starts a server for Raft traffic only; returns the bound address. */
  listen(options: { hostname: string; port: number }): Deno.NetAddr {
    this.#server = Deno.serve(
      {
        hostname: options.hostname,
        port: options.port,
        onListen: () => {},
      },
      async (request) =>
        (await this.handle(request)) ??
          new Response("Not found", { status: 404 }),
    );
    return this.#server.addr;
  }

  /** Stops sending and serving; drops what is queued. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const peer of this.#peers.values()) peer.close();
    for (const stream of this.#streams.keys()) stream.abort();
    await Promise.all([...this.#peers.values()].map((p) => p.idle()));
    await this.#server?.shutdown();
  }
}
