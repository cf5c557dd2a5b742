/**
 * The fake's account: volumes, snapshots, actions and droplets in memory,
 * with the rules of DigitalOcean's API reference (Block Storage, Block
 * Storage Actions, Snapshots) and the JSON it answers with. No I/O: the
 * devices behind the volumes and the timers behind the actions are the
 * server's.
 */

export interface FakeDroplet {
  readonly id: number;
  readonly region: string;
  /** Stands in for the droplet's `/dev/disk/by-id`. */
  readonly byIdDir: string;
  readonly name?: string;
  readonly tags?: readonly string[];
}

/** An error answer: `{ "id": ..., "message": ... }` with its status. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly id: string,
    message: string,
  ) {
    super(message);
  }
}

export const notFound = () =>
  new ApiFailure(
    404,
    "not_found",
    "The resource you requested could not be found.",
  );
const unprocessable = (message: string) =>
  new ApiFailure(422, "unprocessable_entity", message);
const badRequest = (message: string) =>
  new ApiFailure(400, "bad_request", message);

export interface VolumeRecord {
  readonly id: string;
  readonly name: string;
  readonly region: string;
  readonly sizeGigabytes: number;
  readonly description: string;
  readonly tags: readonly string[];
  readonly filesystemType: string;
  readonly filesystemLabel: string;
  readonly createdAt: string;
  readonly snapshotId: string | null;
  dropletIds: number[];
}

export interface SnapshotRecord {
  readonly id: string;
  readonly name: string;
  readonly volumeId: string;
  readonly region: string;
  readonly minDiskSize: number;
  readonly tags: readonly string[];
  readonly createdAt: string;
}

export interface ActionRecord {
  readonly id: number;
  readonly kind: "attach" | "detach";
  readonly volumeId: string;
  readonly dropletId: number;
  readonly region: string;
  readonly startedAt: string;
  status: "in-progress" | "completed" | "errored";
  completedAt: string | null;
}

const NAME = /^[a-z][a-z0-9-]{0,63}$/;
const TAG = /^[A-Za-z0-9:_-]{1,255}$/;
const REGION_NAMES: Record<string, string> = {
  ams3: "Amsterdam 3",
  blr1: "Bangalore 1",
  fra1: "Frankfurt 1",
  lon1: "London 1",
  nyc1: "New York 1",
  nyc2: "New York 2",
  nyc3: "New York 3",
  sfo2: "San Francisco 2",
  sfo3: "San Francisco 3",
  sgp1: "Singapore 1",
  syd1: "Sydney 1",
  tor1: "Toronto 1",
};

type Json = Record<string, unknown>;

function objectBody(body: unknown): Json {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw badRequest("error parsing request body");
  }
  return body as Json;
}

function tagsOf(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((t) => typeof t !== "string")) {
    throw unprocessable("tags must be an array of strings");
  }
  const bad = value.find((t) => !TAG.test(t));
  if (bad !== undefined) {
    throw unprocessable(
      `tag ${
        JSON.stringify(bad)
      } must contain only letters, numbers, colons, dashes and underscores`,
    );
  }
  return [...new Set(value as string[])];
}

export class CloudModel {
  readonly volumes = new Map<string, VolumeRecord>();
  readonly snapshots = new Map<string, SnapshotRecord>();
  readonly actions = new Map<number, ActionRecord>();
  readonly droplets = new Map<number, FakeDroplet>();
  readonly #regions: Set<string>;
  readonly #perDropletLimit: number;
  #nextActionId = 1_000_001;

  constructor(options: {
    readonly regions: readonly string[];
    readonly droplets: readonly FakeDroplet[];
    readonly perDropletVolumeLimit: number;
  }) {
    this.#regions = new Set(options.regions);
    this.#perDropletLimit = options.perDropletVolumeLimit;
    for (const droplet of options.droplets) {
      this.droplets.set(droplet.id, droplet);
    }
  }

  volume(id: string): VolumeRecord {
    const volume = this.volumes.get(id);
    if (volume === undefined) throw notFound();
    return volume;
  }

  droplet(id: number): FakeDroplet {
    const droplet = this.droplets.get(id);
    if (droplet === undefined) throw notFound();
    return droplet;
  }

  snapshot(id: string): SnapshotRecord {
    const snapshot = this.snapshots.get(id);
    if (snapshot === undefined) throw notFound();
    return snapshot;
  }

  /** Checks a `POST /v2/volumes` body; the caller makes the device, then `add`s. */
  checkCreate(body: unknown, now: Date): VolumeRecord {
    const b = objectBody(body);
    const name = b.name;
    if (typeof name !== "string" || !NAME.test(name)) {
      throw unprocessable(
        'name must be lowercase, composed only of numbers, letters and "-", up to a limit of 64 characters, and begin with a letter',
      );
    }
    let snapshot: SnapshotRecord | null = null;
    if (b.snapshot_id !== undefined && b.snapshot_id !== null) {
      if (typeof b.snapshot_id !== "string") {
        throw unprocessable("snapshot_id must be a string");
      }
      snapshot = this.snapshot(b.snapshot_id);
    }
    const region = b.region ?? snapshot?.region;
    if (typeof region !== "string" || region === "") {
      throw unprocessable("region is required");
    }
    if (!this.#regions.has(region)) {
      throw unprocessable("Storage is not supported for this region");
    }
    if (snapshot !== null && snapshot.region !== region) {
      throw unprocessable(
        `the snapshot is in ${snapshot.region}; a volume made from it must be in the same region`,
      );
    }
    const size = b.size_gigabytes ?? snapshot?.minDiskSize;
    if (
      typeof size !== "number" || !Number.isInteger(size) || size < 1 ||
      size > 16_384
    ) {
      throw unprocessable(
        "size_gigabytes must be a whole number of GiB from 1 to 16384",
      );
    }
    if (snapshot !== null && size < snapshot.minDiskSize) {
      throw unprocessable(
        `size_gigabytes must be at least the snapshot's min_disk_size (${snapshot.minDiskSize})`,
      );
    }
    const filesystemType = b.filesystem_type ?? "";
    if (
      filesystemType !== "" && filesystemType !== "ext4" &&
      filesystemType !== "xfs"
    ) {
      throw unprocessable("filesystem_type must be ext4 or xfs");
    }
    const label = b.filesystem_label ?? "";
    if (typeof label !== "string" || label.length > 16) {
      throw unprocessable("filesystem_label is at most 16 characters");
    }
    for (const other of this.volumes.values()) {
      if (other.name === name && other.region === region) {
        throw new ApiFailure(
          409,
          "conflict",
          "a volume with that name already exists",
        );
      }
    }
    return {
      id: crypto.randomUUID(),
      name,
      region,
      sizeGigabytes: size,
      description: typeof b.description === "string" ? b.description : "",
      tags: tagsOf(b.tags),
      filesystemType: filesystemType as string,
      filesystemLabel: label,
      createdAt: now.toISOString().replace(/\.\d+Z$/, "Z"),
      snapshotId: snapshot?.id ?? null,
      dropletIds: [],
    };
  }

  add(volume: VolumeRecord): void {
    this.volumes.set(volume.id, volume);
  }

  /** Checks a delete; the caller removes the device, then `remove`s. */
  checkDelete(id: string): VolumeRecord {
    const volume = this.volume(id);
    if (volume.dropletIds.length > 0 || this.#pendingOf(id) !== undefined) {
      throw new ApiFailure(
        409,
        "conflict",
        "attached volume can not be deleted",
      );
    }
    return volume;
  }

  byName(name: string, region: string): VolumeRecord {
    for (const volume of this.volumes.values()) {
      if (volume.name === name && volume.region === region) return volume;
    }
    throw notFound();
  }

  remove(id: string): void {
    this.volumes.delete(id);
  }

  /** Starts an attach or detach (`POST /v2/volumes/{id}/actions`), in progress. */
  startAction(volumeId: string, body: unknown, now: Date): ActionRecord {
    const volume = this.volume(volumeId);
    const b = objectBody(body);
    if (b.type !== "attach" && b.type !== "detach") {
      throw unprocessable(
        b.type === "resize"
          ? "resize is not supported by this fake"
          : "type must be attach, detach or resize",
      );
    }
    if (typeof b.droplet_id !== "number" || !Number.isInteger(b.droplet_id)) {
      throw unprocessable("droplet_id is required");
    }
    const droplet = this.droplet(b.droplet_id);
    if (b.region !== undefined && b.region !== volume.region) {
      throw unprocessable(
        "the region given is not the region of the volume",
      );
    }
    const busy = [...this.actions.values()].some((a) =>
      a.status === "in-progress" &&
      (a.dropletId === droplet.id || a.volumeId === volume.id)
    );
    if (busy) throw unprocessable("Droplet already has a pending event.");
    if (b.type === "attach") {
      if (volume.dropletIds.includes(droplet.id)) {
        throw unprocessable("This volume is already attached to this Droplet.");
      }
      if (volume.dropletIds.length > 0) {
        throw unprocessable(
          "This volume is already attached to another Droplet.",
        );
      }
      if (droplet.region !== volume.region) {
        throw unprocessable(
          "Volume and Droplet must be in the same region.",
        );
      }
      if (this.attachedTo(droplet.id).length >= this.#perDropletLimit) {
        throw unprocessable("cannot attach more volumes to the Droplet");
      }
    } else if (!volume.dropletIds.includes(droplet.id)) {
      throw unprocessable("Attachment not found");
    }
    const action: ActionRecord = {
      id: this.#nextActionId++,
      kind: b.type,
      volumeId: volume.id,
      dropletId: droplet.id,
      region: volume.region,
      startedAt: now.toISOString().replace(/\.\d+Z$/, "Z"),
      status: "in-progress",
      completedAt: null,
    };
    this.actions.set(action.id, action);
    return action;
  }

  /** Ends an action: its change happens only when it completes. */
  finishAction(id: number, ok: boolean, now: Date): void {
    const action = this.actions.get(id);
    if (action === undefined || action.status !== "in-progress") return;
    action.status = ok ? "completed" : "errored";
    action.completedAt = now.toISOString().replace(/\.\d+Z$/, "Z");
    const volume = this.volumes.get(action.volumeId);
    if (!ok || volume === undefined) return;
    volume.dropletIds = action.kind === "attach"
      ? [action.dropletId]
      : volume.dropletIds.filter((d) => d !== action.dropletId);
  }

  attachedTo(dropletId: number): VolumeRecord[] {
    return [...this.volumes.values()].filter((v) =>
      v.dropletIds.includes(dropletId)
    );
  }

  action(id: number, volumeId?: string): ActionRecord {
    const action = this.actions.get(id);
    if (
      action === undefined ||
      (volumeId !== undefined && action.volumeId !== volumeId)
    ) {
      throw notFound();
    }
    return action;
  }

  /** Checks a `POST /v2/volumes/{id}/snapshots`; the caller copies, then `addSnapshot`s. */
  checkSnapshot(volumeId: string, body: unknown, now: Date): SnapshotRecord {
    const volume = this.volume(volumeId);
    const b = objectBody(body);
    if (typeof b.name !== "string" || b.name === "") {
      throw unprocessable("name is required");
    }
    for (const other of this.snapshots.values()) {
      if (other.name === b.name && other.volumeId === volumeId) {
        throw new ApiFailure(
          409,
          "conflict",
          "a snapshot with that name already exists",
        );
      }
    }
    return {
      id: crypto.randomUUID(),
      name: b.name,
      volumeId,
      region: volume.region,
      minDiskSize: volume.sizeGigabytes,
      tags: tagsOf(b.tags),
      createdAt: now.toISOString().replace(/\.\d+Z$/, "Z"),
    };
  }

  addSnapshot(snapshot: SnapshotRecord): void {
    this.snapshots.set(snapshot.id, snapshot);
  }

  #pendingOf(volumeId: string): ActionRecord | undefined {
    return [...this.actions.values()].find((a) =>
      a.volumeId === volumeId && a.status === "in-progress"
    );
  }
}

