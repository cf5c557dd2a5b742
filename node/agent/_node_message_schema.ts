/**
 * The node messages as they arrive on the peer port, parsed from
 * `unknown` with the project's schema combinators (config/schema.ts). The
 * FSM checks the values again when the command is decoded; `running` is
 * only ours.
 */
import {
  array,
  bool,
  count,
  literal,
  nullable,
  num,
  object,
  optional,
  type Parser,
  record,
  SchemaError,
  str,
} from "../../config/mod.ts";
import { ALLOC_STATUSES, type AllocStatus } from "../../raft/mod.ts";
import { JOIN_HOSTS_MAX, JoinError } from "./join.ts";
import {
  type HeartbeatMessage,
  NodeMessageError,
  type Registration,
} from "./channel.ts";

/** Most alloc reports or running allocs in one heartbeat. */
export const HEARTBEAT_ALLOCS_MAX = 10_000;
/** Most labels a node registers with. */
const LABELS_MAX = 64;

const nodeId = str({
  lengthMin: 1,
  lengthMax: 64,
  pattern: /^[A-Za-z0-9._-]+$/,
});
const endpoint = str({
  lengthMin: 3,
  lengthMax: 300,
  pattern: /^[^\s/]+:\d{1,5}$/,
});
const allocId = str({ lengthMin: 1, lengthMax: 128 });
const allocStatus: Parser<AllocStatus> = literal(...ALLOC_STATUSES);

const registration = object({
  nodeId,
  millId: str({ lengthMin: 1, lengthMax: 128 }),
  name: str({ lengthMin: 1, lengthMax: 63 }),
  address: str({ lengthMin: 1, lengthMax: 253 }),
  cpuMillis: count(),
  memoryBytes: count(),
  labels: record(str({ lengthMax: 1024 }), LABELS_MAX),
  endpoints: object({
    peer: endpoint,
    api: nullable(
      str({ lengthMin: 1, lengthMax: 300, pattern: /^https:\/\/\S+$/ }),
    ),
  }),
  // The FSM checks the range, key and endpoint; these bound their size.
  network: optional(object({
    clusterRange: optional(str({ lengthMin: 1, lengthMax: 18 })),
    mesh: optional(object({
      publicKey: str({ lengthMin: 44, lengthMax: 44 }),
      endpoint,
      peer: optional(endpoint),
    })),
  })),
  // Only ever false: a primary-only node.
  containers: optional(bool()),
});

const heartbeat = object({
  nodeId,
  statuses: array(
    object({
      allocId,
      status: allocStatus,
      exitCode: optional(num()),
      message: optional(str({ lengthMax: 4096 })),
    }),
    HEARTBEAT_ALLOCS_MAX,
  ),
  running: array(allocId, HEARTBEAT_ALLOCS_MAX),
});

function parseWith<T>(parser: Parser<T>, what: string, value: unknown): T {
  try {
    return parser(value, what);
  } catch (error) {
    if (!(error instanceof SchemaError)) throw error;
    throw new NodeMessageError(
      "peer.bad_request",
      `Malformed node message: ${error.message}`,
    );
  }
}

const promotion = object({ nodeId });

/** A promotion request (`{ nodeId }`) from `unknown`. */
export function parsePromotion(value: unknown): { nodeId: string } {
  return parseWith(promotion, "promotion", value);
}

const host = str({
  lengthMin: 1,
  lengthMax: 253,
  pattern: /^[A-Za-z0-9.:-]+$/,
});
const secondaryJoin = object({
  name: str({ lengthMin: 1, lengthMax: 63 }),
  nodeId,
  publicKeyPem: str({
    lengthMin: 1,
    lengthMax: 1024,
    pattern:
      /^-----BEGIN PUBLIC KEY-----[A-Za-z0-9+/=\s]+-----END PUBLIC KEY-----\s*$/,
  }),
  hosts: array(host, JOIN_HOSTS_MAX),
});

/** A secondary's join request from `unknown`; refused with `JoinError("join.bad_request")`. */
export function parseSecondaryJoinRequest(
  value: unknown,
): {
  nodeId: string;
  publicKeyPem: string;
  hosts: string[];
  name: string;
} {
  try {
    return secondaryJoin(value, "join");
  } catch (error) {
    if (!(error instanceof SchemaError)) throw error;
    throw new JoinError(
      "join.bad_request",
      `Malformed join request: ${error.message}`,
    );
  }
}

/** A registration from `unknown`. */
export function parseRegistration(value: unknown): Registration {
  const { containers, ...parsed } = parseWith(
    registration,
    "registration",
    value,
  );
  return containers === false ? { ...parsed, containers: false } : parsed;
}

/** A heartbeat from `unknown`. */
export function parseHeartbeat(value: unknown): HeartbeatMessage {
  return parseWith(heartbeat, "heartbeat", value);
}
