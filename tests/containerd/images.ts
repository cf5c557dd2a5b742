/**
 * The test images, built offline from busybox-static as one OCI image layout
 * (our own tar, gzip and sha256; no docker). Run as a script to build the
 * layout into a directory: `scripts/build-test-images <dir> [registry-host]`.
 */
import { packTar, type TarEntry } from "../../containerd/tar.ts";
import { MEDIA_TYPE } from "../../containerd/oci.ts";
import { createHash } from "node:crypto";

export const BUSYBOX_PATH = "/bin/busybox";
/** Repository prefix of every test image in a registry. */
export const TEST_REPOSITORY = "mill-test";
export const TEST_TAG = "1";

/** The images, by short name. */
export const TEST_IMAGES = {
  /** An index: linux/amd64 (runs) and linux/arm64 (config only differs). */
  multi: "multi",
  /** Three layers, the third deleting a file of the second (whiteout). */
  layers: "layers",
  /** busybox httpd on $PORT serving /health; exits 0 on SIGTERM. */
  http: "http",
  /** Prints to stdout and stderr, exits 3. */
  crash: "crash",
  /** Ignores SIGTERM: stopping it needs SIGKILL. */
  stubborn: "stubborn",
  /** Sleeps; exits 0 on SIGTERM. */
  sleeper: "sleeper",
  /** Grows a shell variable past any small memory limit. */
  hog: "hog",
  /** No entrypoint, no cmd. */
  nocmd: "nocmd",
} as const;
export type TestImageName = keyof typeof TEST_IMAGES;

const APPLETS = [
  "sh",
  "sleep",
  "httpd",
  "head",
  "tr",
  "cat",
  "echo",
  "ls",
  "true",
  "env",
  "id",
  "wc",
];
const ENV = [
  "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
];

interface Blob {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly bytes: Uint8Array;
}

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

function blob(mediaType: string, bytes: Uint8Array): Blob {
  return { mediaType, digest: sha256(bytes), size: bytes.byteLength, bytes };
}

function jsonBlob(mediaType: string, value: unknown): Blob {
  return blob(mediaType, new TextEncoder().encode(JSON.stringify(value)));
}

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

interface Layer {
  readonly blob: Blob;
  readonly diffId: string;
}

async function layer(entries: readonly TarEntry[]): Promise<Layer> {
  const tar = packTar(entries);
  return {
    blob: blob(MEDIA_TYPE.ociLayerGzip, await gzip(tar)),
    diffId: sha256(tar),
  };
}

function text(name: string, content: string, mode = 0o644): TarEntry {
  return { name, type: "file", mode, data: new TextEncoder().encode(content) };
}

