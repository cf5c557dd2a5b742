/** Reads a server-sent-event stream to its end (tests only), with cli/sse.ts. */
import { parseEventJson, readEvents as readSseEvents } from "../../cli/sse.ts";

export interface ReadEvent {
  readonly event: string;
  readonly data: Record<string, unknown>;
}

/** Every event of `response`'s stream, in order; `onEvent` sees each as it comes. */
export async function readEvents(
  response: Response,
  onEvent: (event: ReadEvent) => void = () => {},
): Promise<ReadEvent[]> {
  const events: ReadEvent[] = [];
  for await (const raw of readSseEvents(response)) {
    const data = parseEventJson(raw);
    if (typeof data !== "object" || data === null || Array.isArray(data)) {
      throw new Error(
        `Event "${raw.event}" carries ${raw.data}, not a JSON object`,
      );
    }
    const event = { event: raw.event, data: data as Record<string, unknown> };
    events.push(event);
    onEvent(event);
  }
  return events;
}