export function regionJson(slug: string): Json {
  return {
    name: REGION_NAMES[slug] ?? slug,
    slug,
    sizes: ["s-1vcpu-1gb", "s-1vcpu-2gb", "s-2vcpu-4gb"],
    features: ["private_networking", "backups", "ipv6", "metadata"],
    available: true,
  };
}

export function volumeJson(v: VolumeRecord): Json {
  return {
    id: v.id,
    region: regionJson(v.region),
    droplet_ids: [...v.dropletIds],
    name: v.name,
    description: v.description,
    size_gigabytes: v.sizeGigabytes,
    created_at: v.createdAt,
    filesystem_type: v.filesystemType,
    filesystem_label: v.filesystemLabel,
    tags: [...v.tags],
  };
}

export function actionJson(a: ActionRecord): Json {
  return {
    id: a.id,
    status: a.status,
    type: a.kind === "attach" ? "attach_volume" : "detach_volume",
    started_at: a.startedAt,
    completed_at: a.completedAt,
    resource_id: null,
    resource_type: "volume",
    region: regionJson(a.region),
    region_slug: a.region,
  };
}

export function snapshotJson(s: SnapshotRecord, usedGigabytes: number): Json {
  return {
    id: s.id,
    name: s.name,
    regions: [s.region],
    created_at: s.createdAt,
    resource_id: s.volumeId,
    resource_type: "volume",
    min_disk_size: s.minDiskSize,
    size_gigabytes: usedGigabytes,
    tags: [...s.tags],
  };
}

