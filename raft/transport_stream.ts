/**
 * The streamed peer path: `POST /raft/stream`, one long-lived request per
 * peer whose body is a sequence of frames (`u32 length` + one message batch,
 * transport_codec.ts), instead of one request per batch. A fetch per batch
 * costs a round trip of its own on every hop (request, headers, answer); a
 * frame on an open stream costs one write. It goes through the same server,
 * so the caller is authenticated as for any request, and every frame is
 * admitted whole or refused whole (transport_admission.ts) exactly like a
 * `POST /raft/messages` body.
 *
 * Bounds: a frame is at most `STREAM_DEFAULTS.frameBytesMax`; the sender
 * ends a stream after `maxAgeMs` (servers bound a request's duration) or
 * `idleMs` without a frame, and aborts one that stopped taking frames for its
 * request timeout; the receiver ends a stream silent for `receiverIdleMs` or
 * older than `receiverMaxAgeMs`, and keeps at most `perSenderMax` streams per
 * sender (a new one ends the oldest).
 */
import { DecodeError } from "./storage/bytes.ts";
import type { Message } from "./types.ts";
import { encodeBatch } from "./transport_codec.ts";

export const STREAM_PATH = "/raft/stream";

export const STREAM_DEFAULTS = {
  /** An append holds at most one WAL record past its byte budget (64 MiB). */
  frameBytesMax: 80 * 1024 * 1024,
  /** The sender ends a stream this old and opens a new one. */
  maxAgeMs: 30_000,
  /** The sender ends a stream with nothing to carry for this long. */
  idleMs: 5_000,
  /** The receiver ends a stream silent for this long. */
  receiverIdleMs: 15_000,
  /** The receiver ends a stream this old (the sender rotates well before). */
  receiverMaxAgeMs: 60_000,
  /** Streams one sender may hold open at once; a new one ends the oldest. */
  perSenderMax: 2,
  /** Streams open at once from all senders; more are refused. */
  totalMax: 64,
  /** After a peer answered the stream path 404/405, batches are posted for this long. */
  unsupportedRetryMs: 60_000,
} as const;

const FRAME_HEADER_BYTES = 4;
/** Frames below this are copied into one buffer with their header (one write). */
const FRAME_COPY_BYTES_MAX = 64 * 1024;

/** One batch as the chunks of its frame. */
export function encodeFrame(messages: readonly Message[]): Uint8Array[] {
  const body = encodeBatch(messages);
  if (body.length <= FRAME_COPY_BYTES_MAX) {
    const frame = new Uint8Array(FRAME_HEADER_BYTES + body.length);
    new DataView(frame.buffer).setUint32(0, body.length, true);
    frame.set(body, FRAME_HEADER_BYTES);
    return [frame];
  }
  const head = new Uint8Array(FRAME_HEADER_BYTES);
  new DataView(head.buffer).setUint32(0, body.length, true);
  return [head, body];
}

/**
 * Cuts a byte stream into frames. Pure: chunks in, whole frames out; a
 * length past `frameBytesMax` throws `DecodeError` before any of it is
 * buffered.
 */
export class FrameReader {
  readonly #frameBytesMax: number;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #need = -1;

  constructor(frameBytesMax: number) {
    this.#frameBytesMax = frameBytesMax;
  }

