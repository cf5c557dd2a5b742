/**
 * The one adapter to `eventsource-parser`: reads a server-sent-event stream
 * (an API answer's body) as typed events, for the CLI and the tests alike.
 *
 * Wire format as node/api/sse.ts writes it: `event:` and `data:` lines, a
 * blank line after each event, `: heartbeat` comments. The parser also takes
 * what the SSE spec allows besides: CRLF or CR line ends, data over several
 * `data:` lines (joined with `\n`), chunks cut anywhere, unknown fields
 * (ignored). An event still open when the stream ends is dropped, as the
 * spec says.
 *
 * Bound: an event's data may hold at most `SSE_EVENT_BYTES_MAX` bytes; past it
 * the reader throws an `SseError` and cancels the stream rather than buffer
 * without end.
 */
import { createParser, type EventSourceMessage } from "eventsource-parser";

/** Largest data of one event, in UTF-8 bytes. */
export const SSE_EVENT_BYTES_MAX = 1024 * 1024;
/** Room for field names (`data: `, `event: …`) in the parser's buffer. */
const FIELD_CHARS_SLACK = 1024;
/** The event name of an event that gives none (as the SSE spec says). */
const EVENT_NAME_DEFAULT = "message";

/** One event as received: its name and its raw data. */
export interface SseEvent {
  readonly event: string;
  /** The data lines joined with `\n`, not parsed. */
  readonly data: string;
}

export type SseErrorCode = "sse.event_too_large" | "sse.bad_json";

/** A stream we cannot read further, or an event whose data is not JSON. */
export class SseError extends Error {
  override name = "SseError";
  constructor(
    readonly code: SseErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface ReadEventsOptions {
  /** Defaults to `SSE_EVENT_BYTES_MAX`. */
  readonly eventBytesMax?: number;
}

/**
 * The events of `source` (a response or its body), in order, until the stream
 * ends. Leaving the loop early cancels the stream.
 *
 * @example
 * ```ts
 * for await (const event of readEvents(response)) {
 *   if (event.event === "done") console.log(parseEventJson(event));
 * }
 * ```
 */
export async function* readEvents(
  source: Response | ReadableStream<Uint8Array> | null,
  options: ReadEventsOptions = {},
): AsyncGenerator<SseEvent, void, undefined> {
  const body = source instanceof Response ? source.body : source;
  if (body === null) return;
  const eventBytesMax = options.eventBytesMax ?? SSE_EVENT_BYTES_MAX;
  const parsed: SseEvent[] = [];
  let failure: SseError | undefined;
  const parser = createParser({
    // Characters never outnumber UTF-8 bytes, so this bound is the looser one:
    // it stops an event that never ends; onEvent measures what is dispatched.
    maxBufferSize: eventBytesMax + FIELD_CHARS_SLACK,
    onEvent(message: EventSourceMessage) {
      if (failure !== undefined) return;
      if (utf8LengthOver(message.data, eventBytesMax)) {
        failure = eventTooLarge(eventBytesMax);
        return;
      }
      parsed.push({
        event: message.event ?? EVENT_NAME_DEFAULT,
        data: message.data,
      });
    },
    onError(error) {
      // Unknown fields and bad `retry` values are ignored, as the spec says.
      if (error.type === "max-buffer-size-exceeded") {
        failure ??= eventTooLarge(eventBytesMax, error);
      }
    },
  });
  const decoder = new TextDecoder();
  let endsWithCr = false;
  for await (const chunk of body) {
    const text = decoder.decode(chunk, { stream: true });
    if (text !== "") endsWithCr = text.endsWith("\r");
    parser.feed(text);
    yield* readEventsDrain(parsed);
    // Throwing here ends the for-await, which cancels the body.
    if (failure !== undefined) throw failure;
  }
  // The parser holds back a final CR in case an LF follows; none will now.
  parser.feed(`${decoder.decode()}${endsWithCr ? "\n" : ""}`);
  yield* readEventsDrain(parsed);
  if (failure !== undefined) throw failure;
}

function* readEventsDrain(parsed: SseEvent[]): Generator<SseEvent> {
  const events = parsed.splice(0, parsed.length);
  yield* events;
}

function eventTooLarge(eventBytesMax: number, cause?: unknown): SseError {
  return new SseError(
    "sse.event_too_large",
    `Cannot read the event stream: an event holds more than ${eventBytesMax} bytes of data; the stream was closed`,
    cause === undefined ? undefined : { cause },
  );
}

/** Whether `text` takes more than `bytesMax` bytes in UTF-8 (not encoding it). */
function utf8LengthOver(text: string, bytesMax: number): boolean {
  // A UTF-16 code unit takes one to three bytes (a surrogate pair four).
  if (text.length > bytesMax) return true;
  if (text.length * 3 <= bytesMax) return false;
  let bytes = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (isSurrogatePair(text, index)) {
      bytes += 4;
      index++;
    } else bytes += 3;
  }
  return bytes > bytesMax;
}

function isSurrogatePair(text: string, index: number): boolean {
  const high = text.charCodeAt(index);
  const low = text.charCodeAt(index + 1);
  return high >= 0xd800 && high < 0xdc00 && low >= 0xdc00 && low < 0xe000;
}

/** The event's data parsed as JSON; an `SseError` when it is not JSON. */
export function parseEventJson(event: SseEvent): unknown {
  try {
    return JSON.parse(event.data);
  } catch (error) {
    const excerpt = event.data.length > 80
      ? `${event.data.slice(0, 80)}…`
      : event.data;
    throw new SseError(
      "sse.bad_json",
      `Cannot read event "${event.event}": its data is not JSON (${
        JSON.stringify(excerpt)
      })`,
      { cause: error },
    );
  }
}
