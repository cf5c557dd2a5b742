/**
 * The `do` volume driver: DigitalOcean Block Storage through the API v2.
 *
 * - create: in the driver's region (or the spec's), tagged with the
 *   cluster's tag, the size rounded up to whole GiB, from a snapshot when
 *   asked; a create whose answer was lost (5xx, timeout) looks the volume up
 *   by name before trying again, and a name that exists already with the
 *   cluster's tag is that volume;
 * - attach and detach: a volume action, polled until `completed` (bounded by
 *   the signal and `actionTimeoutMs`); already attached to that droplet, or
 *   already detached, is success;
 * - list: every page, only the volumes with the cluster's tag;
 * - destroy: refused while attached; gone already is fine.
 *
 * The token comes from mill's secrets through `token()`, read for each
 * request; it is never logged and never part of an error message.
 */

import {
  type CloudVolume,
  StorageError,
  type VolumeDriver,
  type VolumeSnapshot,
  type VolumeSpec,
} from "../driver.ts";
import {
  ApiClient,
  DoApiError,
  DoTransportError,
  type LogLevel,
  sleep,
} from "./api_client.ts";
import {
  classifyUnprocessable,
  type ErrorContext,
  storageErrorOf,
} from "./errors.ts";
import {
  type Action,
  actionFrom,
  type CreateVolumeBody,
  gigabytesFor,
  member,
  nextPagePath,
  SIZE_GIGABYTES_MAX,
  snapshotFrom,
  snapshotsFrom,
  TAG_PATTERN,
  VOLUME_NAME_PATTERN,
  type VolumeActionBody,
  volumeFrom,
  volumesFrom,
} from "./wire.ts";

export const DO_API_BASE = "https://api.digitalocean.com";
export const DO_BY_ID_DIR = "/dev/disk/by-id";
/** The secret the token is read from unless told otherwise. */
export const DO_TOKEN_SECRET = "digitalocean-token";

export interface DigitalOceanDriverOptions {
  /** `https://api.digitalocean.com` unless told. */
  readonly apiBase?: string;
  /** The API token, read from mill's secrets by the caller. */
  readonly token: () => string;
  /** The droplets' region (`nyc1`…): where volumes are created. */
  readonly region: string;
  /** The tag marking this cluster's volumes (letters, digits, `:-_`). */
  readonly clusterTag: string;
  /** Named in messages that say how to fix the token; DO_TOKEN_SECRET. */
  readonly tokenSecretName?: string;
  /** Per HTTP request; 30 s. */
  readonly requestTimeoutMs?: number;
  /** Between polls of an action; 1 s. */
  readonly pollIntervalMs?: number;
  /** An attach or detach not completed by then fails; 5 min. */
  readonly actionTimeoutMs?: number;
  /** A 429 asking to wait longer fails with `storage.rate_limited`; 60 s. */
  readonly maxRateLimitWaitMs?: number;
  /** Further attempts after a 5xx or a transport failure; 3. */
  readonly serverErrorRetries?: number;
  /** The first backoff after a failure, doubled each time; 500 ms. */
  readonly backoffBaseMs?: number;
  /** Items per page when listing; 200 (the API's most). */
  readonly perPage?: number;
  /** Where the droplet's udev links volumes; `/dev/disk/by-id`. */
  readonly byIdDir?: string;
  readonly client?: Deno.HttpClient;
  readonly log?: (level: LogLevel, message: string) => void;
}

export class DigitalOceanDriver implements VolumeDriver {
  readonly provider = "do";
  readonly #api: ApiClient;
  readonly #options: DigitalOceanDriverOptions;
  readonly #pollIntervalMs: number;
  readonly #actionTimeoutMs: number;
  readonly #perPage: number;
  readonly #byIdDir: string;