export function dropletJson(d: FakeDroplet, volumeIds: string[]): Json {
  return {
    id: d.id,
    name: d.name ?? `droplet-${d.id}`,
    status: "active",
    region: regionJson(d.region),
    volume_ids: volumeIds,
    tags: [...(d.tags ?? [])],
  };
}

/**
 * One page of a collection, as the reference's "Links & Pagination": 20 per
 * page unless `per_page` (at most 200), `links.pages` with first/prev/next/
 * last where they make sense, `meta.total`.
 */
export function paginate<T>(
  items: readonly T[],
  url: URL,
): { items: T[]; links: Json; meta: { total: number } } {
  const perPageText = url.searchParams.get("per_page");
  const pageText = url.searchParams.get("page");
  const perPage = perPageText === null ? 20 : Number(perPageText);
  const page = pageText === null ? 1 : Number(pageText);
  if (!Number.isInteger(perPage) || perPage < 1 || perPage > 200) {
    throw badRequest("per_page must be a whole number from 1 to 200");
  }
  if (!Number.isInteger(page) || page < 1) {
    throw badRequest("page must be a whole number from 1");
  }
  const last = Math.max(1, Math.ceil(items.length / perPage));
  const link = (n: number) => {
    const target = new URL(url);
    target.searchParams.set("page", String(n));
    target.searchParams.set("per_page", String(perPage));
    return target.toString();
  };
  const pages: Record<string, string> = {};
  if (page > 1) {
    pages.first = link(1);
    pages.prev = link(Math.min(page - 1, last));
  }
  if (page < last) {
    pages.next = link(page + 1);
    pages.last = link(last);
  }
  return {
    items: items.slice((page - 1) * perPage, page * perPage),
    links: Object.keys(pages).length === 0 ? {} : { pages },
    meta: { total: items.length },
  };
}
