/**
 * Image pull and import: blobs into containerd's content store (streamed and
 * verified), layers unpacked into overlayfs snapshots through the Diff
 * service under their chain ids, then the image record. Everything is written
 * under a lease that is deleted at the end; on failure the lease is deleted
 * synchronously, so containerd's garbage collector removes what was
 * half-written.
 */
import { createHash } from "node:crypto";
import type { ContainerdClient } from "./client.ts";
import { isNotFound } from "./_call.ts";
import { type Descriptor, SNAPSHOTTER } from "./types.ts";
import { assert, ContainerdError } from "./errors.ts";
import {
  chainIds,
  type ImageConfig,
  type ImageManifest,
  type IndexManifest,
  nodePlatform,
  parseImageConfig,
  parseManifest,
  type Platform,
  selectPlatform,
  sha256Hex,
} from "./oci.ts";

/** How long a pull's lease outlives a crashed agent before containerd drops it. */
export const LEASE_EXPIRY_MS = 60 * 60 * 1000;
/** Images whose resolved config we keep in memory. */
const RESOLVED_CACHE_MAX = 256;
/** Deadline of one layer's write or apply. */
export const LAYER_TIMEOUT_MS = 10 * 60 * 1000;

export interface PullProgress {
  readonly reference: string;
  readonly digest: string;
  readonly kind: "index" | "manifest" | "config" | "layer";
  readonly doneBytes: number;
  readonly totalBytes: number;
}

/** An image ready to run: its record, config and top snapshot. */
export interface ResolvedImage {
  readonly name: string;
  readonly target: Descriptor;
  readonly config: ImageConfig;
  /** Chain id of the top layer: the parent of a container's snapshot. */
  readonly chainId: string;
}

/** Where the blobs of one image come from (a registry, an archive). */
export interface BlobSource {
  /** Reads a small blob whole (index, manifest, config). */
  read(descriptor: Descriptor): Promise<Uint8Array>;
  /** Opens a blob as a stream. */
  open(descriptor: Descriptor): Promise<ReadableStream<Uint8Array>>;
}

export interface StoreOptions {
  readonly platform?: Platform;
  readonly onProgress?: (progress: PullProgress) => void;
}

function mismatch(
  reference: string,
  digest: string,
  why: string,
): ContainerdError {
  return new ContainerdError(
    "image.digest_mismatch",
    `Cannot pull "${reference}": blob "${digest}" ${why}; the registry or the network corrupted it`,
  );
}

/** Verifies size and digest while streaming; throws before the last chunk is passed on. */
async function* verified(
  reference: string,
  descriptor: Descriptor,
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  const hash = createHash("sha256");
  let size = 0;
  const reader = stream.getReader();
  try {
    let pending: Uint8Array | undefined;
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > descriptor.size) {
        throw mismatch(
          reference,
          descriptor.digest,
          `is longer than ${descriptor.size} bytes`,
        );
      }
      hash.update(value);
      if (pending !== undefined) yield pending;
      pending = value;
    }
    if (size !== descriptor.size) {
      throw mismatch(
        reference,
        descriptor.digest,
        `has ${size} bytes, expected ${descriptor.size}`,
      );
    }
    const digest = `sha256:${hash.digest("hex")}`;
    if (digest !== descriptor.digest) {
      throw mismatch(reference, descriptor.digest, `has digest "${digest}"`);
    }
    if (pending !== undefined) yield pending;
  } finally {
    await reader.cancel().catch(() => {
      // Already closed or errored: nothing left to release.
    });
  }
}

function checkSmall(
  reference: string,
  descriptor: Descriptor,
  bytes: Uint8Array,
): void {
  if (bytes.byteLength !== descriptor.size) {
    throw mismatch(
      reference,
      descriptor.digest,
      `has ${bytes.byteLength} bytes, expected ${descriptor.size}`,
    );
  }
  const digest = `sha256:${sha256Hex(bytes)}`;
  if (digest !== descriptor.digest) {
    throw mismatch(reference, descriptor.digest, `has digest "${digest}"`);
  }
}

