/**
 * The probes themselves: an HTTP GET or a TCP connect, each bounded by a
 * timeout and a caller's abort signal, leaving no connection, timer or body
 * behind.
 *
 * HTTP: any 2xx or 3xx status passes (redirects are not followed: a 302 to a
 * login page still proves the process answers); anything else, a connection
 * error or the timeout fails. The body is discarded unread. Each probe uses
 * its own HTTP client, closed afterwards, so no pooled keep-alive connection
 * outlives it.
 *
 * TCP: an established connection passes; it is closed at once.
 *
 * Every outcome says whether the app answered (an HTTP response of any
 * status, an established TCP connection) and carries a `detail` naming the
 * check and its result: `GET http://10.0.0.2:8080/health → HTTP 404`,
 * `connect 10.0.0.2:5432: connection refused`,
 * `GET http://…/health: timed out after 2000 ms`.
 *
 * A probe never throws for a failed check, it returns `{ ok: false, … }`.
 * It rejects only when the caller's `signal` aborts (with the signal's reason).
 */
import type { HealthConfig } from "../../config/types.ts";
import type { ProbeResult } from "./tracker.ts";

/** What to probe: the alloc's address and the check kind. */
export type ProbeTarget =
  | { readonly kind: "http"; readonly url: string }
  | { readonly kind: "tcp"; readonly hostname: string; readonly port: number };

export interface ProbeOptions {
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

export interface ProbeOutcome {
  readonly ok: boolean;
  /** The app answered: an HTTP response (any status) or a TCP connect. */
  readonly answered: boolean;
  /** The check and its result, e.g. `GET http://10.0.0.2:8080/h → HTTP 404`. */
  readonly detail: string;
  /** Why it failed, without the check (`HTTP 503`, `connection refused`). */
  readonly reason?: string;
}

/** Longest failure reason kept (error messages can be long). */
export const PROBE_REASON_LENGTH_MAX = 200;

/** The target for `config` at an alloc's host and port: HTTP when `path` is set. */
export function probeTarget(
  config: HealthConfig,
  hostname: string,
  port: number,
): ProbeTarget {
  if (config.path === undefined) return { kind: "tcp", hostname, port };
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  const path = config.path.startsWith("/") ? config.path : `/${config.path}`;
  return { kind: "http", url: `http://${host}:${port}${path}` };
}

/** Runs one probe and times it with `nowMs`. */
export async function runProbe(
  target: ProbeTarget,
  options: ProbeOptions & { readonly nowMs: () => number },
): Promise<ProbeResult> {
  const startedAtMs = options.nowMs();
  const outcome = target.kind === "http"
    ? await probeHttp(target.url, options)
    : await probeTcp(target.hostname, target.port, options);
  return { ...outcome, startedAtMs, finishedAtMs: options.nowMs() };
}

/** GET `url`; passes on 2xx and 3xx. */
export async function probeHttp(
  url: string,
  options: ProbeOptions,
): Promise<ProbeOutcome> {
  const check = `GET ${url}`;
  return await withTimeout(check, options, async (signal) => {
    const client = Deno.createHttpClient({});
    try {
      const response = await fetch(url, {
        method: "GET",
        redirect: "manual",
        signal,
        client,
        headers: { "user-agent": "mill-health" },
      });
      await response.body?.cancel();
      const status = `HTTP ${response.status}`;
      const detail = `${check} → ${status}`;
      if (response.status >= 200 && response.status < 400) {
        return { ok: true, answered: true, detail };
      }
      return { ok: false, answered: true, detail, reason: status };
    } finally {
      client.close();
    }
  });
}

/** Connects to `hostname:port` over TCP; passes when the connection opens. */
export async function probeTcp(
  hostname: string,
  port: number,
  options: ProbeOptions,
): Promise<ProbeOutcome> {
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  const check = `connect ${host}:${port}`;
  return await withTimeout(check, options, async (signal) => {
    const conn = await Deno.connect({
      hostname,
      port,
      transport: "tcp",
      signal,
    });
    conn.close();
    return { ok: true, answered: true, detail: `${check}: connected` };
  });
}

/**
 * Runs `probe` under a signal that aborts on the caller's signal or after
 * `timeoutMs`, turning errors into failed outcomes of `check` (nothing
 * answered); the caller's abort rejects instead.
 */
async function withTimeout(
  check: string,
  options: ProbeOptions,
  probe: (signal: AbortSignal) => Promise<ProbeOutcome>,
): Promise<ProbeOutcome> {
  options.signal?.throwIfAborted();
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), options.timeoutMs);
  const signal = options.signal === undefined
    ? timeout.signal
    : AbortSignal.any([options.signal, timeout.signal]);
  try {
    return await probe(signal);
  } catch (err) {
    options.signal?.throwIfAborted();
    const reason = timeout.signal.aborted
      ? `timed out after ${options.timeoutMs} ms`
      : describeError(err);
    return {
      ok: false,
      answered: false,
      detail: `${check}: ${reason}`,
      reason,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Causes followed when describing an error (fetch wraps the OS error). */
const ERROR_CAUSES_MAX = 5;

function describeError(err: unknown): string {
  let deepest = err;
  for (let depth = 0; depth < ERROR_CAUSES_MAX; depth++) {
    if (deepest instanceof Deno.errors.ConnectionRefused) break;
    if (!(deepest instanceof Error) || deepest.cause === undefined) break;
    deepest = deepest.cause;
  }
  const message = deepest instanceof Error ? deepest.message : String(deepest);
  if (
    deepest instanceof Deno.errors.ConnectionRefused ||
    /connection refused/i.test(message)
  ) {
    return "connection refused";
  }
  return message.length > PROBE_REASON_LENGTH_MAX
    ? `${message.slice(0, PROBE_REASON_LENGTH_MAX)}…`
    : message;
}
