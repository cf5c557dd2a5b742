/**
 * The channel of a node whose messages go over the network: the given
 * primaries' peer ports, tried in turn (the last one that answered first)
 * until the leader takes the message.
 */
import {
  type HeartbeatMessage,
  type LeaderChannel,
  NodeMessageError,
  type Registration,
} from "./channel.ts";

/** How long a node waits for a primary's answer. */
export const REMOTE_CALL_TIMEOUT_MS = 10_000;

export function remoteChannel(
  primaries: () => readonly string[],
  peerClient: () => Deno.HttpClient,
): LeaderChannel {
  let preferred = 0;
  const send = async (path: string, body: unknown): Promise<void> => {
    const peers = primaries();
    let lastError = "no primary known";
    for (let attempt = 0; attempt < peers.length; attempt++) {
      const index = (preferred + attempt) % peers.length;
      const peer = peers[index];
      let response: Response;
      try {
        response = await fetch(`https://${peer}${path}`, {
          method: "POST",
          client: peerClient(),
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(REMOTE_CALL_TIMEOUT_MS),
        });
      } catch (error) {
        lastError = `${peer}: ${(error as Error).message}`;
        continue;
      }
      if (response.status === 204) {
        preferred = index;
        return;
      }
      const answer = await response.json().catch(() => ({}));
      const code = typeof answer?.code === "string"
        ? answer.code
        : "peer.error";
      const message = typeof answer?.message === "string"
        ? answer.message
        : `HTTP ${response.status}`;
      if (response.status === 503) {
        lastError = `${peer}: ${message}`;
        continue;
      }
      throw new NodeMessageError(code, message);
    }
    throw new NodeMessageError(
      "peer.no_leader",
      `No leader reachable (${lastError})`,
    );
  };
  return {
    register: (registration: Registration) =>
      send("/peer/v1/register", registration),
    heartbeat: (message: HeartbeatMessage) =>
      send("/peer/v1/heartbeat", message),
  };
}
