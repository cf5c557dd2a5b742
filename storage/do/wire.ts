/**
 * DigitalOcean's API v2 as this driver sees it: the request bodies it sends
 * and the response bodies it reads (volumes, actions, snapshots, pages),
 * checked field by field into the driver interface's types. Pure.
 */

import type { CloudVolume, VolumeSnapshot } from "../driver.ts";

export const GIB = 1024 ** 3;
/** The largest volume DigitalOcean makes (16 TiB). */
export const SIZE_GIGABYTES_MAX = 16_384;
/** Volume names: lowercase letters, digits and "-", a letter first, 64 at most. */
export const VOLUME_NAME_PATTERN = /^[a-z][a-z0-9-]{0,63}$/;
/** Tags: letters, digits, ":", "-" and "_", 255 at most. */
export const TAG_PATTERN = /^[A-Za-z0-9:_-]{1,255}$/;

/** The body of `POST /v2/volumes`. */
export interface CreateVolumeBody {
  readonly name: string;
  readonly size_gigabytes: number;
  readonly region: string;
  readonly tags: readonly string[];
  readonly snapshot_id?: string;
}

/** The body of `POST /v2/volumes/{id}/actions` for attach and detach. */
export interface VolumeActionBody {
  readonly type: "attach" | "detach";
  readonly droplet_id: number;
  readonly region: string;
}

export type ActionStatus = "in-progress" | "completed" | "errored";

export interface Action {
  readonly id: number;
  readonly status: ActionStatus;
  readonly type: string;
  readonly startedAt: string | null;
  readonly completedAt: string | null;
}

/** A response body that is not what the API reference describes. */
export class UnexpectedBodyError extends Error {
  override name = "UnexpectedBodyError";
}

/** Whole GiB, rounded up, at least one. */
export function gigabytesFor(sizeBytes: number): number {
  return Math.max(1, Math.ceil(sizeBytes / GIB));
}

type Json = Record<string, unknown>;

function objectOf(value: unknown, what: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new UnexpectedBodyError(`${what} is not an object`);
  }
  return value as Json;
}

function stringOf(value: unknown, what: string): string {
  if (typeof value !== "string") {
    throw new UnexpectedBodyError(`${what} is not a string`);
  }
  return value;
}

function integerOf(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new UnexpectedBodyError(`${what} is not an integer`);
  }
  return value;
}

function stringsOf(value: unknown, what: string): string[] {
  if (value === null || value === undefined) return [];
  if (!Array.isArray(value)) {
    throw new UnexpectedBodyError(`${what} is not an array`);
  }
  return value.map((item, i) => stringOf(item, `${what}[${i}]`));
}

function timeOf(value: unknown, what: string): number {
  const ms = Date.parse(stringOf(value, what));
  if (Number.isNaN(ms)) throw new UnexpectedBodyError(`${what} is not a time`);
  return ms;
}

/** The object under `key` of a response body (`volume`, `action`, …). */
export function member(body: unknown, key: string): unknown {
  return objectOf(body, "the response body")[key];
}

/** A volume object of the API (`volume_full`) as a CloudVolume. */
export function volumeFrom(value: unknown): CloudVolume {
  const v = objectOf(value, "volume");
  const dropletIds = v.droplet_ids === null || v.droplet_ids === undefined
    ? []
    : Array.isArray(v.droplet_ids)
    ? v.droplet_ids.map((id, i) => integerOf(id, `volume.droplet_ids[${i}]`))
    : (() => {
      throw new UnexpectedBodyError("volume.droplet_ids is not an array");
    })();
  const region = v.region === null || v.region === undefined
    ? null
    : stringOf(objectOf(v.region, "volume.region").slug, "volume.region.slug");
  return {
    id: stringOf(v.id, "volume.id"),
    name: stringOf(v.name, "volume.name"),
    sizeBytes: integerOf(v.size_gigabytes, "volume.size_gigabytes") * GIB,
    region,
    attachedTo: dropletIds.length === 0 ? null : String(dropletIds[0]),
    tags: stringsOf(v.tags, "volume.tags"),
    createdAtMs: timeOf(v.created_at, "volume.created_at"),
  };
}

export function volumesFrom(body: unknown): CloudVolume[] {
  const list = member(body, "volumes");
  if (!Array.isArray(list)) {
    throw new UnexpectedBodyError("volumes is not an array");
  }
  return list.map(volumeFrom);
}

export function actionFrom(value: unknown): Action {
  const a = objectOf(value, "action");
  const status = stringOf(a.status, "action.status");
  if (
    status !== "in-progress" && status !== "completed" && status !== "errored"
  ) {
    throw new UnexpectedBodyError(`action.status ${JSON.stringify(status)}`);
  }
  const optionalTime = (field: unknown, what: string) =>
    field === null || field === undefined ? null : stringOf(field, what);
  return {
    id: integerOf(a.id, "action.id"),
    status,
    type: stringOf(a.type, "action.type"),
    startedAt: optionalTime(a.started_at, "action.started_at"),
    completedAt: optionalTime(a.completed_at, "action.completed_at"),
  };
}

export function snapshotFrom(value: unknown): VolumeSnapshot {
  const s = objectOf(value, "snapshot");
  return {
    id: stringOf(s.id, "snapshot.id"),
    name: stringOf(s.name, "snapshot.name"),
    volumeId: stringOf(s.resource_id, "snapshot.resource_id"),
    sizeBytes: integerOf(s.min_disk_size, "snapshot.min_disk_size") * GIB,
    createdAtMs: timeOf(s.created_at, "snapshot.created_at"),
  };
}

export function snapshotsFrom(body: unknown): VolumeSnapshot[] {
  const list = member(body, "snapshots");
  if (!Array.isArray(list)) {
    throw new UnexpectedBodyError("snapshots is not an array");
  }
  return list.map(snapshotFrom);
}

/**
 * The path and query of the next page (`links.pages.next`), or null on the
 * last page. Only the path is kept: the next request goes to the driver's
 * own API base, so a link can never send the token elsewhere.
 */
export function nextPagePath(body: unknown): string | null {
  const links = member(body, "links");
  if (links === undefined || links === null) return null;
  const pages = objectOf(links, "links").pages;
  if (pages === undefined || pages === null) return null;
  const next = objectOf(pages, "links.pages").next;
  if (next === undefined || next === null) return null;
  let url: URL;
  try {
    url = new URL(stringOf(next, "links.pages.next"));
  } catch {
    throw new UnexpectedBodyError("links.pages.next is not a URL");
  }
  return `${url.pathname}${url.search}`;
}

/** An error body: `{ "id": "...", "message": "..." }`, or null. */
export function errorBodyFrom(
  body: unknown,
): { id: string; message: string } | null {
  if (typeof body !== "object" || body === null) return null;
  const b = body as Json;
  if (typeof b.id !== "string" || typeof b.message !== "string") return null;
  return { id: b.id, message: b.message };
}