  /** Bytes held of a frame not yet whole. */
  get buffered(): number {
    return this.#buffered;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    const frames: Uint8Array[] = [];
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    for (;;) {
      if (this.#need < 0) {
        if (this.#buffered < FRAME_HEADER_BYTES) return frames;
        const head = this.#take(FRAME_HEADER_BYTES);
        const length = new DataView(head.buffer, head.byteOffset, 4)
          .getUint32(0, true);
        if (length > this.#frameBytesMax) {
          throw new DecodeError(
            `Stream frame of ${length} bytes exceeds ${this.#frameBytesMax}`,
          );
        }
        this.#need = length;
      }
      if (this.#buffered < this.#need) return frames;
      frames.push(this.#take(this.#need));
      this.#need = -1;
    }
  }

  /** The first `n` buffered bytes, as a view when one chunk holds them. */
  #take(n: number): Uint8Array {
    this.#buffered -= n;
    const first = this.#chunks[0];
    if (first !== undefined && first.length >= n) {
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    let offset = 0;
    while (offset < n) {
      const chunk = this.#chunks[0]!;
      const part = Math.min(chunk.length, n - offset);
      out.set(chunk.subarray(0, part), offset);
      offset += part;
      if (part === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(part);
    }
    return out;
  }
}

/** How an outbound stream ended. */
export type StreamEnd = "closed" | "unsupported" | "failed";

export interface OutboundStreamOptions {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly client: Deno.HttpClient | null;
  /** Abort a stream that took no frame for this long while batches wait. */
  readonly stallTimeoutMs: number;
  readonly maxAgeMs: number;
  readonly idleMs: number;
  /** The next batch to send, or null when there is none. */
  take(): Message[] | null;
  /** Whether batches wait (for the stall check). */
  waiting(): boolean;
  /** A frame with `count` messages was handed to the connection. */
  onSent(count: number): void;
  /** Once, when the stream is over. */
  onEnd(end: StreamEnd): void;
}

/**
 * One streamed request to a peer. Frames are pulled by the connection as it
 * can write them (backpressure): what queues meanwhile goes in the next
 * frame, so batching under load works as with one request per batch.
 */
export class OutboundStream {
  readonly #options: OutboundStreamOptions;
  readonly #abort = new AbortController();
  readonly #openedAt = performance.now();
  #lastFrameAt = performance.now();
  #lastPullAt = performance.now();
  #wake: (() => void) | null = null;
  #ending = false;
  #ended = false;
  #watchdog: ReturnType<typeof setInterval>;

  constructor(options: OutboundStreamOptions) {
    this.#options = options;
    const body = new ReadableStream<Uint8Array>({
      pull: (controller) => this.#pull(controller),
      cancel: () => this.#finish("failed"),
    }, { highWaterMark: 1 });
    this.#watchdog = setInterval(
      () => this.#check(),
      Math.max(10, Math.min(options.stallTimeoutMs, options.idleMs) / 2),
    );
    void this.#send(body);
  }

  /** A batch was queued: hand it to the connection if it waits for one. */
  wake(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** Ends the stream; frames already handed over still go. */
  end(): void {
    this.#ending = true;
    this.wake();
  }

  abort(reason: string): void {
    this.#abort.abort(new Error(reason));
    this.#finish("failed");
  }

  get ended(): boolean {
    return this.#ended || this.#ending;
  }

  async #send(body: ReadableStream<Uint8Array>): Promise<void> {
    const { url, headers, client } = this.#options;
    try {
      const response = await fetch(url, {
        method: "POST",
        body,
        headers: { ...headers, "content-type": "application/octet-stream" },
        signal: this.#abort.signal,
        ...(client === null ? {} : { client }),
      });
      await response.body?.cancel();
      this.#finish(
        response.ok
          ? "closed"
          : response.status === 404 || response.status === 405
          ? "unsupported"
          : "failed",
      );
    } catch (_err) {
      this.#finish("failed");
    }
  }

  async #pull(
    controller: ReadableStreamDefaultController<Uint8Array>,
  ): Promise<void> {
    this.#lastPullAt = performance.now();
    for (;;) {
      if (this.#ended || this.#ending || this.#tooOld()) {
        this.#ending = true;
        try {
          controller.close();
        } catch {
          // Already cancelled by the connection: nothing left to end.
        }
        return;
      }
      const batch = this.#options.take();
      if (batch !== null && batch.length > 0) {
        for (const chunk of encodeFrame(batch)) controller.enqueue(chunk);
        this.#lastFrameAt = performance.now();
        this.#options.onSent(batch.length);
        return;
      }
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }

  #tooOld(): boolean {
    return performance.now() - this.#openedAt >= this.#options.maxAgeMs;
  }

  #check(): void {
    if (this.#ended) return;
    const now = performance.now();
    if (
      this.#wake === null && this.#options.waiting() &&
      now - this.#lastPullAt > this.#options.stallTimeoutMs
    ) {
      // The connection stopped taking frames (a peer that hangs): drop it.
      this.abort(`no frame taken for ${this.#options.stallTimeoutMs} ms`);
      return;
    }
    if (now - this.#lastFrameAt >= this.#options.idleMs || this.#tooOld()) {
      this.end();
    }
  }

  #finish(end: StreamEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    clearInterval(this.#watchdog);
    this.wake();
    this.#options.onEnd(end);
  }
}

/** What the receiving side of a stream needs from its transport. */
export interface StreamSink {
  /** Admits and delivers one frame; a refusal ends the stream with it. */
  frame(bytes: Uint8Array): Response | null;
  readonly frameBytesMax: number;
  readonly idleMs: number;
  readonly maxAgeMs: number;
}

/**
 * Reads a stream's frames in order until it ends, goes silent, grows too old,
 * is aborted (`signal`), or a frame is refused. Answers 204 at the end, or
 * the refusal.
 */
export async function receiveStream(
  body: ReadableStream<Uint8Array>,
  sink: StreamSink,
  signal: AbortSignal,
  malformed: (message: string) => Response,
): Promise<Response> {
  const reader = body.getReader();
  const frames = new FrameReader(sink.frameBytesMax);
  const openedAt = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const stop = () => void reader.cancel().catch(() => {});
  signal.addEventListener("abort", stop, { once: true });
  try {
    for (;;) {
      if (signal.aborted) return new Response(null, { status: 204 });
      const left = sink.maxAgeMs - (performance.now() - openedAt);
      if (left <= 0) return new Response(null, { status: 204 });
      clearTimeout(timer);
      timer = setTimeout(stop, Math.min(sink.idleMs, left));
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (err) {
        return malformed(
          `The stream could not be read: ${(err as Error).message}`,
        );
      }
      if (chunk.done) {
        return frames.buffered === 0 || signal.aborted
          ? new Response(null, { status: 204 })
          : malformed("The stream ended inside a frame");
      }
      let whole: Uint8Array[];
      try {
        whole = frames.push(chunk.value);
      } catch (err) {
        if (err instanceof DecodeError) return malformed(err.message);
        throw err;
      }
      for (const frame of whole) {
        const refusal = sink.frame(frame);
        if (refusal !== null) return refusal;
      }
    }
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", stop);
    stop();
  }
}
