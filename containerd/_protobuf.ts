/**
 * The one adapter to `protobufjs`: encodes and decodes the messages mill packs
 * into or unpacks from `google.protobuf.Any` (task events, cgroup metrics,
 * runc options). The message types come from our `.proto` files, read at run
 * time from `proto/` beside this module, as `_grpc.ts` reads its services.
 *
 * Objects in and out have the shape `@grpc/proto-loader` gives gRPC messages:
 * camel-case field names, 64-bit integers as numbers, enums as strings,
 * defaults filled in.
 */
import protobuf from "protobufjs";
import { isAbsolute, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { AnyMessage } from "./types.ts";

/** Messages we pack into or unpack from `google.protobuf.Any`, by full name. */
export type AnyMessageType =
  | "containerd.events.TaskExit"
  | "containerd.events.TaskOOM"
  | "io.containerd.cgroups.v1.Metrics"
  | "io.containerd.cgroups.v2.Metrics"
  | "containerd.runc.v1.Options";

/** The files that define every `AnyMessageType`. */
const PROTO_FILES = [
  "events/task.proto",
  "types/cgroups.proto",
  "types/cgroups2.proto",
  "types/runc.proto",
];

/** What `@grpc/proto-loader` is given in `_grpc.ts`, so both read alike. */
const CONVERSION_OPTIONS: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

let rootCache: protobuf.Root | undefined;

function loadRoot(): protobuf.Root {
  if (rootCache === undefined) {
    const dir = fileURLToPath(new URL("./proto/", import.meta.url));
    const root = new protobuf.Root();
    // Imports name files from `proto/` (as an include dir), not from the
    // importing file's folder; google/protobuf/* are bundled in protobufjs.
    root.resolvePath = (_origin, target) =>
      isAbsolute(target) ? target : join(dir, target);
    root.loadSync(PROTO_FILES, { keepCase: false });
    root.resolveAll();
    rootCache = root;
  }
  return rootCache;
}

function messageType(type: AnyMessageType): protobuf.Type {
  return loadRoot().lookupType(type);
}

/** Encodes a message into protobuf bytes. */
export function encodeMessage(
  type: AnyMessageType,
  value: object,
): Uint8Array {
  const messageClass = messageType(type);
  return messageClass.encode(messageClass.fromObject(value)).finish();
}

/** Decodes protobuf bytes of a message into a plain object. */
export function decodeMessage(
  type: AnyMessageType,
  bytes: Uint8Array,
): unknown {
  const messageClass = messageType(type);
  return messageClass.toObject(messageClass.decode(bytes), CONVERSION_OPTIONS);
}

/**
 * Packs a message into an Any; its type URL is the message's full name, as
 * containerd's `typeurl` registers it (no `types.googleapis.com/` prefix).
 */
export function packAny(type: AnyMessageType, value: object): AnyMessage {
  return { typeUrl: type, value: encodeMessage(type, value) };
}