  constructor(options: DigitalOceanDriverOptions) {
    if (!TAG_PATTERN.test(options.clusterTag)) {
      throw new RangeError(
        `the cluster tag ${
          JSON.stringify(options.clusterTag)
        } is not a DigitalOcean tag (letters, digits, ":", "-", "_", 255 at most)`,
      );
    }
    if (!/^[a-z0-9]+$/.test(options.region)) {
      throw new RangeError(
        `the region ${
          JSON.stringify(options.region)
        } is not a DigitalOcean region slug (e.g. "nyc1")`,
      );
    }
    this.#options = options;
    this.#pollIntervalMs = options.pollIntervalMs ?? 1000;
    this.#actionTimeoutMs = options.actionTimeoutMs ?? 300_000;
    this.#perPage = Math.min(200, Math.max(1, options.perPage ?? 200));
    this.#byIdDir = (options.byIdDir ?? DO_BY_ID_DIR).replace(/\/+$/, "");
    const log = options.log;
    this.#api = new ApiClient({
      apiBase: options.apiBase ?? DO_API_BASE,
      token: options.token,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      maxRateLimitWaitMs: options.maxRateLimitWaitMs ?? 60_000,
      rateLimitRetries: 5,
      serverErrorRetries: options.serverErrorRetries ?? 3,
      backoffBaseMs: options.backoffBaseMs ?? 500,
      ...(options.client === undefined ? {} : { client: options.client }),
      // Log lines pass the same scrubbing as error messages.
      ...(log === undefined
        ? {}
        : { log: (level, message) => log(level, this.#redact(message)) }),
    });
  }

  devicePath(volume: CloudVolume): string {
    return `${this.#byIdDir}/scsi-0DO_Volume_${volume.name}`;
  }

  async create(spec: VolumeSpec, signal?: AbortSignal): Promise<CloudVolume> {
    const region = spec.region ?? this.#options.region;
    const context = this.#context(
      `create volume "${spec.name}" in ${region}`,
    );
    const body = this.#createBody(spec, region, context);
    let lost = 0;
    for (;;) {
      try {
        const response = await this.#api.request("POST", "/v2/volumes", {
          body,
          signal,
        });
        return volumeFrom(member(response.body, "volume"));
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (error instanceof DoApiError && error.status === 409) {
          const existing = await this.#findByName(
            spec.name,
            region,
            signal,
            context,
          );
          if (existing?.tags.includes(this.#options.clusterTag)) {
            return existing;
          }
          throw new StorageError(
            "storage.invalid",
            `cannot ${context.doing}: a volume of that name exists in ${region} and is not this cluster's (no tag ${this.#options.clusterTag}); rename the config's volume or delete that one`,
          );
        }
        if (!lostAnswer(error) || lost >= 3) {
          throw storageErrorOf(error, {
            ...context,
            missing: spec.fromSnapshot === undefined
              ? "the region or the request is unknown to DigitalOcean"
              : `snapshot ${spec.fromSnapshot} does not exist`,
          });
        }
        // The volume may exist although the answer was lost: look first.
        lost++;
        const existing = await this.#findByName(
          spec.name,
          region,
          signal,
          context,
        );
        if (existing !== null) return existing;
        await sleep(
          (this.#options.backoffBaseMs ?? 500) * 2 ** (lost - 1),
          signal,
        );
      }
    }
  }

  async get(
    volumeId: string,
    signal?: AbortSignal,
  ): Promise<CloudVolume | null> {
    const context = this.#context(`look up volume ${volumeId}`);
    try {
      const response = await this.#api.request(
        "GET",
        `/v2/volumes/${encodeURIComponent(volumeId)}`,
        { signal },
      );
      return volumeFrom(member(response.body, "volume"));
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (error instanceof DoApiError && error.status === 404) return null;
      throw storageErrorOf(error, context);
    }
  }

  async list(signal?: AbortSignal): Promise<CloudVolume[]> {
    const context = this.#context("list volumes");
    const volumes: CloudVolume[] = [];
    let path: string | null = `/v2/volumes?per_page=${this.#perPage}`;
    let pages = 0;
    try {
      while (path !== null) {
        // A link loop must not run forever: 10 000 pages of 200 is plenty.
        if (++pages > 10_000) {
          throw new StorageError(
            "storage.unavailable",
            `cannot ${context.doing}: the pages do not end`,
          );
        }
        const response = await this.#api.request("GET", path, { signal });
        volumes.push(...volumesFrom(response.body));
        path = nextPagePath(response.body);
      }
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw storageErrorOf(error, context);
    }
    return volumes.filter((v) => v.tags.includes(this.#options.clusterTag));
  }

  async destroy(volumeId: string, signal?: AbortSignal): Promise<void> {
    const volume = await this.get(volumeId, signal);
    if (volume === null) return;
    const context = this.#context(
      `destroy volume "${volume.name}" (${volumeId})`,
    );
    if (volume.attachedTo !== null) {
      throw attachedError(context, volume.attachedTo);
    }
    try {
      await this.#api.request(
        "DELETE",
        `/v2/volumes/${encodeURIComponent(volumeId)}`,
        { signal },
      );
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (error instanceof DoApiError && error.status === 404) return;
      if (error instanceof DoApiError && error.status === 409) {
        const now = await this.get(volumeId, signal);
        throw attachedError(context, now?.attachedTo ?? "another");
      }
      throw storageErrorOf(error, context);
    }
  }

  attach(
    volumeId: string,
    machineId: string,
    signal?: AbortSignal,
  ): Promise<CloudVolume> {
    return this.#act("attach", volumeId, machineId, signal);
  }

  detach(
    volumeId: string,
    machineId: string,
    signal?: AbortSignal,
  ): Promise<CloudVolume> {
    return this.#act("detach", volumeId, machineId, signal);
  }

  async snapshot(
    volumeId: string,
    name: string,
    signal?: AbortSignal,
  ): Promise<VolumeSnapshot> {
    const context = {
      ...this.#context(`snapshot volume ${volumeId} as "${name}"`),
      missing: `volume ${volumeId} does not exist`,
    };
    const path = `/v2/volumes/${encodeURIComponent(volumeId)}/snapshots`;
    let lost = 0;
    for (;;) {
      try {
        const response = await this.#api.request("POST", path, {
          body: { name, tags: [this.#options.clusterTag] },
          signal,
        });
        return snapshotFrom(member(response.body, "snapshot"));
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        const conflict = error instanceof DoApiError && error.status === 409;
        if (!conflict && (!lostAnswer(error) || lost >= 3)) {
          throw storageErrorOf(error, context);
        }
        lost++;
        const existing = await this.#findSnapshot(path, name, signal, context);
        if (existing !== null) return existing;
        if (conflict) throw storageErrorOf(error, context);
      }
    }
  }

  /** The volume's snapshots (this driver's own, beside the interface). */
  async listSnapshots(
    volumeId: string,
    signal?: AbortSignal,
  ): Promise<VolumeSnapshot[]> {
    const context = {
      ...this.#context(`list the snapshots of volume ${volumeId}`),
      missing: `volume ${volumeId} does not exist`,
    };
    const snapshots: VolumeSnapshot[] = [];
    let page: string | null = `/v2/volumes/${
      encodeURIComponent(volumeId)
    }/snapshots?per_page=${this.#perPage}`;
    try {
      while (page !== null) {
        const response = await this.#api.request("GET", page, { signal });
        snapshots.push(...snapshotsFrom(response.body));
        page = nextPagePath(response.body);
      }
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw storageErrorOf(error, context);
    }
    return snapshots;
  }

  /** Deletes a snapshot; gone already is fine. */
  async deleteSnapshot(
    snapshotId: string,
    signal?: AbortSignal,
  ): Promise<void> {
    const context = this.#context(`delete snapshot ${snapshotId}`);
    try {
      await this.#api.request(
        "DELETE",
        `/v2/snapshots/${encodeURIComponent(snapshotId)}`,
        { signal },
      );
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (error instanceof DoApiError && error.status === 404) return;
      throw storageErrorOf(error, context);
    }
  }

  /** Attach or detach, idempotent, polled to completion. */
  async #act(
    type: "attach" | "detach",
    volumeId: string,
    machineId: string,
    signal: AbortSignal | undefined,
  ): Promise<CloudVolume> {
    const dropletId = Number(machineId);
    const base = this.#context(
      `${type} volume ${volumeId} ${
        type === "attach" ? "to" : "from"
      } droplet ${machineId}`,
    );
    if (!Number.isSafeInteger(dropletId) || dropletId <= 0) {
      throw new StorageError(
        "storage.invalid",
        `cannot ${base.doing}: "${machineId}" is not a droplet id (a number, as /metadata/v1/id says)`,
      );
    }
    const deadline = AbortSignal.timeout(this.#actionTimeoutMs);
    const bounded = signal === undefined
      ? deadline
      : AbortSignal.any([signal, deadline]);
    try {
      return await this.#actUntilDone(type, volumeId, dropletId, bounded);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (deadline.aborted) {
        throw new StorageError(
          "storage.unavailable",
          `cannot ${base.doing}: not completed within ${
            Math.round(this.#actionTimeoutMs / 1000)
          }s; DigitalOcean may still finish it, try again later`,
        );
      }
      throw error;
    }
  }

  async #actUntilDone(
    type: "attach" | "detach",
    volumeId: string,
    dropletId: number,
    signal: AbortSignal,
  ): Promise<CloudVolume> {
    for (;;) {
      const volume = await this.get(volumeId, signal);
      const context = {
        ...this.#context(
          `${type} volume "${volume?.name ?? volumeId}" (${volumeId}) ${
            type === "attach" ? "to" : "from"
          } droplet ${dropletId}`,
        ),
        missing: `volume ${volumeId} or droplet ${dropletId} does not exist`,
      };
      if (volume === null) {
        throw new StorageError(
          "storage.not_found",
          `cannot ${context.doing}: the volume does not exist`,
        );
      }
      const here = volume.attachedTo === String(dropletId);
      if (type === "attach" && here) return volume;
      if (type === "detach" && !here) return volume;
      if (type === "attach" && volume.attachedTo !== null) {
        throw attachedElsewhereError(context, volume.attachedTo);
      }
      const body: VolumeActionBody = {
        type,
        droplet_id: dropletId,
        region: volume.region ?? this.#options.region,
      };
      let action: Action;
      try {
        const response = await this.#api.request(
          "POST",
          `/v2/volumes/${encodeURIComponent(volumeId)}/actions`,
          { body, signal },
        );
        action = actionFrom(member(response.body, "action"));
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        const next = await this.#afterRefusedAction(
          error,
          volume,
          dropletId,
          context,
          signal,
        );
        if (next === "again") continue;
        throw next;
      }
      await this.#pollAction(volumeId, action, context, signal);
    }
  }

  /**
   * What a refused action means: "again" to look at the volume and retry
   * (an answer lost, a pending event, a race that may have done it), else the
   * StorageError to throw.
   */
  async #afterRefusedAction(
    error: unknown,
    volume: CloudVolume,
    dropletId: number,
    context: ErrorContext,
    signal: AbortSignal,
  ): Promise<"again" | StorageError> {
    if (lostAnswer(error)) {
      // The action may have started: the volume's state decides next time.
      await sleep(this.#pollIntervalMs, signal);
      return "again";
    }
    if (!(error instanceof DoApiError) || error.status !== 422) {
      return storageErrorOf(error, context);
    }
    switch (classifyUnprocessable(error.apiMessage)) {
      case "already_attached":
      case "not_attached":
        return "again";
      case "pending_event":
        await sleep(this.#pollIntervalMs, signal);
        return "again";
      case "limit":
        return new StorageError(
          "storage.limit",
          `cannot ${context.doing}: droplet ${dropletId} already has as many volumes attached as DigitalOcean allows (fifteen at the time of writing): detach one or use another droplet`,
        );
      case "region": {
        const dropletRegion = await this.#dropletRegion(dropletId, signal);
        return new StorageError(
          "storage.region_mismatch",
          `cannot ${context.doing}: the volume is in ${volume.region} but the droplet is ${
            dropletRegion === null ? "in another region" : `in ${dropletRegion}`
          }; a volume attaches only to droplets of its region: run the service on a node in ${volume.region}, or snapshot the volume and create it anew in the droplet's region`,
        );
      }
      default:
        return storageErrorOf(error, context);
    }
  }

  async #pollAction(
    volumeId: string,
    started: Action,
    context: ErrorContext,
    signal: AbortSignal,
  ): Promise<void> {
    let action = started;
    const path = `/v2/volumes/${
      encodeURIComponent(volumeId)
    }/actions/${action.id}`;
    while (action.status === "in-progress") {
      await sleep(this.#pollIntervalMs, signal);
      try {
        const response = await this.#api.request("GET", path, { signal });
        action = actionFrom(member(response.body, "action"));
      } catch (error) {
        if (signal.aborted) throw signal.reason;
        throw storageErrorOf(error, context);
      }
    }
    if (action.status === "errored") {
      throw new StorageError(
        "storage.unavailable",
        `cannot ${context.doing}: DigitalOcean's ${action.type} action ${action.id} errored${
          action.completedAt === null ? "" : ` at ${action.completedAt}`
        }; look at the volume's history in the control panel, then try again`,
      );
    }
  }

  async #dropletRegion(
    dropletId: number,
    signal: AbortSignal,
  ): Promise<string | null> {
    try {
      const response = await this.#api.request(
        "GET",
        `/v2/droplets/${dropletId}`,
        { signal },
      );
      const droplet = member(response.body, "droplet") as {
        region?: { slug?: unknown };
      } | undefined;
      const slug = droplet?.region?.slug;
      return typeof slug === "string" ? slug : null;
    } catch {
      return null; // only for the message
    }
  }

  async #findByName(
    name: string,
    region: string,
    signal: AbortSignal | undefined,
    context: ErrorContext,
  ): Promise<CloudVolume | null> {
    try {
      const response = await this.#api.request(
        "GET",
        `/v2/volumes?name=${encodeURIComponent(name)}&region=${
          encodeURIComponent(region)
        }`,
        { signal },
      );
      return volumesFrom(response.body).find((v) => v.name === name) ?? null;
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw storageErrorOf(error, context);
    }
  }

  async #findSnapshot(
    path: string,
    name: string,
    signal: AbortSignal | undefined,
    context: ErrorContext,
  ): Promise<VolumeSnapshot | null> {
    let page: string | null = `${path}?per_page=200`;
    try {
      while (page !== null) {
        const response = await this.#api.request("GET", page, { signal });
        const found = snapshotsFrom(response.body).find((s) => s.name === name);
        if (found !== undefined) return found;
        page = nextPagePath(response.body);
      }
      return null;
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw storageErrorOf(error, context);
    }
  }

  #createBody(
    spec: VolumeSpec,
    region: string,
    context: ErrorContext,
  ): CreateVolumeBody {
    if (!VOLUME_NAME_PATTERN.test(spec.name)) {
      throw new StorageError(
        "storage.invalid",
        `cannot ${context.doing}: DigitalOcean volume names are lowercase letters, digits and "-", start with a letter and have 64 characters at most`,
      );
    }
    const gigabytes = gigabytesFor(spec.sizeBytes);
    if (!Number.isFinite(spec.sizeBytes) || gigabytes > SIZE_GIGABYTES_MAX) {
      throw new StorageError(
        "storage.invalid",
        `cannot ${context.doing}: DigitalOcean volumes are 1 GiB to 16 TiB`,
      );
    }
    const tags = [...new Set([...spec.tags, this.#options.clusterTag])];
    const bad = tags.find((t) => !TAG_PATTERN.test(t));
    if (bad !== undefined) {
      throw new StorageError(
        "storage.invalid",
        `cannot ${context.doing}: the tag ${
          JSON.stringify(bad)
        } is not a DigitalOcean tag (letters, digits, ":", "-", "_")`,
      );
    }
    return {
      name: spec.name,
      size_gigabytes: gigabytes,
      region,
      tags,
      ...(spec.fromSnapshot === undefined
        ? {}
        : { snapshot_id: spec.fromSnapshot }),
    };
  }

  #context(doing: string): ErrorContext {
    return {
      doing,
      tokenSecret: this.#options.tokenSecretName ?? DO_TOKEN_SECRET,
      token: this.#currentToken(),
    };
  }

  #currentToken(): string {
    try {
      return this.#options.token();
    } catch {
      return "";
    }
  }

  #redact(text: string): string {
    const token = this.#currentToken();
    return token.length < 4 ? text : text.split(token).join("[redacted]");
  }
}

/** The request may have been carried out although no answer says so. */
function lostAnswer(error: unknown): boolean {
  return error instanceof DoTransportError ||
    (error instanceof DoApiError && error.status >= 500);
}

function attachedError(context: ErrorContext, dropletId: string): StorageError {
  return new StorageError(
    "storage.attached",
    `cannot ${context.doing}: it is attached to droplet ${dropletId}; detach it first`,
  );
}

function attachedElsewhereError(
  context: ErrorContext,
  dropletId: string,
): StorageError {
  return new StorageError(
    "storage.attached_elsewhere",
    `cannot ${context.doing}: it is attached to droplet ${dropletId}; detach it there first (a volume attaches to one droplet at a time)`,
  );
}
