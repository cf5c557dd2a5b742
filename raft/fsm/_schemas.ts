/** Schemas of the config, the state document and every command. */
import type { CommandType } from "./command.ts";
import type { ObjectSchema, Schema } from "./_schema.ts";

/** Bound on lists inside a workload (env is a record, not bounded here). */
const SMALL_LIST_MAX = 1_000;
/** Bound on the big collections of a snapshot (allocs, nodes…). */
export const STATE_LIST_MAX = 1_000_000;
/** Bound on workloads per config: far beyond the 5-50 services mill targets. */
const ID_LIST_MAX = 10_000;

const strings: Schema = { array: "string", max: SMALL_LIST_MAX };

const workloadFields = {
  name: "string",
  image: "string",
  env: { record: "string" },
  cpu: "number",
  memoryBytes: "count",
  volumes: {
    array: {
      fields: { name: "string", path: "string", ephemeral: "boolean" },
      optional: { sizeBytes: "count" },
      open: true,
    },
    max: SMALL_LIST_MAX,
  },
  constraints: {
    array: {
      fields: {
        attribute: "string",
        operator: { oneOf: ["==", "!="] },
        value: "string",
      },
      open: true,
    },
    max: SMALL_LIST_MAX,
  },
  labels: { record: "string" },
  stopSignal: "string",
  stopGracePeriodMs: "count",
} as const satisfies Record<string, Schema>;

const serviceSchema: ObjectSchema = {
  fields: {
    ...workloadFields,
    kind: { oneOf: ["service"] },
    replicas: "count",
    routes: {
      array: { fields: { host: "string", path: "string" }, open: true },
      max: SMALL_LIST_MAX,
    },
    restart: { oneOf: ["always", "on-failure", "never"] },
  },
  optional: {
    command: strings,
    args: strings,
    port: "count",
    health: {
      fields: {
        intervalMs: "count",
        timeoutMs: "count",
        healthyThreshold: "count",
        unhealthyThreshold: "count",
        deadlineMs: "count",
      },
      optional: { path: "string" },
      open: true,
    },
  },
  open: true,
};

const taskSchema: ObjectSchema = {
  fields: { ...workloadFields, kind: { oneOf: ["task"] } },
  optional: { command: strings, args: strings, timeoutMs: "count" },
  open: true,
};

export const configSchema: ObjectSchema = {
  fields: {
    services: { record: serviceSchema },
    tasks: { record: taskSchema },
  },
  open: true,
};

const allocStatus: Schema = {
  oneOf: ["pulling", "starting", "running", "healthy", "stopped", "failed"],
};
const workloadKind: Schema = { oneOf: ["service", "task"] };
const nullableString: Schema = { nullable: "string" };
const nullableCount: Schema = { nullable: "count" };

export const nodeRecordSchema: ObjectSchema = {
  fields: {
    id: "string",
    millId: "string",
    name: "string",
    address: "string",
    cpuMillis: "count",
    memoryBytes: "count",
    labels: { record: "string" },
    status: { oneOf: ["ready", "down"] },
    draining: "boolean",
    registeredAtMs: "count",
    lastHeartbeatMs: "count",
    statusChangedAtMs: "count",
  },
};

export const allocSchema: ObjectSchema = {
  fields: {
    id: "string",
    nodeId: "string",
    workload: "string",
    kind: workloadKind,
    image: "string",
    cpuMillis: "count",
    memoryBytes: "count",
    hostPort: nullableCount,
    deployId: nullableString,
    replacesAllocId: nullableString,
    status: allocStatus,
    statusMessage: "string",
    exitCode: { nullable: "number" },
    restarts: "count",
    address: nullableString,
    stopRequested: "boolean",
    scheduledAtMs: "count",
    startedAtMs: nullableCount,
    updatedAtMs: "count",
  },
};

export const secretSchema: ObjectSchema = {
  fields: {
    name: "string",
    ciphertext: "string",
    nonce: "string",
    createdAtMs: "count",
    updatedAtMs: "count",
  },
};

