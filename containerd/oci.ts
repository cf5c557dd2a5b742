/**
 * OCI and Docker image formats: media types, manifest parsing from unknown
 * JSON, platform selection from an index, and layer chain ids. Pure.
 */
import { createHash } from "node:crypto";
import { ContainerdError } from "./errors.ts";
import type { Descriptor } from "./types.ts";

export const MEDIA_TYPE = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayerGzip: "application/vnd.oci.image.layer.v1.tar+gzip",
  ociLayer: "application/vnd.oci.image.layer.v1.tar",
  ociLayerZstd: "application/vnd.oci.image.layer.v1.tar+zstd",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayerGzip: "application/vnd.docker.image.rootfs.diff.tar.gzip",
} as const;

/** What we accept from a registry when asking for a manifest. */
export const MANIFEST_ACCEPT = [
  MEDIA_TYPE.ociIndex,
  MEDIA_TYPE.ociManifest,
  MEDIA_TYPE.dockerList,
  MEDIA_TYPE.dockerManifest,
].join(", ");

const LAYER_TYPES: ReadonlySet<string> = new Set([
  MEDIA_TYPE.ociLayerGzip,
  MEDIA_TYPE.ociLayer,
  MEDIA_TYPE.ociLayerZstd,
  MEDIA_TYPE.dockerLayerGzip,
  "application/vnd.docker.image.rootfs.diff.tar",
]);

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

export interface IndexManifest {
  readonly kind: "index";
  readonly manifests: readonly (Descriptor & { platform?: Platform })[];
}

export interface ImageManifest {
  readonly kind: "manifest";
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
}

/** The parts of an image config a container needs. */
export interface ImageConfig {
  readonly architecture: string;
  readonly os: string;
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  readonly env: readonly string[];
  readonly workingDir: string;
  readonly user: string;
  readonly diffIds: readonly string[];
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

function bad(reference: string, why: string): ContainerdError {
  return new ContainerdError(
    "image.manifest_invalid",
    `Image "${reference}" has an invalid manifest or config: ${why}`,
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function strings(value: unknown): string[] {
  return Array.isArray(value)
    ? value.filter((v): v is string => typeof v === "string")
    : [];
}

function parseJson(
  reference: string,
  bytes: Uint8Array,
): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw bad(reference, `not JSON (${(error as Error).message})`);
  }
  if (!isRecord(value)) throw bad(reference, "not a JSON object");
  return value;
}

/** Parses a descriptor from unknown JSON. */
export function parseDescriptor(reference: string, value: unknown): Descriptor {
  if (!isRecord(value)) throw bad(reference, "a descriptor is not an object");
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== "string") {
    throw bad(reference, "a descriptor has no mediaType");
  }
  if (typeof digest !== "string" || !DIGEST.test(digest)) {
    throw bad(reference, `descriptor digest "${String(digest)}" is not sha256`);
  }
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
    throw bad(reference, `descriptor "${digest}" has an invalid size`);
  }
  const annotations: Record<string, string> = {};
  if (isRecord(value.annotations)) {
    for (const [k, v] of Object.entries(value.annotations)) {
      if (typeof v === "string") annotations[k] = v;
    }
  }
  return { mediaType, digest, size, annotations };
}

/** Parses an index or manifest of the given media type. */
export function parseManifest(
  reference: string,
  mediaType: string,
  bytes: Uint8Array,
): IndexManifest | ImageManifest {
  const json = parseJson(reference, bytes);
  const type = typeof json.mediaType === "string" ? json.mediaType : mediaType;
  if (type === MEDIA_TYPE.ociIndex || type === MEDIA_TYPE.dockerList) {
    if (!Array.isArray(json.manifests)) {
      throw bad(reference, "an index without manifests");
    }
    const manifests = json.manifests.map((m) => {
      const descriptor = parseDescriptor(reference, m);
      const p = isRecord(m) ? m.platform : undefined;
      if (
        isRecord(p) && typeof p.os === "string" &&
        typeof p.architecture === "string"
      ) {
        const platform: Platform = {
          os: p.os,
          architecture: p.architecture,
          ...(typeof p.variant === "string" ? { variant: p.variant } : {}),
        };
        return { ...descriptor, platform };
      }
      return descriptor;
    });
    return { kind: "index", manifests };
  }
  if (type === MEDIA_TYPE.ociManifest || type === MEDIA_TYPE.dockerManifest) {
    const config = parseDescriptor(reference, json.config);
    if (!Array.isArray(json.layers)) {
      throw bad(reference, "a manifest without layers");
    }
    const layers = json.layers.map((l) => parseDescriptor(reference, l));
    for (const layer of layers) {
      if (!LAYER_TYPES.has(layer.mediaType)) {
        throw bad(
          reference,
          `layer media type "${layer.mediaType}" is not supported`,
        );
      }
    }
    return { kind: "manifest", config, layers };
  }
  throw bad(
    reference,
    `media type "${type}" is not an index or an image manifest`,
  );
}

/** Parses an image config's runtime parts and rootfs diff ids. */
export function parseImageConfig(
  reference: string,
  bytes: Uint8Array,
): ImageConfig {
  const json = parseJson(reference, bytes);
  const config = isRecord(json.config) ? json.config : {};
  const rootfs = isRecord(json.rootfs) ? json.rootfs : {};
  const diffIds = strings(rootfs.diff_ids);
  for (const id of diffIds) {
    if (!DIGEST.test(id)) {
      throw bad(reference, `diff id "${id}" is not sha256`);
    }
  }
  return {
    architecture: typeof json.architecture === "string"
      ? json.architecture
      : "",
    os: typeof json.os === "string" ? json.os : "",
    entrypoint: strings(config.Entrypoint),
    cmd: strings(config.Cmd),
    env: strings(config.Env),
    workingDir: typeof config.WorkingDir === "string" ? config.WorkingDir : "",
    user: typeof config.User === "string" ? config.User : "",
    diffIds,
  };
}

/** The platform this node runs containers for. */
export function nodePlatform(): Platform {
  const arch = Deno.build.arch === "aarch64" ? "arm64" : "amd64";
  return { os: "linux", architecture: arch };
}

/**
 * Picks the manifest for `platform` from an index: os and architecture must
 * match; among those, a matching variant beats a missing one.
 */
export function selectPlatform(
  index: IndexManifest,
  platform: Platform,
): (Descriptor & { platform?: Platform }) | undefined {
  const candidates = index.manifests.filter((m) =>
    m.platform !== undefined && m.platform.os === platform.os &&
    m.platform.architecture === platform.architecture
  );
  const wanted = platform.variant ??
    (platform.architecture === "arm64" ? "v8" : undefined);
  return candidates.find((m) => (m.platform?.variant ?? wanted) === wanted) ??
    candidates.find((m) => m.platform?.variant === undefined) ?? candidates[0];
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Layer chain ids: chain(0) = diff(0); chain(n) = sha256(chain(n-1) + " " + diff(n)). */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const diffId of diffIds) {
    const previous = out[out.length - 1];
    out.push(
      previous === undefined
        ? diffId
        : `sha256:${sha256Hex(`${previous} ${diffId}`)}`,
    );
  }
  return out;
}
