/**
 * Parsers of the config, the state document and every command, built from
 * the shared combinators of `config/schema.ts`. Each returns its typed value
 * or throws `SchemaError` naming the bad field.
 *
 * Config objects keep members they do not name (a newer mill may have
 * written them, and a rollback must restore them as they were); commands
 * and state records refuse them.
 */
import type {
  ClusterConfig,
  HealthConfig,
  PlacementConstraint,
  RouteConfig,
  ServiceConfig,
  TaskConfig,
  UpdateConfig,
  VolumeConfig,
} from "../../config/types.ts";
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
  type Shape,
  str,
} from "../../config/schema.ts";
import type {
  AllocReport,
  Command,
  CommandType,
  ScheduledPlacement,
} from "./command.ts";
import type {
  AllocRecord,
  NodeRecord,
  StateDocument,
} from "./state_document.ts";
import type {
  AcmeState,
  AllocStatus,
  DeployRecord,
  FsmSecret,
  FsmVolume,
  WorkloadKind,
} from "./state.ts";
import { COMMAND_BYTES_MAX, SCHEDULE_PLACEMENTS_MAX } from "./limits.ts";
import { ALLOC_STATUSES, legacyEndpoints } from "./state.ts";

/** Bound on lists inside a workload. */
const SMALL_LIST_MAX = 1_000;
/** Bound on the big collections of a snapshot (allocs, nodes…). */
export const STATE_LIST_MAX = 1_000_000;
/** Bound on the ids one command lists (heartbeat reports, purged allocs). */
const ID_LIST_MAX = 10_000;
/**
 * Strings and maps of a command (and of the config a Deploy carries) are
 * bounded by the entry that carries them: a string has no more UTF-16 units
 * than UTF-8 bytes, so the decoder adds no tighter bound. `apply` checks ids
 * against `ID_LENGTH_MAX` and labels against `NODE_LABELS_MAX`.
 */
const ENTRY_TEXT_LENGTH_MAX = COMMAND_BYTES_MAX;
const ENTRY_MAP_SIZE_MAX = COMMAND_BYTES_MAX;
/**
 * Strings of the state's own records are as long as `apply` made them: it
 * copies them from commands and may prefix a few words ("node down: …"), so
 * any bound tighter than the payload's length could leave a node unable to
 * restore the snapshot it wrote.
 */
const STATE_TEXT_LENGTH_MAX = Number.MAX_SAFE_INTEGER;

const text = str({ lengthMax: ENTRY_TEXT_LENGTH_MAX });
const stateText = str({ lengthMax: STATE_TEXT_LENGTH_MAX });
const finite = num({ min: -Number.MAX_VALUE, max: Number.MAX_VALUE });
const counted = count();
const positive = num({ min: 1, integer: true });
const flag = bool();
const texts = array(text, SMALL_LIST_MAX);
const textMap = record(text, ENTRY_MAP_SIZE_MAX);

const volumeConfig: Parser<VolumeConfig> = object({
  name: text,
  path: text,
  ephemeral: flag,
  sizeBytes: optional(counted),
}, { unknownKeys: "keep" });

const constraint: Parser<PlacementConstraint> = object({
  attribute: text,
  operator: literal("==", "!="),
  value: text,
}, { unknownKeys: "keep" });

const route: Parser<RouteConfig> = object({
  host: text,
  path: text,
  balance: optional(literal("round-robin", "least-connections")),
}, { unknownKeys: "keep" });

const health: Parser<HealthConfig> = object({
  intervalMs: counted,
  timeoutMs: counted,
  healthyThreshold: counted,
  unhealthyThreshold: counted,
  deadlineMs: counted,
  path: optional(text),
  failureThreshold: optional(positive),
}, { unknownKeys: "keep" });

/** Optional: state written before the `update` block existed has none. */
const update: Parser<UpdateConfig> = object({
  order: literal("auto", "start-first", "stop-first"),
  maxParallel: positive,
}, { unknownKeys: "keep" });

