/**
 * Typed calls to containerd's services over the gRPC adapter. Thin: one
 * method per RPC we use, plain data in and out, gRPC status codes turned into
 * `ContainerdError`s (or `undefined` for a lookup that finds nothing).
 */
import { GrpcConnection, type ServerStream } from "./_grpc.ts";
import {
  fromAny,
  isStatus,
  type RawAny,
  STATUS_ALREADY_EXISTS,
  toAny,
  wrap,
} from "./_call.ts";
import {
  type AnyMessage,
  type ClientOptions,
  type ContainerRecord,
  type ContentInfo,
  type Descriptor,
  type Envelope,
  type ImageRecord,
  type MetricRecord,
  type Mount,
  NAMESPACE_DEFAULT,
  type ProcessInfo,
  RUNTIME,
  type SnapshotInfo,
  SNAPSHOTTER,
  type Timestamp,
} from "./types.ts";
import { ContainerdError } from "./errors.ts";
import {
  readWholeContent,
  type WriteContentOptions,
  writeContentStream,
} from "./_content.ts";

/** Deadline of a call that has no reason to be slow. */
export const CALL_TIMEOUT_MS = 15_000;

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
  readContent(digest: string, size: number): Promise<Uint8Array> {
    return readWholeContent(this.#connection, digest, size, this.#timeoutMs);
  }

  /**
   * Streams a blob into the content store. containerd checks size and digest
   * at commit; `chunks` yields the bytes in order. A blob that exists by
   * the time of the commit counts as written.
   */
  async writeContent(
    ref: string,
    expected: Descriptor,
    chunks: AsyncIterable<Uint8Array>,
    options: WriteContentOptions,
  ): Promise<void> {
    try {
      await writeContentStream(
        this.#connection,
        ref,
        expected,
        chunks,
        options,
      );
    } catch (error) {
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
