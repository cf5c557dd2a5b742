/**
 * Typed calls to containerd's services over the gRPC adapter. Thin: one
 * method per RPC we use, plain data in and out, gRPC status codes turned into
 * `ContainerdError`s (or `undefined` for a lookup that finds nothing).
 */
import { GrpcCallError, GrpcConnection, type ServerStream } from "./_grpc.ts";
import { ContainerdError } from "./errors.ts";

export const NAMESPACE_DEFAULT = "mill";
export const SNAPSHOTTER = "overlayfs";
export const RUNTIME = "io.containerd.runc.v2";
/** Deadline of a call that has no reason to be slow. */
export const CALL_TIMEOUT_MS = 15_000;
/** Bytes per Content.Write message. */
export const WRITE_CHUNK_BYTES = 1024 * 1024;
/** Bytes of one blob we read whole into memory (manifests, configs). */
export const READ_BYTES_MAX = 16 * 1024 * 1024;

const STATUS_NOT_FOUND = 5;
const STATUS_ALREADY_EXISTS = 6;
const STATUS_UNAVAILABLE = 14;
const STATUS_DEADLINE_EXCEEDED = 4;

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

/** google.protobuf.Any as the loader reads and writes it (snake case: a well-known type). */
interface RawAny {
  readonly type_url: string;
  readonly value: Uint8Array;
}

function toAny(any: AnyMessage): RawAny {
  return { type_url: any.typeUrl, value: any.value };
}

function fromAny(raw: RawAny | null): AnyMessage | null {
  return raw === null ? null : { typeUrl: raw.type_url, value: raw.value };
}

function isStatus(error: unknown, status: number): boolean {
  return error instanceof GrpcCallError && error.status === status;
}