const workloadShape = {
  name: text,
  image: text,
  env: textMap,
  cpu: finite,
  memoryBytes: counted,
  volumes: array(volumeConfig, SMALL_LIST_MAX),
  constraints: array(constraint, SMALL_LIST_MAX),
  labels: textMap,
  stopSignal: text,
  stopGracePeriodMs: counted,
};

const serviceConfig: Parser<ServiceConfig> = object({
  ...workloadShape,
  kind: literal("service"),
  replicas: counted,
  routes: array(route, SMALL_LIST_MAX),
  restart: literal("always", "on-failure", "never"),
  command: optional(texts),
  args: optional(texts),
  port: optional(counted),
  health: optional(health),
  update: optional(update),
}, { unknownKeys: "keep" });

const taskConfig: Parser<TaskConfig> = object({
  ...workloadShape,
  kind: literal("task"),
  command: optional(texts),
  args: optional(texts),
  timeoutMs: optional(counted),
}, { unknownKeys: "keep" });

/** A whole config, as a Deploy carries it and the state keeps it. */
export const configParser: Parser<ClusterConfig> = object({
  services: record(serviceConfig, ENTRY_MAP_SIZE_MAX),
  tasks: record(taskConfig, ENTRY_MAP_SIZE_MAX),
}, { unknownKeys: "keep" });

const allocStatus: Parser<AllocStatus> = literal(...ALLOC_STATUSES);
const workloadKind: Parser<WorkloadKind> = literal("service", "task");
const nullableStateText = nullable(stateText);
const nullableCount = nullable(counted);

const nodeEndpoints = object({
  peer: nullableStateText,
  api: nullableStateText,
}, { unknownKeys: "refuse" });

const nodeMesh = object({
  publicKey: stateText,
  endpoint: stateText,
  peer: optional(stateText),
}, { unknownKeys: "refuse" });

/** `false` and nothing else: a flag written only when it is off. */
const onlyFalse: Parser<false> = (value, path) => {
  if (value === false) return false;
  throw new SchemaError(path, "expected false (or nothing)");
};

const nodeRecordFields = object({
  id: stateText,
  millId: stateText,
  name: stateText,
  address: stateText,
  cpuMillis: counted,
  memoryBytes: counted,
  labels: record(stateText, ENTRY_MAP_SIZE_MAX),
  // Absent from snapshots taken before endpoints were typed.
  endpoints: optional(nodeEndpoints),
  // Absent on nodes without networking (and in older snapshots).
  subnet: optional(stateText),
  mesh: optional(nodeMesh),
  // Absent on nodes that run containers (all of them before this field).
  containers: optional(onlyFalse),
  status: literal("ready", "down"),
  draining: flag,
  registeredAtMs: counted,
  lastHeartbeatMs: counted,
  statusChangedAtMs: counted,
}, { unknownKeys: "refuse" });

const nodeRecord: Parser<NodeRecord> = (value, path) => {
  const { endpoints, ...record } = nodeRecordFields(value, path);
  return { ...record, endpoints: endpoints ?? legacyEndpoints(record.labels) };
};

const alloc: Parser<AllocRecord> = object({
  id: stateText,
  nodeId: stateText,
  workload: stateText,
  kind: workloadKind,
  image: stateText,
  cpuMillis: counted,
  memoryBytes: counted,
  hostPort: nullableCount,
  deployId: nullableStateText,
  replacesAllocId: nullableStateText,
  status: allocStatus,
  statusMessage: stateText,
  exitCode: nullable(finite),
  restarts: counted,
  address: nullableStateText,
  ip: optional(stateText),
  stopRequested: flag,
  scheduledAtMs: counted,
  startedAtMs: nullableCount,
  updatedAtMs: counted,
}, { unknownKeys: "refuse" });

const secret: Parser<FsmSecret> = object({
  name: stateText,
  ciphertext: stateText,
  nonce: stateText,
  createdAtMs: counted,
  updatedAtMs: counted,
}, { unknownKeys: "refuse" });

const volume: Parser<FsmVolume> = object({
  name: stateText,
  cloudId: stateText,
  sizeBytes: nullableCount,
  state: literal("detached", "attached", "ready"),
  nodeId: nullableStateText,
  lastNodeId: nullableStateText,
  createdAtMs: counted,
  updatedAtMs: counted,
}, { unknownKeys: "refuse" });

