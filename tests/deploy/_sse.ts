/** Reads a server-sent-event stream to its end (tests only). */

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
  const body = response.body;
  if (body === null) return events;
  const decoder = new TextDecoder();
  let buffer = "";
  let name = "message";
  let data = "";
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let newline = buffer.indexOf("\n");
    while (newline !== -1) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + 1);
      if (line === "") {
        if (data !== "") {
          const event = { event: name, data: JSON.parse(data) };
          events.push(event);
          onEvent(event);
        }
        name = "message";
        data = "";
      } else if (line.startsWith("event: ")) {
        name = line.slice(7);
      } else if (line.startsWith("data: ")) {
        data += line.slice(6);
      }
      newline = buffer.indexOf("\n");
    }
  }
  return events;
}
