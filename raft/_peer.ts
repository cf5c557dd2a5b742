/**
 * The outbound side of the transport for one peer: a bounded queue whose
 * batches go as frames on one streamed request (transport_stream.ts), or
 * posted one request at a time to a peer that does not serve the stream
 * path; snapshots are always posted on their own, their body streamed.
 */
import type { MemberId, Message, SnapshotRequest } from "./types.ts";
import { encodeBatch, encodeSnapshotHead } from "./transport_codec.ts";
import {
  OutboundStream,
  STREAM_DEFAULTS,
  STREAM_PATH,
  type StreamEnd,
} from "./transport_stream.ts";

export const MESSAGES_PATH = "/raft/messages";
export const SNAPSHOT_PATH = "/raft/snapshot";

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

/** A transport's options, every one resolved. */
export interface PeerOptions {
  readonly queueMessagesMax: number;
  readonly batchMessagesMax: number;
  readonly batchBytesMax: number;
  readonly requestTimeoutMs: number;
  readonly snapshotTimeoutMs: number;
  readonly bodyBytesMax: number;
  readonly retryDelayMs: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly client: Deno.HttpClient | null;
  readonly streaming: boolean;
  readonly snapshotChunkBytes: number;
}

/** The outbound counters of `TransportStats`. */
export interface PeerStats {
  sent: number;
  requests: number;
  dropped: number;
  failedRequests: number;
  snapshotsSent: number;
  streamsOpened: number;
}

/** One peer's outbound side: its queue, its stream, its posts. */
export class Peer {
  /** Messages other than snapshots, streamed or posted in batches. */
  #queue: Message[] = [];
  /** Snapshots, always posted on their own. */
  #snapshots: SnapshotRequest[] = [];
  #running = false;
  #closed = false;
  readonly #inflight = new Set<AbortController>();
  #stream: OutboundStream | null = null;
  /** Batches are posted until then (the peer answered the stream path 404). */
  #streamUnsupportedUntil = 0;
  /** No new stream before then (the last one failed). */
  #streamRetryAt = 0;
  #streamRetry: ReturnType<typeof setTimeout> | undefined;

  constructor(
    readonly id: MemberId,
    public url: string,
    readonly options: PeerOptions,
    readonly stats: PeerStats,
  ) {}

  /** A new address: the open stream ends (what it took still goes) and the next opens there. */
  readdress(url: string): void {
    if (url === this.url) return;
    this.url = url;
    this.#stream?.end();
  }

  enqueue(message: Message): void {
    if (this.#closed) return;
    const queued = this.#queue.length + this.#snapshots.length;
    if (queued >= this.options.queueMessagesMax) {
      this.stats.dropped++;
      return;
    }
    if (message.type === "snapshot") this.#snapshots.push(message);
    else this.#queue.push(message);
    this.#pump();
  }

  #streamMode(): boolean {
    return this.options.streaming &&
      performance.now() >= this.#streamUnsupportedUntil;
  }

  /** Hands what is queued to the stream, or starts the posting loop. */
  #pump(): void {
    if (this.#closed) return;
    const streamed = this.#streamMode();
    if (streamed && this.#queue.length > 0) {
      if (this.#stream === null || this.#stream.ended) this.#openStream();
      this.#stream?.wake();
    }
    const posts = this.#snapshots.length > 0 ||
      (!streamed && this.#queue.length > 0);
    if (posts && !this.#running) {
      this.#running = true;
      void this.#run();
    }
  }

  #openStream(): void {
    const wait = this.#streamRetryAt - performance.now();
    if (wait > 0) {
      this.#streamRetry ??= setTimeout(() => {
        this.#streamRetry = undefined;
        this.#pump();
      }, wait);
      return;
    }
    this.stats.requests++;
    this.stats.streamsOpened++;
    const stream: OutboundStream = new OutboundStream({
      url: `${this.url}${STREAM_PATH}`,
      headers: this.options.headers,
      client: this.options.client,
      stallTimeoutMs: this.options.requestTimeoutMs,
      maxAgeMs: STREAM_DEFAULTS.maxAgeMs,
      idleMs: STREAM_DEFAULTS.idleMs,
      take: () => this.#queue.length > 0 ? this.#takeBatch() : null,
      waiting: () => this.#queue.length > 0,
      onSent: (count) => this.stats.sent += count,
      onEnd: (end) => this.#streamEnded(stream, end),
    });
    this.#stream = stream;
  }

  #streamEnded(stream: OutboundStream, end: StreamEnd): void {
    if (this.#stream === stream) this.#stream = null;
    if (this.#closed) return;
    if (end === "unsupported") {
      this.#streamUnsupportedUntil = performance.now() +
        STREAM_DEFAULTS.unsupportedRetryMs;
    } else if (end === "failed") {
      // A peer that is down: what waited is stale by the time it is back.
      this.stats.failedRequests++;
      this.stats.dropped += this.#queue.length;
      this.#queue = [];
      this.#streamRetryAt = performance.now() + this.options.retryDelayMs;
    }
    this.#pump();
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
    while (!this.#closed) {
      const first = this.#snapshots.shift();
      let ok: boolean;
      if (first !== undefined) {
        ok = await this.#post(
          SNAPSHOT_PATH,
          snapshotBody(first, this.options.snapshotChunkBytes),
          1,
          true,
        );
        if (ok) this.stats.snapshotsSent++;
      } else if (this.#queue.length > 0 && !this.#streamMode()) {
        const batch = this.#takeBatch();
        ok = await this.#post(
          MESSAGES_PATH,
          encodeBatch(batch),
          batch.length,
          false,
        );
      } else {
        break;
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
        ...(this.options.client === null
          ? {}
          : { client: this.options.client }),
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
    this.stats.dropped += this.#queue.length + this.#snapshots.length;
    this.#queue = [];
    this.#snapshots = [];
    clearTimeout(this.#streamRetry);
    this.#stream?.abort("transport closed");
    for (const c of this.#inflight) c.abort(new Error("transport closed"));
  }

  async idle(): Promise<void> {
    while (this.#running) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}
