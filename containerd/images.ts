/**
 * The node's image service: pull from registries (already-present images are
 * not pulled again, concurrent pulls of one image share one pull) and import
 * of OCI image archives for air-gapped nodes.
 */
import type { ContainerdClient } from "./client.ts";
import type { Descriptor } from "./types.ts";
import { ContainerdError } from "./errors.ts";
import {
  ImageWriter,
  type PullProgress,
  type ResolvedImage,
  type StoreOptions,
} from "./pull.ts";
import { manifestSelector, parseReference } from "./reference.ts";
import { RegistryClient, type RegistryOptions } from "./registry.ts";
import {
  nodePlatform,
  parseDescriptor,
  type Platform,
  sha256Hex,
} from "./oci.ts";
import { indexTar, type TarIndexEntry } from "./tar.ts";

export type { PullProgress, ResolvedImage };

export interface ImageServiceOptions extends RegistryOptions {
  readonly platform?: Platform;
}

/** Pulls and imports images into one containerd namespace. */
export class ImageService {
  readonly #client: ContainerdClient;
  readonly #registry: RegistryClient;
  readonly #writer: ImageWriter;
  readonly #platform: Platform;
  readonly #inFlight = new Map<string, Promise<ResolvedImage>>();

  constructor(client: ContainerdClient, options: ImageServiceOptions = {}) {
    this.#client = client;
    this.#registry = new RegistryClient(options);
    this.#writer = new ImageWriter(client);
    this.#platform = options.platform ?? nodePlatform();
  }

