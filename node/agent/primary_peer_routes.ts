/**
 * What a primary answers on the peer port besides Raft: the node messages
 * (`POST /peer/v1/register`, `POST /peer/v1/heartbeat`, node scope; 503
 * from a primary that does not lead), the promotion of a caught-up learner
 * (`POST /peer/v1/promote`, raft scope) and the state watch stream
 * (`GET /peer/v1/watch`, node scope).
 */
import type { RaftNode } from "../../raft/mod.ts";
import {
  ApiError,
  type Handler,
  readJsonBody,
  type Router,
} from "../api/mod.ts";
import { NodeMessageError } from "./channel.ts";
import type { NodeMessages } from "./leader/node_messages.ts";
import {
  parseHeartbeat,
  parsePromotion,
  parseRegistration,
} from "./_node_message_schema.ts";
import type { StateWatchHub } from "./state_watch.ts";
import type { Service } from "./supervisor.ts";
import { WATCH_PATH } from "./_watch_wire.ts";

/** Largest node message accepted. */
export const PEER_MESSAGE_BYTES_MAX = 1024 * 1024;

export interface PrimaryPeerRoutesOptions {
  readonly router: Router;
  readonly messages: NodeMessages;
  isLeader(): boolean;
  raft(): RaftNode;
  readonly watch: StateWatchHub;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

export class PrimaryPeerRoutes implements Service {
  readonly name = "peer-routes";
  readonly #options: PrimaryPeerRoutesOptions;
  #unmount: (() => void)[] = [];

  constructor(options: PrimaryPeerRoutesOptions) {
    this.#options = options;
  }

  start(): Promise<void> {
    const { router, messages, watch } = this.#options;
    const leading = (handler: Handler): Handler => (request, context) => {
      if (!this.#options.isLeader()) {
        throw new ApiError(
          503,
          "raft.not_leader",
          "This node is not the leader",
        );
      }
      return handler(request, context);
    };
    this.#unmount = [
      router.mount(
        "POST",
        "/peer/v1/register",
        leading(
          nodeMessage((body, sender) =>
            messages.register(fromSender(parseRegistration(body), sender))
          ),
        ),
        { scope: "node" },
      ),
      router.mount(
        "POST",
        "/peer/v1/heartbeat",
        leading(
          nodeMessage((body, sender) =>
            messages.heartbeat(fromSender(parseHeartbeat(body), sender))
          ),
        ),
        { scope: "node" },
      ),
      router.mount(
        "POST",
        "/peer/v1/promote",
        leading((r, context) => this.#promote(r, context.caller?.nodeId)),
        {
          scope: "raft",
        },
      ),
      router.mount(
        "GET",
        WATCH_PATH,
        (_request, context) => watch.handle(context.url),
        { scope: "node" },
      ),
    ];
    return Promise.resolve();
  }

  stop(): Promise<void> {
    for (const unmount of this.#unmount) unmount();
    this.#unmount = [];
    return Promise.resolve();
  }

  /** A joined primary that caught up asks the leader to make it a voter. */
  async #promote(
    request: Request,
    sender: string | null | undefined,
  ): Promise<Response> {
    const body = await readJsonBody(request, { bytesMax: 4096 });
    let nodeId: string;
    try {
      nodeId = fromSender(parsePromotion(body), sender).nodeId;
    } catch (error) {
      throw refusal(error);
    }
    try {
      await this.#options.raft().proposeMembership({
        type: "promote",
        id: nodeId,
      });
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      throw new ApiError(
        422,
        typeof code === "string" ? code : "raft.error",
        String((error as Error).message),
        { cause: error },
      );
    }
    this.#options.log("info", `promoted ${nodeId} to voter`);
    return new Response(null, { status: 204 });
  }
}

/** A node speaks for itself only: the message's node id is its certificate's. */
function fromSender<T extends { readonly nodeId: string }>(
  message: T,
  sender: string | null | undefined,
): T {
  if (message.nodeId !== sender) {
    throw new NodeMessageError(
      "peer.forged_sender",
      `Node "${sender ?? "?"}" may not speak for node "${message.nodeId}"`,
    );
  }
  return message;
}

/** A node message handler: bounded JSON body in, 204 or the refusal out. */
function nodeMessage(
  take: (body: unknown, sender: string | null | undefined) => Promise<void>,
): Handler {
  return async (request, context) => {
    const body = await readJsonBody(request, {
      bytesMax: PEER_MESSAGE_BYTES_MAX,
    });
    try {
      await take(body, context.caller?.nodeId);
    } catch (error) {
      throw refusal(error);
    }
    return new Response(null, { status: 204 });
  };
}

/** A node message's refusal as the API error it answers with; others as they are. */
function refusal(error: unknown): unknown {
  if (!(error instanceof NodeMessageError)) return error;
  const status = error.code === "peer.bad_request"
    ? 400
    : error.code === "peer.forged_sender"
    ? 403
    : error.code === "raft.not_leader"
    ? 503
    : 422;
  return new ApiError(status, error.code, error.message, { cause: error });
}