function randomSuffix(): string {
  return crypto.randomUUID().slice(0, 8);
}

/**
 * Writes one image (from `source`, whose top is `top`) into containerd and
 * names it `name`. Shared by registry pulls and archive imports.
 */
export class ImageWriter {
  readonly #client: ContainerdClient;
  readonly #resolved = new Map<string, ResolvedImage>();
  readonly #blobWrites = new Map<string, Promise<"present" | "written">>();

  constructor(client: ContainerdClient) {
    this.#client = client;
  }

  /** The image as containerd has it, or undefined when it is absent or incomplete. */
  async resolveLocal(
    name: string,
    platform: Platform = nodePlatform(),
  ): Promise<ResolvedImage | undefined> {
    const image = await this.#client.getImage(name);
    if (image === undefined) return undefined;
    const cached = this.#resolved.get(`${name} ${image.target.digest}`);
    if (
      cached !== undefined &&
      await this.#client.statSnapshot(cached.chainId) !== undefined
    ) return cached;
    try {
      const resolved = await this.#resolveFromContent(
        name,
        image.target,
        platform,
      );
      if (await this.#client.statSnapshot(resolved.chainId) === undefined) {
        return undefined;
      }
      this.#cache(resolved);
      return resolved;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  #cache(resolved: ResolvedImage): void {
    if (this.#resolved.size >= RESOLVED_CACHE_MAX) {
      const oldest = this.#resolved.keys().next().value;
      if (oldest !== undefined) this.#resolved.delete(oldest);
    }
    this.#resolved.set(`${resolved.name} ${resolved.target.digest}`, resolved);
  }

