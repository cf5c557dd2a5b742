/**
 * `GET /v1/services/{name}/logs`: the last lines of every alloc of a service
 * or task (or of one alloc, by id), fetched from the nodes that run them and
 * merged by time. Ended allocs (a finished task, a replica that failed, one
 * a deploy replaced) are included: their nodes keep their last lines until
 * they are purged, and those lines say `ended: true`. With `follow=1` the
 * answer is an SSE stream of `log` events that keeps polling the nodes (and
 * picks up new allocs, e.g. after a restart or a rolling deploy) until the
 * client goes away.
 */
import { type Alloc, type ClusterState, isTerminal } from "../../raft/mod.ts";
import { ApiError, jsonResponse, type SseHub } from "../api/mod.ts";
import { LOG_LINES_MAX, type SecondaryRuntime } from "../rpc/mod.ts";

/** Default and largest `tail`. */
export const LOGS_TAIL_DEFAULT = 100;
/** How often a follow stream asks the nodes for new lines. */
export const LOGS_FOLLOW_POLL_MS = 500;
/** Most allocs one logs request reads. */
export const LOGS_ALLOCS_MAX = 64;
const LOGS_RPC_DEADLINE_MS = 10_000;

export interface LogLineView {
  readonly allocId: string;
  readonly seq: number;
  readonly time: string;
  readonly timeMs: number;
  readonly stream: "stdout" | "stderr";
  readonly line: string;
  /** The alloc has ended (stopped or failed): these are its last lines. */
  readonly ended: boolean;
}

export interface LogsSource {
  state(): ClusterState;
  runtime(nodeId: string): SecondaryRuntime;
}

/**
 * The allocs whose logs a name means: the alloc with that id, else the
 * allocs of that workload: its live ones, then its most recently ended ones
 * (a crashed replica, a finished task), `LOGS_ALLOCS_MAX` in all, in
 * scheduling order.
 */
export function allocsForLogs(state: ClusterState, name: string): Alloc[] {
  const byId = state.allocs.get(name);
  if (byId !== undefined) return [byId];
  const all = [...state.allocs.values()].filter((a) => a.workload === name)
    .sort((a, b) =>
      a.scheduledAtMs - b.scheduledAtMs || (a.id < b.id ? -1 : 1)
    );
  const live = all.filter((a) => !isTerminal(a.status)).slice(
    -LOGS_ALLOCS_MAX,
  );
  const room = LOGS_ALLOCS_MAX - live.length;
  const ended = room === 0
    ? []
    : all.filter((a) => isTerminal(a.status)).slice(-room);
  const picked = new Set([...live, ...ended]);
  return all.filter((a) => picked.has(a));
}

export function parseTail(raw: string | null): number {
  if (raw === null) return LOGS_TAIL_DEFAULT;
  const value = Number(raw);
  if (!/^\d{1,6}$/.test(raw) || value > LOG_LINES_MAX) {
    throw new ApiError(
      400,
      "api.bad_parameter",
      `"tail" must be a whole number of lines from 0 to ${LOG_LINES_MAX}`,
    );
  }
  return value;
}

async function fetchLines(
  source: LogsSource,
  alloc: Alloc,
  request: { afterSeq?: number; tailLines: number },
): Promise<{ lines: LogLineView[]; lastSeq: number } | null> {
  const ended = isTerminal(alloc.status);
  try {
    const result = await source.runtime(alloc.nodeId).logs(
      { allocId: alloc.id, ...request },
      AbortSignal.timeout(LOGS_RPC_DEADLINE_MS),
    );
    return {
      lastSeq: result.lastSeq,
      lines: result.lines.map((l) => ({
        allocId: alloc.id,
        seq: l.seq,
        time: new Date(l.timeMs).toISOString(),
        timeMs: l.timeMs,
        stream: l.stream,
        line: l.line,
        ended,
      })),
    };
  } catch {
    // A node that is down or no longer has the alloc: its lines are gone.
    return null;
  }
}

function byTime(a: LogLineView, b: LogLineView): number {
  return a.timeMs - b.timeMs || (a.allocId < b.allocId ? -1 : 1) ||
    a.seq - b.seq;
}

/** Handles one logs request. */
export async function handleLogs(
  _request: Request,
  name: string,
  url: URL,
  source: LogsSource,
  hub: SseHub,
): Promise<Response> {
  const tail = parseTail(url.searchParams.get("tail"));
  const follow = ["1", "true"].includes(url.searchParams.get("follow") ?? "");
  const state = source.state();
  const known = state.allocs.has(name) ||
    state.config.services[name] !== undefined ||
    state.config.tasks[name] !== undefined ||
    [...state.allocs.values()].some((a) => a.workload === name);
  if (!known) {
    throw new ApiError(
      404,
      "logs.not_found",
      `No service, task or alloc named "${name}"; "mill ps" lists them`,
    );
  }
  const allocs = allocsForLogs(state, name);
  const fetched = await Promise.all(
    allocs.map((a) => fetchLines(source, a, { tailLines: tail })),
  );
  const lines = fetched.flatMap((f) => f?.lines ?? []).sort(byTime).slice(
    -tail || Infinity,
  );
  if (tail === 0) lines.length = 0;
  if (!follow) return jsonResponse({ lines });

  // Not tied to `request.signal` (Deno.serve's legacy abort fires on a
  // successful response): the stream closes when the client cancels the body.
  const stream = hub.subscribe();
  for (const line of lines) stream.send({ event: "log", data: line });
  const seqs = new Map<string, number>();
  const done = new Set<string>();
  allocs.forEach((alloc, i) => {
    const got = fetched[i];
    seqs.set(alloc.id, got?.lastSeq ?? 0);
    if (got !== null && got !== undefined && isTerminal(alloc.status)) {
      done.add(alloc.id);
    }
  });
  void followLogs(source, name, stream, seqs, done);
  return stream.response;
}

async function followLogs(
  source: LogsSource,
  name: string,
  stream: {
    closed: boolean;
    send(e: { event: string; data: unknown }): boolean;
  },
  seqs: Map<string, number>,
  /** Ended allocs read since they ended: they print nothing new. */
  done: Set<string>,
): Promise<void> {
  // Runs until the client goes away (the stream closes).
  while (!stream.closed) {
    await new Promise((resolve) => setTimeout(resolve, LOGS_FOLLOW_POLL_MS));
    if (stream.closed) return;
    const allocs = allocsForLogs(source.state(), name).filter((a) =>
      !done.has(a.id)
    );
    const fetched = await Promise.all(
      allocs.map((alloc) =>
        fetchLines(source, alloc, {
          afterSeq: seqs.get(alloc.id) ?? 0,
          tailLines: LOG_LINES_MAX,
        })
      ),
    );
    const lines: LogLineView[] = [];
    allocs.forEach((alloc, i) => {
      const got = fetched[i];
      if (got === null || got === undefined) return;
      if (isTerminal(alloc.status)) done.add(alloc.id);
      // A restarted ring starts over: follow from its start.
      if (got.lastSeq < (seqs.get(alloc.id) ?? 0)) seqs.set(alloc.id, 0);
      else seqs.set(alloc.id, got.lastSeq);
      lines.push(...got.lines);
    });
    for (const line of lines.sort(byTime)) {
      if (!stream.send({ event: "log", data: line })) return;
    }
  }
}
