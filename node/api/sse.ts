/**
 * Server-sent events: one `SseStream` per client, and an `SseHub` that
 * fans events out to a bounded set of them.
 *
 * Wire format (see node/API.md): each event is
 * `id: <id>\nevent: <type>\ndata: <one line of JSON>\n\n`; a comment line
 * `: heartbeat` is sent every `heartbeatMs` so proxies and clients can tell a
 * quiet stream from a dead one.
 *
 * Bounds: a stream queues at most `queueEventsMax` unread events; a client
 * that falls that far behind is cut off (its stream is closed) rather than
 * let the node's memory grow. A hub accepts at most `subscribersMax` streams
 * (503 past it). A stream closes when the client goes away (its request
 * signal aborts or the response body is cancelled), and then releases its
 * heartbeat timer and leaves its hub.
 */
import { ApiError } from "./errors.ts";

export const SSE_HEARTBEAT_MS = 15_000;
export const SSE_QUEUE_EVENTS_MAX = 1_024;
export const SSE_SUBSCRIBERS_MAX = 64;

export interface SseEvent {
  /** Event type: letters, digits, `.`, `_`, `-`. */
  readonly event: string;
  /** Sent as one line of JSON. */
  readonly data: unknown;
  readonly id?: string;
}

export interface SseStreamOptions {
  /** The request's signal: its abort closes the stream. */
  readonly signal?: AbortSignal;
  readonly heartbeatMs?: number;
  readonly queueEventsMax?: number;
  /** Called once when the stream closes. */
  readonly onClose?: () => void;
}

const EVENT_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
const ID_PATTERN = /^[^\r\n\0]{0,128}$/;

/** The wire form of one event. */
export function formatSseEvent(event: SseEvent): string {
  if (!EVENT_NAME_PATTERN.test(event.event)) {
    throw new Error(`SSE: bad event name ${JSON.stringify(event.event)}`);
  }
  if (event.id !== undefined && !ID_PATTERN.test(event.id)) {
    throw new Error("SSE: an event id may not contain line breaks or NUL");
  }
  // JSON.stringify escapes line breaks inside strings: data is one line.
  const data = JSON.stringify(event.data) ?? "null";
  const id = event.id === undefined ? "" : `id: ${event.id}\n`;
  return `${id}event: ${event.event}\ndata: ${data}\n\n`;
}

/** One client's event stream; `response` is what the handler returns. */
export class SseStream {
  readonly response: Response;
  readonly #done = Promise.withResolvers<void>();
  readonly #encoder = new TextEncoder();
  readonly #signal: AbortSignal | undefined;
  readonly #onClose: (() => void) | undefined;
  #controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(options: SseStreamOptions = {}) {
    const queueEventsMax = options.queueEventsMax ?? SSE_QUEUE_EVENTS_MAX;
    const heartbeatMs = options.heartbeatMs ?? SSE_HEARTBEAT_MS;
    this.#signal = options.signal;
    this.#onClose = options.onClose;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => this.#finish(),
    }, new CountQueuingStrategy({ highWaterMark: queueEventsMax }));
    this.response = new Response(body, {
      status: 200,
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        "x-accel-buffering": "no",
      },
    });
    this.#timer = setInterval(
      () => this.#enqueue(": heartbeat\n\n"),
      heartbeatMs,
    );
    if (this.#signal?.aborted) this.close();
    else this.#signal?.addEventListener("abort", this.#onAbort);
  }

  /** Settles once the stream is closed, for whatever reason. */
  get done(): Promise<void> {
    return this.#done.promise;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Queues `event`; false when the stream is closed or was just closed for
   * falling `queueEventsMax` events behind.
   */
  send(event: SseEvent): boolean {
    return this.#enqueue(formatSseEvent(event));
  }

  /** Closes the stream after the events already queued. */
  close(): void {
    if (this.#closed) return;
    try {
      this.#controller?.close();
    } catch (err) {
      // Already closed or errored by the runtime: nothing left to flush.
      if (!(err instanceof TypeError)) throw err;
    }
    this.#finish();
  }

  #enqueue(text: string): boolean {
    const controller = this.#controller;
    if (this.#closed || controller === null) return false;
    if (controller.desiredSize !== null && controller.desiredSize <= 0) {
      this.close(); // too slow a reader: cut it off rather than buffer more
      return false;
    }
    controller.enqueue(this.#encoder.encode(text));
    return true;
  }

  readonly #onAbort = () => this.close();

  #finish(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#onClose?.();
    this.#done.resolve();
  }
}

/** Fans events out to at most `subscribersMax` streams. */
export class SseHub {
  readonly #streams = new Set<SseStream>();
  readonly #subscribersMax: number;
  readonly #streamOptions: Omit<SseStreamOptions, "signal" | "onClose">;
  #closed = false;

  constructor(
    options: Omit<SseStreamOptions, "signal" | "onClose"> & {
      readonly subscribersMax?: number;
    } = {},
  ) {
    this.#subscribersMax = options.subscribersMax ?? SSE_SUBSCRIBERS_MAX;
    const { subscribersMax: _, ...streamOptions } = options;
    this.#streamOptions = streamOptions;
  }

  get size(): number {
    return this.#streams.size;
  }

  /** A new stream for a client; 503 when the hub is full or closed. */
  subscribe(signal?: AbortSignal): SseStream {
    if (this.#closed || this.#streams.size >= this.#subscribersMax) {
      throw new ApiError(
        503,
        "api.too_many_streams",
        `This node already serves ${this.#streams.size} event streams; retry later`,
        { headers: { "retry-after": "5" } },
      );
    }
    // The stream may close inside its constructor (signal already aborted).
    const created: { stream?: SseStream } = {};
    const stream = new SseStream({
      ...this.#streamOptions,
      ...(signal === undefined ? {} : { signal }),
      onClose: () => {
        if (created.stream !== undefined) this.#streams.delete(created.stream);
      },
    });
    created.stream = stream;
    if (!stream.closed) this.#streams.add(stream);
    return stream;
  }

  /** Sends `event` to every open stream; returns how many took it. */
  publish(event: SseEvent): number {
    formatSseEvent(event); // validates, even with no stream open
    let delivered = 0;
    for (const stream of [...this.#streams]) {
      if (stream.send(event)) delivered += 1;
    }
    return delivered;
  }

  /** Closes every stream and refuses new ones. */
  close(): void {
    this.#closed = true;
    for (const stream of [...this.#streams]) stream.close();
  }
}
