/**
 * The bed's registry: docker-registry in the underlay namespace on the
 * bridge address, so every node reaches it and nothing listens in the root
 * namespace. The test images are built and pushed once per process: the
 * first bed pushes them, and its registry's storage is kept as a template
 * that later beds copy (a few MB) instead of building and pushing again.
 */
import {
  buildTestImageLayout,
  TEST_IMAGES,
  TEST_REPOSITORY,
  TEST_TAG,
  type TestImageName,
} from "../containerd/images.ts";
import { inNetns, runOk, spawnLogged, waitFor } from "./_run.ts";
import type { Background } from "./_run.ts";

export const REGISTRY_PORT = 5000;

export interface BedRegistry {
  /** `host:port` on the bridge. */
  readonly host: string;
  /** Image references by test image name. */
  readonly images: Record<TestImageName, string>;
  readonly process: Background;
}

/** The registry storage with every test image pushed, made once per process. */
let template: Promise<string> | null = null;
let templateDir: string | null = null;

globalThis.addEventListener("unload", () => {
  if (templateDir !== null) {
    try {
      Deno.removeSync(templateDir, { recursive: true });
    } catch {
      // Gone already.
    }
  }
});

function configYaml(storage: string, host: string): string {
  return `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${storage}
http:
  addr: ${host}
`;
}

async function pushAll(layoutDir: string, netns: string, host: string) {
  await Promise.all(
    (Object.keys(TEST_IMAGES) as TestImageName[]).map((name) =>
      runOk(
        inNetns(netns, [
          "skopeo",
          "copy",
          "--quiet",
          "--all",
          "--dest-tls-verify=false",
          `oci:${layoutDir}:${name}`,
          `docker://${host}/${TEST_REPOSITORY}/${name}:${TEST_TAG}`,
        ]),
        { timeoutMs: 60_000 },
      )
    ),
  );
}

/**
 * Starts the registry in `netns` on `address`, storage under `dir`, with
 * the test images in it.
 */
export async function startBedRegistry(
  dir: string,
  netns: string,
  address: string,
): Promise<BedRegistry> {
  const host = `${address}:${REGISTRY_PORT}`;
  const storage = `${dir}/storage`;
  let pushed: Promise<void> | null = null;
  if (template === null) {
    // This bed makes the template: build now, push once listening.
    let resolveTemplate!: (dir: string) => void;
    let rejectTemplate!: (error: unknown) => void;
    template = new Promise((resolve, reject) => {
      resolveTemplate = resolve;
      rejectTemplate = reject;
    });
    template.catch(() => {});
    pushed = (async () => {
      const layout = await Deno.makeTempDir({ prefix: "mill-bed-images-" });
      try {
        await buildTestImageLayout(layout);
        await waitListening(netns, host);
        await pushAll(layout, netns, host);
        const kept = await Deno.makeTempDir({ prefix: "mill-bed-registry-" });
        templateDir = kept;
        await runOk(["cp", "-a", `${storage}/.`, kept], { timeoutMs: 30_000 });
        resolveTemplate(kept);
      } catch (error) {
        template = null;
        rejectTemplate(error);
        throw error;
      } finally {
        await Deno.remove(layout, { recursive: true }).catch(() => {});
      }
    })();
    await Deno.mkdir(storage, { recursive: true });
  } else {
    const from = await template;
    await Deno.mkdir(dir, { recursive: true });
    await runOk(["cp", "-a", from, storage], { timeoutMs: 30_000 });
  }
  await Deno.writeTextFile(`${dir}/registry.yml`, configYaml(storage, host));
  const process = spawnLogged(
    inNetns(netns, ["docker-registry", "serve", `${dir}/registry.yml`]),
    { stdout: `${dir}/registry.log`, stderr: `${dir}/registry.log` },
  );
  try {
    if (pushed !== null) await pushed;
    else await waitListening(netns, host);
  } catch (error) {
    await process.kill();
    throw error;
  }
  const images = Object.fromEntries(
    (Object.keys(TEST_IMAGES) as TestImageName[]).map((
      name,
    ) => [name, `${host}/${TEST_REPOSITORY}/${name}:${TEST_TAG}`]),
  ) as Record<TestImageName, string>;
  return { host, images, process };
}

async function waitListening(netns: string, host: string): Promise<void> {
  await waitFor(
    async () => {
      await runOk(
        inNetns(netns, ["curl", "-fs", "-m", "2", `http://${host}/v2/`]),
        { timeoutMs: 5_000 },
      );
      return true;
    },
    { what: `the registry at ${host}`, timeoutMs: 20_000, intervalMs: 50 },
  );
}