  /** The image as containerd has it, by any reference form, or undefined. */
  async resolve(reference: string): Promise<ResolvedImage | undefined> {
    return await this.#writer.resolveLocal(
      parseReference(reference).canonical,
      this.#platform,
    );
  }

  /**
   * Makes `reference` present and unpacked. Returns at once when it already
   * is; a second caller for the same image joins the first pull.
   */
  pull(
    reference: string,
    options: {
      onProgress?: (progress: PullProgress) => void;
      signal?: AbortSignal;
    } = {},
  ): Promise<ResolvedImage> {
    const parsed = parseReference(reference);
    const running = this.#inFlight.get(parsed.canonical);
    if (running !== undefined) return running;
    const pull = this.#pull(parsed, options).finally(() =>
      this.#inFlight.delete(parsed.canonical)
    );
    this.#inFlight.set(parsed.canonical, pull);
    return pull;
  }

  async #pull(
    reference: ReturnType<typeof parseReference>,
    options: {
      onProgress?: (progress: PullProgress) => void;
      signal?: AbortSignal;
    },
  ): Promise<ResolvedImage> {
    const present = await this.#writer.resolveLocal(
      reference.canonical,
      this.#platform,
    );
    if (present !== undefined) return present;
    const fetched = await this.#registry.manifest(
      reference,
      manifestSelector(reference),
      options.signal,
    );
    const digest = `sha256:${sha256Hex(fetched.bytes)}`;
    if (reference.digest !== undefined && reference.digest !== digest) {
      throw new ContainerdError(
        "image.digest_mismatch",
        `Cannot pull "${reference.canonical}": the registry sent a manifest with digest "${digest}"`,
      );
    }
    const mediaType = fetched.mediaType || mediaTypeOf(fetched.bytes);
    const top: Descriptor = {
      mediaType,
      digest,
      size: fetched.bytes.byteLength,
    };
    const registry = this.#registry;
    const signal = options.signal;
    const source = {
      read: async (d: Descriptor) => {
        if (d.digest === digest) return fetched.bytes;
        if (d.mediaType.includes("manifest") || d.mediaType.includes("index")) {
          return (await registry.manifest(reference, d.digest, signal)).bytes;
        }
        return new Uint8Array(
          await new Response(await registry.blob(reference, d.digest, signal))
            .arrayBuffer(),
        );
      },
      open: (d: Descriptor) => registry.blob(reference, d.digest, signal),
    };
    const storeOptions: StoreOptions = {
      platform: this.#platform,
      ...(options.onProgress === undefined
        ? {}
        : { onProgress: options.onProgress }),
    };
    return await this.#writer.write(
      reference.canonical,
      top,
      source,
      storeOptions,
    );
  }

  /**
   * Imports every image of an OCI image archive (a tar of an OCI layout).
   * Images are named by their `io.containerd.image.name` or
   * `org.opencontainers.image.ref.name` annotation, or `name` when the
   * archive holds one unnamed image.
   */
  async importArchive(
    path: string,
    options: { name?: string } = {},
  ): Promise<ResolvedImage[]> {
    using file = await Deno.open(path, { read: true });
    let entries: TarIndexEntry[];
    try {
      entries = await indexTar(file);
    } catch (error) {
      throw archiveInvalid(path, (error as Error).message, error);
    }
    const byName = new Map(entries.map((e) => [e.name, e]));
    const readEntry = async (entry: TarIndexEntry): Promise<Uint8Array> => {
      const bytes = new Uint8Array(entry.size);
      await file.seek(entry.offset, Deno.SeekMode.Start);
      let filled = 0;
      while (filled < entry.size) {
        const n = await file.read(bytes.subarray(filled));
        if (n === null) {
          throw archiveInvalid(path, `"${entry.name}" is cut short`);
        }
        filled += n;
      }
      return bytes;
    };
    const blobEntry = (d: Descriptor): TarIndexEntry => {
      const entry = byName.get(`blobs/${d.digest.replace(":", "/")}`);
      if (entry === undefined) {
        throw archiveInvalid(path, `blob "${d.digest}" is missing`);
      }
      return entry;
    };
    const indexEntry = byName.get("index.json");
    if (indexEntry === undefined) {
      throw archiveInvalid(path, "it has no index.json");
    }
    const index: unknown = JSON.parse(
      new TextDecoder().decode(await readEntry(indexEntry)),
    );
    const manifests =
      typeof index === "object" && index !== null && "manifests" in index &&
        Array.isArray(index.manifests)
        ? index.manifests
        : [];
    if (manifests.length === 0) {
      throw archiveInvalid(path, "its index.json lists no images");
    }
    const source = {
      read: (d: Descriptor) => readEntry(blobEntry(d)),
      // Small test archives and air-gapped imports: one blob at a time in memory.
      open: async (d: Descriptor) =>
        ReadableStream.from([await readEntry(blobEntry(d))]),
    };
    const out: ResolvedImage[] = [];
    for (const raw of manifests) {
      const descriptor = parseDescriptor(path, raw);
      const annotations = descriptor.annotations ?? {};
      const named = annotations["io.containerd.image.name"] ??
        annotations["org.opencontainers.image.ref.name"];
      const name = named !== undefined && named.includes("/")
        ? named
        : options.name;
      if (name === undefined) {
        throw archiveInvalid(
          path,
          `image "${descriptor.digest}" has no name; pass one`,
        );
      }
      const canonical = parseReference(name).canonical;
      const target = {
        mediaType: descriptor.mediaType,
        digest: descriptor.digest,
        size: descriptor.size,
      };
      out.push(
        await this.#writer.write(canonical, target, source, {
          platform: this.#platform,
        }),
      );
    }
    return out;
  }

  /** Removes the image record; containerd collects its content and snapshots. */
  async remove(reference: string): Promise<void> {
    await this.#client.deleteImage(parseReference(reference).canonical);
  }
}

function mediaTypeOf(bytes: Uint8Array): string {
  try {
    const json: unknown = JSON.parse(new TextDecoder().decode(bytes));
    if (
      typeof json === "object" && json !== null && "mediaType" in json &&
      typeof json.mediaType === "string"
    ) {
      return json.mediaType;
    }
  } catch {
    // Not JSON: parseManifest reports it with the image's name.
  }
  return "application/vnd.oci.image.manifest.v1+json";
}

function archiveInvalid(
  path: string,
  why: string,
  cause?: unknown,
): ContainerdError {
  return new ContainerdError(
    "image.archive_invalid",
    `Cannot import image archive "${path}": ${why}`,
    cause === undefined ? undefined : { cause },
  );
}