async function baseLayer(): Promise<Layer> {
  const busybox = await Deno.readFile(BUSYBOX_PATH);
  return await layer([
    { name: "bin", type: "dir" },
    { name: "bin/busybox", type: "file", mode: 0o755, data: busybox },
    ...APPLETS.map((a): TarEntry => ({
      name: `bin/${a}`,
      type: "symlink",
      linkName: "busybox",
      mode: 0o777,
    })),
    { name: "etc", type: "dir" },
    text(
      "etc/passwd",
      "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
    ),
    text("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
    { name: "tmp", type: "dir", mode: 0o1777 },
    { name: "root", type: "dir", mode: 0o700 },
  ]);
}

interface ImagePlan {
  readonly layers: readonly Layer[];
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
  readonly architecture?: string;
}

function imageBlobs(plan: ImagePlan): { manifest: Blob; config: Blob } {
  const config = jsonBlob(MEDIA_TYPE.ociConfig, {
    architecture: plan.architecture ?? "amd64",
    os: "linux",
    config: {
      Env: ENV,
      ...(plan.entrypoint ? { Entrypoint: plan.entrypoint } : {}),
      ...(plan.cmd ? { Cmd: plan.cmd } : {}),
      WorkingDir: "/",
    },
    rootfs: { type: "layers", diff_ids: plan.layers.map((l) => l.diffId) },
  });
  const manifest = jsonBlob(MEDIA_TYPE.ociManifest, {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.ociManifest,
    config: {
      mediaType: config.mediaType,
      digest: config.digest,
      size: config.size,
    },
    layers: plan.layers.map((l) => ({
      mediaType: l.blob.mediaType,
      digest: l.blob.digest,
      size: l.blob.size,
    })),
  });
  return { manifest, config };
}

const sh = (script: string) => ["/bin/sh", "-c", script];

/**
 * Writes the OCI layout into `dir`: one index.json entry per image, named
 * by `org.opencontainers.image.ref.name` = the short name.
 */
export async function buildTestImageLayout(dir: string): Promise<void> {
  const base = await baseLayer();
  const www = await layer([
    { name: "www", type: "dir" },
    text("www/health", "ok\n"),
    text("www/index.html", "mill\n"),
  ]);
  const data1 = await layer([
    { name: "data", type: "dir" },
    text("data/a.txt", "one\n"),
    text("data/b.txt", "two\n"),
  ]);
  const data2 = await layer([
    { name: "data", type: "dir" },
    text("data/.wh.a.txt", ""),
    text("data/c.txt", "three\n"),
  ]);
  const plans: Record<Exclude<TestImageName, "multi">, ImagePlan> = {
    layers: {
      layers: [base, data1, data2],
      cmd: sh("ls /data; cat /data/b.txt /data/c.txt"),
    },
    http: {
      layers: [base, www],
      entrypoint: sh(
        "trap 'exit 0' TERM; httpd -f -p ${PORT:-8080} -h /www & wait $!",
      ),
    },
    crash: {
      layers: [base],
      cmd: sh("echo about to crash; echo oops >&2; exit 3"),
    },
    stubborn: {
      layers: [base],
      cmd: sh("trap '' TERM; echo ready; while true; do sleep 1; done"),
    },
    sleeper: {
      layers: [base],
      cmd: sh(
        "trap 'echo bye; exit 0' TERM; echo ready; while true; do sleep 1 & wait $!; done",
      ),
    },
    hog: {
      layers: [base],
      cmd: sh(
        "echo start; x=$(head -c 400000000 /dev/zero | tr '\\000' a); echo survived ${#x}",
      ),
    },
    nocmd: { layers: [base] },
  };
  const blobs = new Map<string, Blob>();
  const add = (b: Blob) => blobs.set(b.digest, b);
  const indexEntries: unknown[] = [];
  const ref = (name: string, b: Blob) =>
    indexEntries.push({
      mediaType: b.mediaType,
      digest: b.digest,
      size: b.size,
      annotations: { "org.opencontainers.image.ref.name": name },
    });
  for (const [name, plan] of Object.entries(plans)) {
    const { manifest, config } = imageBlobs(plan);
    for (const l of plan.layers) add(l.blob);
    add(config);
    add(manifest);
    ref(name, manifest);
  }
  const multiCmd = sh("echo hello from multi");
  const amd64 = imageBlobs({
    layers: [base],
    cmd: multiCmd,
    architecture: "amd64",
  });
  const arm64 = imageBlobs({
    layers: [base],
    cmd: multiCmd,
    architecture: "arm64",
  });
  for (
    const b of [amd64.config, amd64.manifest, arm64.config, arm64.manifest]
  ) add(b);
  const index = jsonBlob(MEDIA_TYPE.ociIndex, {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE.ociIndex,
    manifests: [
      {
        ...descriptorOf(arm64.manifest),
        platform: { os: "linux", architecture: "arm64", variant: "v8" },
      },
      {
        ...descriptorOf(amd64.manifest),
        platform: { os: "linux", architecture: "amd64" },
      },
    ],
  });
  add(index);
  ref("multi", index);
  await Deno.mkdir(`${dir}/blobs/sha256`, { recursive: true });
  for (const b of blobs.values()) {
    await Deno.writeFile(`${dir}/blobs/sha256/${b.digest.slice(7)}`, b.bytes);
  }
  await Deno.writeTextFile(
    `${dir}/oci-layout`,
    JSON.stringify({ imageLayoutVersion: "1.0.0" }),
  );
  await Deno.writeTextFile(
    `${dir}/index.json`,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPE.ociIndex,
      manifests: indexEntries,
    }),
  );
}

