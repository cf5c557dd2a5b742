/**
 * The plain data the containerd client takes and returns: our own types,
 * so that no module outside the adapter sees the loader's objects.
 */

export const NAMESPACE_DEFAULT = "mill";
export const SNAPSHOTTER = "overlayfs";
export const RUNTIME = "io.containerd.runc.v2";

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface Mount {
  readonly type: string;
  readonly source: string;
  readonly target?: string;
  readonly options: readonly string[];
}

export interface Timestamp {
  readonly seconds: number;
  readonly nanos: number;
}

export interface ImageRecord {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly target: Descriptor;
}

export interface ContentInfo {
  readonly digest: string;
  readonly size: number;
  readonly labels: Readonly<Record<string, string>>;
}

export interface SnapshotInfo {
  readonly name: string;
  readonly parent: string;
  readonly kind: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface ContainerRecord {
  readonly id: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly image: string;
  readonly snapshotter: string;
  readonly snapshotKey: string;
}

export interface ProcessInfo {
  /** The container id (containerd fills `id` for a task's init process). */
  readonly id: string;
  readonly containerId: string;
  readonly pid: number;
  readonly status: string;
  readonly exitStatus: number;
}

export interface AnyMessage {
  readonly typeUrl: string;
  readonly value: Uint8Array;
}

export interface MetricRecord {
  readonly id: string;
  readonly data: AnyMessage | null;
}

export interface Envelope {
  readonly timestamp: Timestamp | null;
  readonly namespace: string;
  readonly topic: string;
  readonly event: AnyMessage | null;
}

export interface ClientOptions {
  readonly namespace?: string;
  readonly timeoutMs?: number;
}