const deploy: Parser<DeployRecord> = object({
  id: stateText,
  status: literal("running", "succeeded", "rolled_back", "cancelled"),
  startedAtMs: counted,
  finishedAtMs: nullableCount,
  message: stateText,
  previousConfig: nullable(configParser),
}, { unknownKeys: "refuse" });

const acmeState: Parser<AcmeState> = object({
  settings: nullable(object({
    directoryUrl: stateText,
    email: nullableStateText,
    caBundlePem: nullableStateText,
  }, { unknownKeys: "refuse" })),
  account: nullable(object({
    directoryUrl: stateText,
    keyCiphertext: stateText,
    keyNonce: stateText,
    accountUrl: nullableStateText,
  }, { unknownKeys: "refuse" })),
  lease: nullable(object({
    holder: stateText,
    host: stateText,
    acquiredAtMs: counted,
    expiresAtMs: counted,
  }, { unknownKeys: "refuse" })),
  challenges: array(
    object({
      token: stateText,
      keyAuthorization: stateText,
      host: stateText,
      atMs: counted,
    }, { unknownKeys: "refuse" }),
    STATE_LIST_MAX,
  ),
  certificates: array(
    object({
      host: stateText,
      served: nullable(object({
        chainPem: stateText,
        keyCiphertext: stateText,
        keyNonce: stateText,
        notBeforeMs: counted,
        notAfterMs: counted,
        issuer: stateText,
        storedAtMs: counted,
      }, { unknownKeys: "refuse" })),
      failures: counted,
      lastAttemptMs: nullableCount,
      retryAfterUntilMs: nullableCount,
      lastError: nullable(object({
        kind: stateText,
        message: stateText,
        atMs: counted,
      }, { unknownKeys: "refuse" })),
    }, { unknownKeys: "refuse" }),
    STATE_LIST_MAX,
  ),
}, { unknownKeys: "refuse" });

/** The state as a snapshot's payload holds it. */
export const stateDocumentParser: Parser<StateDocument> = object({
  config: configParser,
  nodes: array(nodeRecord, STATE_LIST_MAX),
  allocs: array(alloc, STATE_LIST_MAX),
  secrets: array(secret, STATE_LIST_MAX),
  volumes: array(volume, STATE_LIST_MAX),
  deploys: array(deploy, STATE_LIST_MAX),
  tokens: optional(
    object({
      admin: nullableStateText,
      join: nullableStateText,
    }, { unknownKeys: "refuse" }),
  ),
  network: optional(
    object({ clusterRange: stateText }, { unknownKeys: "refuse" }),
  ),
  removedNodes: optional(array(stateText, STATE_LIST_MAX)),
  acme: optional(acmeState),
}, { unknownKeys: "refuse" });

/** A command's parser: `type` and `atMs`, then the fields of `shape`. */
function command<const T extends CommandType, S extends Shape>(
  type: T,
  shape: S,
) {
  return object({ type: literal(type), atMs: counted, ...shape }, {
    unknownKeys: "refuse",
  });
}

const ids = array(text, ID_LIST_MAX);

const allocReport: Parser<AllocReport> = object({
  allocId: text,
  status: allocStatus,
  exitCode: optional(finite),
  message: optional(text),
}, { unknownKeys: "refuse" });

/** One placement of an `AllocsScheduled` (an `AllocScheduled`'s alloc fields). */
const scheduledPlacement: Parser<ScheduledPlacement> = object({
  allocId: text,
  nodeId: text,
  workload: text,
  kind: workloadKind,
  image: text,
  cpuMillis: counted,
  memoryBytes: counted,
  hostPort: optional(counted),
  ip: optional(text),
  replacesAllocId: optional(text),
}, { unknownKeys: "refuse" });