  async #resolveFromContent(
    name: string,
    target: Descriptor,
    platform: Platform,
  ): Promise<ResolvedImage> {
    let manifestDescriptor = target;
    let parsed = parseManifest(
      name,
      target.mediaType,
      await this.#client.readContent(target.digest, target.size),
    );
    if (parsed.kind === "index") {
      const chosen = choosePlatform(name, parsed, platform);
      manifestDescriptor = chosen;
      parsed = parseManifest(
        name,
        chosen.mediaType,
        await this.#client.readContent(chosen.digest, chosen.size),
      );
    }
    if (parsed.kind !== "manifest") throw notManifest(name, manifestDescriptor);
    const config = parseImageConfig(
      name,
      await this.#client.readContent(parsed.config.digest, parsed.config.size),
    );
    const chain = chainIds(config.diffIds);
    const chainId = chain[chain.length - 1];
    if (chainId === undefined) throw notManifest(name, manifestDescriptor);
    return { name, target, config, chainId };
  }

  /** Writes and unpacks the image under a lease, then creates its record. */
  async write(
    name: string,
    top: Descriptor,
    source: BlobSource,
    options: StoreOptions = {},
  ): Promise<ResolvedImage> {
    const leaseId = `mill-pull-${randomSuffix()}`;
    const expire = new Date(Date.now() + LEASE_EXPIRY_MS).toISOString();
    await this.#client.createLease(leaseId, {
      "containerd.io/gc.expire": expire,
    });
    let ok = false;
    try {
      const resolved = await this.#writeUnderLease(
        name,
        top,
        source,
        leaseId,
        options,
      );
      ok = true;
      return resolved;
    } finally {
      // On failure a synchronous delete lets the garbage collector remove the
      // half-written content and snapshots before we report the error.
      await this.#client.deleteLease(leaseId, !ok);
    }
  }

  async #writeUnderLease(
    name: string,
    top: Descriptor,
    source: BlobSource,
    leaseId: string,
    options: StoreOptions,
  ): Promise<ResolvedImage> {
    const platform = options.platform ?? nodePlatform();
    const progress = (
      kind: PullProgress["kind"],
      d: Descriptor,
      doneBytes: number,
    ) =>
      options.onProgress?.({
        reference: name,
        digest: d.digest,
        kind,
        doneBytes,
        totalBytes: d.size,
      });
    const topBytes = await source.read(top);
    checkSmall(name, top, topBytes);
    let parsed = parseManifest(name, top.mediaType, topBytes);
    let manifestDescriptor = top;
    let manifestBytes = topBytes;
    if (parsed.kind === "index") {
      const chosen = choosePlatform(name, parsed, platform);
      const position = parsed.manifests.indexOf(chosen);
      manifestDescriptor = chosen;
      manifestBytes = await source.read(chosen);
      checkSmall(name, chosen, manifestBytes);
      parsed = parseManifest(name, chosen.mediaType, manifestBytes);
      await this.#writeSmall(top, topBytes, leaseId, {
        [`containerd.io/gc.ref.content.m.${position}`]: chosen.digest,
      });
      progress("index", top, top.size);
    }
    if (parsed.kind !== "manifest") throw notManifest(name, manifestDescriptor);
    const manifest: ImageManifest = parsed;
    const configBytes = await source.read(manifest.config);
    checkSmall(name, manifest.config, configBytes);
    const config = parseImageConfig(name, configBytes);
    if (config.diffIds.length !== manifest.layers.length) {
      throw new ContainerdError(
        "image.manifest_invalid",
        `Image "${name}" has ${manifest.layers.length} layers but its config lists ${config.diffIds.length} diff ids`,
      );
    }
    const manifestLabels: Record<string, string> = {
      "containerd.io/gc.ref.content.config": manifest.config.digest,
    };
    manifest.layers.forEach((layer, i) =>
      manifestLabels[`containerd.io/gc.ref.content.l.${i}`] = layer.digest
    );
    await this.#writeSmall(
      manifestDescriptor,
      manifestBytes,
      leaseId,
      manifestLabels,
    );
    progress("manifest", manifestDescriptor, manifestDescriptor.size);
    const chain = chainIds(config.diffIds);
    const chainId = chain[chain.length - 1];
    if (chainId === undefined) {
      throw new ContainerdError(
        "image.manifest_invalid",
        `Image "${name}" has no layers`,
      );
    }
    await this.#writeSmall(manifest.config, configBytes, leaseId, {
      [`containerd.io/gc.ref.snapshot.${SNAPSHOTTER}`]: chainId,
    });
    progress("config", manifest.config, manifest.config.size);
    await Promise.all(
      manifest.layers.map((layer, i) =>
        this.#writeLayer(
          name,
          layer,
          config.diffIds[i]!,
          source,
          leaseId,
          (n) => progress("layer", layer, n),
        )
      ),
    );
    for (let i = 0; i < manifest.layers.length; i++) {
      await this.#unpackLayer(
        name,
        manifest.layers[i]!,
        config.diffIds[i]!,
        chain[i]!,
        chain[i - 1],
        leaseId,
      );
    }
    await this.#client.updateContentLabels(manifest.config.digest, {
      [`containerd.io/gc.ref.snapshot.${SNAPSHOTTER}`]: chainId,
    });
    await this.#createRecord(name, top);
    const resolved: ResolvedImage = { name, target: top, config, chainId };
    this.#cache(resolved);
    return resolved;
  }

  async #writeSmall(
    descriptor: Descriptor,
    bytes: Uint8Array,
    leaseId: string,
    labels: Record<string, string>,
  ): Promise<void> {
    await this.#writeOnce(descriptor, leaseId, async () => {
      await this.#client.writeContent(
        `mill-${descriptor.digest}`,
        descriptor,
        single(bytes),
        {
          leaseId,
          labels,
          timeoutMs: LAYER_TIMEOUT_MS,
        },
      );
    });
    // Present before, or written by another pull: make sure it has our labels.
    await this.#client.updateContentLabels(descriptor.digest, labels);
  }

  async #writeLayer(
    name: string,
    layer: Descriptor,
    diffId: string,
    source: BlobSource,
    leaseId: string,
    onBytes: (done: number) => void,
  ): Promise<void> {
    await this.#writeOnce(layer, leaseId, async () => {
      const stream = await source.open(layer);
      await this.#client.writeContent(
        `mill-${layer.digest}`,
        layer,
        verified(name, layer, stream),
        {
          leaseId,
          labels: { "containerd.io/uncompressed": diffId },
          timeoutMs: LAYER_TIMEOUT_MS,
          onBytes,
        },
      );
    });
    onBytes(layer.size);
  }

  /**
   * Writes a blob unless it is present; two pulls of images sharing a blob
   * write it once (containerd would refuse the second writer of the ref).
   * A blob we did not write ourselves joins our lease, so that the garbage
   * collector cannot take it if its writer fails or its image goes.
   */
  async #writeOnce(
    descriptor: Descriptor,
    leaseId: string,
    write: () => Promise<void>,
  ): Promise<void> {
    const digest = descriptor.digest;
    for (let attempt = 0; attempt < 2; attempt++) {
      const running = this.#blobWrites.get(digest);
      if (running !== undefined) {
        // Another pull's failure is its own: then we try ourselves.
        if (await running.then(() => true, () => false)) {
          await this.#client.addLeaseResource(leaseId, digest, "content");
          return;
        }
        continue;
      }
      // Registered before the first await, so a second caller always joins.
      const writing = (async () => {
        if (await this.#client.contentInfo(digest) !== undefined) {
          return "present";
        }
        await write();
        return "written";
      })().finally(() => this.#blobWrites.delete(digest));
      this.#blobWrites.set(digest, writing);
      if (await writing === "present") {
        await this.#client.addLeaseResource(leaseId, digest, "content");
      }
      return;
    }
    await write();
  }

  async #unpackLayer(
    name: string,
    layer: Descriptor,
    diffId: string,
    chainId: string,
    parent: string | undefined,
    leaseId: string,
  ): Promise<void> {
    if (await this.#client.statSnapshot(chainId) !== undefined) {
      await this.#client.addLeaseResource(
        leaseId,
        chainId,
        `snapshots/${SNAPSHOTTER}`,
      );
      return;
    }
    const key = `mill-extract-${randomSuffix()}-${chainId}`;
    const mounts = await this.#client.prepareSnapshot(key, parent ?? "", {
      leaseId,
    });
    let committed = false;
    try {
      const applied = await this.#client.applyDiff(layer, mounts, {
        leaseId,
        timeoutMs: LAYER_TIMEOUT_MS,
      });
      if (applied.digest !== diffId) {
        throw mismatch(
          name,
          layer.digest,
          `unpacks to "${applied.digest}", not its diff id "${diffId}"`,
        );
      }
      try {
        await this.#client.commitSnapshot(chainId, key, { leaseId });
        committed = true;
      } catch (error) {
        // Another pull committed the same chain id first: theirs is as good.
        if (
          !(error instanceof ContainerdError &&
            error.code === "containerd.already_exists")
        ) throw error;
      }
    } finally {
      if (!committed) {
        await this.#client.removeSnapshot(key).catch(
          () => {/* gone with the lease */},
        );
      }
    }
  }

  async #createRecord(name: string, target: Descriptor): Promise<void> {
    const record = { name, labels: {}, target: { ...target, annotations: {} } };
    try {
      await this.#client.createImage(record);
    } catch (error) {
      if (
        !(error instanceof ContainerdError &&
          error.code === "containerd.already_exists")
      ) throw error;
      await this.#client.updateImage(record);
    }
  }
}

async function* single(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

function choosePlatform(
  name: string,
  index: IndexManifest,
  platform: Platform,
): Descriptor & { platform?: Platform } {
  const chosen = selectPlatform(index, platform);
  if (chosen === undefined) {
    const offered = index.manifests.map((m) =>
      m.platform ? `${m.platform.os}/${m.platform.architecture}` : "?"
    );
    throw new ContainerdError(
      "image.platform_missing",
      `Image "${name}" has no manifest for ${platform.os}/${platform.architecture} (it offers ${
        offered.join(", ") || "none"
      })`,
    );
  }
  assert(
    index.manifests.includes(chosen),
    "the chosen manifest comes from the index",
  );
  return chosen;
}

function notManifest(name: string, descriptor: Descriptor): ContainerdError {
  return new ContainerdError(
    "image.manifest_invalid",
    `Image "${name}": "${descriptor.digest}" (${descriptor.mediaType}) is not an image manifest`,
  );
}