export const volumeSchema: ObjectSchema = {
  fields: {
    name: "string",
    cloudId: "string",
    sizeBytes: nullableCount,
    state: { oneOf: ["detached", "attached", "ready"] },
    nodeId: nullableString,
    lastNodeId: nullableString,
    createdAtMs: "count",
    updatedAtMs: "count",
  },
};

export const deploySchema: ObjectSchema = {
  fields: {
    id: "string",
    status: { oneOf: ["running", "succeeded", "rolled_back"] },
    startedAtMs: "count",
    finishedAtMs: nullableCount,
    message: "string",
    previousConfig: { nullable: configSchema },
  },
};

export const stateDocumentSchema: ObjectSchema = {
  fields: {
    config: configSchema,
    nodes: { array: nodeRecordSchema, max: STATE_LIST_MAX },
    allocs: { array: allocSchema, max: STATE_LIST_MAX },
    secrets: { array: secretSchema, max: STATE_LIST_MAX },
    volumes: { array: volumeSchema, max: STATE_LIST_MAX },
    deploys: { array: deploySchema, max: STATE_LIST_MAX },
  },
};

function command(
  type: CommandType,
  fields: Readonly<Record<string, Schema>>,
  optional: Readonly<Record<string, Schema>> = {},
): ObjectSchema {
  return {
    fields: { type: { oneOf: [type] }, atMs: "count", ...fields },
    optional,
  };
}

const ids: Schema = { array: "string", max: ID_LIST_MAX };

/** The schema of each command type; decoding picks by `type`. */
export const commandSchemas: Readonly<Record<CommandType, ObjectSchema>> = {
  Deploy: command("Deploy", { deployId: "string", config: configSchema }),
  DeployFinished: command("DeployFinished", {
    deployId: "string",
    outcome: { oneOf: ["succeeded", "rolled_back"] },
    message: "string",
  }),
  NodeRegister: command("NodeRegister", {
    nodeId: "string",
    millId: "string",
    name: "string",
    address: "string",
    cpuMillis: "count",
    memoryBytes: "count",
    labels: { record: "string" },
  }),
  NodeHeartbeat: command("NodeHeartbeat", {
    nodeId: "string",
    statuses: {
      array: {
        fields: { allocId: "string", status: allocStatus },
        optional: { exitCode: "number", message: "string" },
      },
      max: ID_LIST_MAX,
    },
  }),
  NodeDown: command("NodeDown", { nodeId: "string", reason: "string" }),
  NodeUp: command("NodeUp", { nodeId: "string" }),
  NodeDrain: command("NodeDrain", { nodeId: "string" }),
  NodeRemove: command("NodeRemove", { nodeId: "string" }),
  AllocScheduled: command("AllocScheduled", {
    allocId: "string",
    nodeId: "string",
    workload: "string",
    kind: workloadKind,
    image: "string",
    cpuMillis: "count",
    memoryBytes: "count",
  }, { hostPort: "count", deployId: "string", replacesAllocId: "string" }),
  AllocStatus: command("AllocStatus", {
    allocId: "string",
    status: allocStatus,
  }, { message: "string", exitCode: "number" }),
  AllocRunning: command("AllocRunning", {
    allocId: "string",
    address: "string",
  }),
  AllocStopRequested: command("AllocStopRequested", {
    allocId: "string",
    reason: "string",
  }),
  AllocsPurged: command("AllocsPurged", { allocIds: ids }),
  SecretSet: command("SecretSet", {
    name: "string",
    ciphertext: "string",
    nonce: "string",
  }),
  SecretDelete: command("SecretDelete", { name: "string" }),
  VolumeCreated: command("VolumeCreated", {
    name: "string",
    cloudId: "string",
  }, { sizeBytes: "count", nodeId: "string" }),
  VolumeAttached: command("VolumeAttached", {
    name: "string",
    nodeId: "string",
  }),
  VolumeDetached: command("VolumeDetached", { name: "string" }),
  VolumeReady: command("VolumeReady", { name: "string" }),
  VolumeDestroyed: command("VolumeDestroyed", { name: "string" }),
};
