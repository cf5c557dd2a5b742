/**
 * The channel of a node whose messages go over the network: the given
 * primaries' peer ports, the last one that took a message first, another
 * as well whenever one fails or stays silent a moment, until the leader
 * takes the message.
 */
import {
  type HeartbeatMessage,
  type LeaderChannel,
  NodeMessageError,
  type Registration,
} from "./channel.ts";

/** How long a node waits for a primary's answer. */
export const REMOTE_CALL_TIMEOUT_MS = 10_000;
/**
 * How long a primary may stay silent before the next is asked as well: a
 * dead one (its link cut, nothing answers) must not hold a node's message
 * past the leader's heartbeat timeout.
 */
export const REMOTE_HEDGE_MS = 1_000;

type Attempt =
  | { readonly kind: "taken" }
  | { readonly kind: "retry"; readonly error: string }
  | { readonly kind: "refused"; readonly error: NodeMessageError };

export function remoteChannel(
  primaries: () => readonly string[],
  peerClient: () => Deno.HttpClient,
): LeaderChannel {
  let preferred = 0;

  /** One primary: taken (204), try another (unreachable, 503), or refused. */
  const attempt = async (
    peer: string,
    path: string,
    body: string,
    signal: AbortSignal,
  ): Promise<Attempt> => {
    let response: Response;
    try {
      response = await fetch(`https://${peer}${path}`, {
        method: "POST",
        client: peerClient(),
        headers: { "content-type": "application/json" },
        body,
        signal: AbortSignal.any([
          signal,
          AbortSignal.timeout(REMOTE_CALL_TIMEOUT_MS),
        ]),
      });
    } catch (error) {
      return { kind: "retry", error: `${peer}: ${(error as Error).message}` };
    }
    if (response.status === 204) {
      await response.body?.cancel();
      return { kind: "taken" };
    }
    const answer = await response.json().catch(() => ({}));
    const code = typeof answer?.code === "string" ? answer.code : "peer.error";
    const message = typeof answer?.message === "string"
      ? answer.message
      : `HTTP ${response.status}`;
    if (response.status === 503) {
      return { kind: "retry", error: `${peer}: ${message}` };
    }
    return { kind: "refused", error: new NodeMessageError(code, message) };
  };

  /**
   * The preferred primary (the last that took a message) first; another
   * as well each time one fails or stays silent for REMOTE_HEDGE_MS; the
   * first that takes it wins and the others are let go.
   */
  const send = (path: string, message: unknown): Promise<void> => {
    const peers = primaries();
    if (peers.length === 0) {
      return Promise.reject(
        new NodeMessageError(
          "peer.no_leader",
          "No leader reachable (no primary known)",
        ),
      );
    }
    const body = JSON.stringify(message);
    const stop = new AbortController();
    return new Promise<void>((resolve, reject) => {
      let next = 0;
      let running = 0;
      let settled = false;
      let lastError = "";
      let hedge: ReturnType<typeof setTimeout> | undefined;
      const finish = (error?: NodeMessageError) => {
        if (settled) return;
        settled = true;
        clearTimeout(hedge);
        stop.abort();
        if (error === undefined) resolve();
        else reject(error);
      };
      const launch = () => {
        clearTimeout(hedge);
        if (settled || next >= peers.length) return;
        const index = (preferred + next++) % peers.length;
        running++;
        hedge = setTimeout(launch, REMOTE_HEDGE_MS);
        void attempt(peers[index]!, path, body, stop.signal).then((result) => {
          running--;
          if (result.kind === "taken") {
            preferred = index;
            finish();
          } else if (result.kind === "refused") {
            finish(result.error);
          } else {
            lastError = result.error;
            if (next < peers.length) launch();
            else if (running === 0) {
              finish(
                new NodeMessageError(
                  "peer.no_leader",
                  `No leader reachable (${lastError})`,
                ),
              );
            }
          }
        });
      };
      launch();
    });
  };

  return {
    register: (registration: Registration) =>
      send("/peer/v1/register", registration),
    heartbeat: (heartbeat: HeartbeatMessage) =>
      send("/peer/v1/heartbeat", heartbeat),
  };
}