function wrap(error: unknown, what: string): ContainerdError {
  if (error instanceof ContainerdError) return error;
  if (isStatus(error, STATUS_DEADLINE_EXCEEDED)) {
    return new ContainerdError(
      "containerd.timeout",
      `Cannot ${what}: the deadline passed (${(error as Error).message})`,
      { cause: error },
    );
  }
  if (isStatus(error, STATUS_UNAVAILABLE)) {
    return new ContainerdError(
      "containerd.unavailable",
      `Cannot ${what}: containerd did not answer (${
        (error as Error).message
      }); check that containerd runs and its socket path is right`,
      { cause: error },
    );
  }
  if (isStatus(error, STATUS_NOT_FOUND)) {
    return new ContainerdError(
      "containerd.not_found",
      `Cannot ${what}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (isStatus(error, STATUS_ALREADY_EXISTS)) {
    return new ContainerdError(
      "containerd.already_exists",
      `Cannot ${what}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return new ContainerdError(
    "containerd.call_failed",
    `Cannot ${what}: ${error instanceof Error ? error.message : String(error)}`,
    { cause: error },
  );
}

/** The typed containerd client. One per socket; share it. */
export class ContainerdClient {
  readonly #connection: GrpcConnection;
  readonly namespace: string;
  readonly socketPath: string;
  readonly #timeoutMs: number;

  constructor(socketPath: string, options: ClientOptions = {}) {
    this.socketPath = socketPath;
    this.namespace = options.namespace ?? NAMESPACE_DEFAULT;
    this.#timeoutMs = options.timeoutMs ?? CALL_TIMEOUT_MS;
    this.#connection = new GrpcConnection(socketPath, this.namespace);
  }

  close(): void {
    this.#connection.close();
  }

  async #call<T>(
    service: Parameters<GrpcConnection["unary"]>[0],
    method: string,
    request: object,
    what: string,
    options: { leaseId?: string | undefined; timeoutMs?: number } = {},
  ): Promise<T> {
    try {
      return await this.#connection.unary(service, method, request, {
        timeoutMs: options.timeoutMs ?? this.#timeoutMs,
        ...(options.leaseId === undefined ? {} : { leaseId: options.leaseId }),
      }) as T;
    } catch (error) {
      throw wrap(error, what);
    }
  }

  async #lookup<T>(promise: Promise<T>): Promise<T | undefined> {
    try {
      return await promise;
    } catch (error) {
      if (
        error instanceof ContainerdError &&
        error.code === "containerd.not_found"
      ) return undefined;
      throw error;
    }
  }

  async version(): Promise<{ version: string; revision: string }> {
    return await this.#call("version", "Version", {}, "read the version");
  }

  // Images

  getImage(name: string): Promise<ImageRecord | undefined> {
    return this.#lookup(
      this.#call<{ image: ImageRecord }>(
        "images",
        "Get",
        { name },
        `get image "${name}"`,
      )
        .then((r) => r.image),
    );
  }

  async createImage(image: ImageRecord): Promise<ImageRecord> {
    const r = await this.#call<{ image: ImageRecord }>(
      "images",
      "Create",
      { image },
      `create image "${image.name}"`,
    );
    return r.image;
  }

  async updateImage(image: ImageRecord): Promise<ImageRecord> {
    const r = await this.#call<{ image: ImageRecord }>(
      "images",
      "Update",
      { image },
      `update image "${image.name}"`,
    );
    return r.image;
  }

  async listImages(): Promise<ImageRecord[]> {
    const r = await this.#call<{ images: ImageRecord[] }>(
      "images",
      "List",
      {},
      "list images",
    );
    return r.images;
  }

  async deleteImage(name: string): Promise<void> {
    await this.#call(
      "images",
      "Delete",
      { name, sync: true },
      `delete image "${name}"`,
    );
  }

  // Content

  contentInfo(digest: string): Promise<ContentInfo | undefined> {
    return this.#lookup(
      this.#call<{ info: ContentInfo }>(
        "content",
        "Info",
        { digest },
        `stat content "${digest}"`,
      ).then((r) => r.info),
    );
  }

  async updateContentLabels(
    digest: string,
    labels: Record<string, string>,
  ): Promise<void> {
    await this.#call(
      "content",
      "Update",
      {
        info: { digest, labels },
        updateMask: { paths: Object.keys(labels).map((k) => `labels.${k}`) },
      },
      `label content "${digest}"`,
    );
  }

  async deleteContent(digest: string): Promise<void> {
    await this.#call(
      "content",
      "Delete",
      { digest },
      `delete content "${digest}"`,
    );
  }

  async listContent(): Promise<ContentInfo[]> {
    const infos: ContentInfo[] = [];
    const stream = this.#connection.serverStream(
      "content",
      "List",
      {},
      (m) => infos.push(...(m as { info: ContentInfo[] }).info),
      { timeoutMs: this.#timeoutMs, waitForReady: true },
    );
    await stream.done.catch((e) => {
      throw wrap(e, "list content");
    });
    return infos;
  }

  /** Reads a whole blob (manifests, configs, index); bounded by READ_BYTES_MAX. */
  async readContent(digest: string, size: number): Promise<Uint8Array> {
    if (size > READ_BYTES_MAX) {
      throw new ContainerdError(
        "image.too_large",
        `Cannot read "${digest}": ${size} bytes exceed ${READ_BYTES_MAX}`,
      );
    }
    const out = new Uint8Array(size);
    let filled = 0;
    const stream = this.#connection.serverStream(
      "content",
      "Read",
      { digest, offset: 0, size: 0 },
      (m) => {
        const { offset, data } = m as { offset: number; data: Uint8Array };
        if (offset + data.byteLength > size) return;
        out.set(data, offset);
        filled += data.byteLength;
      },
      { timeoutMs: this.#timeoutMs, waitForReady: true },
    );
    await stream.done.catch((e) => {
      throw wrap(e, `read content "${digest}"`);
    });
    if (filled !== size) {
      throw new ContainerdError(
        "image.digest_mismatch",
        `Content "${digest}" has ${filled} bytes, expected ${size}`,
      );
    }
    return out;
  }

  /**
   * Streams a blob into the content store. containerd checks size and digest
   * at commit; `chunks` yields the bytes in order.
   */
  async writeContent(
    ref: string,
    expected: Descriptor,
    chunks: AsyncIterable<Uint8Array>,
    options: {
      leaseId: string;
      labels?: Record<string, string>;
      timeoutMs: number;
      onBytes?: (done: number) => void;
    },
  ): Promise<void> {
    const stream = this.#connection.duplex("content", "Write", {
      timeoutMs: options.timeoutMs,
      leaseId: options.leaseId,
    });
    try {
      // Restart any earlier partial ingest of this ref from zero.
      await stream.exchange({
        action: "STAT",
        ref,
        total: expected.size,
        expected: expected.digest,
      });
      let offset = 0;
      for await (const chunk of chunks) {
        for (
          let start = 0;
          start < chunk.byteLength;
          start += WRITE_CHUNK_BYTES
        ) {
          const data = chunk.subarray(start, start + WRITE_CHUNK_BYTES);
          await stream.exchange({ action: "WRITE", ref, offset, data });
          offset += data.byteLength;
          options.onBytes?.(offset);
        }
      }
      await stream.exchange({
        action: "COMMIT",
        ref,
        offset,
        total: expected.size,
        expected: expected.digest,
        labels: options.labels ?? {},
      });
      stream.end();
    } catch (error) {
      stream.cancel();
      await this.abortContent(ref).catch(() => {
        // The ref may never have been opened; the write error is what matters.
      });
      if (isStatus(error, STATUS_ALREADY_EXISTS)) return;
      throw wrap(error, `write content "${expected.digest}"`);
    }
  }

  async abortContent(ref: string): Promise<void> {
    await this.#call("content", "Abort", { ref }, `abort ingest "${ref}"`);
  }

  async listIngests(): Promise<{ ref: string }[]> {
    const r = await this.#call<{ statuses: { ref: string }[] }>(
      "content",
      "ListStatuses",
      {},
      "list ingests",
    );
    return r.statuses;
  }

  // Snapshots

  async prepareSnapshot(
    key: string,
    parent: string,
    options: { leaseId?: string; labels?: Record<string, string> } = {},
  ): Promise<Mount[]> {
    const r = await this.#call<{ mounts: Mount[] }>(
      "snapshots",
      "Prepare",
      { snapshotter: SNAPSHOTTER, key, parent, labels: options.labels ?? {} },
      `prepare snapshot "${key}"`,
      { leaseId: options.leaseId },
    );
    return r.mounts;
  }

  async snapshotMounts(key: string): Promise<Mount[]> {
    const r = await this.#call<{ mounts: Mount[] }>(
      "snapshots",
      "Mounts",
      { snapshotter: SNAPSHOTTER, key },
      `read mounts of snapshot "${key}"`,
    );
    return r.mounts;
  }

  async commitSnapshot(
    name: string,
    key: string,
    options: { leaseId?: string; labels?: Record<string, string> } = {},
  ): Promise<void> {
    await this.#call(
      "snapshots",
      "Commit",
      { snapshotter: SNAPSHOTTER, name, key, labels: options.labels ?? {} },
      `commit snapshot "${name}"`,
      { leaseId: options.leaseId },
    );
  }

  async removeSnapshot(key: string): Promise<void> {
    await this.#call(
      "snapshots",
      "Remove",
      { snapshotter: SNAPSHOTTER, key },
      `remove snapshot "${key}"`,
    );
  }

  statSnapshot(key: string): Promise<SnapshotInfo | undefined> {
    return this.#lookup(
      this.#call<{ info: SnapshotInfo }>(
        "snapshots",
        "Stat",
        { snapshotter: SNAPSHOTTER, key },
        `stat snapshot "${key}"`,
      ).then((r) => r.info),
    );
  }

  async listSnapshots(): Promise<SnapshotInfo[]> {
    const infos: SnapshotInfo[] = [];
    const stream = this.#connection.serverStream(
      "snapshots",
      "List",
      { snapshotter: SNAPSHOTTER },
      (m) => infos.push(...(m as { info: SnapshotInfo[] }).info),
      { timeoutMs: this.#timeoutMs, waitForReady: true },
    );
    await stream.done.catch((e) => {
      throw wrap(e, "list snapshots");
    });
    return infos;
  }

  // Diff

  async applyDiff(
    diff: Descriptor,
    mounts: readonly Mount[],
    options: { leaseId: string; timeoutMs: number },
  ): Promise<Descriptor> {
    const r = await this.#call<{ applied: Descriptor }>(
      "diff",
      "Apply",
      { diff, mounts, payloads: {} },
      `apply layer "${diff.digest}"`,
      options,
    );
    return r.applied;
  }

  // Leases

  async createLease(
    id: string,
    labels: Record<string, string> = {},
  ): Promise<void> {
    await this.#call(
      "leases",
      "Create",
      { id, labels },
      `create lease "${id}"`,
    );
  }

  async deleteLease(id: string, sync = false): Promise<void> {
    await this.#call("leases", "Delete", { id, sync }, `delete lease "${id}"`);
  }

  /** Adds content (`content`) or a snapshot (`snapshots/overlayfs`) to a lease. */
  async addLeaseResource(
    leaseId: string,
    id: string,
    type: string,
  ): Promise<void> {
    await this.#call(
      "leases",
      "AddResource",
      { id: leaseId, resource: { id, type } },
      `add "${id}" to lease "${leaseId}"`,
    );
  }

  async listLeases(): Promise<
    { id: string; labels: Record<string, string> }[]
  > {
    const r = await this.#call<
      { leases: { id: string; labels: Record<string, string> }[] }
    >(
      "leases",
      "List",
      {},
      "list leases",
    );
    return r.leases;
  }

  // Containers

  async createContainer(
    container: ContainerRecord & {
      spec: AnyMessage;
      runtimeOptions?: AnyMessage;
    },
    leaseId?: string,
  ): Promise<void> {
    const { runtimeOptions, ...record } = container;
    await this.#call(
      "containers",
      "Create",
      {
        container: {
          ...record,
          spec: toAny(record.spec),
          runtime: {
            name: RUNTIME,
            options: runtimeOptions === undefined
              ? null
              : toAny(runtimeOptions),
          },
        },
      },
      `create container "${container.id}"`,
      { leaseId },
    );
  }

  getContainer(id: string): Promise<ContainerRecord | undefined> {
    return this.#lookup(
      this.#call<{ container: ContainerRecord }>(
        "containers",
        "Get",
        { id },
        `get container "${id}"`,
      ).then((r) => r.container),
    );
  }

  async listContainers(): Promise<ContainerRecord[]> {
    const r = await this.#call<{ containers: ContainerRecord[] }>(
      "containers",
      "List",
      {},
      "list containers",
    );
    return r.containers;
  }

  async deleteContainer(id: string): Promise<void> {
    await this.#call(
      "containers",
      "Delete",
      { id },
      `delete container "${id}"`,
    );
  }

  // Tasks

  async createTask(
    containerId: string,
    rootfs: readonly Mount[],
    io: { stdout: string; stderr: string },
  ): Promise<number> {
    const r = await this.#call<{ pid: number }>(
      "tasks",
      "Create",
      {
        containerId,
        rootfs,
        stdin: "",
        stdout: io.stdout,
        stderr: io.stderr,
        terminal: false,
      },
      `create task "${containerId}"`,
      { timeoutMs: 60_000 },
    );
    return r.pid;
  }

  async startTask(containerId: string): Promise<number> {
    const r = await this.#call<{ pid: number }>(
      "tasks",
      "Start",
      { containerId, execId: "" },
      `start task "${containerId}"`,
      { timeoutMs: 60_000 },
    );
    return r.pid;
  }

  async killTask(
    containerId: string,
    signal: number,
    all = false,
  ): Promise<void> {
    await this.#call(
      "tasks",
      "Kill",
      { containerId, execId: "", signal, all },
      `signal task "${containerId}"`,
    );
  }

  /** Waits for the task to exit, under `timeoutMs`. */
  async waitTask(
    containerId: string,
    timeoutMs: number,
  ): Promise<{ exitStatus: number; exitedAt: Timestamp | null }> {
    return await this.#call(
      "tasks",
      "Wait",
      { containerId, execId: "" },
      `wait for task "${containerId}"`,
      { timeoutMs },
    );
  }

  async deleteTask(containerId: string): Promise<{ exitStatus: number }> {
    return await this.#call(
      "tasks",
      "Delete",
      { containerId },
      `delete task "${containerId}"`,
      { timeoutMs: 60_000 },
    );
  }

  getTask(containerId: string): Promise<ProcessInfo | undefined> {
    return this.#lookup(
      this.#call<{ process: ProcessInfo }>(
        "tasks",
        "Get",
        { containerId, execId: "" },
        `get task "${containerId}"`,
      ).then((r) => r.process),
    );
  }

  async listTasks(): Promise<ProcessInfo[]> {
    const r = await this.#call<{ tasks: ProcessInfo[] }>(
      "tasks",
      "List",
      { filter: "" },
      "list tasks",
    );
    return r.tasks;
  }

  async taskMetrics(containerIds: readonly string[]): Promise<MetricRecord[]> {
    const filters = containerIds.map((id) => `id==${id}`);
    const r = await this.#call<
      { metrics: { id: string; data: RawAny | null }[] }
    >(
      "tasks",
      "Metrics",
      { filters },
      "read task metrics",
    );
    return r.metrics.map((m) => ({ id: m.id, data: fromAny(m.data) }));
  }

  // Events

  /** Subscribes to events matching `filters`; runs until cancelled or cut. */
  subscribe(
    filters: readonly string[],
    onEnvelope: (envelope: Envelope) => void,
  ): ServerStream {
    return this.#connection.serverStream(
      "events",
      "Subscribe",
      { filters },
      (m) => {
        const raw = m as Omit<Envelope, "event"> & { event: RawAny | null };
        onEnvelope({ ...raw, event: fromAny(raw.event) });
      },
      { waitForReady: true },
    );
  }
}

/** Whether an error is containerd saying the thing does not exist. */
export function isNotFound(error: unknown): boolean {
  return error instanceof ContainerdError &&
    error.code === "containerd.not_found";
}