function descriptorOf(
  b: Blob,
): { mediaType: string; digest: string; size: number } {
  return { mediaType: b.mediaType, digest: b.digest, size: b.size };
}

/** Packs an OCI layout directory into an OCI image archive (tar). */
export async function packLayoutArchive(
  dir: string,
  options: { only?: string; name?: string } = {},
): Promise<Uint8Array> {
  const entries: TarEntry[] = [];
  const indexJson = JSON.parse(await Deno.readTextFile(`${dir}/index.json`));
  if (options.only !== undefined) {
    indexJson.manifests = indexJson.manifests.filter((
      m: { annotations?: Record<string, string> },
    ) => m.annotations?.["org.opencontainers.image.ref.name"] === options.only);
    if (options.name !== undefined) {
      for (const m of indexJson.manifests) {
        m.annotations["io.containerd.image.name"] = options.name;
      }
    }
  }
  entries.push(
    text("oci-layout", await Deno.readTextFile(`${dir}/oci-layout`)),
  );
  entries.push(text("index.json", JSON.stringify(indexJson)));
  entries.push({ name: "blobs", type: "dir" }, {
    name: "blobs/sha256",
    type: "dir",
  });
  for await (const e of Deno.readDir(`${dir}/blobs/sha256`)) {
    entries.push({
      name: `blobs/sha256/${e.name}`,
      type: "file",
      data: await Deno.readFile(`${dir}/blobs/sha256/${e.name}`),
    });
  }
  return packTar(entries);
}

/** Pushes every image of the layout to `registryHost` as mill-test/<name>:1 with skopeo. */
export async function pushTestImages(
  layoutDir: string,
  registryHost: string,
  options: {
    credentials?: { username: string; password: string };
    /** Push only these images. */
    only?: readonly TestImageName[];
  } = {},
): Promise<Record<TestImageName, string>> {
  const out: Partial<Record<TestImageName, string>> = {};
  const names = options.only ??
    (Object.keys(TEST_IMAGES) as TestImageName[]);
  await Promise.all(
    names.map(async (name) => {
      const reference =
        `${registryHost}/${TEST_REPOSITORY}/${name}:${TEST_TAG}`;
      const args = ["copy", "--quiet", "--all", "--dest-tls-verify=false"];
      if (options.credentials) {
        args.push(
          "--dest-creds",
          `${options.credentials.username}:${options.credentials.password}`,
        );
      }
      args.push(`oci:${layoutDir}:${name}`, `docker://${reference}`);
      const result = await new Deno.Command("skopeo", {
        args,
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!result.success) {
        throw new Error(
          `skopeo ${args.join(" ")} failed: ${
            new TextDecoder().decode(result.stderr)
          }`,
        );
      }
      out[name as TestImageName] = reference;
    }),
  );
  return out as Record<TestImageName, string>;
}

if (import.meta.main) {
  const [dir, registry] = Deno.args;
  if (dir === undefined) {
    console.error("usage: build-test-images <layout-dir> [registry-host]");
    Deno.exit(2);
  }
  await buildTestImageLayout(dir);
  console.log(`built OCI layout ${dir}`);
  if (registry !== undefined) {
    const pushed = await pushTestImages(dir, registry);
    for (const reference of Object.values(pushed)) {
      console.log(`pushed ${reference}`);
    }
  }
}
