/**
 * Raft messages between nodes over HTTP: `POST /raft/messages` carries a
 * binary batch (see transport_codec.ts), `POST /raft/snapshot` one
 * InstallSnapshot whose body is streamed in chunks. Replies travel the same
 * way in the other direction; HTTP responses carry no Raft data.
 *
 * Each peer has a bounded outbound queue and one request in flight: what
 * queues up while a request is out goes in the next batch (batching under
 * load, one round trip per batch). A full queue drops messages and counts
 * them; Raft retransmits, so loss only costs time, while growth costs memory.
 */
import type { MemberId, Message, SnapshotRequest } from "./types.ts";
import {
  decodeBatch,
  decodeMessage,
  encodeBatch,
  encodeSnapshotHead,
} from "./transport_codec.ts";

export const MESSAGES_PATH = "/raft/messages";
export const SNAPSHOT_PATH = "/raft/snapshot";

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
  received: number;
  rejected: number;
  snapshotsSent: number;
}

function approximateBytes(message: Message): number {
  if (message.type !== "append") return 64;
  let bytes = 64;
  for (const entry of message.entries) bytes += 32 + entry.data.length;
  return bytes;
}

/** Streams a snapshot message: its head, then the data in chunks (views, no copy). */
function snapshotBody(
  message: SnapshotRequest,
  chunkBytes: number,
): ReadableStream<Uint8Array> {
  const head = encodeSnapshotHead(message);
  const data = message.snapshot.data;
  let offset = -1;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset < 0) {
        controller.enqueue(head);
        offset = 0;
      } else if (offset < data.length) {
        const end = Math.min(data.length, offset + chunkBytes);
        controller.enqueue(data.subarray(offset, end));
        offset = end;
      } else {
        controller.close();
      }
    },
  });
}

class Peer {
  #queue: Message[] = [];
  #running = false;
  #closed = false;
  readonly #inflight = new Set<AbortController>();

  constructor(
    readonly id: MemberId,
    public url: string,
    readonly options: Required<Omit<TransportOptions, "id" | "peers">> & {
      snapshotChunkBytes: number;
    },
    readonly stats: TransportStats,
  ) {}

  enqueue(message: Message): void {
    if (this.#closed) return;
    if (this.#queue.length >= this.options.queueMessagesMax) {
      this.stats.dropped++;
      return;
    }
    this.#queue.push(message);
    if (!this.#running) {
      this.#running = true;
      void this.#run();
    }
  }

  /** Drains the queue, one request at a time, until it is empty. */
  async #run(): Promise<void> {
    try {
      await this.#drain();
    } finally {
      // Same microtask as the last empty-queue check: no message is stranded.
      this.#running = false;
    }
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0 && !this.#closed) {
      const first = this.#queue[0]!;
      let ok: boolean;
      if (first.type === "snapshot") {
        this.#queue.shift();
        ok = await this.#post(
          SNAPSHOT_PATH,
          snapshotBody(first, this.options.snapshotChunkBytes),
          1,
          true,
        );
        if (ok) this.stats.snapshotsSent++;
      } else {
        const batch = this.#takeBatch();
        ok = await this.#post(
          MESSAGES_PATH,
          encodeBatch(batch),
          batch.length,
          false,
        );
      }
      if (!ok && !this.#closed) {
        // A peer that is down: pause so we don't spin; the queue bound drops the rest.
        await new Promise((resolve) =>
          setTimeout(resolve, this.options.retryDelayMs)
        );
      }
    }
  }

  #takeBatch(): Message[] {
    let bytes = 0;
    let n = 0;
    while (n < this.#queue.length && n < this.options.batchMessagesMax) {
      const message = this.#queue[n]!;
      if (message.type === "snapshot") break;
      bytes += approximateBytes(message);
      n++;
      if (bytes >= this.options.batchBytesMax) break;
    }
    return this.#queue.splice(0, n);
  }

  async #post(
    path: string,
    body: BodyInit,
    count: number,
    isSnapshot: boolean,
  ): Promise<boolean> {
    const controller = new AbortController();
    this.#inflight.add(controller);
    const timeoutMs = isSnapshot
      ? this.options.snapshotTimeoutMs
      : this.options.requestTimeoutMs;
    const timer = setTimeout(
      () => controller.abort(new Error(`timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    this.stats.requests++;
    try {
      const response = await fetch(`${this.url}${path}`, {
        method: "POST",
        body,
        headers: {
          ...this.options.headers,
          "content-type": "application/octet-stream",
        },
        signal: controller.signal,
      });
      await response.body?.cancel();
      if (!response.ok) {
        this.stats.failedRequests++;
        return false;
      }
      this.stats.sent += count;
      return true;
    } catch (_err) {
      // Unreachable or slow peer: Raft retransmits; count and move on.
      this.stats.failedRequests++;
      return false;
    } finally {
      clearTimeout(timer);
      this.#inflight.delete(controller);
    }
  }

  close(): void {
    this.#closed = true;
    this.stats.dropped += this.#queue.length;
    this.#queue = [];
    for (const c of this.#inflight) c.abort(new Error("transport closed"));
  }

  async idle(): Promise<void> {
    while (this.#running) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
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
    snapshotsSent: 0,
  };
  readonly #id: MemberId;
  readonly #options: Required<Omit<TransportOptions, "id" | "peers">> & {
    snapshotChunkBytes: number;
  };
  readonly #peers = new Map<MemberId, Peer>();
  readonly #onMessage: (message: Message) => void;
  #server: Deno.HttpServer<Deno.NetAddr> | null = null;

  constructor(
    options: TransportOptions,
    onMessage: (message: Message) => void,
  ) {
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
      snapshotChunkBytes: TRANSPORT_DEFAULTS.snapshotChunkBytes,
    };
    this.#onMessage = onMessage;
    for (const [id, url] of options.peers) this.setPeer(id, url);
  }

  /** Adds or re-addresses a peer (membership change, new mesh address). */
  setPeer(id: MemberId, url: string): void {
    if (id === this.#id) return;
    const peer = this.#peers.get(id);
    if (peer !== undefined) peer.url = url;
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

  /** Serves Raft requests; mount it on an existing server, or call `listen`. */
  async handle(request: Request): Promise<Response | null> {
    const path = new URL(request.url).pathname;
    if (path !== MESSAGES_PATH && path !== SNAPSHOT_PATH) return null;
    if (request.method !== "POST") {
      return new Response("POST only", { status: 405 });
    }
    const body = await readBody(request, this.#options.bodyBytesMax);
    if (body === null) {
      this.stats.rejected++;
      return new Response(`Body exceeds ${this.#options.bodyBytesMax} bytes`, {
        status: 413,
      });
    }
    let messages: Message[];
    try {
      messages = path === MESSAGES_PATH
        ? decodeBatch(body)
        : [decodeMessage(body)];
    } catch (err) {
      this.stats.rejected++;
      return new Response(`Undecodable Raft frame: ${(err as Error).message}`, {
        status: 400,
      });
    }
    for (const message of messages) {
      if (message.to !== this.#id) {
        this.stats.rejected++;
        continue;
      }
      this.stats.received++;
      this.#onMessage(message);
    }
    return new Response(null, { status: 204 });
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
    for (const peer of this.#peers.values()) peer.close();
    await Promise.all([...this.#peers.values()].map((p) => p.idle()));
    await this.#server?.shutdown();
  }
}