/** The parser of each command type; decoding picks by `type`. */
export const commandParsers: {
  readonly [T in CommandType]: Parser<Extract<Command, { readonly type: T }>>;
} = {
  Deploy: command("Deploy", { deployId: text, config: configParser }),
  DeployFinished: command("DeployFinished", {
    deployId: text,
    outcome: literal("succeeded", "rolled_back", "cancelled"),
    message: text,
  }),
  NodeRegister: command("NodeRegister", {
    nodeId: text,
    millId: text,
    name: text,
    address: text,
    cpuMillis: counted,
    memoryBytes: counted,
    labels: textMap,
    endpoints: optional(
      object({ peer: text, api: nullable(text) }, { unknownKeys: "refuse" }),
    ),
    network: optional(
      object({
        clusterRange: optional(text),
        mesh: optional(
          object({ publicKey: text, endpoint: text, peer: optional(text) }, {
            unknownKeys: "refuse",
          }),
        ),
      }, { unknownKeys: "refuse" }),
    ),
    containers: optional(onlyFalse),
  }),
  NodeHeartbeat: command("NodeHeartbeat", {
    nodeId: text,
    statuses: array(allocReport, ID_LIST_MAX),
  }),
  NodeDown: command("NodeDown", { nodeId: text, reason: text }),
  NodeUp: command("NodeUp", { nodeId: text }),
  NodeDrain: command("NodeDrain", { nodeId: text }),
  NodeUndrain: command("NodeUndrain", { nodeId: text }),
  NodeRemove: command("NodeRemove", { nodeId: text }),
  AllocScheduled: command("AllocScheduled", {
    allocId: text,
    nodeId: text,
    workload: text,
    kind: workloadKind,
    image: text,
    cpuMillis: counted,
    memoryBytes: counted,
    hostPort: optional(counted),
    ip: optional(text),
    deployId: optional(text),
    replacesAllocId: optional(text),
  }),
  AllocsScheduled: command("AllocsScheduled", {
    placements: array(scheduledPlacement, SCHEDULE_PLACEMENTS_MAX),
    deployId: optional(text),
  }),
  DeployWithWave: command("DeployWithWave", {
    deployId: text,
    config: configParser,
    placements: array(scheduledPlacement, SCHEDULE_PLACEMENTS_MAX),
  }),
  AllocStatus: command("AllocStatus", {
    allocId: text,
    status: allocStatus,
    message: optional(text),
    exitCode: optional(finite),
  }),
  AllocRunning: command("AllocRunning", { allocId: text, address: text }),
  AllocStopRequested: command("AllocStopRequested", {
    allocId: text,
    reason: text,
  }),
  AllocsPurged: command("AllocsPurged", { allocIds: ids }),
  SecretSet: command("SecretSet", {
    name: text,
    ciphertext: text,
    nonce: text,
  }),
  SecretDelete: command("SecretDelete", { name: text }),
  TokenRotated: command("TokenRotated", {
    kind: literal("admin", "join"),
    tokenSha256: text,
  }),
  AcmeSettingsSet: command("AcmeSettingsSet", {
    directoryUrl: text,
    email: nullable(text),
    caBundlePem: nullable(text),
  }),
  AcmeAccountSet: command("AcmeAccountSet", {
    directoryUrl: text,
    keyCiphertext: text,
    keyNonce: text,
    accountUrl: nullable(text),
  }),
  AcmeLease: command("AcmeLease", {
    holder: text,
    host: nullable(text),
    expiresAtMs: counted,
  }),
  AcmeChallenge: command("AcmeChallenge", {
    token: text,
    host: text,
    keyAuthorization: nullable(text),
  }),
  CertificateStored: command("CertificateStored", {
    host: text,
    chainPem: text,
    keyCiphertext: text,
    keyNonce: text,
    notBeforeMs: counted,
    notAfterMs: counted,
    issuer: text,
  }),
  CertificateOrderFailed: command("CertificateOrderFailed", {
    host: text,
    kind: text,
    message: text,
    retryAfterUntilMs: nullable(counted),
  }),
  VolumeCreated: command("VolumeCreated", {
    name: text,
    cloudId: text,
    sizeBytes: optional(counted),
    nodeId: optional(text),
  }),
  VolumeAttached: command("VolumeAttached", { name: text, nodeId: text }),
  VolumeDetached: command("VolumeDetached", { name: text }),
  VolumeReady: command("VolumeReady", { name: text }),
  VolumeDestroyed: command("VolumeDestroyed", { name: text }),
};
