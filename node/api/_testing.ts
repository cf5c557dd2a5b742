/** Test helpers for node/api: a cluster identity and HTTPS clients trusting it. */
import { type ClusterIdentity, initCluster } from "../cluster_init/mod.ts";

/** Runs `run` with a fresh cluster identity in a temp data dir. */
export async function withIdentity(
  run: (identity: ClusterIdentity) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mill-api-" });
  try {
    const identity = await initCluster({
      dataDir: `${dir}/data`,
      nodeName: "node-1",
      apiAddresses: ["127.0.0.1"],
      apiPort: 7443,
      contextPath: null,
      nowMs: Date.now(),
    });
    await run(identity);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `run` with an HTTP client trusting `caCertPem`, closed afterwards. */
export async function withClient(
  caCertPem: string,
  run: (client: Deno.HttpClient) => Promise<void>,
): Promise<void> {
  const client = Deno.createHttpClient({ caCerts: [caCertPem] });
  try {
    await run(client);
  } finally {
    client.close();
  }
}

/** Rejects if `promise` has not settled within `ms` (a deadline, not a timing). */
export async function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: nothing within ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads SSE text from `reader` until `count` events (not comments) arrived. */
export async function readEvents(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  count: number,
): Promise<{ event: string; data: unknown; id?: string }[]> {
  const decoder = new TextDecoder();
  const events: { event: string; data: unknown; id?: string }[] = [];
  let buffer = "";
  // Ends when `count` events are parsed or the stream ends.
  while (events.length < count) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const fields = new Map<string, string>();
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const at = line.indexOf(": ");
        fields.set(line.slice(0, at), line.slice(at + 2));
      }
      const event = fields.get("event");
      if (event === undefined) continue;
      const id = fields.get("id");
      events.push({
        event,
        data: JSON.parse(fields.get("data") ?? "null"),
        ...(id === undefined ? {} : { id }),
      });
    }
  }
  return events;
}
